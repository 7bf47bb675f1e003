"""`extract` and `load` against a real PostgreSQL: staging, full refresh (atomic, identical on a
re-run), incremental (exactly the interval's rows), upsert, streaming of a large file."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import psycopg
import pytest

from devcluster.postgres import Postgres
from tests.toolkit.helpers import checksum, run, write_csv

DAY = ["--data-interval-start", "2026-01-02", "--data-interval-end", "2026-01-03"]


@pytest.fixture(scope="module")
def feed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A small HTTP server on loopback serving a folder (the course notes' CSV from the web)."""
    root = tmp_path_factory.mktemp("feed")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()


def test_extract_csv_from_http_for_the_run_date_into_staging(
    capsys: pytest.CaptureFixture[str],
    toolkit_env: Path,
    db: psycopg.Connection,
    feed_server: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, root = feed_server
    write_csv(root / "names-2026-01-02.csv", "name,gender", ["Ann,F", "Ben,M", '"Lee, Jr",M'])
    monkeypatch.setenv("KUBEDAG_DATA_INTERVAL_START", "2026-01-02T00:00:00Z")
    monkeypatch.setenv("KUBEDAG_DATA_INTERVAL_END", "2026-01-03T00:00:00Z")
    argv = ["extract", "--source", url + "/names-{{ ds }}.csv", "--to-table", "t.names_raw"]
    first = run(capsys, toolkit_env, *argv)
    assert first.code == 0, first.err
    assert first.outputs["rows"] == 3 and first.outputs["table"] == "t.names_raw"
    again = run(capsys, toolkit_env, *argv)  # replaced, not appended
    assert again.code == 0
    assert db.execute("SELECT name, gender FROM t.names_raw ORDER BY name").fetchall() == [
        ("Ann", "F"),
        ("Ben", "M"),
        ("Lee, Jr", "M"),
    ]
    missing = run(
        capsys, toolkit_env, "extract", "--source", url + "/nope.csv", "--to-table", "t.x"
    )
    assert missing.code == 1
    assert f"GET {url}/nope.csv: HTTP 404" in missing.err and missing.outputs["error"]


def test_extract_json_array_and_json_lines(
    capsys: pytest.CaptureFixture[str], toolkit_env: Path, db: psycopg.Connection, tmp_path: Path
) -> None:
    records = [{"id": i, "tags": ["a", i], "note": None, "ok": i % 2 == 0} for i in range(3000)]
    array = tmp_path / "events.json"
    array.write_text(json.dumps(records))
    lines = tmp_path / "events.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    for source in (array, lines):
        result = run(
            capsys,
            toolkit_env,
            "extract",
            "--format",
            "json",
            "--source",
            str(source),
            "--to-table",
            "t.events_raw",
        )
        assert result.code == 0, result.err
        assert result.outputs["rows"] == 3000
        assert db.execute(
            "SELECT id, tags, note, ok FROM t.events_raw WHERE id = '7'"
        ).fetchone() == ("7", '["a",7]', None, "false")


def test_extract_streams_a_file_larger_than_its_memory(
    postgres: Postgres, db: psycopg.Connection, tmp_path: Path
) -> None:
    big = tmp_path / "big.csv"
    row = b"%08d,some text to make the row longer than a key alone,2026-01-02\n"
    with big.open("wb") as out:
        out.write(b"id,text,day\n")
        block = b"".join(row % i for i in range(10_000))
        for _ in range(120):  # 1.2 million rows, about 77 MB
            out.write(block)
    size_mib = big.stat().st_size / 2**20
    peak_file = tmp_path / "peak"
    # The child's own high-water mark (VmHWM of its address space), written as it exits:
    # getrusage's ru_maxrss would include this test process's size, kept across fork/exec.
    measured = (
        "import atexit, runpy, sys\n"
        "def peak():\n"
        "    lines = open('/proc/self/status').read().splitlines()\n"
        "    kib = next(line.split()[1] for line in lines if line.startswith('VmHWM:'))\n"
        f"    open({str(peak_file)!r}, 'w').write(kib)\n"
        "atexit.register(peak)\n"
        "sys.argv = ['kubedag-task', *sys.argv[1:]]\n"
        "runpy.run_module('kubedag.toolkit.cli', run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", measured, "extract", "--source", str(big), "--to-table", "t.big"],
        env={
            **{k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH")},
            **postgres.env(),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    peak_mib = int(peak_file.read_text()) / 1024
    assert peak_mib < size_mib * 0.75, f"peak {peak_mib:.0f} MiB for a {size_mib:.0f} MiB file"
    assert db.execute("SELECT count(*) FROM t.big").fetchone() == (1_200_000,)


def _names(db: psycopg.Connection) -> None:
    db.execute("CREATE TABLE t.name_gender (name text PRIMARY KEY, gender text)")


def test_full_refresh_replaces_and_a_rerun_leaves_an_identical_table(
    capsys: pytest.CaptureFixture[str], toolkit_env: Path, db: psycopg.Connection, tmp_path: Path
) -> None:
    _names(db)
    db.execute("INSERT INTO t.name_gender VALUES ('Old', 'F')")
    source = write_csv(tmp_path / "n.csv", "name,gender", ["Ann,F", "Ben,M", "Cy,"])
    argv = ["load", "--table", "t.name_gender", "--primary-key", "name", "--source", str(source)]
    first = run(capsys, toolkit_env, *argv)
    assert first.code == 0, first.err
    assert first.outputs == {**first.outputs, "mode": "full", "rows": 3}
    sums = checksum(db, "t.name_gender")
    assert sums[0] == 3
    assert run(capsys, toolkit_env, *argv).code == 0
    assert checksum(db, "t.name_gender") == sums
    # From a staging table (text columns, cast to the target's types).
    db.execute("CREATE TABLE t.counts (name text PRIMARY KEY, n integer, day date)")
    db.execute("CREATE TABLE t.counts_raw (name text, n text, day text)")
    db.execute("INSERT INTO t.counts_raw VALUES ('a', '1', '2026-01-02'), ('b', '2', '2026-01-02')")
    staged = run(
        capsys,
        toolkit_env,
        "load",
        "--table",
        "t.counts",
        "--primary-key",
        "name",
        "--from-table",
        "t.counts_raw",
    )
    assert staged.code == 0, staged.err
    assert db.execute("SELECT sum(n), min(day)::text FROM t.counts").fetchone() == (3, "2026-01-02")


def test_a_failed_full_refresh_leaves_the_old_contents(
    capsys: pytest.CaptureFixture[str], toolkit_env: Path, db: psycopg.Connection, tmp_path: Path
) -> None:
    _names(db)
    db.execute("INSERT INTO t.name_gender VALUES ('Old', 'F')")
    source = write_csv(tmp_path / "dup.csv", "name,gender", ["Ann,F", "Ben,M", "Ann,M"])
    result = run(
        capsys,
        toolkit_env,
        "load",
        "--table",
        "t.name_gender",
        "--primary-key",
        "name",
        "--source",
        str(source),
    )
    assert result.code == 1
    assert 'duplicate key value violates unique constraint "name_gender_pkey"' in result.err
    assert "DETAIL: Key (name)=(Ann) already exists." in result.err
    assert db.execute("SELECT name FROM t.name_gender").fetchall() == [("Old",)]
    wrong_key = run(
        capsys,
        toolkit_env,
        "load",
        "--table",
        "t.name_gender",
        "--primary-key",
        "gender",
        "--source",
        str(source),
    )
    assert "--primary-key gender does not match the primary key of t.name_gender: (name)" in (
        wrong_key.err
    )


def test_full_refresh_is_atomic_for_a_concurrent_reader(
    postgres: Postgres,
    capsys: pytest.CaptureFixture[str],
    toolkit_env: Path,
    db: psycopg.Connection,
    tmp_path: Path,
) -> None:
    db.execute("CREATE TABLE t.wide (id integer PRIMARY KEY, v text)")
    db.execute("INSERT INTO t.wide SELECT g, 'old' FROM generate_series(1, 100000) g")
    source = tmp_path / "new.csv"
    source.write_text("id,v\n" + "".join(f"{i},new\n" for i in range(1, 150001)))
    seen: list[tuple[int, int]] = []
    loading = threading.Event()
    done = threading.Event()

    def reader() -> None:
        with psycopg.connect(postgres.conninfo(), autocommit=True) as conn:
            while not done.is_set():
                row = conn.execute(
                    "SELECT count(*) FILTER (WHERE v = 'old'), count(*) FILTER (WHERE v = 'new') "
                    "FROM t.wide"
                ).fetchone()
                assert row is not None
                seen.append((int(row[0]), int(row[1])))
                loading.set()

    thread = threading.Thread(target=reader)
    thread.start()
    loading.wait(30)
    try:
        result = run(
            capsys,
            toolkit_env,
            "load",
            "--table",
            "t.wide",
            "--primary-key",
            "id",
            "--source",
            str(source),
        )
        time.sleep(0.2)
    finally:
        done.set()
        thread.join(30)
    assert result.code == 0, result.err
    assert set(seen) <= {(100000, 0), (0, 150000)}, sorted(set(seen))
    assert (100000, 0) in seen and (0, 150000) in seen


def _events(db: psycopg.Connection) -> None:
    db.execute(
        "CREATE TABLE t.events (id text PRIMARY KEY, day date NOT NULL, amount integer); "
        "INSERT INTO t.events SELECT 'd' || d || '-' || i, DATE '2026-01-01' + d, i "
        "FROM generate_series(0, 2) d, generate_series(1, 100) i"
    )


def test_incremental_replaces_exactly_the_intervals_rows(
    capsys: pytest.CaptureFixture[str], toolkit_env: Path, db: psycopg.Connection, tmp_path: Path
) -> None:
    _events(db)
    before_other_days = db.execute(
        "SELECT count(*), sum(amount) FROM t.events WHERE day <> '2026-01-02'"
    ).fetchone()
    source = write_csv(
        tmp_path / "day2.csv", "id,day,amount", [f"n{i},2026-01-02,{i * 10}" for i in range(1, 41)]
    )
    argv = [
        "load",
        "--table",
        "t.events",
        "--primary-key",
        "id",
        "--mode",
        "incremental",
        "--interval-column",
        "day",
        "--source",
        str(source),
        *DAY,
    ]
    result = run(capsys, toolkit_env, *argv)
    assert result.code == 0, result.err
    assert result.outputs | {"seconds": 0} == {
        "table": "t.events",
        "mode": "incremental",
        "rows": 40,
        "source_rows": 40,
        "deleted": 100,
        "seconds": 0,
        "interval": ["2026-01-02T00:00:00+00:00", "2026-01-03T00:00:00+00:00"],
    }
    assert (
        db.execute(
            "SELECT count(*), sum(amount) FROM t.events WHERE day <> '2026-01-02'"
        ).fetchone()
        == before_other_days
    )
    assert db.execute(
        "SELECT count(*), min(id), sum(amount) FROM t.events WHERE day = '2026-01-02'"
    ).fetchone() == (40, "n1", 8200)
    sums = checksum(db, "t.events")
    assert run(capsys, toolkit_env, *argv).code == 0
    assert checksum(db, "t.events") == sums

    stray = write_csv(tmp_path / "stray.csv", "id,day,amount", ["a,2026-01-02,1", "b,2026-01-05,2"])
    argv[argv.index(str(source))] = str(stray)
    refused = run(capsys, toolkit_env, *argv)
    assert refused.code == 1
    assert "1 of 2 source rows have day outside the run's interval" in refused.err
    assert checksum(db, "t.events") == sums
    skipped = run(capsys, toolkit_env, *argv, "--outside-interval", "skip")
    assert skipped.code == 0 and skipped.outputs["skipped_outside_interval"] == 1
    assert db.execute("SELECT count(*) FROM t.events WHERE day = '2026-01-02'").fetchone() == (1,)


def test_incremental_upsert_on_the_key(
    capsys: pytest.CaptureFixture[str], toolkit_env: Path, db: psycopg.Connection, tmp_path: Path
) -> None:
    _events(db)
    source = write_csv(
        tmp_path / "changes.csv", "id,day,amount", ["d1-1,2026-01-02,-5", "new,2026-01-02,7"]
    )
    argv = [
        "load",
        "--table",
        "t.events",
        "--primary-key",
        "id",
        "--mode",
        "incremental",
        "--upsert",
        "--source",
        str(source),
    ]
    result = run(capsys, toolkit_env, *argv)
    assert result.code == 0, result.err
    assert result.outputs["rows"] == 2 and result.outputs["mode"] == "upsert"
    sums = checksum(db, "t.events")
    assert sums[0] == 301
    assert db.execute("SELECT amount FROM t.events WHERE id = 'd1-1'").fetchone() == (-5,)
    assert run(capsys, toolkit_env, *argv).code == 0
    assert checksum(db, "t.events") == sums
    no_column = run(
        capsys,
        toolkit_env,
        "load",
        "--table",
        "t.events",
        "--primary-key",
        "id",
        "--mode",
        "incremental",
        "--source",
        str(source),
    )
    assert "needs --interval-column" in no_column.err
