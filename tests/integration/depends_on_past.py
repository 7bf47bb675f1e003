"""dependsOnPast against a real kube-apiserver (a scenario of test_clear.py, which shares its
controller): day 2 waits while day 1's task has failed, and goes on once day 1 is cleared
and succeeds."""

from typing import Any

from tests.integration.harness import GROUP, VERSION, Cluster, wait_for


def message(cluster: Cluster, run: str, name: str) -> str | None:
    tasks: list[dict[str, Any]] = (cluster.run(run).get("status") or {}).get("tasks", [])
    return next((t.get("message") for t in tasks if t["name"] == name), None)


def day_two_waits_for_day_one_until_it_is_cleared(cluster: Cluster) -> None:
    load = {"name": "load", "image": "busybox", "dependsOnPast": True}
    # Without catchup, manual runs count as each other's previous runs (rule 22).
    cluster.apply_dag("held", {"catchup": False, "tasks": [load]})
    for day in ("01", "02"):
        spec = {"dagName": "held", "runType": "manual", "logicalDate": f"2026-01-{day}T00:00:00Z"}
        cluster.create_run(f"held-202601{day}", spec)
    cluster.finish_task("held-20260101", "load", exit_code=1)
    cluster.wait_run_state("held-20260101", "failed")
    held = "waiting for task load of run held-20260101 (failed) (dependsOnPast)"
    wait_for(lambda: message(cluster, "held-20260102", "load") == held, "day 2 held")
    assert cluster.run_state("held-20260102") == "running"  # waiting, not deadlocked
    assert not cluster.pods(dagrun="held-20260102")

    # `kubedag clear held-20260101 --task load`, as a plain patch (the CLI is tested above).
    request = {"id": "fix-1", "action": "clear", "tasks": ["load"], "downstream": False}
    patch = {"spec": {"request": {**request, "upstream": False, "onlyFailed": False}}}
    cluster.custom.patch_namespaced_custom_object(
        GROUP, VERSION, cluster.ns, "dagruns", "held-20260101", patch
    )
    cluster.finish_task("held-20260101", "load", try_number=2)
    cluster.wait_run_state("held-20260101", "success")
    cluster.finish_task("held-20260102", "load")  # released: its pod is created
    cluster.wait_run_state("held-20260102", "success")
