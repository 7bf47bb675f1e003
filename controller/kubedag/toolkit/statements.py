"""`kubedag-task sql`: a templated SQL file in one transaction, or a summary table built as a new
table (CREATE TABLE AS) and swapped in for the old one in the same transaction."""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg
from psycopg import sql

from kubedag.toolkit.errors import ToolkitError
from kubedag.toolkit.tables import column_list, count_rows, ensure_schema, identifier

MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1


def run_script(conn: psycopg.Connection, text: str) -> dict[str, Any]:
    """Every statement of `text` in one transaction: all of them take effect, or none."""
    if not text.strip():
        raise ToolkitError("the SQL file is empty")
    with conn.transaction(), conn.cursor() as cursor:
        # No parameters: psycopg sends the text as one simple query, many statements allowed.
        cursor.execute(text.encode())
        return {"rowcount": cursor.rowcount, "statusmessage": cursor.statusmessage}


def _sibling(name: str, suffix: str) -> str:
    """`name` + `suffix` within PostgreSQL's 63 bytes (a hash keeps long names distinct)."""
    full = name + suffix
    if len(full.encode()) <= MAX_IDENTIFIER:
        return full
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return name.encode()[: MAX_IDENTIFIER - len(suffix) - 9].decode(errors="ignore") + (
        f"_{digest}{suffix}"
    )


def build_and_swap(
    conn: psycopg.Connection, table: str, select: str, primary_key: list[str] | None
) -> dict[str, Any]:
    """`CREATE TABLE <table>__new AS <select>`, its primary key, then the old table dropped
    and the new one renamed in its place, all in one transaction: readers see the old table
    until the commit, then the new one."""
    query = select.strip().rstrip(";").strip()
    if not query:
        raise ToolkitError("the SQL file is empty: --ctas needs a SELECT")
    parts = table.split(".")
    schema, name = (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])
    new_name = _sibling(name, "__kubedag_new")
    new = identifier(f"{schema}.{new_name}" if schema else new_name)
    with conn.transaction():
        ensure_schema(conn, table)
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(new))
        conn.execute(sql.SQL("CREATE TABLE {} AS ").format(new) + sql.SQL(query))
        if primary_key:
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY ({})").format(
                    new, sql.Identifier(_sibling(new_name, "_pkey")), column_list(primary_key)
                )
            )
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(identifier(table)))
        conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(new, sql.Identifier(name)))
        if primary_key:
            index = identifier(
                f"{schema}.{_sibling(new_name, '_pkey')}" if schema else _sibling(new_name, "_pkey")
            )
            conn.execute(
                sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                    index, sql.Identifier(_sibling(name, "_pkey"))
                )
            )
        rows = count_rows(conn, table)
    return {"table": table, "rows": rows}
