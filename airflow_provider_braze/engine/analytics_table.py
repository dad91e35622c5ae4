"""The warehouse table of Braze analytics: portable DDL and an upsert keyed by date, object, channel
and variant/step, so re-reading a trailing window converges to one row per key.

The upsert is an ``UPDATE`` of the key, then an ``INSERT`` when no row was updated, all in one
transaction through the connection's DB-API driver: the same SQL on PostgreSQL, SQLite, MySQL,
Snowflake and others (no ``MERGE``/``ON CONFLICT`` dialects). Rows the API stops returning (a send
id past Braze's 14-day retention) are never deleted. Run one load per table at a time (e.g.
``max_active_runs=1``): two concurrent loads of the same new key fail on the primary key rather
than duplicate it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextlib import closing
from datetime import datetime, timezone
from typing import Any

from airflow_provider_braze.client.analytics_series import COLUMNS, KEY_COLUMNS, StatsRow

DDL = """CREATE TABLE IF NOT EXISTS {table} (
    object_type VARCHAR(16) NOT NULL,
    parent_id VARCHAR(128) NOT NULL,
    object_id VARCHAR(128) NOT NULL,
    stat_date VARCHAR(10) NOT NULL,
    channel VARCHAR(64) NOT NULL,
    variant VARCHAR(200) NOT NULL,
    name VARCHAR(500),
    sent BIGINT,
    delivered BIGINT,
    opens BIGINT,
    unique_opens BIGINT,
    clicks BIGINT,
    unique_clicks BIGINT,
    bounces BIGINT,
    unsubscribes BIGINT,
    conversions BIGINT,
    conversions_by_send_time BIGINT,
    revenue DOUBLE PRECISION,
    unique_recipients BIGINT,
    entries BIGINT,
    stats_json TEXT,
    loaded_at VARCHAR(40) NOT NULL,
    PRIMARY KEY (object_type, parent_id, object_id, stat_date, channel, variant)
)"""
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")
_VALUE_COLUMNS = tuple(c for c in COLUMNS if c not in KEY_COLUMNS)


class AnalyticsTable:
    """Upserts analytics rows into one table.

    :param db_hook: a common.sql ``DbApiHook`` of the warehouse.
    :param table: ``name``, ``schema.name`` or ``db.schema.name``.
    """

    def __init__(self, db_hook: Any, table: str) -> None:
        if not _TABLE_NAME.match(table):
            raise ValueError(f"table: {table!r} is not a plain [schema.]table name")
        self.db_hook = db_hook
        self.table = table
        mark = getattr(db_hook, "placeholder", "%s") or "%s"
        assignments = ", ".join(f"{c} = {mark}" for c in _VALUE_COLUMNS)
        where = " AND ".join(f"{c} = {mark}" for c in KEY_COLUMNS)
        self._update = f"UPDATE {table} SET {assignments} WHERE {where}"
        self._insert = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({', '.join([mark] * len(COLUMNS))})"

    def ensure(self) -> None:
        """Create the table if it does not exist (idempotent)."""
        self.db_hook.run(DDL.format(table=self.table))

    def upsert(self, rows: Iterable[StatsRow]) -> tuple[int, int]:
        """Write ``rows`` in one transaction; returns ``(inserted, updated)``.

        A key repeated within ``rows`` is written once (the last one wins).
        """
        loaded_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        unique = {row.key: row for row in rows}
        inserted = updated = 0
        with closing(self.db_hook.get_conn()) as conn:
            cursor = conn.cursor()
            try:
                for row in unique.values():
                    values = row.values(loaded_at)
                    by_column = dict(zip(COLUMNS, values, strict=True))
                    cursor.execute(
                        self._update, [by_column[c] for c in _VALUE_COLUMNS] + [by_column[c] for c in KEY_COLUMNS]
                    )
                    if cursor.rowcount and cursor.rowcount > 0:
                        updated += 1
                        continue
                    cursor.execute(self._insert, list(values))
                    inserted += 1
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                cursor.close()
        return inserted, updated
