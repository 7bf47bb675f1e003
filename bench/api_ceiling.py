"""``python -m bench.api_ceiling``: how fast this machine's API server alone accepts DagRun
creates, the floor under the ``many_dags`` scheduling lag.

A fresh control plane (the tests' etcd and kube-apiserver, the kubedag CRDs), no
controller, kube-scheduler or kwok: one client creates ``--runs`` DagRuns at once (the DAG
passes' burst at a minute boundary), ``--concurrency`` requests in flight, with the
controller's own client (``kubedag.kube``, aiohttp). Prints the time and the rate of each of
``--rounds`` bursts; nothing else runs, so this is the best the controller could do.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from bench.api import Api
from devcluster.controlplane import ControlPlane
from devcluster.versions import REPO_ROOT
from kubedag import API_VERSION
from kubedag.kube.client import Kube, custom_path

NAMESPACE = "default"
INTERVAL = ("2026-11-22T03:00:00Z", "2026-11-22T03:01:00Z")


def dagrun(name: str) -> dict[str, object]:
    return {
        "apiVersion": API_VERSION,
        "kind": "DagRun",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "dagName": name,
            "runType": "scheduled",
            "logicalDate": INTERVAL[0],
            "dataIntervalStart": INTERVAL[0],
            "dataIntervalEnd": INTERVAL[1],
        },
    }


async def burst(kube: Kube, prefix: str, runs: int, concurrency: int) -> float:
    """Seconds from the first create sent to the last one accepted."""
    slots = asyncio.Semaphore(concurrency)

    async def create(i: int) -> None:
        async with slots:
            created = await kube.create(
                custom_path("dagruns", NAMESPACE), dagrun(f"{prefix}-{i:05d}")
            )
            if created is None:
                raise RuntimeError(f"{prefix}-{i:05d} existed already")

    started = time.perf_counter()
    await asyncio.gather(*(create(i) for i in range(runs)))
    return time.perf_counter() - started


async def measure(kubeconfig: Path, runs: int, concurrency: int, rounds: int) -> list[float]:
    kube = await Kube.connect(str(kubeconfig))
    try:
        return [await burst(kube, f"round{k}", runs, concurrency) for k in range(1, rounds + 1)]
    finally:
        await kube.close()


def install_crds(control_plane: ControlPlane) -> None:
    cp = control_plane
    api = Api(cp.server, ca=cp.ca.cert, cert=cp.admin_cert.cert, key=cp.admin_cert.key)
    for crd in sorted((REPO_ROOT / "crds").glob("*.yaml")):
        api.create(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            yaml.safe_load(crd.read_text()),
        )
    deadline = time.monotonic() + 60
    while api.raw("GET", f"/apis/{API_VERSION}/dagruns?limit=1")[0] != 200:
        if time.monotonic() > deadline:
            raise RuntimeError("the DagRun CRD was not served within 60 s")
        time.sleep(0.2)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api_ceiling", description=__doc__)
    parser.add_argument("--runs", type=int, default=500, help="DagRuns per burst")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="kubedag-api-ceiling-") as folder,
        ControlPlane(Path(folder)) as control_plane,
    ):
        install_crds(control_plane)
        seconds = asyncio.run(
            measure(control_plane.kubeconfig, args.runs, args.concurrency, args.rounds)
        )
    for k, elapsed in enumerate(seconds, start=1):
        print(
            f"round {k}: {args.runs} DagRun creates, {args.concurrency} in flight: "
            f"{elapsed * 1000:.0f} ms, {args.runs / elapsed:.0f} creates/s"
        )
    best = min(seconds)
    print(f"best: {best * 1000:.0f} ms for {args.runs} creates ({args.runs / best:.0f}/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
