"""What the toolkit tests share: running `kubedag-task` as a task pod would, and table sums."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from kubedag.toolkit.cli import main


@dataclass
class Result:
    code: int
    out: str
    err: str
    outputs: dict[str, Any]


def run(capsys: pytest.CaptureFixture[str], outputs_file: Path, *argv: str) -> Result:
    outputs_file.unlink(missing_ok=True)
    code = main(list(argv))
    captured = capsys.readouterr()
    text = outputs_file.read_text()
    assert len(text.encode()) < 4096
    return Result(code, captured.out, captured.err, json.loads(text))


def checksum(conn: psycopg.Connection, table: str) -> tuple[int, str]:
    """Row count and an order-independent digest of the table's contents."""
    schema, name = table.split(".")
    row = conn.execute(
        sql.SQL(
            "SELECT count(*), coalesce(md5(string_agg(md5(x::text), '' ORDER BY md5(x::text))), "
            "'') FROM {} x"
        ).format(sql.Identifier(schema, name))
    ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path
