"""A large run's records compacted into status.compressedTasks, against a real API server:
the controller writes them, the API server stores them, `kubedag tasks` reads every record
back. The threshold is lowered (KUBEDAG_COMPACT_TASKS_OVER=3), so 8 tasks show it."""

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubedag.models.compact_tasks import PLAIN_ACTIVE_LIMIT
from tests.integration.harness import (  # noqa: F401 - fixtures
    REPO,
    Cluster,
    ControllerProcess,
    cluster,
    crds,
    running_controller,
    wait_for,
)


@pytest.fixture
def compacting_controller(
    crds: None, kubeconfig: str, namespace: str, tmp_path: Path
) -> Iterator[ControllerProcess]:
    env = {"KUBEDAG_COMPACT_TASKS_OVER": "3"}
    yield from running_controller(ControllerProcess(kubeconfig, namespace, tmp_path, env=env))


def kubedag(kubeconfig: str, cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(REPO / ".venv/bin/kubedag"), *args, "-n", cluster.ns, "--kubeconfig", kubeconfig]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)


def raw_status(cluster: Cluster, run: str) -> dict[str, Any]:
    return dict(cluster.run(run).get("status") or {})


def test_a_compacted_run_is_stored_and_read_back_whole(
    cluster: Cluster,
    compacting_controller: ControllerProcess,
    kubeconfig: str,
) -> None:
    fan = [f"load-part-{i}" for i in range(6)]
    tasks = [
        {"name": "extract", "image": "busybox"},
        *(
            {
                "name": n,
                "image": "busybox",
                "dependsOn": ["extract"],
                "retries": 1,
                "retryDelay": "1s",
            }
            for n in fan
        ),
        {"name": "report", "image": "busybox", "dependsOn": fan},
    ]
    cluster.apply_dag("wide", {"tasks": tasks})
    cluster.create_run("wide-1", {"dagName": "wide"})
    cluster.wait_pod("wide-1", "extract")
    # The run's start is written within STARTED_WRITE_DELAY of its first pod.
    cluster.wait_run_state("wide-1", "running")
    # While extract runs, it is the only plain record; the 7 waiting ones are compressed.
    status = raw_status(cluster, "wide-1")
    assert status["compressedTasks"] and len(status["tasks"]) <= PLAIN_ACTIVE_LIMIT
    assert [t["name"] for t in status["tasks"]] == ["extract"]
    assert status["progress"] == "0/8"
    cluster.finish_task("wide-1", "extract")
    cluster.finish_task("wide-1", fan[0], exit_code=1)  # retried
    cluster.wait_task_state("wide-1", fan[0], "up_for_retry")
    cluster.wait_pod("wide-1", fan[0], try_number=2)
    cluster.finish_task("wide-1", fan[0], try_number=2)
    for name in fan[1:]:
        cluster.finish_task("wide-1", name)
    cluster.finish_task("wide-1", "report")
    done = cluster.wait_run_state("wide-1", "success")
    assert done["status"]["tasks"] == [] and done["status"]["progress"] == "8/8"
    stored = len(json.dumps(done, separators=(",", ":")))
    print(f"a finished 8-task compacted run: {stored} bytes stored")

    listed = kubedag(kubeconfig, cluster, "tasks", "wide-1", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    records = {r["name"]: r for r in json.loads(listed.stdout)}
    assert list(records) == ["extract", *fan, "report"]
    assert {r["state"] for r in records.values()} == {"success"}
    assert records[fan[0]]["try"] == 2
    assert [(t["try"], t["state"]) for t in records[fan[0]]["tries"]] == [(1, "failed")]
    assert records["report"]["pod"] == "wide-1-report-1"
    table = kubedag(kubeconfig, cluster, "tasks", "wide-1", "--state", "success")
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[-1] == "8 of 8 tasks"
    assert f"{fan[0]} " in table.stdout
