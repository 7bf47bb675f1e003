"""Two first runs of an incremental DAG at once (a catchup) both find the table missing: the
second waits for the first to make it, then loads its own day, instead of failing on
PostgreSQL's catalog when the first commits (and waiting out a retry delay)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devcluster.postgres import Postgres
from kubedag.toolkit.context import RunInterval
from kubedag.toolkit.feeds import SourceSpec
from kubedag.toolkit.load import LoadRequest, load
from tests.toolkit.helpers import write_csv


def _day(day: int) -> RunInterval:
    start = datetime(2026, 1, day, tzinfo=UTC)
    return RunInterval(start, start, start + timedelta(days=1))


def wait_until(db: psycopg.Connection, condition: str, what: str) -> None:
    """Until another session of the server is in `condition` (of pg_stat_activity)."""
    query = f"SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND {condition}"
    deadline = time.monotonic() + 30
    while db.execute(query).fetchone() == (0,):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("new_schema", [True, False], ids=["new schema", "existing schema"])
def test_two_loads_that_create_the_same_table_at_once_both_succeed(
    postgres: Postgres, db: psycopg.Connection, tmp_path: Path, new_schema: bool
) -> None:
    suffix = uuid.uuid4().hex[:8]
    schema = f"fresh_{suffix}" if new_schema else "t"
    table = f"{schema}.events_{suffix}"
    # The first load reads a named pipe: it makes the table, then waits, its transaction open,
    # until the test writes the day's rows into the pipe.
    pipe = tmp_path / "day1.csv"
    os.mkfifo(pipe)
    day2 = write_csv(tmp_path / "day2.csv", "id,day,amount", ["b1,2026-01-02,2", "b2,2026-01-02,3"])
    results: dict[int, Any] = {}

    def run(day: int, source: Path) -> None:
        request = LoadRequest(
            table=table,
            primary_key=["id"],
            mode="incremental",
            source=SourceSpec(str(source)),
            create="id text, day date, amount numeric",
            interval_column="day",
        )
        try:
            with psycopg.connect(postgres.conninfo()) as conn:
                results[day] = load(conn, request, _day(day))
        except Exception as error:
            results[day] = error

    first = threading.Thread(target=run, args=(1, pipe))
    first.start()
    wait_until(db, "state = 'idle in transaction'", "the first load to make the table")
    second = threading.Thread(target=run, args=(2, day2))
    second.start()
    wait_until(db, "wait_event_type = 'Lock'", "the second load to wait for the first")
    pipe.write_text("id,day,amount\na1,2026-01-01,1\n")
    first.join(30)
    second.join(30)

    assert not isinstance(results[1], Exception), results[1]
    assert not isinstance(results[2], Exception), results[2]
    assert (results[1]["rows"], results[2]["rows"]) == (1, 2)
    rows = db.execute(f"SELECT id, day::text FROM {table} ORDER BY id").fetchall()
    assert rows == [("a1", "2026-01-01"), ("b1", "2026-01-02"), ("b2", "2026-01-02")]
    db.execute(f"DROP TABLE {table}")
    if new_schema:
        db.execute(f"DROP SCHEMA {schema}")


@pytest.mark.parametrize("exists", [False, True])
def test_a_load_into_an_existing_table_takes_no_creation_lock(
    postgres: Postgres, db: psycopg.Connection, tmp_path: Path, exists: bool
) -> None:
    if exists:
        db.execute("CREATE TABLE t.kept (id text PRIMARY KEY, day date, amount numeric)")
    source = write_csv(tmp_path / "day.csv", "id,day,amount", ["a,2026-01-01,1"])
    request = LoadRequest(
        table="t.kept",
        primary_key=["id"],
        mode="full",
        source=SourceSpec(str(source)),
        create="id text, day date, amount numeric",
    )
    with psycopg.connect(postgres.conninfo()) as conn:
        with conn.transaction():
            load_outputs = load(conn, request, None)
            pid = conn.info.backend_pid
            held = db.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = %s", [pid]
            ).fetchone()
        assert load_outputs["rows"] == 1
    assert held == ((0,) if exists else (1,))
