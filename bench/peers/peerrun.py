"""One peer run: its namespace, the peer's controller (fresh per run, as kubedag's is), the
harness's watches, and the measured window (the peer's CPU time and its writes in the
audit log)."""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.api import Api
from bench.peers.audit import AuditLog, AuditLogRotated, Writes
from bench.peers.controllers import PeerProcess, Variant
from bench.peers.watches import FinishedTest, PeerRecorder
from bench.session import Session, cluster_cpu_spent, cpu_between

log = logging.getLogger(__name__)


@dataclass
class PeerResult:
    """A system's figures in one side-by-side scenario (``samples``: raw distributions)."""

    scenario: str
    system: str
    variant: str
    settings: str
    metrics: dict[str, float | int]
    details: dict[str, Any] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.system} ({self.variant})" if self.variant else self.system

    def to_json(self) -> dict[str, Any]:
        def clean(value: float | int) -> float | int | None:
            if isinstance(value, float):
                return round(value, 3) if math.isfinite(value) else None
            return value

        return {
            "system": self.system,
            "variant": self.variant,
            "settings": self.settings,
            "metrics": {k: clean(v) for k, v in self.metrics.items()},
            "details": self.details,
            "samples": {k: [round(v, 3) for v in vs] for k, vs in self.samples.items()},
        }


class PeerRun:
    def __init__(
        self,
        session: Session,
        audit: AuditLog,
        scenario: str,
        variant: Variant | None,
        runs_path: Callable[[str], str],
        run_finished: FinishedTest,
    ) -> None:
        cluster = session.cluster
        self.session = session
        self.api: Api = cluster.api
        self.audit = audit
        self.scenario = scenario
        self.variant = variant
        system = variant.system if variant else "bare"
        self.namespace = f"peer-{system}-{scenario.replace('_', '-')}-{uuid.uuid4().hex[:5]}"
        self.recorder = PeerRecorder(
            self.api, self.namespace, runs_path(self.namespace), run_finished
        )
        self.process = (
            PeerProcess(
                cluster,
                variant,
                self.namespace,
                session.workdir / "logs" / f"{system}-{variant.name}-{scenario}.log",
            )
            if variant
            else None
        )
        self.started = self.ended = 0.0
        self._cpu_start = self._cpu_end = 0.0
        self._cluster_cpu_start: dict[str, float] = {}
        self._cluster_cpu_end: dict[str, float] = {}

    @property
    def user(self) -> str:
        return self.process.user if self.process else "bench-bare"

    def check_alive(self) -> None:
        if self.process is not None:
            self.process.check_alive()
        self.session.cluster.check_alive()

    def begin(self) -> None:
        self.audit.mark()
        self._cpu_start = self.process.cpu_seconds() if self.process else 0.0
        self._cluster_cpu_start = self.session.cluster.cpu_seconds()
        self.started = time.time()

    def end(self, settle: float = 2.0) -> None:
        time.sleep(settle)
        self.ended = time.time()
        self._cpu_end = self.process.cpu_seconds() if self.process else 0.0
        self._cluster_cpu_end = self.session.cluster.cpu_seconds()

    def wait(self, condition: Callable[[PeerRecorder], bool], timeout: float) -> bool:
        def alive_and(recorder: PeerRecorder) -> bool:
            self.check_alive()
            return condition(recorder)

        return self.recorder.wait_for(alive_and, timeout)  # type: ignore[arg-type]

    def result(
        self,
        metrics: dict[str, float | int],
        details: dict[str, Any] | None = None,
        samples: dict[str, list[float]] | None = None,
    ) -> PeerResult:
        """The figures with what every peer run reports: CPU, writes per pod."""
        pods = len(self.recorder.peer_pods)
        audit_problem = None
        try:
            writes = self.audit.writes_since_mark()
            own: float = writes.of(self.user)
        except AuditLogRotated as error:  # the writes are unknown, not zero
            writes, own, audit_problem = Writes({}, {}), math.nan, str(error)
        controller_cpu = self._cpu_end - self._cpu_start
        apiserver_cpu = cpu_between(
            self._cluster_cpu_start, self._cluster_cpu_end, "kube-apiserver"
        )
        common = {
            "pods": pods,
            "controller_cpu_s": controller_cpu,
            "controller_cpu_ms_per_try": 1000 * controller_cpu / pods if pods else math.nan,
            "apiserver_cpu_ms_per_try": 1000 * apiserver_cpu / pods if pods else math.nan,
            "api_writes": own,
            "api_writes_per_try": own / pods if pods else math.nan,
        }
        return PeerResult(
            self.scenario,
            self.variant.system if self.variant else "bare",
            self.variant.name if self.variant else "",
            self.variant.settings if self.variant else "the harness's own client",
            {**metrics, **common},
            {
                **(details or {}),
                "namespace": self.namespace,
                "window_s": round(self.ended - self.started, 3),
                # kubedag's scenarios report the same (bench.session): the cluster's CPU a
                # system's way of working costs, beside its controller's own.
                "cluster_cpu_s": cluster_cpu_spent(self._cluster_cpu_start, self._cluster_cpu_end),
                "writes_by_kind": writes.by_kind.get(self.user, {}),
                **({"audit_problem": audit_problem} if audit_problem else {}),
                "watch_errors": self.recorder.errors,
            },
            samples or {},
        )


@contextmanager
def peer_run(
    session: Session,
    audit: AuditLog,
    scenario: str,
    variant: Variant | None,
    runs_path: Callable[[str], str],
    run_finished: FinishedTest,
    before_start: Callable[[PeerRun], None] | None = None,
) -> Iterator[PeerRun]:
    """A fresh cluster (`BenchCluster.fresh`), namespace, the watches and the peer's
    controller; afterwards the controller stopped (and on a shared cluster the namespace's
    pods deleted: the next run starts with an idle cluster)."""
    session.cluster.fresh()
    run = PeerRun(session, audit, scenario, variant, runs_path, run_finished)
    session.cluster.create_namespace(run.namespace)
    if before_start is not None:
        before_start(run)
    run.recorder.start()
    if run.process is not None:
        run.process.start()
    log.info("peer %s: %s in %s", scenario, variant.label if variant else "bare", run.namespace)
    try:
        yield run
    finally:
        if run.process is not None:
            run.process.stop()
        run.recorder.stop()
        session.cluster.run_ended(run.namespace)
