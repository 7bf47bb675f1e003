"""Pools and limits against a real kube-apiserver, the controller run as users run it: a pool
of 2 shared by 3 DAGs never has more than 2 task pods at once, and maxActiveTasks holds
across two runs of one DAG worked on at once, both as recorded by a watch of the pods."""

from typing import Any

from kubernetes import client, watch

from tests.integration.harness import (  # noqa: F401 - fixtures
    GROUP,
    VERSION,
    Background,
    Cluster,
    ControllerProcess,
    cluster,
    controller,
    crds,
    wait_for,
)

TERMINAL = ("Succeeded", "Failed")


def task(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", **fields}


class PodRecorder(Background):
    """The most task pods active at once, per label value, as the watch reports them."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster)
        self.active: dict[str, dict[str, str]] = {}  # pod -> labels
        self.most: dict[tuple[str, str], int] = {}

    def loop(self) -> None:
        version = None
        while not self.stopping():
            kwargs = {"resource_version": version} if version else {}
            for event in watch.Watch().stream(
                self.cluster.core.list_namespaced_pod,
                self.cluster.ns,
                timeout_seconds=1,
                **kwargs,
            ):
                pod: client.V1Pod = event["object"]
                version = pod.metadata.resource_version
                name = pod.metadata.name
                phase = pod.status.phase if pod.status else None
                if event["type"] == "DELETED" or phase in TERMINAL:
                    self.active.pop(name, None)
                else:
                    self.active[name] = dict(pod.metadata.labels or {})
                for key in ("kubedag.io/pool", "kubedag.io/dag"):
                    counts: dict[str, int] = {}
                    for labels in self.active.values():
                        counts[labels.get(key, "")] = counts.get(labels.get(key, ""), 0) + 1
                    for value, count in counts.items():
                        self.most[(key, value)] = max(self.most.get((key, value), 0), count)


def play_kubelet(cluster: Cluster, runs: list[str]) -> None:
    """Start every new pod, finish every running one, until all runs succeed."""

    def step() -> bool:
        for pod in cluster.pods():
            phase = pod.status.phase if pod.status else None
            if phase in (None, "Pending"):
                cluster.set_pod(pod.metadata.name, "Running")
            elif phase == "Running":
                cluster.set_pod(pod.metadata.name, "Succeeded", 0)
        return all(cluster.run_state(run) == "success" for run in runs)

    wait_for(step, f"runs {runs} succeeded", timeout=90)


def test_a_pool_of_two_across_three_dags_and_max_active_tasks_across_two_runs(
    cluster: Cluster, controller: ControllerProcess
) -> None:
    cluster.custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        cluster.ns,
        "pools",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Pool",
            "metadata": {"name": "db"},
            "spec": {"slots": 2, "description": "the warehouse takes two loads at once"},
        },
    )
    pooled = [task("a", pool="db"), task("b", pool="db", priorityWeight=2)]
    for dag in ("one", "two", "three"):
        cluster.apply_dag(dag, {"tasks": pooled})
    cluster.apply_dag("limited", {"maxActiveTasks": 2, "tasks": [task(t) for t in "abc"]})
    with PodRecorder(cluster) as recorder:
        runs = []
        for dag in ("one", "two", "three", "limited", "limited"):
            name = f"{dag}-{len(runs)}"
            cluster.create_run(name, {"dagName": dag})
            runs.append(name)
        play_kubelet(cluster, runs)
    assert recorder.most[("kubedag.io/pool", "db")] == 2
    assert recorder.most[("kubedag.io/dag", "limited")] == 2
    status = wait_for(lambda: drained(pool_status(cluster)), "the pool's status: none used")
    assert (status["openSlots"], status["scheduledSlots"]) == (2, 0)
    assert status["observedGeneration"] == 1


def drained(status: dict[str, Any]) -> dict[str, Any] | None:
    return status if status.get("usedSlots") == 0 else None


def pool_status(cluster: Cluster) -> dict[str, Any]:
    pool = cluster.custom.get_namespaced_custom_object(GROUP, VERSION, cluster.ns, "pools", "db")
    return dict(pool.get("status") or {})
