"""``python -m bench.write_costs``: what each API write of a one-task run costs this machine's
API server and etcd, one kind of write at a time, so a choice between writes is made on
figures (docs/performance.md, "What each write of a run costs").

A fresh control plane (the tests' etcd and kube-apiserver, the kubedag CRDs), nothing else:
the bodies are the controller's own, rendered by the pure core (`run_engine` decides a
one-task run's first pass and its end, `manifests.render` makes the pod), and each kind of
write is sent ``--writes`` times in a row, one at a time. The CPU time of kube-apiserver and
etcd over each batch comes from /proc; with no watchers, the figures leave out what each
watcher of the object costs.
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.api import Api
from bench.api_ceiling import install_crds
from bench.engine_pass import STARTED, snapshot, started_run
from devcluster.controlplane import ControlPlane
from kubedag import API_VERSION
from kubedag.core.pod_observation import observe_pod
from kubedag.core.run_engine import advance
from kubedag.kube.client import MERGE_PATCH, core_path, custom_path
from kubedag.manifests import render

NAMESPACE = "bench"


@dataclass(frozen=True)
class Bodies:
    """A one-task run's writes as the controller sends them."""

    start: dict[str, Any]
    """The status of its first pass: pinned, running, the task queued."""
    end: dict[str, Any]
    """The status once the task's pod succeeded."""
    pod: dict[str, Any]


def one_task_run() -> Bodies:
    snap = snapshot(1, chain=False)
    run = started_run(snap)
    first = advance(run, snap, pods={}, now=STARTED)
    (launch,) = first.pods_to_create
    pod = render.task_pod(launch, namespace=NAMESPACE, owner=None)
    finished = copy.deepcopy(pod)
    finished["status"] = {
        "phase": "Succeeded",
        "containerStatuses": [{"name": "task", "state": {"terminated": {"exitCode": 0}}}],
    }
    end = advance(
        run.model_copy(update={"status": first.status}),
        snap,
        pods={pod["metadata"]["name"]: observe_pod(finished)},
        now=STARTED + timedelta(seconds=1),
    )
    return Bodies(first.status.to_wire(), end.status.to_wire(), pod)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Cost:
    write: str
    apiserver_ms: float
    etcd_ms: float
    wall_ms: float


def measure(control_plane: ControlPlane, writes: int) -> list[Cost]:
    assert control_plane.apiserver is not None and control_plane.etcd is not None
    assert control_plane.apiserver.pid is not None and control_plane.etcd.pid is not None
    install_crds(control_plane)
    cp = control_plane
    api = Api(cp.server, ca=cp.ca.cert, cert=cp.admin_cert.cert, key=cp.admin_cert.key)
    api.create("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
    # No controller-manager makes it here; the pods' admission looks it up.
    api.create(core_path("serviceaccounts", NAMESPACE), {"metadata": {"name": "default"}})
    bodies = one_task_run()
    names = [f"run-{i:05d}" for i in range(writes)]
    pids = control_plane.apiserver.pid, control_plane.etcd.pid
    costs: list[Cost] = []

    def timed(write: str, send: Callable[[str], object]) -> None:
        before, began = [cpu_seconds(p) for p in pids], time.monotonic()
        for name in names:
            send(name)
        wall = time.monotonic() - began
        apiserver, etcd = (cpu_seconds(p) - b for p, b in zip(pids, before, strict=True))
        costs.append(Cost(write, *(1000 * x / writes for x in (apiserver, etcd, wall))))

    def run_body(name: str) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": "DagRun",
            "metadata": {"name": name, "labels": {"kubedag.io/dag": "bench"}},
            "spec": {
                "dagName": "bench",
                "runType": "manual",
                "logicalDate": "2026-01-01T00:00:00Z",
            },
        }

    def status(body: dict[str, Any]) -> Callable[[str], object]:
        return lambda name: api.request(
            "PATCH",
            custom_path("dagruns", NAMESPACE, name) + "/status",
            {"status": body},
            content_type=MERGE_PATCH,
        )

    def pod(name: str) -> dict[str, Any]:
        body = copy.deepcopy(bodies.pod)
        body["metadata"]["name"] = f"{name}-a-1"
        return body

    def pod_path(name: str) -> str:
        return core_path("pods", NAMESPACE, f"{name}-a-1")

    timed("DagRun create", lambda n: api.create(custom_path("dagruns", NAMESPACE), run_body(n)))
    timed("DagRun status: the start (pinned, running, the task queued)", status(bodies.start))
    timed("DagRun status: the end", status(bodies.end))
    timed("DagRun status: one field", status({"duration": "2s"}))
    # An update sends the whole object: read outside the timing, as the controller's cache
    # would hold it.
    stored = {n: api.request("GET", custom_path("dagruns", NAMESPACE, n)) for n in names}

    def status_update(n: str) -> object:
        body = stored[n]
        body["status"] = {**body["status"], "duration": "3s"}
        return api.request("PUT", custom_path("dagruns", NAMESPACE, n) + "/status", body)

    timed("DagRun status: one field, as an update (PUT)", status_update)
    timed("Pod create", lambda n: api.create(core_path("pods", NAMESPACE), pod(n)))
    timed(
        "Pod status (as a kubelet's)",
        lambda n: api.request(
            "PATCH",
            pod_path(n) + "/status",
            {"status": {"phase": "Succeeded"}},
            content_type=MERGE_PATCH,
        ),
    )
    timed("Pod delete", lambda n: api.request("DELETE", pod_path(n)))
    timed(
        "ConfigMap create (for scale)",
        lambda n: api.create(
            core_path("configmaps", NAMESPACE), {"metadata": {"name": n}, "data": {"a": "b"}}
        ),
    )
    return costs


def table(costs: Sequence[Cost], writes: int) -> str:
    lines = [
        f"| write ({writes} each) | kube-apiserver CPU | etcd CPU | round trip |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {c.write} | {c.apiserver_ms:.2f} ms | {c.etcd_ms:.2f} ms | {c.wall_ms:.2f} ms |"
        for c in costs
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.write_costs", description=__doc__)
    parser.add_argument("--writes", type=int, default=400, help="writes of each kind")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="kubedag-write-costs-") as folder,
        ControlPlane(Path(folder)) as control_plane,
    ):
        print(table(measure(control_plane, args.writes), args.writes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
