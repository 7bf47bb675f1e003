"""The bare client: the floor any controller's figures are measured against.

- chain: a client that watches its pods and creates the next one on the event that shows
  the previous one finished, nothing else (no state, no status writes);
- single_task: pods alone, created as fast as they finish in the peers' window and backlog
  (bench/throughput.py), ended pods deleted each second with one DeleteCollection (as
  kubedag's pod sweeps delete a run's pods): what a single-step run's pod costs the
  machine, whatever controller makes it;
- many_dags: at each minute boundary, one client creates the DagRuns the DAGs are due
  (as ``python -m bench.api_ceiling`` does, with the controller's own client and 16
  requests in flight), its lag measured by the same watch as kubedag's runs.

It has its own client certificate (``bench-bare``), so its writes are told apart too.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.api import Api, core_path, custom_path
from bench.peers.audit import AuditLog
from bench.peers.controllers import bare_client_cert
from bench.peers.measure import (
    COMPLETE_LABEL,
    TASK_IMAGE,
    chain_hops_ms,
    chain_metrics,
    cron_lag_metrics,
    next_ticks,
    throughput_metrics,
)
from bench.peers.peerrun import PeerResult, peer_run
from bench.peers.scale import PeerScale
from bench.session import GROUP_VERSION, Session, rfc3339
from bench.throughput import throughput_window
from devcluster import pki
from kubedag.core.pod_sweeps import ENDED_PODS
from kubedag.kube.client import Kube


def _pod(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {COMPLETE_LABEL: "true"}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "main",
                    "image": TASK_IMAGE,
                    "imagePullPolicy": "Never",
                    "command": ["true"],
                }
            ],
        },
    }


def _bare_api(session: Session) -> tuple[Api, pki.CertKeyPair]:
    cp = session.cluster.control_plane
    cert = bare_client_cert(session.cluster)
    return Api(cp.server, ca=cp.ca.cert, cert=cert.cert, key=cert.key), cert


class ChainClient(threading.Thread):
    """Creates pod k+1 when its watch shows pod k finished."""

    def __init__(self, api: Api, namespace: str, steps: int) -> None:
        super().__init__(name="bare chain", daemon=True)
        self.api, self.namespace, self.steps = api, namespace, steps
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self) -> None:
        path = core_path("pods", self.namespace)
        try:
            listing = self.api.request("GET", path)
            version = listing["metadata"]["resourceVersion"]
            self.api.create(path, _pod("step-000"))
            created = 1
            query = {"watch": "1", "resourceVersion": version, "timeoutSeconds": "3600"}
            with self.api.stream(path, query) as (_conn, response):
                seen: set[str] = set()
                while created < self.steps or len(seen) < self.steps:
                    line = response.readline()
                    if not line:
                        raise RuntimeError("the bare client's watch ended")
                    pod = json.loads(line).get("object") or {}
                    name = (pod.get("metadata") or {}).get("name", "")
                    phase = (pod.get("status") or {}).get("phase")
                    if phase != "Succeeded" or name in seen:
                        continue
                    seen.add(name)
                    if created < self.steps:
                        self.api.create(path, _pod(f"step-{created:03d}"))
                        created += 1
        except BaseException as error:  # reported by the scenario
            self.error = error
        finally:
            self.done.set()


def chain(session: Session, audit: AuditLog, scale: PeerScale) -> list[PeerResult]:
    steps = scale.chain_steps
    with peer_run(
        session, audit, "chain", None, lambda ns: custom_path("dagruns", ns), lambda _o: None
    ) as run:
        api, _ = _bare_api(session)
        run.begin()
        client = ChainClient(api, run.namespace, steps)
        client.start()
        client.done.wait(scale.timeout_s)
        run.end(settle=0.5)
        if client.error is not None:
            raise client.error
        pods = list(run.recorder.peer_pods.values())
        return [
            run.result(chain_metrics(pods, steps), samples={"hop_latency_ms": chain_hops_ms(pods)})
        ]


SWEEP_EVERY_S = 1.0
"""kubedag's pod sweep delay at its defaults (KUBEDAG_POD_SWEEP_DELAY)."""


class Sweeper(threading.Thread):
    """Deletes the namespace's ended pods every ``SWEEP_EVERY_S`` with one DeleteCollection."""

    def __init__(self, api: Api, namespace: str) -> None:
        super().__init__(name="bare sweeper", daemon=True)
        self.api, self.namespace = api, namespace
        self.stopped = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        path = f"{core_path('pods', self.namespace)}?{urlencode({'fieldSelector': ENDED_PODS})}"
        try:
            while not self.stopped.wait(SWEEP_EVERY_S):
                self.api.request("DELETE", path)
        except BaseException as error:  # reported by the scenario
            self.error = error


def single_task(session: Session, audit: AuditLog, scale: PeerScale) -> list[PeerResult]:
    """Single-step runs' pods without a controller, deleted once they ended (as kubedag's
    are at its defaults)."""
    with peer_run(
        session, audit, "single_task", None, lambda ns: custom_path("dagruns", ns), lambda _o: None
    ) as run:
        api, _ = _bare_api(session)
        path = core_path("pods", run.namespace)
        pods = run.recorder.peer_pods
        sweeper = Sweeper(api, run.namespace)

        def create(i: int) -> str:
            name = f"single-{i:06d}"
            api.create(path, _pod(name))
            return name

        def finished_between(start: float, stop: float) -> int:
            return sum(
                1
                for p in list(pods.values())
                if p.finished is not None and start <= p.finished <= stop
            )

        def wait_change(condition: Callable[[], bool], timeout: float) -> None:
            run.wait(lambda _r: condition(), timeout)

        run.begin()
        sweeper.start()
        outcome = throughput_window(
            create,
            lambda: run.recorder.finished_peer_pods,
            wait_change,
            scale.window_s,
            scale.backlog,
            finished_between,
            scale.creators,
        )
        run.wait(lambda r: r.finished_peer_pods >= len(outcome.created), scale.timeout_s)
        run.end()
        sweeper.stopped.set()
        if sweeper.error is not None:
            raise sweeper.error
        result = run.result(
            throughput_metrics(outcome, list(pods.values())),
            samples={
                "run_latency_ms": [
                    (p.finished - p.added) * 1000 for p in pods.values() if p.finished is not None
                ]
            },
        )
        settings = f"ended pods deleted every {SWEEP_EVERY_S:g} s (DeleteCollection)"
        return [replace(result, settings=settings)]


def _dagrun(name: str, due: datetime) -> dict[str, Any]:
    start = due - timedelta(minutes=1)  # the interval [due - 1 min, due)
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "DagRun",
        "metadata": {"name": name},
        "spec": {
            "dagName": name.rsplit("-", 1)[0],
            "runType": "scheduled",
            "logicalDate": rfc3339(start),
            "dataIntervalStart": rfc3339(start),
            "dataIntervalEnd": rfc3339(due),
        },
    }


async def _bursts(kubeconfig: Path, namespace: str, ticks: list[datetime], count: int) -> None:
    """At each of ``ticks``, the ``count`` DagRuns due then, 16 creates in flight (the client
    is connected before the first minute, as a controller's is)."""
    kube = await Kube.connect(str(kubeconfig))
    slots = asyncio.Semaphore(16)

    async def create(i: int, due: datetime) -> None:
        async with slots:
            name = f"md-{i:04d}-{due.strftime('%H%M')}"
            await kube.create(custom_path("dagruns", namespace), _dagrun(name, due))

    try:
        # Open connections as a running controller has them (16: one per request in flight).
        await asyncio.gather(
            *(kube.get(custom_path("dagruns", namespace) + "?limit=1") for _ in range(16))
        )
        for due in ticks:
            await asyncio.sleep(max(0.0, due.timestamp() - time.time()))
            await asyncio.gather(*(create(i, due) for i in range(count)))
    finally:
        await kube.close()


def many_dags(session: Session, audit: AuditLog, scale: PeerScale) -> list[PeerResult]:
    """No controller: the DagRuns 500 DAGs are due, created at the minute boundary."""
    n = scale.cron_objects
    with peer_run(
        session, audit, "many_dags", None, lambda ns: custom_path("dagruns", ns), lambda _o: None
    ) as run:
        cp = session.cluster.control_plane  # the run's cluster: `peer_run` may renew it
        kubeconfig = cp.issue_kubeconfig(
            "bench-bare", user="bench-bare", groups=("system:masters",)
        )
        run.begin()
        ticks = next_ticks(datetime.now(UTC), 2, scale.cron_minutes)
        asyncio.run(_bursts(kubeconfig, run.namespace, ticks, n))
        run.wait(lambda r: len(r.peer_runs) >= n * len(ticks), 60)
        run.end(settle=0.5)
        created = [
            (r.name.rsplit("-", 1)[0], _due(r.name, ticks), r.added)
            for r in run.recorder.peer_runs.values()
        ]
        metrics, lags = cron_lag_metrics(created, n, ticks)
        return [run.result(metrics, samples={"scheduling_lag_ms": lags})]


def _due(name: str, ticks: list[datetime]) -> datetime:
    stamp = name.rsplit("-", 1)[1]
    return next(t for t in ticks if t.strftime("%H%M") == stamp)
