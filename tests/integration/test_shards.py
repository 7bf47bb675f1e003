"""Sharding against a real kube-apiserver, the controllers run as users run them: two shards
(two replicas each) over four namespaces labelled kubedag.io/shard. Every DAG's runs and
pods are made by its namespace's shard alone (the managedFields name the shard), none
doubled; SIGKILL of one shard's leader mid-run: its standby takes the shard's Lease and the
runs finish, nothing lost or doubled, and the other shard never notices. A relabelled
namespace moves to its new shard mid-run, and a namespace labelled for a shard that does
not exist is nobody's, and said so.

The shards have no default (the API server is shared with the other tests, whose namespaces
carry no label) and unique names, so their Leases are theirs."""

import os
import random
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from kubedag.core.sharding import SHARD_LABEL
from tests.integration.harness import (  # noqa: F401 - fixtures
    Background,
    Cluster,
    ControllerProcess,
    crds,
    wait_for,
)

LEASE_WAIT = 40  # a standby takes an unrenewed Lease after 15 s, then lists its namespaces


def pipeline() -> dict[str, Any]:
    # podGC Never: the pods stay after the run, to count them and read their managers.
    return {
        "podGC": "Never",
        "tasks": [
            {"name": "first", "image": "busybox"},
            {"name": "second", "image": "busybox", "dependsOn": ["first"]},
        ],
    }


class Kubelet(Background):
    """Finishes every pod of the namespaces it serves, but those of `held` namespaces, once
    it has seen the pod for `lasting` seconds (drawn per pod)."""

    def __init__(self, clusters: list[Cluster], lasting: tuple[float, float] = (0, 0)) -> None:
        super().__init__(clusters[0])
        self.clusters = clusters
        self.held: set[str] = set()
        self.lasting = lasting
        self.error: BaseException | None = None
        self._due: dict[str, float] = {}
        self._random = random.Random(13)

    def loop(self) -> None:
        try:
            while not self.stopping(0.2):
                for cluster in self.clusters:
                    if cluster.ns in self.held:
                        continue
                    for pod in cluster.pods():
                        if pod.status and pod.status.phase in ("Succeeded", "Failed"):
                            continue
                        due = self._due.setdefault(
                            pod.metadata.uid, time.monotonic() + self._random.uniform(*self.lasting)
                        )
                        if time.monotonic() >= due:
                            cluster.set_pod(pod.metadata.name, "Succeeded", 0)
        except BaseException as error:  # surfaced by the test
            self.error = error


@dataclass
class Fleet:
    """Namespaces labelled for shards, and the controller replicas of each shard."""

    api_client: client.ApiClient
    kubeconfig: str
    log_dir: Path
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    namespaces: list[str] = field(default_factory=list)
    replicas: dict[str, ControllerProcess] = field(default_factory=dict)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client)

    def shard(self, letter: str) -> str:
        return f"{letter}-{self.suffix}"

    def namespace(self, tag: str, shard: str) -> Cluster:
        name = f"t-shards-{self.suffix}-{tag}"
        metadata = client.V1ObjectMeta(name=name, labels={SHARD_LABEL: shard})
        self.core.create_namespace(client.V1Namespace(metadata=metadata))
        self.namespaces.append(name)
        account = client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="default"))
        self.core.create_namespaced_service_account(name, account)
        return Cluster(self.api_client, name)

    def relabel(self, namespace: str, shard: str) -> None:
        self.core.patch_namespace(namespace, {"metadata": {"labels": {SHARD_LABEL: shard}}})

    def start(self, identity: str, shard: str, shards: list[str], lease_namespace: str) -> None:
        flags = ["--shard", shard, "--shards", ",".join(shards)]
        flags += ["--leader-elect", "--leader-elect-namespace", lease_namespace]
        log_dir = self.log_dir / identity
        log_dir.mkdir()
        replica = ControllerProcess(
            self.kubeconfig, lease_namespace, log_dir, flags=flags, env={"POD_NAME": identity}
        )
        replica.start()
        self.replicas[identity] = replica

    def holder(self, lease_namespace: str, shard: str) -> str | None:
        coordination = client.CoordinationV1Api(self.api_client)
        try:
            lease = coordination.read_namespaced_lease(
                f"kubedag-controller-{shard}", lease_namespace
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return lease.spec.holder_identity or None

    def close(self) -> None:
        with ThreadPoolExecutor() as stopping:  # each waits for its process to end
            list(stopping.map(ControllerProcess.stop, self.replicas.values()))
        for identity, replica in self.replicas.items():
            print(f"--- {identity} ---\n{replica.logs()[-8000:]}")  # shown on failure
        for name in self.namespaces:
            try:
                self.core.delete_namespace(name)
            except ApiException as error:
                if error.status != 404:
                    raise


@pytest.fixture
def fleet(
    crds: None, api_client: client.ApiClient, kubeconfig: str, tmp_path: Path
) -> Iterator[Fleet]:
    fleet = Fleet(api_client, kubeconfig, tmp_path)
    try:
        yield fleet
    finally:
        fleet.close()


def kubedag_managers(metadata: Any) -> set[str]:
    """The field managers of kubedag's controllers that wrote to an object."""
    entries = metadata.managed_fields if hasattr(metadata, "managed_fields") else None
    if entries is None:
        entries = [
            client.V1ManagedFieldsEntry(manager=m.get("manager"))
            for m in metadata.get("managedFields") or []
        ]
    return {e.manager for e in entries or [] if str(e.manager).startswith("kubedag")}


def assert_made_by(cluster: Cluster, shard_of: dict[tuple[str, str], str], runs: int) -> None:
    """Every run succeeded and was written by one shard; each of its tasks had one pod, one
    try, created by the shard `shard_of` names for (run, task)."""
    found = cluster.runs()
    assert len(found) == runs, [r["metadata"]["name"] for r in found]
    for run in found:
        name = run["metadata"]["name"]
        assert run["status"]["state"] == "success", (cluster.ns, name, run["status"])
        assert kubedag_managers(run["metadata"]) <= {f"kubedag-controller-{s}" for s in
                                                     shard_of.values()}, name  # fmt: skip
        for task in ("first", "second"):
            pods = cluster.pods(dagrun=name, task=task)
            assert [p.metadata.labels["kubedag.io/try"] for p in pods] == ["1"], (name, task)
            expected = f"kubedag-controller-{shard_of[(name, task)]}"
            assert kubedag_managers(pods[0].metadata) == {expected}, (name, task)


def test_two_shards_each_make_their_own_runs_and_a_killed_leader_loses_nothing(
    fleet: Fleet,
) -> None:
    a, b = fleet.shard("a"), fleet.shard("b")
    clusters = [fleet.namespace(str(i), shard) for i, shard in enumerate((a, a, b, b))]
    of_a, of_b = clusters[:2], clusters[2:]
    leases = clusters[0].ns
    for identity in ("a-1", "a-2", "b-1", "b-2"):  # which of each pair leads is the race's
        fleet.start(identity, fleet.shard(identity[0]), [a, b], leases)

    with Kubelet(clusters) as kubelet:
        kubelet.held = {c.ns for c in of_a}  # shard a's runs stay mid-run until its failover
        for cluster in clusters:
            cluster.apply_dag("pipe", pipeline())
            cluster.create_run("pipe-1", {"dagName": "pipe"})
            cluster.create_run("pipe-2", {"dagName": "pipe"})
        for cluster in of_b:
            for run in ("pipe-1", "pipe-2"):
                cluster.wait_run_state(run, "success", timeout=40)
        for cluster in of_a:
            for run in ("pipe-1", "pipe-2"):
                cluster.wait_pod(run, "first", timeout=40)
        for cluster, shard in zip(clusters, (a, a, b, b), strict=True):
            wait_for(lambda c=cluster, s=shard: c.dag("pipe").get("status", {}).get("shard") == s,
                     f"DAG pipe in {cluster.ns} handled by {shard}")  # fmt: skip
        leader_a, leader_b = fleet.holder(leases, a), fleet.holder(leases, b)
        assert leader_a in ("a-1", "a-2") and leader_b in ("b-1", "b-2")
        standby_a = "a-2" if leader_a == "a-1" else "a-1"
        standby_b = "b-2" if leader_b == "b-1" else "b-1"

        fleet.replicas[leader_a].kill()
        kubelet.held = set()  # the first tasks end while shard a has no leader
        of_b[0].create_run("pipe-3", {"dagName": "pipe"})  # shard b goes on meanwhile
        of_b[0].wait_run_state("pipe-3", "success", timeout=20)
        for cluster in of_a:
            for run in ("pipe-1", "pipe-2"):
                cluster.wait_run_state(run, "success", timeout=LEASE_WAIT)
        assert kubelet.error is None
    assert fleet.holder(leases, a) == standby_a
    assert fleet.holder(leases, b) == leader_b
    for identity in (standby_a, leader_b, standby_b):
        replica = fleet.replicas[identity]
        replica.assert_alive()
        assert replica.starts == 1
    assert "standing by" in fleet.replicas[standby_b].logs()
    for cluster in of_a:
        made = {(run, task): a for run in ("pipe-1", "pipe-2") for task in ("first", "second")}
        assert_made_by(cluster, made, runs=2)
    for cluster in of_b:
        runs = ("pipe-1", "pipe-2", "pipe-3") if cluster is of_b[0] else ("pipe-1", "pipe-2")
        made = {(run, task): b for run in runs for task in ("first", "second")}
        assert_made_by(cluster, made, runs=len(runs))


def test_a_relabelled_namespace_moves_mid_run_and_an_unknown_shard_is_nobodys(
    fleet: Fleet,
) -> None:
    a, b = fleet.shard("a"), fleet.shard("b")
    moving = fleet.namespace("moving", a)
    staying = fleet.namespace("staying", b)
    orphan = fleet.namespace("orphan", f"nope-{fleet.suffix}")
    for shard, cluster in ((a, moving), (b, staying)):
        fleet.start(shard, shard, [a, b], cluster.ns)
    for cluster in (moving, staying, orphan):
        cluster.apply_dag("pipe", pipeline())
        cluster.create_run("pipe-1", {"dagName": "pipe"})
    with Kubelet([staying]) as kubelet:
        staying.wait_run_state("pipe-1", "success", timeout=30)
        first = moving.wait_pod("pipe-1", "first", timeout=30)
        assert kubedag_managers(first.metadata) == {f"kubedag-controller-{a}"}

        fleet.relabel(moving.ns, b)
        wait_for(lambda: moving.dag("pipe").get("status", {}).get("shard") == b,
                 "the moved namespace's DAG handled by shard b", 30)  # fmt: skip
        kubelet.clusters = [staying, moving]  # its first task ends under shard b
        moving.wait_run_state("pipe-1", "success", timeout=30)
        assert kubelet.error is None
    assert_made_by(moving, {("pipe-1", "first"): a, ("pipe-1", "second"): b}, runs=1)
    assert f"left: {moving.ns}" in fleet.replicas[a].logs()
    assert f"joined: {moving.ns}" in fleet.replicas[b].logs()
    # Nobody's: the DAG is never looked at, its run never started; both shards say why.
    assert "status" not in orphan.dag("pipe")
    assert "status" not in orphan.run("pipe-1")
    for shard in (a, b):
        logs = fleet.replicas[shard].logs()
        # Other tests' namespaces, labelled for their own shards, may be listed beside it.
        gap = next(line for line in logs.splitlines() if "handled by no shard:" in line)
        assert f"{orphan.ns} ('nope-{fleet.suffix}')" in gap
        fleet.replicas[shard].assert_alive()


# `make chaos` runs the long version (KUBEDAG_SHARDS=long); `make test` two rounds over two
# namespaces: one leader kill per shard and one relabel.
LONG = os.environ.get("KUBEDAG_SHARDS") == "long"
ROUNDS, NAMESPACES = (6, 6) if LONG else (2, 2)


def test_shards_lose_nothing_through_rounds_of_leader_kills_and_relabels(fleet: Fleet) -> None:
    """Runs created in every round, each round SIGKILLs one shard's leader (its replica
    comes back as a new standby) and every other round moves a namespace to the other shard
    mid-run; then every run succeeded, each task had one pod and one try, and every write
    came from a shard of the plan."""
    rounds, runs_per_round = ROUNDS, 2
    a, b = fleet.shard("a"), fleet.shard("b")
    shards = [a, b]
    clusters = [fleet.namespace(str(i), shards[i % 2]) for i in range(NAMESPACES)]
    owner = {c.ns: shards[i % 2] for i, c in enumerate(clusters)}
    leases = clusters[0].ns
    for shard in shards:
        fleet.start(f"{shard}-0", shard, shards, leases)
        wait_for(lambda s=shard: fleet.holder(leases, s) == f"{s}-0", f"{shard}-0 leads", 30)
        fleet.start(f"{shard}-1", shard, shards, leases)
    for cluster in clusters:
        cluster.apply_dag("pipe", pipeline())
    created = 0
    with Kubelet(clusters, lasting=(0.5, 4.0)) as kubelet:
        for round_number in range(rounds):
            for cluster in clusters:
                for n in range(runs_per_round):
                    cluster.create_run(f"pipe-{round_number}-{n}", {"dagName": "pipe"})
            created += runs_per_round
            time.sleep(2)  # runs under way
            shard = shards[round_number % 2]
            leader = fleet.holder(leases, shard)
            assert leader is not None
            fleet.replicas[leader].kill()
            fleet.start(f"{shard}-r{round_number}", shard, shards, leases)  # a new standby
            if round_number % 2 == 1:
                moving = clusters[round_number % len(clusters)]
                owner[moving.ns] = shards[(shards.index(owner[moving.ns]) + 1) % 2]
                fleet.relabel(moving.ns, owner[moving.ns])
            wait_for(lambda s=shard, old=leader: fleet.holder(leases, s) not in (None, old),
                     f"a new leader of {shard}", LEASE_WAIT)  # fmt: skip
        for cluster in clusters:
            for run in cluster.runs():
                cluster.wait_run_state(run["metadata"]["name"], "success", timeout=90)
        assert kubelet.error is None
    managers = {f"kubedag-controller-{s}" for s in shards}
    for cluster in clusters:
        wait_for(lambda c=cluster: c.dag("pipe").get("status", {}).get("shard") == owner[c.ns],
                 f"DAG pipe in {cluster.ns} handled by {owner[cluster.ns]}")  # fmt: skip
        found = cluster.runs()
        assert len(found) == created
        for run in found:
            name = run["metadata"]["name"]
            assert kubedag_managers(run["metadata"]) <= managers, name
            for task in ("first", "second"):
                pods = cluster.pods(dagrun=name, task=task)
                assert [p.metadata.labels["kubedag.io/try"] for p in pods] == ["1"], (name, task)
                assert len(kubedag_managers(pods[0].metadata) & managers) == 1, (name, task)
