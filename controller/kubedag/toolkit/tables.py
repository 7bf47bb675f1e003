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


def ensure_schema(conn: psycopg.Connection, name: str) -> None:
    if "." in name:
        schema = name.split(".")[0]
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def count_rows(conn: psycopg.Connection, name: str) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(identifier(name))).fetchone()
    return int(row[0]) if row else 0
