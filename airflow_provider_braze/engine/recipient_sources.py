"""Where recipients come from: a list or any iterable (an upstream task's XCom), or a SQL query
streamed from any Airflow connection whose hook is a common.sql ``DbApiHook``.

Rows are really streamed: ``fetchmany`` in chunks, and on PostgreSQL a server-side (named) cursor,
because a plain psycopg cursor downloads the whole result before the first ``fetchmany`` returns.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_braze.exceptions import BrazeConfigurationError

log = logging.getLogger(__name__)

#: Rows fetched per round trip.
FETCH_SIZE = 2000


def _server_side_cursor(connection: Any) -> Any:
    module = type(connection).__module__
    if module.startswith("psycopg2"):
        cursor = connection.cursor(name="braze_recipients")
        cursor.itersize = FETCH_SIZE
        return cursor
    if module.startswith("psycopg"):  # psycopg 3
        return connection.cursor(name="braze_recipients")
    return connection.cursor()


def iter_sql_rows(
    sql_conn_id: str, sql: str, parameters: Mapping[str, Any] | Sequence[Any] | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Stream ``(row number, {column: value})`` from a query on any common.sql connection.

    :param sql_conn_id: an Airflow connection whose hook is a ``DbApiHook``.
    :param sql: one SELECT statement. Order it (``ORDER BY``): a retry resumes only when the query
        yields the same rows in the same order.
    :param parameters: query parameters, in the driver's paramstyle.
    """
    try:
        from airflow.providers.common.sql.hooks.sql import DbApiHook
    except ImportError as err:  # pragma: no cover - the sql extra
        raise BrazeConfigurationError(
            "sql= needs apache-airflow-providers-common-sql: pip install 'airflow-provider-braze-messaging[sql]'"
        ) from err
    hook = BaseHook.get_connection(sql_conn_id).get_hook()
    if not isinstance(hook, DbApiHook):
        raise BrazeConfigurationError(
            f"sql_conn_id '{sql_conn_id}' is a {type(hook).__name__}, not a common.sql DbApiHook connection"
        )
    connection = hook.get_conn()
    cursor = _server_side_cursor(connection)
    try:
        if parameters is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, parameters)
        columns: list[str] | None = None
        number = 0
        while True:
            rows = cursor.fetchmany(FETCH_SIZE)
            if not rows:
                break
            if columns is None:  # a psycopg2 named cursor describes its columns only after a fetch
                columns = [str(column[0]) for column in cursor.description or ()]
            for row in rows:
                number += 1
                yield number, dict(zip(columns, row, strict=False))
    finally:
        cursor.close()
        try:
            connection.rollback()  # end the read transaction (PostgreSQL named cursors live in one)
        except Exception:
            log.debug("No rollback after streaming recipients")
        connection.close()
