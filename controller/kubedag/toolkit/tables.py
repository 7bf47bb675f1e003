"""What the toolkit asks PostgreSQL about tables, and the SQL it composes (identifiers are
always quoted by psycopg.sql, never pasted)."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from kubedag.toolkit.errors import ToolkitError


def identifier(name: str) -> sql.Identifier:
    """`schema.table` or `table` as a quoted identifier."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise ToolkitError(f"{name!r} is not a table name (expected table or schema.table)")
    return sql.Identifier(*parts)


def column_list(columns: list[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns)


@dataclass(frozen=True)
class TableInfo:
    name: str
    oid: int
    columns: dict[str, str]  # name -> type, in the table's order
    primary_key: list[str]


def table_info(conn: psycopg.Connection, name: str) -> TableInfo | None:
    ident = identifier(name)
    row = conn.execute("SELECT to_regclass(%s)::oid", [ident.as_string(conn)]).fetchone()
    if row is None or row[0] is None:
        return None
    oid = int(row[0])
    columns = {
        str(column): str(kind)
        for column, kind in conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            [oid],
        )
    }
    key = [
        str(column)
        for (column,) in conn.execute(
            "SELECT a.attname FROM pg_index i "
            "JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "WHERE i.indrelid = %s AND i.indisprimary ORDER BY k.n",
            [oid],
        )
    ]
    return TableInfo(name, oid, columns, key)


def lock_creation(conn: psycopg.Connection, what: str) -> None:
    """Wait for any other transaction that may make `what` ("table raw_data.events") to end, and
    keep others out until this one ends."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"kubedag-task create {what}"])


def _exists(conn: psycopg.Connection, query: str, params: list[str | None]) -> bool:
    return conn.execute(query, params).fetchone() is not None


def _schema_exists(conn: psycopg.Connection, schema: str) -> bool:
    return _exists(conn, "SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema])


def _table_exists(conn: psycopg.Connection, name: str) -> bool:
    schema, table = name.split(".") if "." in name else (None, name)
    query = (
        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relname = %s AND n.nspname = coalesce(%s, current_schema())"
    )
    return _exists(conn, query, [table, schema])


def ensure_schema(conn: psycopg.Connection, name: str) -> None:
    if "." in name:
        schema = name.split(".")[0]
        if not _schema_exists(conn, schema):
            lock_creation(conn, f"schema {schema}")
            if not _schema_exists(conn, schema):  # made meanwhile by a concurrent run
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))


def prepare_creation(conn: psycopg.Connection, name: str) -> None:
    """Call first in a transaction that makes table `name` if it is missing.

    Two first runs at once (a catchup) would otherwise both find the table (or its schema)
    missing and both create it, and the second fail on the catalog's unique index when the
    first commits, whatever `IF NOT EXISTS` says. So a missing table's creators take turns,
    one transaction at a time (an advisory lock held until commit), and the schema is made
    here. The checks read the catalog tables with a query, not `to_regclass`: a session keeps
    the names it did not find in its cache, and would not see the first run's table until it
    next locked a relation.
    """
    if not _table_exists(conn, name):
        lock_creation(conn, f"table {name}")
        ensure_schema(conn, name)


def count_rows(conn: psycopg.Connection, name: str) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(identifier(name))).fetchone()
    return int(row[0]) if row else 0
