"""The benchmark harness end to end at its smoke scale, so it cannot rot: its own control
plane with kube-scheduler and kwok, every scenario with a few tasks, the controller run as
users run it. Asserts the output's structure and the scenarios' correctness, never a time."""

import json
import struct
import subprocess
import sys
from pathlib import Path

from bench.results import SCENARIOS, TARGETS, metric_keys, validate_document

REPO = Path(__file__).resolve().parents[2]


def test_every_scenario_runs_and_reports_every_figure(tmp_path: Path) -> None:
    out, work = tmp_path / "out", tmp_path / "work"
    # kubedag alone: the peers' binaries take half an hour to build, so only `make bench`
    # runs them (their result handling is unit-tested in tests/unit/test_bench_peers.py).
    command = [
        *(sys.executable, "-m", "bench", "--scale", "smoke", "--system", "kubedag"),
        *("--out", str(out)),
    ]
    result = subprocess.run(
        [*command, "--workdir", str(work)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, (
        f"exit {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
    )

    (document_path,) = out.glob("*-smoke.json")
    document = json.loads(document_path.read_text())
    assert validate_document(document) == []
    assert list(document["scenarios"]) == list(SCENARIOS)
    assert "errors" not in document
    for name, body in document["scenarios"].items():
        for key in metric_keys(name):
            value = body["metrics"][key]
            assert isinstance(value, int | float), f"{name}.{key} = {value!r}"
    assert len(document["targets"]) == len(TARGETS)
    # Every scenario after the first ran on a cluster of its own (each scenario is one run).
    assert document["settings"]["cluster_per_run"] is True
    assert len(document["settings"]["cluster_renewals_s"]) == len(SCENARIOS) - 1

    m = {name: body["metrics"] for name, body in document["scenarios"].items()}
    assert m["chain"]["completed_tasks"] == m["chain"]["tasks"] == m["chain"]["task_tries"]
    assert len(document["scenarios"]["chain"]["samples"]["hop_latency_ms"]) == (
        m["chain"]["tasks"] - 1
    )
    assert m["fanout"]["completed_tasks"] == m["fanout"]["tasks"] == m["fanout"]["task_tries"]
    assert m["fanout"]["dagrun_bytes"] > m["fanout"]["dagrun_status_bytes"] > 0
    assert m["many_dags"]["runs_created"] == m["many_dags"]["runs_expected"]
    assert m["many_dags"]["runs_completed"] == m["many_dags"]["runs_expected"]
    fleet = m["fleet"]
    assert fleet["runs_created"] == fleet["runs_completed"] == fleet["runs_expected"]
    assert fleet["dags"] > m["many_dags"]["dags"]  # the hourly DAGs beside the minute ones
    assert fleet["controller_cpu_ms_per_run"] > 0
    assert m["catchup"]["runs_created"] == m["catchup"]["runs_expected"]
    assert m["catchup"]["runs_completed"] == m["catchup"]["runs_expected"]
    backfill = m["backfill"]
    assert backfill["runs_created"] == backfill["runs_completed"] == backfill["runs_expected"]
    assert backfill["dates_missing"] == backfill["dates_doubled"] == 0
    assert 0 < backfill["max_runs_at_once"] <= 4  # the smoke scale's maxActiveRuns
    assert document["scenarios"]["backfill"]["details"]["backfill_state"] == "Completed"
    assert m["single_task"]["runs_completed"] == m["single_task"]["runs_created"] > 0
    pool = m["pool"]
    assert pool["runs_completed"] == pool["runs"]
    assert 0 < pool["max_pool_pods_at_once"] <= pool["pool_slots"]
    # Every api_cost run retries its flaky task once: one more try than tasks.
    api = m["api_cost"]
    assert api["task_tries"] == api["runs"] * (api["tasks_per_run"] + 1)
    assert api["api_writes"] >= api["task_tries"]  # at least the pod creates
    assert document["scenarios"]["api_cost"]["details"]["run_states"] == ["success"] * api["runs"]

    # The soak forgets everything it deleted: the controller's per-object caches are empty.
    soak = m["soak"]
    assert soak["runs_completed"] == soak["cycles"] * soak["runs_per_cycle"]
    assert soak["cache_entries_max"] == 0, document["scenarios"]["soak"]["details"]["cycles"]
    assert soak["rss_first_cycle_mib"] > 0

    # The wide run's records were compacted (the smoke scale lowers the threshold) and read
    # back whole; none is left plain once every task finished.
    wide = m["wide"]
    assert wide["completed_tasks"] == wide["records_succeeded"] == wide["tasks"]
    assert document["scenarios"]["wide"]["details"]["compacted"] is True
    assert wide["plain_records"] == 0
    assert wide["dagrun_max_bytes"] >= wide["dagrun_bytes"] > 0

    report = document_path.with_suffix(".md").read_text()
    assert "## Targets" in report
    plots = sorted(out.glob("*.png"))
    assert len(plots) == 6
    for plot in plots:
        header = plot.read_bytes()[:24]
        assert header.startswith(b"\x89PNG\r\n\x1a\n")
        width, height = struct.unpack(">II", header[16:24])
        assert width > 0 and height > 0


def test_api_ceiling_reports_each_burst() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.api_ceiling", "--runs", "20", "--rounds", "2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["round 1", "round 2", "best"]
    assert all("20 DagRun creates, 16 in flight" in line for line in lines[:2])
    rates = [float(line.rsplit(" ", 2)[-2]) for line in lines[:2]]
    assert all(rate > 0 for rate in rates)
