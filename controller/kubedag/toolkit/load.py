"""`kubedag-task load`: rows into a table with a declared primary key, idempotently.

- full refresh: TRUNCATE and fill in one transaction. TRUNCATE's lock makes readers wait for
  the commit, then see the new contents: never an empty or half-loaded table.
- incremental: the rows go first into a temporary table, then, in the same transaction, the
  interval's rows are replaced (DELETE of the run's interval, INSERT) or upserted on the key
  (INSERT ... ON CONFLICT DO UPDATE). Re-running a logical date with the same source leaves
  the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import sql

from kubedag.toolkit.context import RunInterval
from kubedag.toolkit.errors import ToolkitError
from kubedag.toolkit.feeds import SourceSpec, open_feed
from kubedag.toolkit.tables import (
    TableInfo,
    column_list,
    identifier,
    prepare_creation,
    table_info,
)

Mode = Literal["full", "incremental"]
INCOMING = sql.Identifier("kubedag_incoming")


@dataclass(frozen=True)
class LoadRequest:
    table: str
    primary_key: list[str]
    mode: Mode
    source: SourceSpec | None = None
    from_table: str | None = None
    create: str | None = None  # column definitions for a missing table
    interval_column: str | None = None
    upsert: bool = False
    outside_interval: Literal["fail", "skip"] = "fail"


def _target(conn: psycopg.Connection, request: LoadRequest) -> TableInfo:
    if request.create is not None:
        prepare_creation(conn, request.table)
    info = table_info(conn, request.table)
    if info is None:
        if request.create is None:
            raise ToolkitError(
                f"table {request.table} does not exist: create it first (a sql task with "
                f"CREATE TABLE ... PRIMARY KEY), or give its columns with --create "
                f"'name text, gender text'"
            )
        conn.execute(
            sql.SQL("CREATE TABLE {} ({}, PRIMARY KEY ({}))").format(
                identifier(request.table),
                sql.SQL(request.create),  # the task author's own DDL, as a sql task would run
                column_list(request.primary_key),
            )
        )
        info = table_info(conn, request.table)
        assert info is not None
    if not info.primary_key:
        raise ToolkitError(
            f"table {request.table} has no primary key; load needs one: ALTER TABLE "
            f"{request.table} ADD PRIMARY KEY ({', '.join(request.primary_key)})"
        )
    if info.primary_key != request.primary_key:
        raise ToolkitError(
            f"--primary-key {','.join(request.primary_key)} does not match the primary key "
            f"of {request.table}: ({', '.join(info.primary_key)})"
        )
    if request.interval_column and request.interval_column not in info.columns:
        raise ToolkitError(
            f"--interval-column {request.interval_column}: {request.table} has no such column "
            f"(its columns: {', '.join(info.columns)})"
        )
    return info


def _check_columns(columns: list[str], info: TableInfo, source: str) -> None:
    unknown = [c for c in columns if c not in info.columns]
    if unknown:
        raise ToolkitError(
            f"{source} has column {', '.join(unknown)}, which {info.name} lacks (its columns: "
            f"{', '.join(info.columns)})"
        )


def _fill(
    conn: psycopg.Connection, request: LoadRequest, info: TableInfo, into: sql.Composable
) -> int:
    """Every source row into `into` (the target or the temporary table); the row count."""
    if request.source is not None:
        with open_feed(request.source) as feed:
            _check_columns(feed.columns, info, request.source.public)
            return feed.copy_into(conn, into)
    assert request.from_table is not None
    staging = table_info(conn, request.from_table)
    if staging is None:
        raise ToolkitError(f"--from-table {request.from_table}: no such table")
    columns = list(staging.columns)
    _check_columns(columns, info, request.from_table)
    casts = sql.SQL(", ").join(
        sql.SQL("CAST({} AS {})").format(sql.Identifier(c), sql.SQL(info.columns[c]))
        for c in columns
    )
    cursor = conn.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
            into, column_list(columns), casts, identifier(request.from_table)
        )
    )
    return max(cursor.rowcount, 0)


def _in_interval(column: str) -> sql.Composed:
    return sql.SQL("{col} >= %(start)s AND {col} < %(end)s").format(col=sql.Identifier(column))


def load(
    conn: psycopg.Connection, request: LoadRequest, interval: RunInterval | None
) -> dict[str, Any]:
    if request.mode == "incremental" and not request.upsert and not request.interval_column:
        raise ToolkitError(
            "an incremental load replaces the run's interval, so it needs --interval-column "
            "(the date or time column of each row), or --upsert to merge on the primary key"
        )
    if request.interval_column and interval is None:
        raise ToolkitError(
            "--interval-column needs the run's data interval: run the task in a kubedag run "
            "or give --data-interval-start and --data-interval-end"
        )
    with conn.transaction():
        info = _target(conn, request)
        target = identifier(request.table)
        if request.mode == "full":
            conn.execute(sql.SQL("TRUNCATE {}").format(target))
            rows = _fill(conn, request, info, target)
            return {"table": request.table, "mode": "full", "rows": rows}
        return _incremental(conn, request, info, interval)


def _incremental(
    conn: psycopg.Connection,
    request: LoadRequest,
    info: TableInfo,
    interval: RunInterval | None,
) -> dict[str, Any]:
    target = identifier(request.table)
    conn.execute(
        sql.SQL("CREATE TEMPORARY TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP").format(
            INCOMING, target
        )
    )
    received = _fill(conn, request, info, INCOMING)
    bounds: dict[str, Any] = {}
    scope: sql.Composable = sql.SQL("true")
    skipped = 0
    if request.interval_column and interval is not None:
        bounds = {"start": interval.start, "end": interval.end}
        scope = _in_interval(request.interval_column)
        outside = conn.execute(
            sql.SQL(
                "SELECT count(*), min({col})::text, max({col})::text FROM {} WHERE NOT ({}) "
                "OR {col} IS NULL"
            ).format(INCOMING, scope, col=sql.Identifier(request.interval_column)),
            bounds,
        ).fetchone()
        skipped = int(outside[0]) if outside else 0
        if skipped and request.outside_interval == "fail":
            assert outside is not None
            raise ToolkitError(
                f"{skipped} of {received} source rows have {request.interval_column} outside "
                f"the run's interval {interval.describe()} (from {outside[1]} to {outside[2]}, "
                "or null); fix the source, or --outside-interval skip to leave them out"
            )
    columns = column_list(list(info.columns))
    select = sql.SQL("SELECT {} FROM {} WHERE {}").format(columns, INCOMING, scope)
    deleted = 0
    if request.upsert:
        others = [c for c in info.columns if c not in request.primary_key]
        action = (
            sql.SQL("DO UPDATE SET {}").format(
                sql.SQL(", ").join(
                    sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in others
                )
            )
            if others
            else sql.SQL("DO NOTHING")
        )
        statement = sql.SQL("INSERT INTO {} ({}) {} ON CONFLICT ({}) {}").format(
            target, columns, select, column_list(request.primary_key), action
        )
    else:
        assert request.interval_column is not None
        deleted = conn.execute(
            sql.SQL("DELETE FROM {} WHERE {}").format(
                target, _in_interval(request.interval_column)
            ),
            bounds,
        ).rowcount
        statement = sql.SQL("INSERT INTO {} ({}) {}").format(target, columns, select)
    rows = conn.execute(statement, bounds or None).rowcount
    outputs: dict[str, Any] = {
        "table": request.table,
        "mode": "upsert" if request.upsert else "incremental",
        "rows": rows,
        "source_rows": received,
    }
    if not request.upsert:
        outputs["deleted"] = deleted
    if skipped:
        outputs["skipped_outside_interval"] = skipped
    if interval is not None and request.interval_column:
        outputs["interval"] = [interval.start.isoformat(), interval.end.isoformat()]
    return outputs
