"""`sql` (one transaction; CTAS + rename) and `check` (a readable report, outputs) against a
real PostgreSQL; no subcommand prints the connection's password."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from devcluster.postgres import Postgres
from tests.toolkit.helpers import checksum, run, write_csv

DAY = ["--data-interval-start", "2026-01-02", "--data-interval-end", "2026-01-03"]


def test_a_sql_file_runs_in_one_transaction(
    capsys: pytest.CaptureFixture[str], toolkit_env: Path, db: psycopg.Connection, tmp_path: Path
) -> None:
    db.execute("CREATE TABLE t.log (day date, note text)")
    good = tmp_path / "good.sql"
    good.write_text(
        "INSERT INTO t.log VALUES ('{{ ds }}', {{ params.note | sql_literal }});\n"
        "INSERT INTO t.log VALUES ({{ data_interval_end | ds | sql_literal }}, 'end');\n"
    )
    result = run(capsys, toolkit_env, "sql", str(good), *DAY, "--param", "note=it's")
    assert result.code == 0, result.err
    assert db.execute("SELECT day::text, note FROM t.log ORDER BY day").fetchall() == [
        ("2026-01-02", "it's"),
        ("2026-01-03", "end"),
    ]
    bad = tmp_path / "bad.sql"
    bad.write_text("DELETE FROM t.log;\nINSERT INTO t.log VALUES ('not a date', 'x');\n")
    failed = run(capsys, toolkit_env, "sql", str(bad))
    assert failed.code == 1
    assert 'invalid input syntax for type date: "not a date"' in failed.err
    assert db.execute("SELECT count(*) FROM t.log").fetchone() == (2,)  # the DELETE undone


def test_ctas_builds_a_summary_and_swaps_it_in(
    capsys: pytest.CaptureFixture[str], toolkit_env: Path, db: psycopg.Connection, tmp_path: Path
) -> None:
    db.execute(
        "CREATE TABLE t.events (id int PRIMARY KEY, day date, amount int); "
        "INSERT INTO t.events SELECT g, DATE '2026-01-01' + g % 3, g FROM generate_series(1, 90) g"
    )
    summary = tmp_path / "summary.sql"
    summary.write_text(
        "SELECT day, count(*) AS events, sum(amount) AS amount\n"
        "FROM t.events WHERE day < {{ data_interval_end | ds | sql_literal }} GROUP BY day;\n"
    )
    argv = ["sql", str(summary), "--ctas", "t.daily_summary", "--primary-key", "day", *DAY]
    first = run(capsys, toolkit_env, *argv)
    assert first.code == 0, first.err
    assert first.outputs["rows"] == 2
    sums = checksum(db, "t.daily_summary")
    db.execute("INSERT INTO t.events VALUES (1000, '2026-01-01', 5)")
    second = run(capsys, toolkit_env, *argv)  # the key's index is renamed each time
    assert second.code == 0, second.err
    assert checksum(db, "t.daily_summary") != sums
    assert db.execute(
        "SELECT indexrelid::regclass::text FROM pg_index "
        "WHERE indrelid = 't.daily_summary'::regclass AND indisprimary"
    ).fetchone() == ("t.daily_summary_pkey",)
    assert db.execute("SELECT to_regclass('t.daily_summary__kubedag_new')").fetchone() == (None,)


def _names(db: psycopg.Connection, rows: list[tuple[str, str | None]]) -> None:
    db.execute("CREATE TABLE t.names (name text, gender text, day date DEFAULT '2026-01-02')")
    with db.cursor() as cursor:
        cursor.executemany("INSERT INTO t.names (name, gender) VALUES (%s, %s)", rows)


CHECKS = [
    "check",
    "--table",
    "t.names",
    "--min-rows",
    "3",
    "--unique",
    "name",
    "--no-duplicate-rows",
    "--not-null",
    "name,gender",
    "--fresh-column",
    "day",
    *DAY,
    "--assert",
    "no blank names=SELECT name FROM t.names WHERE name = ''",
]


def test_checks_pass_on_good_data(
    capsys: pytest.CaptureFixture[str], toolkit_env: Path, db: psycopg.Connection
) -> None:
    _names(db, [("Ann", "F"), ("Ben", "M"), ("Cy", "M")])
    result = run(capsys, toolkit_env, *CHECKS, "--expect-rows", "3")
    assert result.code == 0, result.out
    assert "check t.names over [2026-01-02T00:00:00+00:00, 2026-01-03T00:00:00+00:00): all 8" in (
        result.out
    )
    assert result.outputs["passed"] is True and result.outputs["failed"] == []


def test_a_duplicate_key_fails_check_with_a_readable_report(
    capsys: pytest.CaptureFixture[str], toolkit_env: Path, db: psycopg.Connection
) -> None:
    _names(db, [("Ann", "F"), ("Ben", "M"), ("Ben", "M"), ("Ann", None), ("", "F")])
    result = run(capsys, toolkit_env, *CHECKS, "--expect-rows", "4")
    assert result.code == 1
    report = result.out
    assert "5 of 8 checks failed" in report
    assert "  PASS  row count: 5 (expected >= 3)" in report
    assert "  FAIL  rows in = rows out: 5 (expected 4 (the input's))" in report
    assert "  FAIL  unique(name): 2 duplicated keys (expected 0)" in report
    assert "name='Ann' (2 rows)" in report and "name='Ben' (2 rows)" in report
    assert "  FAIL  no duplicate rows: 1 repeated rows (expected 0)" in report
    assert "(Ben,M,2026-01-02) (2 times)" in report
    assert "  FAIL  not null(gender): 1 nulls (expected 0)" in report
    assert "  PASS  fresh(day): 5 rows in the interval, newest 2026-01-02" in report
    assert "  FAIL  no blank names: 1 rows (expected true or no rows)" in report
    outputs = result.outputs
    assert outputs["passed"] is False
    assert outputs["failed"] == [
        "rows in = rows out",
        "unique(name)",
        "no duplicate rows",
        "not null(gender)",
        "no blank names",
    ]
    assert outputs["checks"]["unique(name)"]["details"][0] == "name='Ann' (2 rows)"


def test_checks_of_the_intervals_rows_and_an_old_interval_is_not_fresh(
    capsys: pytest.CaptureFixture[str], toolkit_env: Path, db: psycopg.Connection
) -> None:
    _names(db, [("Ann", "F")])
    db.execute("INSERT INTO t.names VALUES ('Ann', 'F', '2026-01-01')")  # another day's row
    scoped = run(
        capsys,
        toolkit_env,
        "check",
        "--table",
        "t.names",
        "--unique",
        "name",
        "--interval-column",
        "day",
        *DAY,
    )
    assert scoped.code == 0, scoped.out
    late = run(
        capsys,
        toolkit_env,
        "check",
        "--table",
        "t.names",
        "--fresh-column",
        "day",
        "--data-interval-start",
        "2026-02-01",
        "--data-interval-end",
        "2026-02-02",
    )
    assert late.code == 1
    assert "FAIL  fresh(day): 0 rows in the interval, newest 2026-01-02" in late.out


def test_no_subcommand_prints_the_password(
    postgres: Postgres,
    capsys: pytest.CaptureFixture[str],
    toolkit_env: Path,
    db: psycopg.Connection,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = write_csv(tmp_path / "n.csv", "name,gender", ["Ann,F"])
    texts = []
    for argv in (
        ["extract", "--source", str(source), "--to-table", "t.raw"],
        ["load", "--table", "t.missing", "--primary-key", "name", "--source", str(source)],
        ["check", "--table", "t.raw", "--min-rows", "5"],
    ):
        result = run(capsys, toolkit_env, *argv)
        texts += [result.out, result.err, json.dumps(result.outputs)]
    monkeypatch.setenv("KUBEDAG_CONN_WAREHOUSE_PASSWORD", postgres.password + "-wrong")
    wrong = run(capsys, toolkit_env, "check", "--table", "t.raw", "--min-rows", "1")
    assert wrong.code == 1 and 'password authentication failed for user "postgres"' in wrong.err
    texts += [wrong.out, wrong.err, json.dumps(wrong.outputs)]
    assert "connection postgres@" in texts[0]
    assert not [t for t in texts if postgres.password in t]
