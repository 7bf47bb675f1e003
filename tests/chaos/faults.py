"""The faults of the chaos run: two controller replicas under leader election, killed with
SIGKILL and started again as a Deployment would (each start a new identity, as a new pod),
and restarts of the API server and etcd with their data and ports kept."""

import os
import signal
from pathlib import Path

from devcluster import admin
from devcluster.controlplane import ControlPlane
from devcluster.process import ManagedProcess
from devcluster.wait import wait_for
from tests.integration.harness import REPO

LEASE = "kubedag-controller"


class Replicas:
    """`kubedag run --leader-elect` `count` times (one: a lone controller, without leader
    election); `supervise()` starts any that is not running (killed, or stopped after
    losing its lease), as the Deployment's ReplicaSet would."""

    def __init__(self, kubeconfig: Path, namespace: str, log_dir: Path, count: int = 2) -> None:
        self.leader_elect = count > 1
        self.kubeconfig = kubeconfig
        self.ns = namespace
        self.log_dir = log_dir
        self.processes: list[ManagedProcess | None] = [None] * count
        self.starts = 0
        self.kills = 0
        self.exits = 0  # stopped by themselves (a lost lease)

    def identity(self, slot: int) -> str:
        process = self.processes[slot]
        return process.name if process is not None else ""

    def start(self, slot: int) -> None:
        self.starts += 1
        name = f"replica-{slot}-{self.starts}"
        process = ManagedProcess(
            name,
            [
                REPO / ".venv/bin/kubedag",
                "run",
                "--kubeconfig",
                self.kubeconfig,
                "-n",
                self.ns,
                *(
                    ["--leader-elect", "--leader-elect-namespace", self.ns]
                    if self.leader_elect
                    else []
                ),
                "--log-level",
                os.environ.get("KUBEDAG_CHAOS_LOG_LEVEL", "info"),
            ],
            self.log_dir / f"{name}.log",
            env={**os.environ, "POD_NAME": name, "PYTHONUNBUFFERED": "1"},
        )
        process.start()
        self.processes[slot] = process

    def supervise(self) -> None:
        for slot, process in enumerate(self.processes):
            if process is None or not process.running:
                if process is not None:
                    self.exits += 1
                    process.stop()
                self.start(slot)

    def kill(self, slot: int) -> None:
        process = self.processes[slot]
        if process is None or process.pid is None:
            return
        os.killpg(process.pid, signal.SIGKILL)
        process.stop(grace_period=0)
        self.kills += 1
        self.start(slot)

    def stop(self) -> None:
        for process in self.processes:
            if process is not None:
                process.stop()

    def leaderships(self) -> int:
        """How many times a replica started leading, from their logs."""
        return sum(
            path.read_text(errors="replace").count("leading as ")
            for path in self.log_dir.glob("replica-*.log")
        )


def restart_apiserver(plane: ControlPlane) -> None:
    """Stop kube-apiserver (SIGTERM) and start it again on the same port and etcd."""
    old = plane.apiserver
    assert old is not None
    old.stop()
    plane.apiserver = ManagedProcess(old.name, old.argv, old.log_path)
    plane.apiserver.start()
    with admin.client(plane.kubeconfig) as api:
        wait_for(
            lambda: admin.ready(api),
            "the API server ready again",
            timeout=120,
            tolerate=admin.NOT_READY_ERRORS,
        )


def restart_etcd(plane: ControlPlane) -> None:
    """Stop etcd (SIGTERM) and start it again with its data; the API server reconnects."""
    old = plane.etcd
    assert old is not None
    old.stop()
    plane.etcd = ManagedProcess(old.name, old.argv, old.log_path)
    plane.etcd.start()
    with admin.client(plane.kubeconfig) as api:
        wait_for(
            lambda: admin.ready(api),
            "the API server ready after etcd",
            timeout=120,
            tolerate=admin.NOT_READY_ERRORS,
        )
