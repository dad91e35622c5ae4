"""The row convention and faithful JSON conversion of database types."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from airflow_provider_braze.client.payload_validation import PayloadRuleError
from airflow_provider_braze.engine.recipient_rows import (
    identifier_key,
    is_row,
    recipient_from_dict,
    row_to_recipient,
    to_json_value,
)


def test_identifier_and_other_columns_become_properties():
    row = {"EXTERNAL_USER_ID": "u1", "sku": "A1", "cart_value": Decimal("19.90"), "items": Decimal("3"), "note": None}
    assert row_to_recipient(row, "trigger_properties") == {
        "external_user_id": "u1",
        "trigger_properties": {"sku": "A1", "cart_value": 19.9, "items": 3},
    }


def test_alias_email_attributes_and_flags():
    alias = row_to_recipient({"user_alias_name": "n", "user_alias_label": "crm", "tier": "gold"}, "context")
    assert alias == {"user_alias": {"alias_name": "n", "alias_label": "crm"}, "context": {"tier": "gold"}}
    email = row_to_recipient(
        {
            "email": "a@example.com",
            "prioritization": "identified, most_recently_updated",
            "send_to_existing_only": 0,
            "attributes": '{"first_name": "Ada"}',
        },
        "trigger_properties",
    )
    assert email == {
        "email": "a@example.com",
        "prioritization": ["identified", "most_recently_updated"],
        "send_to_existing_only": False,
        "attributes": {"first_name": "Ada"},
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("10"), 10),
        (Decimal("10.25"), 10.25),
        (date(2026, 11, 27), "2026-11-27"),
        (datetime(2026, 11, 27, 9, 30), "2026-11-27T09:30:00"),
        (datetime(2026, 11, 27, 9, 30, tzinfo=timezone(timedelta(hours=2))), "2026-11-27T09:30:00+02:00"),
        (time(8, 15), "08:15:00"),
        (uuid.UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678"),
        ({"a": [Decimal("1.5"), date(2026, 1, 2)]}, {"a": [1.5, "2026-01-02"]}),
        (True, True),
    ],
)
def test_database_types_convert_faithfully(value, expected):
    assert to_json_value(value, "col") == expected


def test_values_without_a_json_form_are_refused_naming_the_column():
    with pytest.raises(PayloadRuleError, match="blob"):
        to_json_value(b"\x00\x01", "blob")
    with pytest.raises(PayloadRuleError, match="attributes"):
        row_to_recipient({"external_user_id": "u", "attributes": "not json"}, "trigger_properties")


def test_rows_are_told_apart_from_recipient_objects():
    assert is_row({"external_user_id": "u", "sku": "x"})
    assert is_row({"user_alias_name": "n", "user_alias_label": "l"})
    assert not is_row({"external_user_id": "u", "trigger_properties": {"sku": "x"}})
    assert identifier_key({"user_alias": {"alias_name": "n", "alias_label": "l"}}) == "user_alias:l:n"


def test_a_dict_with_an_object_only_key_is_a_recipient_object_and_unknown_keys_are_refused():
    recipient = {"external_user_id": "u", "trigger_properties": {"sku": "A"}, "email": None}
    assert recipient_from_dict(recipient, "trigger_properties") == {
        "external_user_id": "u",
        "trigger_properties": {"sku": "A"},
    }
    with pytest.raises(PayloadRuleError) as err:
        recipient_from_dict({"user_alias": {"alias_name": "n", "alias_label": "l"}, "tier": "gold"}, "context")
    assert err.value.field == "tier"
    assert "put per-recipient data in context" in err.value.rule


def test_a_row_with_a_key_like_a_misspelt_recipient_key_is_ambiguous():
    for key in ("trigger_propertes", "externl_user_id", "send_to_existing_onyl", "Attribute"):
        with pytest.raises(PayloadRuleError, match="is ambiguous") as err:
            recipient_from_dict({"external_user_id": "u", key: 1}, "trigger_properties")
        assert err.value.field == key
    # ordinary column names stay personalisation
    row = {"external_user_id": "u", "plan": "pro", "first_name": "Ada", "score": 3}
    assert recipient_from_dict(row, "trigger_properties")["trigger_properties"] == {
        "plan": "pro",
        "first_name": "Ada",
        "score": 3,
    }


def test_property_names_keep_their_case_and_reserved_columns_match_in_any_case():
    row = {"External_User_Id": "u1", "cartValue": 3, "SKU": "A1", "ATTRIBUTES": '{"tier": "gold"}'}
    assert row_to_recipient(row, "context") == {
        "external_user_id": "u1",
        "attributes": {"tier": "gold"},
        "context": {"cartValue": 3, "SKU": "A1"},
    }
    with pytest.raises(PayloadRuleError, match="given twice"):
        row_to_recipient({"email": "a@example.com", "EMAIL": "b@example.com"}, "context")


def test_the_duplicate_finder_grows_and_finds_every_repeat_with_its_first_row():
    from airflow_provider_braze.engine.recipient_spool import DuplicateFinder

    finder = DuplicateFinder(capacity=4)  # grows many times; the first-seen log spans several chunks
    for i in range(20_000):
        assert finder.duplicate({"external_user_id": f"u{i}"}, i + 1) is None
    repeats = {}
    for i in (0, 1234, 8191, 8192, 19_999):
        fingerprint = finder.duplicate({"external_user_id": f"u{i}"}, 99_999)
        assert fingerprint is not None
        repeats[fingerprint] = i + 1
    assert finder.first_rows(repeats) == repeats
    assert finder.duplicate({"external_user_id": "u20000"}, 20_001) is None  # still usable after a lookup
    assert finder.first_rows([finder.duplicate({"external_user_id": "u20000"}, 1)]).popitem()[1] == 20_001
    assert len(finder._keys) * 8 <= 20_001 * 8 * 8 // 3  # 8 bytes per slot, at least 3/8 full: no objects
    finder.close()
    with pytest.raises(ValueError):  # the table's memory was given back
        finder._keys[0]


def test_a_duplicate_finder_is_closed_when_the_source_is_read_and_when_spooling_fails(monkeypatch):
    from airflow_provider_braze.engine import recipient_spool, send_plan

    finders = []

    class Recording(recipient_spool.DuplicateFinder):
        def __init__(self) -> None:
            super().__init__()
            finders.append(self)

    monkeypatch.setattr(send_plan, "DuplicateFinder", Recording)
    rows = [{"external_user_id": "a"}, {"external_user_id": "b"}, {"external_user_id": "a"}]

    def spool(**options: str) -> tuple[object, list[dict[str, int]], int]:
        source = send_plan.list_source(rows)
        assert source is not None
        return send_plan.spool_source(
            source, properties_field="trigger_properties", options=send_plan.SpoolOptions(**options)
        )

    spooled, listed, count = spool(on_duplicate="first")
    assert (listed, count) == ([{"row": 3, "first_row": 1}], 1)
    spooled.close()  # type: ignore[attr-defined]
    with pytest.raises(PayloadRuleError, match=r"row 3 repeats row 1"):
        spool()
    assert len(finders) == 2
    for finder in finders:  # closed: the table's memory is given back before the send starts
        with pytest.raises(ValueError):
            finder._keys[0]
