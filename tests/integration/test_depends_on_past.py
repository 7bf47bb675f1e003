"""dependsOnPast against a real kube-apiserver, with the controller run as users run it and
the test playing the kubelet: day 2 waits while day 1's task has failed, and goes on once
day 1 is cleared (`kubedag clear`) and succeeds."""

from typing import Any

from tests.integration.harness import (  # noqa: F401 - fixtures
    Cluster,
    ControllerProcess,
    cluster,
    controller,
    crds,
    wait_for,
)
from tests.integration.test_clear import kubedag, task


def message(cluster: Cluster, run: str, name: str) -> str | None:
    tasks: list[dict[str, Any]] = (cluster.run(run).get("status") or {}).get("tasks", [])
    return next((t.get("message") for t in tasks if t["name"] == name), None)


def test_day_two_waits_for_day_one_until_it_is_cleared_and_succeeds(
    cluster: Cluster, controller: ControllerProcess, kubeconfig: str
) -> None:
    # Without catchup, manual runs count as each other's previous runs (rule 22).
    cluster.apply_dag("daily", {"catchup": False, "tasks": [task("load", dependsOnPast=True)]})
    for day in ("01", "02"):
        spec = {"dagName": "daily", "runType": "manual", "logicalDate": f"2026-01-{day}T00:00:00Z"}
        cluster.create_run(f"daily-202601{day}", spec)
    cluster.finish_task("daily-20260101", "load", exit_code=1)
    cluster.wait_run_state("daily-20260101", "failed")
    held = "waiting for task load of run daily-20260101 (failed) (dependsOnPast)"
    wait_for(lambda: message(cluster, "daily-20260102", "load") == held, "day 2 held")
    assert cluster.run_state("daily-20260102") == "running"  # waiting, not deadlocked
    assert not cluster.pods(dagrun="daily-20260102")

    result = kubedag(kubeconfig, cluster, "clear", "daily-20260101", "--task", "load")
    assert result.returncode == 0, result.stderr
    cluster.finish_task("daily-20260101", "load", try_number=2)
    cluster.wait_run_state("daily-20260101", "success")
    cluster.finish_task("daily-20260102", "load")  # released: its pod is created
    cluster.wait_run_state("daily-20260102", "success")
