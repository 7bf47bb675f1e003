"""Airflow as a side-by-side peer, its pure parts: the configurations and the environment they
render, the DAG files the harness writes, the figures read from its metadata database, and
its rows in the report. Airflow itself is installed and run only by `make bench`."""

from __future__ import annotations

import ast
import math
import re
from datetime import UTC, datetime, timedelta

import pytest

from bench.peers import sidebyside
from bench.peers.airflow_config import (
    AIRFLOW_DEFAULTS,
    AIRFLOW_TUNED,
    CHAIN_DAG_ID,
    NO_PODS,
    Deployment,
    chain_dag_source,
    cron_dags_source,
    environment,
    many_dags_id,
    sql_alchemy_conn,
)
from bench.peers.airflow_results import (
    RunRow,
    TaskRow,
    chain_figures,
    database_writes,
    group_cpu_seconds,
    same_minute_figures,
    stat_cpu_ticks,
)
from devcluster.versions import REPO_ROOT, pinned_versions

DEPLOYMENT = Deployment(
    home="/w/airflow home",
    database_host="/tmp/pg/socket",
    database_port=5432,
    database_name="airflow_1",
    database_user="postgres",
    database_password="p@ss/word",
    api_port=18080,
    secret="s3cret",
)
T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def test_defaults_change_only_where_the_bench_machine_needs_it() -> None:
    env = environment(AIRFLOW_DEFAULTS, DEPLOYMENT)
    assert env["AIRFLOW_HOME"] == "/w/airflow home"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/w/airflow home/dags"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env["AIRFLOW__API__PORT"] == "18080"
    # The scheduler signs the tasks' tokens, the API server checks them: one secret.
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == "s3cret"
    assert not [k for k in env if k.startswith(("AIRFLOW__SCHEDULER__", "AIRFLOW__DAG_PROC"))]
    assert AIRFLOW_DEFAULTS.settings == f"{NO_PODS}; LocalExecutor, PostgreSQL; shipped defaults"


def test_tuned_options_reach_the_environment_and_the_settings_cell() -> None:
    env = environment(AIRFLOW_TUNED, DEPLOYMENT)
    assert env["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"] == "0.05"
    assert env["AIRFLOW__SCHEDULER__MAX_DAGRUNS_TO_CREATE_PER_LOOP"] == "1000"
    assert env["AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL"] == "600"
    settings = AIRFLOW_TUNED.settings
    assert settings.startswith(NO_PODS)
    for (section, key), value in AIRFLOW_TUNED.options.items():
        assert f"[{section}] {key}={value}" in settings


def test_database_url_uses_the_unix_socket_and_quotes_the_password() -> None:
    url = sql_alchemy_conn(DEPLOYMENT)
    assert url == (
        "postgresql+psycopg2://postgres:p%40ss%2Fword@/airflow_1?host=/tmp/pg/socket&port=5432"
    )


def test_dag_files_are_python_with_the_expected_dags() -> None:
    chain = chain_dag_source(50)
    ast.parse(chain)
    assert f"dag_id={CHAIN_DAG_ID!r}" in chain
    assert "range(50)" in chain and 'bash_command="true"' in chain
    assert "is_paused_upon_creation=False" in chain
    cron = cron_dags_source(500)
    ast.parse(cron)
    assert "range(500)" in cron and 'schedule="* * * * *"' in cron
    assert 'dag_id=f"bench_md_{index:04d}"' in cron and many_dags_id(7) == "bench_md_0007"
    assert "EmptyOperator" in cron and "catchup=False" in cron
    with pytest.raises(ValueError):
        chain_dag_source(1)


def _task(step: int, queued: float, start: float, end: float | None) -> TaskRow:
    def at(s: float) -> datetime:
        return T0 + timedelta(seconds=s)

    return TaskRow(
        f"step_{step:03d}", "success" if end else "running", at(queued), at(start), end and at(end)
    )


def test_chain_hop_is_next_start_minus_previous_end() -> None:
    rows = [_task(2, 3.2, 3.5, None), _task(0, 0.0, 0.1, 1.0), _task(1, 1.25, 2.0, 3.0)]
    metrics, hops = chain_figures(rows, 3, T0, T0 + timedelta(seconds=4))
    assert hops == [1000.0, 500.0]  # 2.0 - 1.0, 3.5 - 3.0: step order, not row order
    assert metrics["hop_to_queued_p50_ms"] == pytest.approx(225.0)  # 250 and 200 ms
    assert metrics["completed_tasks"] == 2
    assert metrics["run_duration_s"] == 4.0
    assert metrics["hop_latency_p90_ms"] == pytest.approx(950.0)


def test_same_minute_lag_by_commit_with_skipped_minutes() -> None:
    ticks = [T0, T0 + timedelta(minutes=1)]

    def run(dag: str, due: datetime, commit_s: float | None, queued_s: float) -> RunRow:
        committed = due + timedelta(seconds=commit_s) if commit_s is not None else None
        return RunRow(dag, due, committed, due + timedelta(seconds=queued_s), "success")

    rows = [
        run("a", ticks[0], 0.5, 0.25),
        run("b", ticks[0], 1.5, 1.0),
        run("a", ticks[1], 2.5, 2.0),
        run("a", T0 - timedelta(minutes=1), 30.0, 30.0),  # before the window: not counted
    ]
    metrics, lags = same_minute_figures(rows, 2, ticks)
    assert lags == [500.0, 1500.0, 2500.0]
    assert metrics["runs_expected"] == 4 and metrics["runs_created"] == 3
    assert metrics["minutes_skipped"] == 1  # b at the second minute
    assert metrics["scheduling_lag_p50_ms"] == 1500.0
    assert metrics["lag_by_queued_at_p50_ms"] == 1000.0
    assert metrics["runs_completed"] == 3


def _stat(pid: int, comm: str, pgrp: int, utime: int, stime: int, cutime: int, cstime: int) -> str:
    rest = ["S", "1", str(pgrp), str(pgrp), "0", "-1", "0", "0", "0", "0", "0"]
    rest += [str(utime), str(stime), str(cutime), str(cstime), "20", "0"]
    return f"{pid} ({comm}) " + " ".join(rest)


def test_cpu_of_a_process_group_counts_reaped_children() -> None:
    stat = _stat(41, "airflow worker -- LocalExecutor: <idle>", 40, 10, 5, 200, 30)
    assert stat_cpu_ticks(stat) == (40, 245)
    stats = [stat, _stat(40, "airflow scheduler", 40, 100, 0, 0, 0), _stat(9, "x", 9, 7, 0, 0, 0)]
    assert group_cpu_seconds(stats, {40}, 100) == pytest.approx(3.45)


def test_database_writes_per_try() -> None:
    before = {"xact_commit": 10, "tup_inserted": 5, "tup_updated": 5, "tup_deleted": 0}
    after = {"xact_commit": 110, "tup_inserted": 45, "tup_updated": 25, "tup_deleted": 10}
    writes = database_writes(before, after, 10)
    assert writes == {
        "db_commits": 100,
        "db_rows_written": 70,
        "db_commits_per_try": 10.0,
        "db_rows_written_per_try": 7.0,
    }
    assert math.isnan(database_writes(before, after, 0)["db_commits_per_try"])


def test_airflow_rows_are_labelled_and_count_as_a_peer() -> None:
    row = {
        "system": "airflow",
        "variant": "tuned",
        "settings": AIRFLOW_TUNED.settings,
        "metrics": {"hop_latency_p50_ms": 800.0, "hop_latency_p99_ms": 1300.0},
    }
    document = {
        "scenarios": {
            "chain": {"metrics": {"hop_latency_p50_ms": 20.0, "hop_latency_p99_ms": 40.0}}
        },
        "peers": {"chain": [row]},
    }
    text = sidebyside.render(document, {})
    assert sidebyside.AIRFLOW_NOTE in text
    line = next(x for x in text.splitlines() if x.startswith("| airflow (tuned)"))
    assert NO_PODS in line
    ahead = next(x for x in text.splitlines() if x.startswith("| kubedag ahead"))
    assert "**40.00x** vs airflow (tuned)" in ahead


def test_the_lock_pins_the_versioned_airflow_with_hashes() -> None:
    text = (REPO_ROOT / "bench" / "peers" / "airflow-requirements.lock").read_text()
    assert f"\napache-airflow=={pinned_versions()['AIRFLOW_VERSION']} \\\n" in text
    requirements = re.findall(
        r"^([A-Za-z0-9_.\-\[\]]+)==(\S+) \\\n((?:\s+--hash=\S+.*\n)+)", text, re.M
    )
    pinned = re.findall(r"^[A-Za-z0-9]\S*==", text, re.M)
    assert len(requirements) == len(pinned) > 100  # every requirement pinned, with its hashes
