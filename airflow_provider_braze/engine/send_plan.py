"""Planning a send: validate the whole source, then read it back in Braze's 50-per-request batches.

Building a :class:`SendPlan` reads the entire recipient source once, validating every recipient and
spooling the valid ones to disk, before anything is sent: a bad recipient at row 10,000 stops the
task before recipient 1 is messaged, and memory stays flat however large the source. No Airflow
imports.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_braze.client import payload_rules as rules
from airflow_provider_braze.client import payload_validation as pv
from airflow_provider_braze.client.endpoints import Endpoint
from airflow_provider_braze.engine.recipient_rows import recipient_from_dict, row_to_recipient
from airflow_provider_braze.engine.recipient_spool import DuplicateFinder, RecipientSpool
from airflow_provider_braze.engine.send_options import OnDuplicate, OnEmpty, OnInvalid

log = logging.getLogger(__name__)

_REDACTED = "<redacted>"
_RECIPIENT_DATA = ("trigger_properties", "context", "canvas_entry_properties", "attributes")
#: Invalid rows quoted in a validation error (all are counted).
MAX_ERRORS_QUOTED = 10


#: Duplicate rows listed in a result (the count is always complete).
MAX_DUPLICATES_LISTED = 100
#: Bytes of a request body besides the shared fields and the recipients (the list's key and brackets,
#: and both user lists of ``/messages/send``), with room to spare.
_BODY_OVERHEAD = 256


@dataclass(frozen=True)
class PlannedRequest:
    """One request of a plan.

    :param number: 1-based position in the plan.
    :param body: the JSON body (what the hook's builder makes of ``shared`` and ``batch``).
    :param recipients: how many users or recipients it lists (0 for broadcasts).
    :param shared: what :meth:`BrazeHook.send_batch` sends it from: the endpoint method's arguments
        besides the batch (None: ``body``, e.g. a schedule update or delete).
    :param batch: the recipients or users it lists (None: none).
    """

    number: int
    body: dict[str, Any]
    recipients: int
    shared: Mapping[str, Any] | None = None
    batch: list[dict[str, Any]] | None = None

    @property
    def arguments(self) -> Mapping[str, Any]:
        """The endpoint method's arguments besides the batch."""
        return self.body if self.shared is None else self.shared


@dataclass(frozen=True)
class RecipientSource:
    """Items to validate and send, each with the name used for it in errors.

    :param items: ``(label, item)`` pairs; ``label`` is ``recipients[3]`` or ``row 4``.
    :param rows: the items are database rows (always the row convention).
    :param name: the argument the source came from (``recipients``, ``sql``), for errors.
    """

    items: Iterable[tuple[str, Any]]
    rows: bool = False
    name: str = "recipients"


def check_list(values: Any, name: str) -> None:
    """``values`` is a list or another iterable of items, never one object, a string or a number
    (a mapping is never read as a list of users)."""
    if isinstance(values, Mapping):
        raise pv.PayloadRuleError(name, "must be a list of recipients, not one object: wrap it in a list ([{...}])")
    if isinstance(values, (str, bytes, bytearray)) or not isinstance(values, Iterable):
        raise pv.PayloadRuleError(name, f"must be a list (got {type(values).__name__})")


def list_source(values: Iterable[Any] | None, name: str = "recipients") -> RecipientSource | None:
    """A source over a list or iterable (e.g. an upstream task's XCom); None stays None."""
    if values is None:
        return None
    check_list(values, name)
    return RecipientSource(((f"{name}[{index}]", item) for index, item in enumerate(values)), name=name)


def rows_source(rows: Iterable[tuple[int, Mapping[str, Any]]]) -> RecipientSource:
    """A source over numbered database rows."""
    return RecipientSource(((f"row {number}", row) for number, row in rows), rows=True, name="sql")


@dataclass
class SendPlan:
    """The requests one operator run sends, in order.

    :param endpoint: the endpoint every request goes to.
    :param common: the body fields every request shares.
    :param spool: the validated recipients (None: no listed recipients, one request).
    :param users_style: batch into ``external_user_ids``/``user_aliases`` (``/messages/send``)
        instead of ``recipients``.
    :param fixed: explicit bodies (schedule updates and deletes, send ids).
    """

    endpoint: Endpoint
    common: dict[str, Any] = field(default_factory=dict)
    spool: RecipientSpool | None = None
    users_style: bool = False
    fixed: list[dict[str, Any]] | None = None
    duplicate_count: int = 0
    duplicate_rows: list[dict[str, int]] = field(default_factory=list)

    @property
    def total_requests(self) -> int:
        """Requests the plan sends."""
        if self.fixed is not None:
            return len(self.fixed)
        if self.spool is None:
            return 1
        return self.spool.batch_count

    @property
    def recipients(self) -> int:
        """Listed users or recipients across all requests."""
        return self.spool.count if self.spool is not None else 0

    @property
    def fingerprint(self) -> str:
        """Identifies what the plan sends, in order (endpoint, shared fields, recipients, and where the
        batches are cut: the resume record names batches by number, so a try that would cut them
        elsewhere, e.g. after an upgrade changed the byte budget, must not reuse it)."""
        digest = hashlib.sha256(self.endpoint.path.encode())
        digest.update(json.dumps(self.common, sort_keys=True, default=str).encode())
        digest.update(json.dumps(self.fixed, sort_keys=True, default=str).encode())
        digest.update((self.spool.digest if self.spool else "").encode())
        if self.spool is not None:
            digest.update(json.dumps(self.spool.layout()).encode())
        return digest.hexdigest()

    def requests(self) -> Iterator[PlannedRequest]:
        """The requests, built lazily from the spool."""
        if self.fixed is not None:
            for number, body in enumerate(self.fixed, start=1):
                yield PlannedRequest(number, body, 0)
            return
        if self.spool is None:
            yield PlannedRequest(1, dict(self.common), 0, shared=self.common)
            return
        for number, batch in enumerate(self.spool.batches(), start=1):
            yield self._request(number, batch)

    def _request(self, number: int, batch: list[dict[str, Any]]) -> PlannedRequest:
        from airflow_provider_braze.hooks.braze import BrazeHook

        body = BrazeHook.batch_body(self.common, batch, users_style=self.users_style)
        return PlannedRequest(number, body, len(batch), shared=self.common, batch=batch)

    def summary(self) -> dict[str, Any]:
        """What the plan would send (for dry runs and logs): counts only, no recipient data."""
        sizes = [r.recipients for r in self.requests()] if self.total_requests <= 1000 else None
        summary: dict[str, Any] = {
            "endpoint": self.endpoint.path,
            "requests": self.total_requests,
            "batches": self.total_requests,
            "recipients": self.recipients,
        }
        if sizes is not None:
            summary["batch_sizes"] = sizes
        summary.update(self.rejections())
        return summary

    def rejections(self) -> dict[str, Any]:
        """What the source held that is not sent: rows left out by ``on_invalid="skip"`` (row number
        and rule), repeated users left out by ``on_duplicate="first"`` (row numbers), and whether the
        source was empty. Empty when there is nothing to report."""
        if self.spool is None:
            return {}
        report: dict[str, Any] = {}
        if self.spool.rejected_count:
            report["rejected_rows"] = [{"row": r.row, "reason": r.reason} for r in self.spool.rejected]
            report["rejected_count"] = self.spool.rejected_count
        if self.duplicate_count:
            report["duplicate_rows"] = list(self.duplicate_rows)
            report["duplicate_count"] = self.duplicate_count
        if self.spool.total_valid == 0:
            report["empty_source"] = True
        return report

    def close(self) -> None:
        """Delete the spool."""
        if self.spool is not None:
            self.spool.close()


def redact(body: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a request body safe to log: identifiers and per-recipient data replaced."""
    safe: dict[str, Any] = {}
    for key, value in body.items():
        if key == "external_user_ids":
            safe[key] = [_REDACTED] * len(value)
        elif key == "user_aliases":
            safe[key] = [{"alias_name": _REDACTED, "alias_label": a.get("alias_label")} for a in value]
        elif key == "recipients":
            safe[key] = [_redact_recipient(r) for r in value]
        else:
            safe[key] = value
    return safe


def _redact_recipient(recipient: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in recipient.items():
        if key in rules.RECIPIENT_IDENTIFIERS:
            out[key] = _REDACTED
        elif key in _RECIPIENT_DATA and isinstance(value, Mapping):
            out[key] = dict.fromkeys(value, _REDACTED)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class SpoolOptions:
    """How a source is spooled.

    :param on_invalid: ``fail`` (default): any invalid row fails the task before sending;
        ``skip``: send the valid rows and report the others.
    :param max_recipients: refuse, before sending, a source with more valid recipients (counted over
        the whole source, every shard included).
    :param shard_count: split recipients into this many shards (stable hash of the identifier).
    :param shard_index: the shard this task sends.
    :param on_duplicate: ``fail`` (default): a user listed twice anywhere in the source fails the task
        before sending, naming the rows; ``first``: keep the first occurrence, report the others.
    :param on_empty: ``warn`` (default): a source without any valid recipient succeeds with a
        "0 recipients" result and a warning; ``fail``: refuse it.
    """

    on_invalid: OnInvalid | str = OnInvalid.FAIL
    max_recipients: int | None = None
    shard_count: int = 1
    shard_index: int = 0
    on_duplicate: OnDuplicate | str = OnDuplicate.FAIL
    on_empty: OnEmpty | str = OnEmpty.WARN

    def check(self) -> None:
        """Validate the options themselves (plain strings become members; an unknown one is refused,
        naming the argument and the allowed values)."""
        object.__setattr__(self, "on_invalid", OnInvalid.parse(self.on_invalid, "on_invalid"))
        object.__setattr__(self, "on_duplicate", OnDuplicate.parse(self.on_duplicate, "on_duplicate"))
        object.__setattr__(self, "on_empty", OnEmpty.parse(self.on_empty, "on_empty"))
        if self.max_recipients is not None and (not isinstance(self.max_recipients, int) or self.max_recipients < 0):
            raise pv.PayloadRuleError("max_recipients", "must be a whole number, 0 or more")
        if not isinstance(self.shard_count, int) or self.shard_count < 1:
            raise pv.PayloadRuleError("shard_count", "must be a whole number, 1 or more")
        if not isinstance(self.shard_index, int) or not 0 <= self.shard_index < self.shard_count:
            raise pv.PayloadRuleError("shard_index", f"must be between 0 and {self.shard_count - 1}")


def _to_recipient(item: Any, label: str, rows: bool, properties_field: str, users_style: bool) -> dict[str, Any]:
    if isinstance(item, str) and not rows:
        return {"external_user_id": item}
    if not isinstance(item, Mapping):
        raise pv.PayloadRuleError(label, "must be an object (or an external_user_id string)")
    if rows:
        return row_to_recipient(item, properties_field)
    if users_style:  # built by users_source from external_user_ids / user_aliases
        return dict(item)
    return recipient_from_dict(item, properties_field)


def _check_user(recipient: dict[str, Any], label: str) -> None:
    """``/messages/send`` lists users by external id or alias only, without per-user data."""
    extra = set(recipient) - {"external_user_id", "user_alias"}
    if extra or len(recipient) != 1:
        raise pv.PayloadRuleError(
            label, "/messages/send takes users by external_user_id or user alias only (no per-user data)"
        )
    if "user_alias" in recipient:
        pv.check_alias(recipient["user_alias"], label)
    elif not isinstance(recipient["external_user_id"], str) or not recipient["external_user_id"].strip():
        raise pv.PayloadRuleError(label, "must be a non-empty string")


def spool_source(
    source: RecipientSource,
    *,
    properties_field: str,
    options: SpoolOptions,
    users_style: bool = False,
    shared_bytes: int = 0,
    batch_size: int = rules.MAX_USERS_PER_REQUEST,
    refine: Callable[[dict[str, Any], str], dict[str, Any]] | None = None,
    identity: Callable[[dict[str, Any]], str] | None = None,
) -> tuple[RecipientSpool, list[dict[str, int]], int]:
    """Validate every item of ``source`` and spool the valid ones; fail or skip invalid ones.

    :param shared_bytes: wire size of the fields every request repeats (a batch's recipients get the
        rest of the request budget).
    :param batch_size: recipients per request at most (1 for one-recipient endpoints).
    :param refine: an endpoint's own rules: called with each valid recipient and its label, returns
        what is spooled (raise :class:`~airflow_provider_braze.client.payload_validation.PayloadRuleError`).
    :param identity: what makes two spooled items duplicates (default: the recipient's identifier).
    :returns: the spool, the duplicate rows listed (``{"row", "first_row"}``) and the duplicate count.
    """
    options.check()
    batch_bytes = rules.REQUEST_BYTES_BUDGET - shared_bytes - _BODY_OVERHEAD
    spool = RecipientSpool(
        shard_count=options.shard_count, shard_index=options.shard_index, batch_bytes=batch_bytes, batch_size=batch_size
    )
    duplicates = DuplicateFinder()
    duplicate_rows: list[dict[str, int]] = []
    repeated: list[int] = []  # the fingerprints of the rows listed in duplicate_rows
    duplicate_count = 0
    first_error: pv.PayloadRuleError | None = None
    try:
        for row_number, (label, item) in enumerate(source.items, start=1):
            spool.rows_read += 1
            try:
                recipient = _to_recipient(item, label, source.rows, properties_field, users_style)
                if users_style:
                    _check_user(recipient, label)
                else:
                    pv.check_recipient(recipient, label, properties_field)
                if refine is not None:
                    recipient = refine(recipient, label)
                size = pv.wire_size(recipient, label)
                if size > batch_bytes:
                    raise pv.PayloadRuleError(
                        label,
                        f"is {size} bytes as JSON: with the fields every request shares ({shared_bytes} bytes) a "
                        f"request would exceed Braze's body limit ({rules.REQUEST_BYTES_BUDGET} bytes)",
                    )
            except pv.PayloadRuleError as err:
                field_name = err.field if err.field.startswith(label) else f"{label}.{err.field}"
                error = pv.PayloadRuleError(field_name, err.rule)
                first_error = first_error or error
                spool.reject(row_number, str(error))
                continue
            keyed = recipient if identity is None else {"external_user_id": identity(recipient)}
            fingerprint = duplicates.duplicate(keyed, row_number)
            if fingerprint is not None:
                duplicate_count += 1
                if len(duplicate_rows) < MAX_DUPLICATES_LISTED:
                    duplicate_rows.append({"row": row_number})
                    repeated.append(fingerprint)
                continue
            spool.add(recipient, size)
        if duplicate_rows:  # name where each listed repeat was first seen (one read of the finder's log)
            first_rows = duplicates.first_rows(repeated)
            for listed, fingerprint in zip(duplicate_rows, repeated, strict=True):
                listed["first_row"] = first_rows[fingerprint]
        duplicates.close()  # before the send: its table is returned to the system, not kept in the heap
        if spool.rejected_count and options.on_invalid == OnInvalid.FAIL:
            assert first_error is not None
            raise _combined(first_error, spool)
        if duplicate_count and options.on_duplicate == OnDuplicate.FAIL:
            raise _duplicates_error(source.name, duplicate_rows, duplicate_count)
        if options.max_recipients is not None and spool.total_valid > options.max_recipients:
            shards = f" (across all {options.shard_count} shards)" if options.shard_count > 1 else ""
            raise pv.PayloadRuleError(
                "max_recipients",
                f"the source has {spool.total_valid} recipients{shards}, more than the {options.max_recipients} "
                "allowed; nothing was sent",
            )
        if spool.total_valid == 0:
            if options.on_empty == OnEmpty.FAIL:
                raise pv.PayloadRuleError(
                    source.name,
                    f"the source has no valid recipients ({spool.rows_read} row(s) read); nothing was sent "
                    "(on_empty='fail')",
                )
            log.warning(
                "The recipient source (%s) has no valid recipients (%d row(s) read): 0 recipients, nothing is sent",
                source.name,
                spool.rows_read,
            )
    except BaseException:
        duplicates.close()
        spool.close()
        raise
    return spool, duplicate_rows, duplicate_count


def _duplicates_error(name: str, listed: list[dict[str, int]], count: int) -> pv.PayloadRuleError:
    quoted = ", ".join(f"row {d['row']} repeats row {d['first_row']}" for d in listed[:MAX_ERRORS_QUOTED])
    more = f" (+{count - MAX_ERRORS_QUOTED} more)" if count > MAX_ERRORS_QUOTED else ""
    return pv.PayloadRuleError(
        name,
        f"lists the same user more than once ({count} repeated row(s): {quoted}{more}); Braze collapses repeats "
        "only within one request, so they would be messaged once per batch. Nothing was sent. Remove the "
        "repeats (e.g. SELECT DISTINCT) or set on_duplicate='first' to keep each user's first row",
    )


def _combined(first: pv.PayloadRuleError, spool: RecipientSpool) -> pv.PayloadRuleError:
    if spool.rejected_count == 1:
        return first
    quoted = "; ".join(r.reason for r in spool.rejected[1:MAX_ERRORS_QUOTED])
    more = spool.rejected_count - min(spool.rejected_count, MAX_ERRORS_QUOTED)
    tail = f" (+{more} more)" if more else ""
    return pv.PayloadRuleError(
        first.field,
        f"{first.rule}. {spool.rejected_count} invalid rows in all; also: {quoted}{tail}. Nothing was sent "
        "(on_invalid='skip' sends the valid rows)",
    )


def _shared_size(plan: SendPlan, *, batched: bool) -> int:
    """Wire size of what every request of the plan repeats: the body the hook's builder makes of the
    shared fields and an empty batch (``batched``), or the one body; refused when a request could not carry it."""
    from airflow_provider_braze.hooks.braze import BrazeHook

    body = BrazeHook.batch_body(plan.common, [], users_style=plan.users_style) if batched else plan.common
    size = pv.wire_size(body)
    if size + _BODY_OVERHEAD > rules.REQUEST_BYTES_BUDGET:
        raise pv.PayloadRuleError(
            "body", f"is {size} bytes as JSON, over Braze's request body limit ({rules.REQUEST_BYTES_BUDGET} bytes)"
        )
    return size


def _attach_spool(plan: SendPlan, source: RecipientSource, properties_field: str, options: SpoolOptions) -> None:
    plan.spool, plan.duplicate_rows, plan.duplicate_count = spool_source(
        source,
        properties_field=properties_field,
        options=options,
        users_style=plan.users_style,
        shared_bytes=_shared_size(plan, batched=True),
    )


def plan_trigger(
    *,
    endpoint: Endpoint,
    id_field: str,
    id_value: Any,
    properties_field: str,
    properties: Mapping[str, Any] | None,
    source: RecipientSource | None,
    broadcast: bool | None,
    audience: Mapping[str, Any] | None,
    send_id: str | None = None,
    attachments: Sequence[Mapping[str, Any]] | None = None,
    schedule: Mapping[str, Any] | datetime | str | None = None,
    options: SpoolOptions | None = None,
) -> SendPlan:
    """Plan a campaign or Canvas trigger (or trigger-schedule create).

    :param id_field: ``campaign_id`` or ``canvas_id``.
    :param properties_field: ``trigger_properties`` or ``context``.
    :param source: the listed recipients (None: target the audience with ``broadcast``).
    """
    from airflow_provider_braze.hooks.braze import BrazeHook

    common = BrazeHook.trigger_shared_body(
        id_field=id_field,
        id_value=id_value,
        listed=source is not None,
        properties_field=properties_field,
        properties=properties,
        broadcast=broadcast,
        audience=audience,
        send_id=send_id,
        attachments=attachments,
        schedule=schedule,
    )
    plan = SendPlan(endpoint, common)
    if source is not None:
        _attach_spool(plan, source, properties_field, options or SpoolOptions())
    else:
        _shared_size(plan, batched=False)
    return plan


def plan_message(
    *,
    endpoint: Endpoint,
    messages: Mapping[str, Any] | None,
    source: RecipientSource | None,
    segment_id: str | None,
    audience: Mapping[str, Any] | None,
    broadcast: bool | None,
    campaign_id: str | None,
    send_id: str | None,
    recipient_subscription_state: str | None,
    frequency_flag: str,
    frequency_value: bool | None,
    schedule: Mapping[str, Any] | datetime | str | None = None,
    options: SpoolOptions | None = None,
) -> SendPlan:
    """Plan ``/messages/send`` or ``/messages/schedule/create``.

    :param messages: the message objects; null channels and null keys of a message object are
        removed before validating (they are never sent).
    :param source: the users (``{"external_user_id"}`` or ``{"user_alias"}`` items, or rows);
        None targets a segment or audience with ``broadcast``.
    :param frequency_flag: ``override_frequency_capping`` (send) or ``override_messaging_limits``
        (schedule create), as Braze spells it per endpoint.
    """
    from airflow_provider_braze.hooks.braze import BrazeHook

    common = BrazeHook.message_shared_body(
        messages=messages,
        listed=source is not None,
        segment_id=segment_id,
        audience=audience,
        broadcast=broadcast,
        campaign_id=campaign_id,
        send_id=send_id,
        recipient_subscription_state=recipient_subscription_state,
        frequency_flag=frequency_flag,
        frequency_value=frequency_value,
        schedule=schedule,
    )
    plan = SendPlan(endpoint, common, users_style=True)
    if source is not None:
        _attach_spool(plan, source, "trigger_properties", options or SpoolOptions())
    else:
        _shared_size(plan, batched=False)
    return plan


def users_source(external_user_ids: Iterable[Any] | None, user_aliases: Iterable[Any] | None) -> RecipientSource | None:
    """The users of ``/messages/send`` as one source: ids first, then aliases."""
    if external_user_ids is None and user_aliases is None:
        return None
    if external_user_ids is not None:
        check_list(external_user_ids, "external_user_ids")
    if user_aliases is not None:
        check_list(user_aliases, "user_aliases")

    def items() -> Iterator[tuple[str, Any]]:
        for index, user_id in enumerate(external_user_ids or ()):
            yield f"external_user_ids[{index}]", {"external_user_id": user_id}
        for index, alias in enumerate(user_aliases or ()):
            yield f"user_aliases[{index}]", {"user_alias": alias}

    return RecipientSource(items(), name="external_user_ids/user_aliases")
