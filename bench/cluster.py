"""The benchmark cluster: the tests' ControlPlane (etcd + kube-apiserver on loopback) plus
kube-scheduler and kwok, with fake nodes, and the controller run as users run it.

Nothing here touches the local single-node cluster (/var/lib/kubedag, /run/kubedag): every
process gets its own work folder and random loopback ports, and kwok manages only the nodes
the harness creates with the annotation ``kwok.x-k8s.io/node=fake``. Fake nodes have no
network: their pod IPs are just strings in pod status, from the RFC 2544 range.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from bench.api import Api, ApiError, core_path
from devcluster.binaries import ensure_binaries
from devcluster.controlplane import ControlPlane
from devcluster.process import ManagedProcess
from devcluster.versions import REPO_ROOT
from devcluster.wait import WaitTimeout, wait_for
from kubedag.core.naming import LABEL_TRY

log = logging.getLogger(__name__)

STAGES_DIR = Path(__file__).resolve().parent / "stages"
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"
FAKE_NODE_SELECTOR = f"{FAKE_NODE_ANNOTATION}=fake"
POD_CIDR = "198.19.0.0/17"  # only strings in pod status: kwok nodes have no network
NODE_IP = "198.19.128.1"
KUBEDAG = REPO_ROOT / ".venv" / "bin" / "kubedag"
OUTCOME_LABEL = "bench.kubedag.io/outcome"


class TaskOutcome(StrEnum):
    """How kwok ends a bench task's pods (the label OUTCOME_LABEL selects its stages)."""

    SUCCEEDS = "succeeds"
    FAILS_FIRST_TRY = "fails-first-try"


@dataclass(frozen=True)
class ClusterSettings:
    nodes: int = 5
    pods_per_node: int = 1000
    task_duration_ms: int = 1000
    """How long a task pod runs (kwok's pod-complete delay) unless its env sets another."""
    start_delay_ms: int = 0
    """Pending to Running on a fake node (kwok's pod-ready delay)."""
    scheduler_qps: int = 200
    """kube-scheduler's client QPS (burst is twice that); its default is 50."""
    kwok_parallelism: int = 16
    """kwok's podPlayStageParallelism (its default is 4)."""


def retried_pod_complete(complete: dict[str, Any]) -> dict[str, Any]:
    """pod-complete for the later tries of a task that fails its first (pod-fail fails try 1):
    the same steps and delay, selected by the outcome label and a try other than 1."""
    stage = copy.deepcopy(complete)
    stage["metadata"]["name"] = "pod-complete-retry"
    selector = stage["spec"]["selector"]
    selector["matchLabels"][OUTCOME_LABEL] = TaskOutcome.FAILS_FIRST_TRY.value
    selector["matchExpressions"].append(
        {"jq": {"key": f'.metadata.labels["{LABEL_TRY}"]', "operator": "NotIn", "values": ["1"]}}
    )
    return stage


def stage_documents(task_duration_ms: int, start_delay_ms: int) -> list[dict[str, Any]]:
    """The shipped Stage configs with the run's delays filled in."""
    documents = []
    for path in sorted(STAGES_DIR.glob("*.yaml")):
        stage = yaml.safe_load(path.read_text())
        name = stage["metadata"]["name"]
        if name in ("pod-complete", "pod-complete-peer", "pod-fail"):
            stage["spec"]["delay"]["durationMilliseconds"] = task_duration_ms
        elif name == "pod-ready":
            stage["spec"]["delay"]["durationMilliseconds"] = start_delay_ms
        documents.append(stage)
        if name == "pod-complete":
            documents.append(retried_pod_complete(stage))
    return documents


def kwok_config(settings: ClusterSettings) -> str:
    options = {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokConfiguration",
        # A config file's options are not defaulted: give every parallelism kwok needs.
        "options": {
            "podPlayStageParallelism": settings.kwok_parallelism,
            "nodePlayStageParallelism": 4,
            "nodeLeaseParallelism": 4,
            "podsOnNodeSyncParallelism": 1,
            "enablePodsOnNodeSyncListPager": True,
            "enablePodsOnNodeSyncStreamWatch": False,
            "enableDebuggingHandlers": False,
            "enableProfilingHandler": False,
        },
    }
    stages = stage_documents(settings.task_duration_ms, settings.start_delay_ms)
    return yaml.safe_dump_all([options, *stages], sort_keys=False)


def kwok_command(binary: Path, kubeconfig: Path, config: Path) -> list[str]:
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--config={config}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={FAKE_NODE_SELECTOR}",
        f"--cidr={POD_CIDR}",
        f"--node-ip={NODE_IP}",
    ]


def scheduler_config(kubeconfig: Path, qps: int) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "kubescheduler.config.k8s.io/v1",
            "kind": "KubeSchedulerConfiguration",
            "clientConnection": {"kubeconfig": str(kubeconfig), "qps": qps, "burst": qps * 2},
            "leaderElection": {"leaderElect": False},
        },
        sort_keys=False,
    )


def fake_node(name: str, pods: int) -> dict[str, Any]:
    capacity = {"cpu": "1000", "memory": "1Ti", "pods": str(pods)}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {FAKE_NODE_ANNOTATION: "fake"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "type": "kwok",
            },
        },
        "spec": {},
        "status": {"allocatable": capacity, "capacity": capacity},
    }


class BenchCluster:
    def __init__(
        self,
        workdir: Path,
        settings: ClusterSettings,
        apiserver_args: Sequence[str] = (),
        *,
        fresh_per_run: bool = True,
    ) -> None:
        """`fresh_per_run`: every measured run gets a cluster no other run has used (see
        `fresh`); otherwise runs share one, each deleting its pods when it ends."""
        self.workdir = workdir
        self.settings = settings
        self.fresh_per_run = fresh_per_run
        self._apiserver_args = tuple(apiserver_args)
        self.control_plane = self._new_control_plane()
        self.scheduler: ManagedProcess | None = None
        self.kwok: ManagedProcess | None = None
        self._api: Api | None = None
        self._runs_since_start = 0
        self._crd_installers: list[Callable[[], None]] = []
        self.renewals: list[float] = []
        """Seconds each replacement of the cluster took (stop, start, CRDs, nodes)."""

    def _new_control_plane(self) -> ControlPlane:
        # The same folder each time: its etcd data is removed at start, its logs appended.
        return ControlPlane(
            self.workdir / "control-plane", extra_apiserver_args=self._apiserver_args
        )

    @property
    def api(self) -> Api:
        if self._api is None:
            raise RuntimeError("the cluster is not started")
        return self._api

    @property
    def kubeconfig(self) -> Path:
        return self.control_plane.kubeconfig

    def start(self) -> BenchCluster:
        binaries = ensure_binaries("kwok", "kube-scheduler")
        started = time.monotonic()
        self.control_plane.start()
        cp = self.control_plane
        self._api = Api(cp.server, ca=cp.ca.cert, cert=cp.admin_cert.cert, key=cp.admin_cert.key)
        self._install_crds()
        for install in self._crd_installers:
            install()
        logs = self.workdir / "logs"
        scheduler_kubeconfig = cp.issue_kubeconfig("kube-scheduler", user="system:kube-scheduler")
        config = self.workdir / "kube-scheduler.yaml"
        config.write_text(scheduler_config(scheduler_kubeconfig, self.settings.scheduler_qps))
        self.scheduler = ManagedProcess(
            "kube-scheduler",
            [binaries["kube-scheduler"], f"--config={config}", "--secure-port=0", "-v=1"],
            logs / "kube-scheduler.log",
        )
        self.scheduler.start()
        kwok_yaml = self.workdir / "kwok.yaml"
        kwok_yaml.write_text(kwok_config(self.settings))
        self.kwok = ManagedProcess(
            "kwok", kwok_command(binaries["kwok"], cp.kubeconfig, kwok_yaml), logs / "kwok.log"
        )
        self.kwok.start()
        self._create_nodes()
        self._runs_since_start = 0
        log.info("cluster ready in %.1fs (%s)", time.monotonic() - started, cp.server)
        return self

    def stop(self) -> None:
        for process in (self.kwok, self.scheduler):
            if process is not None:
                process.stop()
        self.control_plane.stop()

    def add_crds(self, install: Callable[[], None]) -> None:
        """Install a peer's custom resources now and on every cluster that replaces this one."""
        self._crd_installers.append(install)
        install()

    def fresh(self) -> None:
        """Called as a measured run begins: with `fresh_per_run`, a cluster an earlier run
        used is replaced by a new one (empty etcd, new kube-apiserver, kube-scheduler, kwok
        and nodes), so no run's figures carry the history, heap or caches another run left.
        Clients must be made after this call (the new cluster has a new port and PKI)."""
        if self.fresh_per_run and self._runs_since_start:
            began = time.monotonic()
            self.stop()
            self.control_plane = self._new_control_plane()
            self.start()
            self.renewals.append(round(time.monotonic() - began, 2))
        self._runs_since_start += 1

    def run_ended(self, namespace: str) -> None:
        """A measured run is over: on a shared cluster its pods go, so the next run starts
        with an idle kube-scheduler and kwok (a fresh cluster needs nothing)."""
        if not self.fresh_per_run:
            self.delete_pods(namespace)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time so far of each process of the cluster (kube-apiserver, etcd,
        kube-scheduler, kwok): with the controller's and the harness's, where a scenario's
        CPU goes on a machine all of them share."""
        processes = (
            self.control_plane.apiserver,
            self.control_plane.etcd,
            self.scheduler,
            self.kwok,
        )
        return {
            p.name: proc_cpu_seconds(p.pid)
            for p in processes
            if p is not None and p.pid is not None and p.running
        }

    def check_alive(self) -> None:
        for process in (self.kwok, self.scheduler, self.control_plane.apiserver):
            if process is not None and not process.running:
                raise RuntimeError(
                    f"{process.name} exited ({process.returncode()}); last lines of "
                    f"{process.log_path}:\n{process.log_tail()}"
                )

    def _install_crds(self) -> None:
        path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        for crd in sorted((REPO_ROOT / "crds").glob("*.yaml")):
            self.api.create(path, yaml.safe_load(crd.read_text()))

        def served() -> bool:
            for plural in ("dags", "dagruns"):
                status, _ = self.api.raw("GET", f"/apis/kubedag.io/v1alpha1/{plural}?limit=1")
                if status != 200:
                    return False
            return True

        wait_for(served, "the kubedag CRDs served", 60, tolerate=(ApiError,))

    def _create_nodes(self) -> None:
        names = [f"kwok-node-{i}" for i in range(self.settings.nodes)]
        for name in names:
            self.api.create(core_path("nodes"), fake_node(name, self.settings.pods_per_node))

        def ready() -> bool:
            self.check_alive()
            items = self.api.request("GET", core_path("nodes"))["items"]
            ready_nodes = {
                n["metadata"]["name"]
                for n in items
                for c in (n.get("status") or {}).get("conditions") or []
                if c.get("type") == "Ready" and c.get("status") == "True"
            }
            return set(names) <= ready_nodes

        wait_for(ready, "kwok to make the fake nodes Ready", 60, tolerate=(ApiError,))
        # Admission (TaintNodesByCondition) gives a new node the not-ready taint, and only
        # kube-controller-manager's node lifecycle controller, not run here, lifts it once
        # the node is Ready: lift it as that controller would.
        for name in names:
            self.api.request(
                "PATCH",
                core_path("nodes", name=name),
                {"spec": {"taints": None}},
                content_type="application/merge-patch+json",
            )

    def create_namespace(self, name: str) -> str:
        self.api.create(core_path("namespaces"), {"metadata": {"name": name}})
        # No kube-controller-manager runs: create the ServiceAccount pods are admitted with.
        self.api.create(core_path("serviceaccounts", name), {"metadata": {"name": "default"}})
        return name

    def delete_pods(self, namespace: str, timeout: float = 120) -> None:
        """Delete every pod of the namespace (kwok finalises them), so the next scenario
        starts with an empty scheduler and kwok."""
        self.api.raw("DELETE", core_path("pods", namespace))

        def gone() -> bool:
            return not self.api.request("GET", core_path("pods", namespace) + "?limit=1")["items"]

        try:
            wait_for(gone, f"pods of {namespace} deleted", timeout, tolerate=(ApiError,))
        except WaitTimeout as error:
            log.warning("%s", error)


class ControllerProcess:
    """``kubedag run`` as a separate process, as users run it; its CPU and memory from /proc."""

    def __init__(
        self,
        kubeconfig: Path,
        namespace: str,
        log_path: Path,
        *,
        pythonpath: Path | None = None,
        health_port: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """`env`: settings of this controller beyond the harness's own environment."""
        argv = [
            str(KUBEDAG),
            "run",
            "--kubeconfig",
            str(kubeconfig),
            "-n",
            namespace,
            "--log-level",
            "info",
        ]
        if health_port is not None:
            argv += ["--health-port", str(health_port)]  # /healthz and /metrics
        self.health_port = health_port
        env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        if pythonpath is not None:
            # Another kubedag source tree first on the path, e.g. to measure a change to the
            # controller before and after with the same harness (the venv's is editable).
            env["PYTHONPATH"] = str(pythonpath)
        self.process = ManagedProcess("kubedag", argv, log_path, env=env)

    @property
    def pid(self) -> int:
        pid = self.process.pid
        if pid is None:
            raise RuntimeError("the controller is not started")
        return pid

    def start(self) -> None:
        if not KUBEDAG.exists():
            raise RuntimeError(f"{KUBEDAG} is missing: run `make venv` first")
        self.process.start()

    def stop(self) -> None:
        self.process.stop(grace_period=15)

    def check_alive(self) -> None:
        if not self.process.running:
            raise RuntimeError(
                f"the controller exited ({self.process.returncode()}); last lines of "
                f"{self.process.log_path}:\n{self.process.log_tail()}"
            )

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the controller so far (/proc/<pid>/stat)."""
        return proc_cpu_seconds(self.pid)

    def peak_rss_mib(self) -> float:
        """The controller's peak resident set size (VmHWM in /proc/<pid>/status)."""
        return proc_peak_rss_kib(self.pid) / 1024


def proc_cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def proc_peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


def python_version() -> str:
    return sys.version.split()[0]
