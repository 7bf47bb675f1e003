"""One chaos run, start to end: a control plane of its own (etcd + kube-apiserver), the
workload, two controller replicas, and the faults on a seeded timetable; then the checks.
`python -m tests.chaos` runs the full size, tests/integration/test_chaos.py a small one."""

import base64
import contextlib
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from devcluster import admin
from devcluster.controlplane import ControlPlane
from devcluster.wait import wait_for
from tests.chaos import checks
from tests.chaos.faults import LEASE, Replicas, restart_apiserver, restart_etcd
from tests.chaos.kubelet import StandInKubelet
from tests.chaos.recorder import PodWatch, Receiver
from tests.chaos.workload import (
    BACKFILL,
    BACKFILLED_DAG,
    HOOK_SECRET,
    LEAVES,
    SCHEDULED_DAG,
    Shape,
    backfill_spec,
    dag_spec,
)
from tests.integration.harness import GROUP, VERSION, Cluster, install_crds

log = logging.getLogger(__name__)
NAMESPACE = "chaos"


@dataclass(frozen=True)
class Faults:
    """The timetable: a controller kill every `kill_every` seconds (a range) until `kills`;
    a pod deleted every `delete_every`; the API server restarted at the kills numbered in
    `apiserver_at`, etcd at those in `etcd_at`; the killed replica is the leader at the kills
    numbered in `leader_at`, else with the odds `leader_odds`."""

    kills: int
    kill_every: tuple[float, float]
    delete_every: tuple[float, float]
    apiserver_at: tuple[int, ...]
    etcd_at: tuple[int, ...]
    leader_odds: float = 0.6
    leader_at: tuple[int, ...] = ()
    replicas: int = 2  # 1: a lone controller, killed and started again (no Lease to wait for)
    min_deletions: int = 1  # the faults go on (at most a minute more) until this many
    backfill_at: int = 0  # the Backfill is created at this kill


FULL_FAULTS = Faults(
    kills=32,
    kill_every=(5.0, 20.0),
    delete_every=(4.0, 12.0),
    apiserver_at=(8, 22),
    etcd_at=(15,),
    backfill_at=6,
)
SMOKE_FAULTS = Faults(
    kills=3,
    kill_every=(2.0, 4.0),
    delete_every=(1.5, 3.0),
    apiserver_at=(2,),
    etcd_at=(),
    replicas=1,
)


@dataclass
class Report:
    seed: int
    runs: int = 0
    pods: int = 0
    kills: int = 0
    leader_changes: int = 0
    replica_exits: int = 0
    pods_deleted: int = 0
    apiserver_restarts: int = 0
    etcd_restarts: int = 0
    watch_relists: int = 0
    notifications: int = 0
    made_again: list[str] = field(default_factory=list)
    run_states: dict[str, int] = field(default_factory=dict)
    chaos_seconds: float = 0.0
    total_seconds: float = 0.0
    violations: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        states = ", ".join(f"{n} {s}" for s, n in sorted(self.run_states.items()))
        return [
            f"seed {self.seed}",
            f"runs: {self.runs} ({states}); task pods created: {self.pods}",
            f"controller kills (SIGKILL): {self.kills}; leader changes: {self.leader_changes};"
            f" replicas that stopped on a lost lease: {self.replica_exits}",
            f"task pods deleted: {self.pods_deleted}; API server restarts:"
            f" {self.apiserver_restarts}; etcd restarts: {self.etcd_restarts}",
            f"notifications received: {self.notifications}; recorder re-lists: "
            f"{self.watch_relists}",
            f"tries made again after their pod was deleted before its launch was recorded: "
            f"{len(self.made_again)}",
            *(f"  - {line}" for line in self.made_again),
            f"chaos {self.chaos_seconds:.0f} s, whole run {self.total_seconds:.0f} s",
            f"violations: {len(self.violations)}",
            *(f"  - {v}" for v in self.violations),
        ]


def run(
    shape: Shape,
    faults: Faults,
    seed: int,
    workdir: Path,
    settle: float,
    plane: ControlPlane | None = None,
) -> Report:
    """The run on `plane` (its API server is restarted as the faults say), else on a
    control plane of its own in `workdir`."""
    with contextlib.ExitStack() as stack:
        if plane is None:
            plane = stack.enter_context(ControlPlane(workdir / "control-plane"))
        return _run(plane, shape, faults, seed, workdir, settle)


def _run(
    plane: ControlPlane, shape: Shape, faults: Faults, seed: int, workdir: Path, settle: float
) -> Report:
    began = time.monotonic()
    report = Report(seed=seed)
    api = admin.client(plane.kubeconfig)
    install_crds(api)
    cluster = _namespace(api)
    receiver = Receiver()
    receiver.start()
    _hook_secret(cluster, receiver.url)
    pods = PodWatch(admin.client(plane.kubeconfig), NAMESPACE)
    pods.start()
    kubelet = StandInKubelet(admin.client(plane.kubeconfig), NAMESPACE, pods, seed, shape)
    kubelet.start()
    replicas = Replicas(plane.kubeconfig, NAMESPACE, workdir, faults.replicas)
    try:
        replicas.supervise()
        if replicas.leader_elect:
            wait_for(lambda: _leader_slot(cluster, replicas) is not None, "a leader", 60)
        cluster.apply_dag(SCHEDULED_DAG, dag_spec(shape, scheduled=True))
        cluster.apply_dag(BACKFILLED_DAG, dag_spec(shape, scheduled=False))
        if faults.backfill_at == 0:
            _create_backfill(cluster, shape)
        chaos_began = time.monotonic()
        _chaos(plane, cluster, replicas, kubelet, faults, random.Random(seed), shape, report)
        report.chaos_seconds = time.monotonic() - chaos_began
        _settle(cluster, replicas, shape, settle)
        _collect(cluster, pods, kubelet, receiver, report, shape.runs)
    finally:
        replicas.stop()
        kubelet.stop()
        pods.stop()
        receiver.stop()
    report.kills = replicas.kills
    report.replica_exits = replicas.exits
    report.leader_changes = max(0, replicas.leaderships() - 1)
    report.total_seconds = time.monotonic() - began
    return report


def _namespace(api: client.ApiClient) -> Cluster:
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    core.create_namespaced_service_account(
        NAMESPACE, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="default"))
    )
    return Cluster(api, NAMESPACE)


def _hook_secret(cluster: Cluster, url: str) -> None:
    cluster.core.create_namespaced_secret(
        cluster.ns,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name=HOOK_SECRET),
            data={"url": base64.b64encode(url.encode()).decode()},
        ),
    )


def _create_backfill(cluster: Cluster, shape: Shape) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Backfill",
        "metadata": {"name": BACKFILL},
        "spec": backfill_spec(shape),
    }
    _retrying(
        lambda: cluster.custom.create_namespaced_custom_object(
            GROUP, VERSION, cluster.ns, "backfills", body
        )
    )


def _leader_slot(cluster: Cluster, replicas: Replicas) -> int | None:
    try:
        lease = client.CoordinationV1Api(cluster.api_client).read_namespaced_lease(
            LEASE, cluster.ns
        )
    except Exception:
        return None
    holder = lease.spec.holder_identity if lease.spec else None
    for slot in range(len(replicas.processes)):
        if holder and replicas.identity(slot) == holder:
            return slot
    return None


def _chaos(
    plane: ControlPlane,
    cluster: Cluster,
    replicas: Replicas,
    kubelet: StandInKubelet,
    faults: Faults,
    rng: random.Random,
    shape: Shape,
    report: Report,
) -> None:
    now = time.monotonic()
    next_kill = now + rng.uniform(*faults.kill_every)
    next_delete = now + rng.uniform(*faults.delete_every)
    deletions = 0
    while replicas.kills < faults.kills or (
        deletions < faults.min_deletions and time.monotonic() < next_kill + 60
    ):
        time.sleep(0.2)
        replicas.supervise()
        now = time.monotonic()
        if now >= next_delete and kubelet.delete_one(rng) is not None:
            deletions += 1
            next_delete = now + rng.uniform(*faults.delete_every)
        if now < next_kill or replicas.kills >= faults.kills:
            continue
        leader = _leader_slot(cluster, replicas)
        odds = 1.0 if replicas.kills + 1 in faults.leader_at else faults.leader_odds
        if leader is not None and rng.random() < odds:
            victim = leader
        else:
            others = [s for s in range(len(replicas.processes)) if s != leader]
            victim = rng.choice(others or [0])
        replicas.kill(victim)
        log.info("kill %d: replica slot %d (leader: %s)", replicas.kills, victim, leader)
        if replicas.kills == faults.backfill_at:
            _create_backfill(cluster, shape)
        if replicas.kills in faults.apiserver_at:
            restart_apiserver(plane)
            report.apiserver_restarts += 1
        if replicas.kills in faults.etcd_at:
            restart_etcd(plane)
            report.etcd_restarts += 1
        next_kill = time.monotonic() + rng.uniform(*faults.kill_every)


def _done(cluster: Cluster, shape: Shape) -> bool:
    runs = cluster.runs()
    if len(runs) < shape.runs:
        return False
    for run in runs:
        status = run.get("status") or {}
        if status.get("state") not in checks.FINISHED_RUN:
            return False
        if any("delivered" not in n for n in status.get("notifications") or []):
            return False
    backfill = cluster.custom.get_namespaced_custom_object(
        GROUP, VERSION, cluster.ns, "backfills", BACKFILL
    )
    return bool((backfill.get("status") or {}).get("state") == "Completed")


def _settle(cluster: Cluster, replicas: Replicas, shape: Shape, timeout: float) -> None:
    """Let the workload finish with no more faults (replicas still restarted if they stop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replicas.supervise()
        try:
            if _done(cluster, shape):
                return
        except Exception as error:  # the API server may still be warming up
            log.debug("progress check failed: %s", error)
        time.sleep(1.0)


def _collect(
    cluster: Cluster,
    pods: PodWatch,
    kubelet: StandInKubelet,
    receiver: Receiver,
    report: Report,
    expected_runs: int,
) -> None:
    runs = cluster.runs()
    creations = pods.complete()
    leaves = {SCHEDULED_DAG: LEAVES, BACKFILLED_DAG: LEAVES}
    received = list(receiver.received)
    report.runs = len(runs)
    report.pods = len(creations)
    report.pods_deleted = kubelet.deleted
    report.watch_relists = pods.relists
    report.notifications = len(received)
    report.run_states = dict(Counter(str((r.get("status") or {}).get("state")) for r in runs))
    deleted = {uid for uid, fate in kubelet.ledger.items() if fate == "Deleted"}
    violations, report.made_again = checks.one_pod_per_try(creations, deleted)
    violations += checks.runs_consistent(runs, leaves, creations, kubelet.ledger)
    violations += checks.one_run_per_date(runs)
    violations += checks.one_id_per_notification(received)
    violations += checks.notifications_delivered(runs, {key for key, _ in received})
    if len(runs) != expected_runs:
        violations.append(f"{len(runs)} runs exist, {expected_runs} expected")
    backfill = _retrying(
        lambda: cluster.custom.get_namespaced_custom_object(
            GROUP, VERSION, cluster.ns, "backfills", BACKFILL
        )
    )
    if (backfill.get("status") or {}).get("state") != "Completed":
        violations.append(f"the Backfill is {backfill.get('status')}")
    report.violations = violations + _stuck_pods(cluster, runs, creations, kubelet.ledger)


def _stuck_pods(
    cluster: Cluster,
    runs: list[dict[str, Any]],
    creations: list[checks.PodCreation],
    ledger: dict[str, str],
) -> list[str]:
    """For a run that did not finish, what its pods are and what the kubelet and the
    recorder know of them: where to start looking."""
    seen = {pod.uid for pod in creations}
    lines = []
    for run in runs:
        if (run.get("status") or {}).get("state") in checks.FINISHED_RUN:
            continue
        name = run["metadata"]["name"]
        for pod in cluster.core.list_namespaced_pod(cluster.ns).items:
            if (pod.metadata.labels or {}).get("kubedag.io/dagrun") != name:
                continue
            uid = pod.metadata.uid
            lines.append(
                f"  pod {pod.metadata.name} of stuck run {name}: {pod.status.phase}, "
                f"created {pod.metadata.creation_timestamp}, recorded {uid in seen}, "
                f"kubelet {ledger.get(uid)}"
            )
        tasks = (run.get("status") or {}).get("tasks") or []
        lines += [f"  task {t['name']}: {t}" for t in tasks]
    return lines


def _retrying(call: Any, attempts: int = 60) -> Any:
    for _ in range(attempts - 1):
        try:
            return call()
        except Exception as error:  # the API server may be restarting
            log.debug("retrying after %s", error)
            time.sleep(1.0)
    return call()
