"""History and cleanup against a real kube-apiserver (no kubelet, no garbage collector: the
tests play the kubelet, and kubedag deletes a deleted run's pods itself)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes import watch

from kubedag.core.dates import rfc3339
from tests.integration.harness import (  # noqa: F401 - fixtures
    GROUP,
    VERSION,
    Cluster,
    ControllerProcess,
    cluster,
    controller,
    crds,
    wait_for,
)


def task(name: str, *deps: str) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "dependsOn": list(deps)}


def midnight(days_ago: int) -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def run_names(cluster: Cluster, dag: str) -> list[str]:
    return [r["metadata"]["name"] for r in cluster.runs(dag)]


def creations(cluster: Cluster, since: str) -> dict[str, int]:
    """How many times each DagRun was created since `since` (the watch replays the events)."""
    counts: dict[str, int] = {}
    stream = watch.Watch().stream(
        cluster.custom.list_namespaced_custom_object,
        GROUP,
        VERSION,
        cluster.ns,
        "dagruns",
        resource_version=since,
        timeout_seconds=2,
    )
    for event in stream:
        if event["type"] == "ADDED":
            name = event["object"]["metadata"]["name"]
            counts[name] = counts.get(name, 0) + 1
    return counts


def configmaps(cluster: Cluster) -> list[str]:
    return sorted(
        c.metadata.name for c in cluster.core.list_namespaced_config_map(cluster.ns).items
    )


def test_history_limits_pod_gc_ttl_and_snapshots(
    cluster: Cluster, controller: ControllerProcess
) -> None:
    since = cluster.custom.list_namespaced_custom_object(GROUP, VERSION, cluster.ns, "dagruns")[
        "metadata"
    ]["resourceVersion"]
    cluster.apply_dag(
        "daily",
        {
            "schedule": "@daily",
            "startDate": rfc3339(midnight(4)),
            "tasks": [task("a")],
            "successfulRunsHistoryLimit": 1,
            "failedRunsHistoryLimit": 1,
        },
    )
    runs = wait_for(
        lambda: len(run_names(cluster, "daily")) == 4 and run_names(cluster, "daily"), "4 runs"
    )
    # Oldest first, one after the other: failed, succeeded, failed, succeeded.
    for name, exit_code in zip(runs, (1, 0, 1, 0), strict=True):
        cluster.finish_task(name, "a", exit_code)
        cluster.wait_run_state(name, "failed" if exit_code else "success")
    newest_failed, newest = runs[2], runs[3]
    # The newest run of each state stays; the older ones go, with their pods.
    wait_for(lambda: run_names(cluster, "daily") == [newest_failed, newest], "history limits")
    # podGC OnRunSuccess (the default): the failed run keeps its pod, the successful one not.
    wait_for(
        lambda: [p.metadata.name for p in cluster.pods(dag="daily")] == [f"{newest_failed}-a-1"],
        "only the failed run's pod",
    )
    record = cluster.run(newest)["status"]["tasks"][0]
    assert (record["state"], record["exitCode"]) == ("success", 0)  # kept without its pod

    def last(kind: str) -> str | None:
        return (cluster.dag("daily")["status"].get(kind) or {}).get("run")

    wait_for(
        lambda: (last("lastSuccessfulRun"), last("lastFailedRun")) == (newest, newest_failed),
        "the last outcomes in the DAG's status",
    )
    status = cluster.dag("daily")["status"]
    assert status["lastSuccessfulRun"]["logicalDate"] == rfc3339(midnight(1))

    # TTL and snapshots: a run ends, its DAG changes version, the run expires: its snapshot
    # goes, the DAG's current one (and the daily DAG's) stay.
    def short_snapshots() -> list[str]:
        return [n for n in configmaps(cluster) if n.startswith("short-v")]

    cluster.apply_dag("short", {"tasks": [task("a")], "runTTLAfterFinished": "4s"})
    wait_for(lambda: len(short_snapshots()) == 1, "the version's snapshot stored on apply")
    [applied] = short_snapshots()
    cluster.create_run("short-1", {"dagName": "short"})
    cluster.finish_task("short-1", "a")
    pinned = cluster.wait_run_state("short-1", "success")["status"]["snapshot"]
    assert pinned == applied
    cluster.patch_dag("short", {"tasks": [task("a"), task("b", "a")]})
    wait_for(lambda: len(short_snapshots()) == 2, "the new version's snapshot stored")
    wait_for(lambda: run_names(cluster, "short") == [], "the run gone after its TTL", timeout=30)
    wait_for(lambda: pinned not in configmaps(cluster), "its snapshot gone")
    assert len(short_snapshots()) == 1  # the current version's stays
    daily_snapshot = cluster.run(newest)["status"]["snapshot"]
    assert daily_snapshot in configmaps(cluster)

    # Each interval of the catchup was created exactly once, deletions notwithstanding.
    assert run_names(cluster, "daily") == [newest_failed, newest]
    counts = creations(cluster, since)
    assert {n: c for n, c in counts.items() if n.startswith("daily-")} == dict.fromkeys(runs, 1)
