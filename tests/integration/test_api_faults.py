"""API faults against a real kube-apiserver, the controller run as users run it, through a
proxy that cuts its connections: throttling (max in-flight 1 for mutations, priority and
fairness off, so concurrent writes meet 429 with Retry-After), watch streams cut every few
seconds, expired watches (the watch cache off and etcd compacted every second, so a resumed
watch meets 410 Gone), a pod deleted while the controller could not reach the API server,
and status conflicts from a concurrent writer. The controller waits out each Retry-After,
lists afresh after 410, finds the pod deleted in the gap, and the workload finishes with one
pod per try and every notification delivered once."""

import random
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from devcluster import admin
from devcluster.controlplane import ControlPlane
from devcluster.wait import wait_for
from tests.chaos import checks
from tests.chaos.kubelet import StandInKubelet
from tests.chaos.proxy import CuttingProxy
from tests.chaos.recorder import PodWatch, Receiver
from tests.chaos.workload import HOOK_SECRET, LEAVES, SCHEDULED_DAG, Shape, dag_spec
from tests.integration.harness import Cluster, ControllerProcess, install_crds

# Both share the faulty control plane: one worker under pytest-xdist, so it starts once.
pytestmark = pytest.mark.xdist_group("faulty-plane")

SHAPE = Shape(scheduled=3, backfilled=0, task_seconds=(0.2, 0.5), max_active_runs=6)
WIDE = 8  # tasks of the wide DAG, created at once: concurrent writes meet the limit
COMPACTION = 1  # second: the faulty plane's --etcd-compaction-interval (conftest.py)


class ConflictWriter(threading.Thread):
    """Annotates unfinished runs three times a second, as another client would: each write
    moves the run's resourceVersion, so the controller's status writes meet Conflict."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.writes = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.3):
            try:
                for run in self.cluster.runs():
                    if (run.get("status") or {}).get("state") in checks.FINISHED_RUN:
                        continue
                    self.cluster.custom.patch_namespaced_custom_object(
                        "kubedag.io",
                        "v1alpha1",
                        self.cluster.ns,
                        "dagruns",
                        run["metadata"]["name"],
                        {"metadata": {"annotations": {"chaos/touched": str(self.writes)}}},
                    )
                    self.writes += 1
            except Exception:  # throttled too: try again
                continue


def _retrying(call: Any) -> Any:
    return wait_for(lambda: call() or True, "a throttled request", 30, tolerate=(Exception,))


def _count_429(api: client.ApiClient) -> int:
    metrics = admin.get_text(api, "/metrics")
    return sum(
        int(float(m.group(1)))
        for m in re.finditer(
            r'^apiserver_request_total\{[^}]*code="429"[^}]*\} (\S+)', metrics, re.M
        )
    )


def test_throttling_cut_and_expired_watches_and_conflicts_lose_nothing(
    faulty_plane: ControlPlane, tmp_path: Path
) -> None:
    api = admin.client(faulty_plane.kubeconfig)
    _retrying(lambda: install_crds(api))
    core = client.CoreV1Api(api)
    ns = "api-faults"
    _retrying(
        lambda: core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    )
    _retrying(
        lambda: core.create_namespaced_service_account(
            ns, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="default"))
        )
    )
    cluster = Cluster(api, ns)
    receiver = Receiver()
    receiver.start()
    _retrying(
        lambda: core.create_namespaced_secret(
            ns,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name=HOOK_SECRET), string_data={"url": receiver.url}
            ),
        )
    )
    # Not the admin (system:masters), whom the max in-flight filter never throttles.
    own = faulty_plane.issue_kubeconfig("kubedag-controller", user="kubedag-controller")
    _retrying(
        lambda: client.RbacAuthorizationV1Api(api).create_cluster_role_binding(
            client.V1ClusterRoleBinding(
                metadata=client.V1ObjectMeta(name="kubedag-controller-admin"),
                role_ref=client.V1RoleRef(
                    api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="cluster-admin"
                ),
                subjects=[
                    client.RbacV1Subject(
                        kind="User",
                        name="kubedag-controller",
                        api_group="rbac.authorization.k8s.io",
                    )
                ],
            )
        )
    )
    port = int(faulty_plane.server.rsplit(":", 1)[1])
    proxy = CuttingProxy(port, lifetime=(2.0, 6.0), seed=14)
    proxy.start()
    kubeconfig = proxy.kubeconfig(str(own), str(tmp_path / "proxied.kubeconfig"))
    pods = PodWatch(admin.client(faulty_plane.kubeconfig), ns)
    pods.start()
    kubelet = StandInKubelet(admin.client(faulty_plane.kubeconfig), ns, pods, 14, SHAPE)
    kubelet.start()
    writer = ConflictWriter(Cluster(admin.client(faulty_plane.kubeconfig), ns))
    controller = ControllerProcess(kubeconfig, ns, tmp_path)
    throttled_before = _count_429(api)
    controller.start()
    try:
        writer.start()
        _retrying(lambda: cluster.apply_dag(SCHEDULED_DAG, dag_spec(SHAPE, scheduled=True)))
        wide = {"tasks": [{"name": f"t{i}", "image": "busybox"} for i in range(WIDE)]}
        _retrying(lambda: cluster.apply_dag("wide", wide))
        for n in range(1):
            _retrying(lambda n=n: cluster.create_run(f"wide-{n}", {"dagName": "wide"}))

        # The controller cut off while a pod is deleted and etcd compacts past its watches.
        wait_for(lambda: kubelet.busy() > 0 and len(pods.creations) > 4, "pods at work", 60)
        proxy.down()
        wait_for(lambda: kubelet.delete_one(random.Random(14)), "a running pod to delete", 30)
        wait_for(lambda: kubelet.deleted == 1, "the pod deleted", 30)
        time.sleep(COMPACTION * 3)
        proxy.up()

        def finished() -> bool:
            runs = cluster.runs()
            return len(runs) == SHAPE.scheduled + 1 and all(
                (r.get("status") or {}).get("state") in checks.FINISHED_RUN
                and all(
                    "delivered" in n for n in (r.get("status") or {}).get("notifications") or []
                )
                for r in runs
            )

        wait_for(finished, "every run finished", 120, tolerate=(Exception,))
    finally:
        writer.stopping.set()
        kubelet.stop()
        pods.stop()
        controller.stop()
        proxy.stop()
        receiver.stop()

    runs = _retrying(cluster.runs)
    creations = pods.complete()
    received = list(receiver.received)
    deleted = {uid for uid, fate in kubelet.ledger.items() if fate == "Deleted"}
    problems, made_again = checks.one_pod_per_try(creations, deleted)
    assert len(made_again) <= 1  # only the deleted pod's try (docs/reliability.md)
    problems += checks.runs_consistent(
        runs,
        {SCHEDULED_DAG: LEAVES, "wide": {f"t{i}" for i in range(WIDE)}},
        creations,
        kubelet.ledger,
    )
    problems += checks.one_id_per_notification(received)
    problems += checks.notifications_delivered(runs, {key for key, _ in received})
    assert problems == []

    logs = controller.logs()
    assert _count_429(api) > throttled_before, "no request was throttled"
    assert re.search(r": 429, again in 1 s", logs), "no Retry-After was waited out"
    assert proxy.cuts > 0
    assert "Restarting the watch-stream" in logs, "no watch met 410 Gone"
    assert "was deleted while the watch was down" in logs
    assert writer.writes > 0
    print(
        f"429s: {_count_429(api) - throttled_before}, connections cut: {proxy.cuts}, "
        f"410 restarts: {logs.count('Restarting the watch-stream')}, "
        f"conflicting writes: {writer.writes}"
    )
