"""``python -m bench.client_cost``: what a request costs the controller's own process, its
client's CPU time for one pod create, beside the bench's synchronous client (plain
``http.client``, no event loop: the least a Python client can spend).

A fresh control plane (the tests' etcd and kube-apiserver), nothing else: the pod is the
one the controller renders for a one-task run (`bench.write_costs.one_task_run`), created
``--creates`` times in a row, one at a time, by each client in turn, for ``--rounds``
rounds. The CPU time is this process's (`time.process_time`), so it holds the client's
encoding, TLS, HTTP and decoding, and nothing of the API server's.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.api import Api
from bench.write_costs import NAMESPACE, one_task_run
from devcluster.controlplane import ControlPlane
from kubedag.kube.client import Kube, core_path


@dataclass(frozen=True)
class ClientCost:
    client: str
    round: int
    cpu_ms: float
    """The client process's CPU time per create."""
    wall_ms: float


def _pods(prefix: str, count: int) -> list[dict[str, Any]]:
    pod = one_task_run().pod
    bodies = []
    for i in range(count):
        body = copy.deepcopy(pod)
        body["metadata"]["name"] = f"{prefix}-{i:05d}"
        bodies.append(body)
    return bodies


class _Clock:
    """This process's CPU time and the wall clock since it was made, per create."""

    def __init__(self) -> None:
        self.cpu, self.wall = time.process_time(), time.perf_counter()

    def cost(self, client: str, round_: int, count: int) -> ClientCost:
        cpu, wall = time.process_time() - self.cpu, time.perf_counter() - self.wall
        return ClientCost(client, round_, 1000 * cpu / count, 1000 * wall / count)


def measure(control_plane: ControlPlane, creates: int, rounds: int) -> list[ClientCost]:
    cp = control_plane
    api = Api(cp.server, ca=cp.ca.cert, cert=cp.admin_cert.cert, key=cp.admin_cert.key)
    api.create("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
    # No controller-manager makes it here; the pods' admission looks it up.
    api.create(core_path("serviceaccounts", NAMESPACE), {"metadata": {"name": "default"}})
    path = core_path("pods", NAMESPACE)
    costs: list[ClientCost] = []

    async def with_kube(round_: int) -> ClientCost:
        kube = await Kube.connect(str(cp.kubeconfig))
        try:
            await kube.create(path, _pods(f"warm-{round_}", 1)[0])  # the connection
            bodies = _pods(f"kube-{round_}", creates)
            clock = _Clock()
            for body in bodies:
                await kube.create(path, body)
            return clock.cost("kubedag.kube (the controller's)", round_, creates)
        finally:
            await kube.close()

    for round_ in range(1, rounds + 1):
        bodies = _pods(f"http-{round_}", creates)
        clock = _Clock()
        for body in bodies:
            api.create(path, body)
        costs.append(clock.cost("http.client (synchronous)", round_, creates))
        costs.append(asyncio.run(with_kube(round_)))
    return costs


def table(costs: Sequence[ClientCost], creates: int) -> str:
    lines = [
        f"| client ({creates} pod creates a round) | round | client CPU a create | round trip |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {c.client} | {c.round} | {c.cpu_ms:.3f} ms | {c.wall_ms:.2f} ms |" for c in costs]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.client_cost", description=__doc__)
    parser.add_argument("--creates", type=int, default=400, help="pod creates a round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="kubedag-client-cost-") as folder,
        ControlPlane(Path(folder)) as control_plane,
    ):
        print(table(measure(control_plane, args.creates, args.rounds), args.creates))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
