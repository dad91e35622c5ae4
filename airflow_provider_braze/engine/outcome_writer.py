"""Send outcomes written back to the warehouse: one row per recipient per batch, once Braze answers.

The table is created if missing (portable DDL run through the connection's ``DbApiHook``) and
filled with bulk inserts. Rows of a batch are replaced, not appended, when a later try of the same
task instance settles that batch again, so a recipient has one row per run (the latest state).
The table never holds the API key.

Columns: ``run_id``, ``dag_id``, ``task_id``, ``map_index``, ``try_number``, ``batch_number``,
``recipient_id_type`` (``external_user_id``, ``user_alias``, ``braze_id``, ``email``),
``recipient_id`` (aliases as ``label:name``), ``dispatch_id``, ``schedule_id``, ``status``
(``accepted``, ``rejected-invalid``, ``failed``, ``unknown-outcome``), ``error`` (Braze's error or
minor error; the rule for rejected rows), ``recorded_at`` (UTC ISO 8601).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from airflow_provider_braze.client.str_enum import StrEnum

COLUMNS = (
    "run_id",
    "dag_id",
    "task_id",
    "map_index",
    "try_number",
    "batch_number",
    "recipient_id_type",
    "recipient_id",
    "dispatch_id",
    "schedule_id",
    "status",
    "error",
    "recorded_at",
)
DDL = """CREATE TABLE IF NOT EXISTS {table} (
    run_id VARCHAR(250) NOT NULL,
    dag_id VARCHAR(250) NOT NULL,
    task_id VARCHAR(250) NOT NULL,
    map_index INTEGER NOT NULL,
    try_number INTEGER NOT NULL,
    batch_number INTEGER,
    recipient_id_type VARCHAR(32),
    recipient_id VARCHAR(512),
    dispatch_id VARCHAR(64),
    schedule_id VARCHAR(128),
    status VARCHAR(32) NOT NULL,
    error VARCHAR(2000),
    recorded_at VARCHAR(40) NOT NULL
)"""
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")
#: Rows buffered before a bulk insert.
FLUSH_ROWS = 2000


class OutcomeStatus(StrEnum):
    """The ``status`` column: what became of a recipient (written as the plain string)."""

    ACCEPTED = "accepted"
    REJECTED_INVALID = "rejected-invalid"
    FAILED = "failed"
    UNKNOWN_OUTCOME = "unknown-outcome"


def recipients_of(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(id type, id)`` of every user or recipient a request body lists."""
    found: list[tuple[str, str]] = []
    for recipient in body.get("recipients") or ():
        for key in ("external_user_id", "braze_id", "email"):
            if recipient.get(key):
                found.append((key, str(recipient[key])))
                break
        else:
            alias = recipient.get("user_alias") or {}
            found.append(("user_alias", f"{alias.get('alias_label')}:{alias.get('alias_name')}"))
    found += [("external_user_id", str(u)) for u in body.get("external_user_ids") or ()]
    found += [("user_alias", f"{a.get('alias_label')}:{a.get('alias_name')}") for a in body.get("user_aliases") or ()]
    return found


class OutcomeWriter:
    """Writes per-recipient outcomes of one task instance's send.

    :param db_hook: a common.sql ``DbApiHook`` of the warehouse.
    :param table: the table (``name``, ``schema.name`` or ``db.schema.name``).
    :param run_id: the DAG run.
    :param dag_id: the DAG.
    :param task_id: the task.
    :param map_index: the mapped index (-1 when not mapped).
    :param try_number: the task try.
    """

    def __init__(
        self, db_hook: Any, table: str, *, run_id: str, dag_id: str, task_id: str, map_index: int, try_number: int
    ) -> None:
        if not _TABLE_NAME.match(table):
            raise ValueError(f"outcome_table: {table!r} is not a plain [schema.]table name")
        self.db_hook = db_hook
        self.table = table
        self.key = {"run_id": run_id, "dag_id": dag_id, "task_id": task_id, "map_index": map_index}
        self.try_number = try_number
        self._rows: list[tuple[Any, ...]] = []
        self._batches: set[int] = set()
        self.written = 0

    def ensure_table(self) -> None:
        """Create the table if it does not exist."""
        self.db_hook.run(DDL.format(table=self.table))

    def _row(
        self, batch: int | None, id_type: str | None, recipient: str | None, status: OutcomeStatus | str, **fields: Any
    ) -> None:
        self._rows.append(
            (
                self.key["run_id"],
                self.key["dag_id"],
                self.key["task_id"],
                self.key["map_index"],
                self.try_number,
                batch,
                id_type,
                recipient,
                fields.get("dispatch_id"),
                fields.get("schedule_id"),
                OutcomeStatus.parse(status, "status").value,
                (str(fields["error"])[:2000] if fields.get("error") else None),
                datetime.now(timezone.utc).isoformat(timespec="seconds"),
            )
        )

    def batch(
        self,
        number: int,
        body: Mapping[str, Any],
        status: OutcomeStatus | str,
        *,
        dispatch_id: str | None = None,
        schedule_id: str | None = None,
        error: Any = None,
    ) -> None:
        """Record every recipient of batch ``number`` with one status."""
        self._batches.add(number)
        for id_type, recipient in recipients_of(body):
            self._row(number, id_type, recipient, status, dispatch_id=dispatch_id, schedule_id=schedule_id, error=error)
        if len(self._rows) >= FLUSH_ROWS:
            self.flush()

    def rejected(self, row: int, reason: str) -> None:
        """Record a source row left out by ``on_invalid="skip"``."""
        self._row(None, None, None, OutcomeStatus.REJECTED_INVALID, error=f"row {row}: {reason}")

    def flush(self) -> None:
        """Replace the rows of the buffered batches (and rejected rows) in the table, in bulk."""
        if not self._rows:
            return
        where = " AND ".join(f"{column} = %s" for column in self.key)
        params = list(self.key.values())
        placeholder = getattr(self.db_hook, "placeholder", "%s")
        statements = []
        batches = sorted(self._batches)
        if batches:
            marks = ", ".join(["%s"] * len(batches))
            statements.append(
                (f"DELETE FROM {self.table} WHERE {where} AND batch_number IN ({marks})", params + batches)
            )
        if any(row[5] is None for row in self._rows):  # a later try re-validates the whole source
            statements.append((f"DELETE FROM {self.table} WHERE {where} AND batch_number IS NULL", params))
        for sql, values in statements:
            self.db_hook.run(sql.replace("%s", placeholder), parameters=values)
        self.db_hook.insert_rows(self.table, self._rows, target_fields=list(COLUMNS), commit_every=FLUSH_ROWS)
        self.written += len(self._rows)
        self._rows.clear()
        self._batches.clear()
