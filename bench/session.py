"""One benchmark session: the cluster, and per scenario a namespace, a fresh controller
process, the harness's watches and the API server's counters around the measured window."""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import apimetrics, controllermetrics
from bench.api import Api, custom_path
from bench.cluster import OUTCOME_LABEL, BenchCluster, ControllerProcess, TaskOutcome
from bench.stats import percentile
from bench.watch import PodRecord, Recorder
from devcluster.controlplane import free_port

log = logging.getLogger(__name__)

GROUP_VERSION = "kubedag.io/v1alpha1"
TASK_IMAGE = "kubedag.io/bench-noop:0"  # never pulled: kwok runs no containers
WARMUP_DAG = "warmup"
SETTLE_SECONDS = 2.0
"""After a scenario's work is done, wait this long for the controller's trailing writes
(the run's final events, the DAG status) before the closing scrape."""


def rfc3339(moment: datetime) -> str:
    text = moment.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def task(
    name: str,
    depends_on: Sequence[str] = (),
    *,
    outcome: TaskOutcome = TaskOutcome.SUCCEEDS,
    **extra: Any,
) -> dict[str, Any]:
    """A bench task; its pods carry the label that picks how kwok ends them."""
    labels = {**extra.pop("labels", {}), OUTCOME_LABEL: outcome.value}
    body: dict[str, Any] = {"name": name, **extra, "labels": labels}
    if depends_on:
        body["dependsOn"] = list(depends_on)
    return body


# 198.18.0.0/15 is blackholed on the bench machine: a connection there never completes.
BLACKHOLE_URL = "http://198.18.0.1:9/hook"


class SilentEndpoint:
    """A local port that accepts connections (the kernel does, up to its backlog) and never
    answers: a webhook whose every request waits for the sender's timeout."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(4096)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}/hook"

    def close(self) -> None:
        self.socket.close()


def dag_spec(tasks: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    """A DAG spec whose tasks run the no-op image kwok 'runs'."""
    return {
        "defaults": {"image": TASK_IMAGE, "imagePullPolicy": "Never"},
        "tasks": tasks,
        **spec,
    }


@dataclass
class Window:
    """What happened between ``begin()`` and ``end()`` of a scenario's measured part."""

    started: float = 0.0
    ended: float = 0.0
    cpu_start: float = 0.0
    cpu_end: float = 0.0
    harness_cpu_start: float = 0.0
    harness_cpu_end: float = 0.0
    cluster_cpu_start: dict[str, float] = field(default_factory=dict)
    cluster_cpu_end: dict[str, float] = field(default_factory=dict)
    peak_rss_mib: float = 0.0
    requests: Any = field(default_factory=dict)
    gc_start: controllermetrics.ControllerMetrics | None = None
    gc_end: controllermetrics.ControllerMetrics | None = None


class ScenarioRun:
    """A scenario's namespace, controller and watches (see ``Session.scenario``)."""

    def __init__(
        self, session: Session, name: str, controller_env: Mapping[str, str] | None = None
    ) -> None:
        self.session = session
        self.name = name
        self.api: Api = session.cluster.api
        self.namespace = f"bench-{name.replace('_', '-')}-{uuid.uuid4().hex[:5]}"
        self.recorder = Recorder(self.api, self.namespace)
        self.controller = ControllerProcess(
            session.cluster.kubeconfig,
            self.namespace,
            session.workdir / "logs" / f"controller-{name}.log",
            pythonpath=session.controller_pythonpath,
            health_port=free_port(),
            env=controller_env,
        )
        self.window = Window()
        self.harness_run_creates = 0
        self._creates_counted = threading.Lock()  # single_task creates from several threads
        self.controller_ready_s = math.nan
        self._metrics_before: Any = None

    # -- objects ------------------------------------------------------------------------------

    def apply_dag(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": GROUP_VERSION,
            "kind": "DAG",
            "metadata": {"name": name},
            "spec": spec,
        }
        return self.api.create(custom_path("dags", self.namespace), body)

    def notifying(self, spec: dict[str, Any], url: str) -> dict[str, Any]:
        """`spec` with every task notifying `url` on success, failure and retry (the URL in
        a Secret of the scenario's namespace, as users keep it)."""
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "bench-notify"},
            "stringData": {"url": url},
        }
        self.api.create(f"/api/v1/namespaces/{self.namespace}/secrets", secret)
        hook = [{"secretKeyRef": {"name": "bench-notify", "key": "url"}}]
        defaults = {**spec["defaults"], "onSuccess": hook, "onFailure": hook, "onRetry": hook}
        return {**spec, "defaults": defaults}

    def patch_dag(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return self.api.request(
            "PATCH",
            custom_path("dags", self.namespace, name),
            {"spec": spec},
            content_type="application/merge-patch+json",
        )

    def create_run(
        self, dag: dict[str, Any], name: str, logical_date: datetime, **spec: Any
    ) -> dict[str, Any]:
        """A manual DagRun, as ``kubedag trigger`` makes it."""
        dag_name = dag["metadata"]["name"]
        body = {
            "apiVersion": GROUP_VERSION,
            "kind": "DagRun",
            "metadata": {
                "name": name,
                "labels": {"kubedag.io/dag": dag_name},
                "ownerReferences": [
                    {
                        "apiVersion": GROUP_VERSION,
                        "kind": "DAG",
                        "name": dag_name,
                        "uid": dag["metadata"]["uid"],
                    }
                ],
            },
            "spec": {
                "dagName": dag_name,
                "runType": "manual",
                "logicalDate": rfc3339(logical_date),
                **spec,
            },
        }
        with self._creates_counted:
            self.harness_run_creates += 1
        return self.api.create(custom_path("dagruns", self.namespace), body)

    def wait_runs_finished(self, names: Sequence[str], timeout: float) -> bool:
        wanted = set(names)

        def done(recorder: Recorder) -> bool:
            self.check_alive()
            return all(
                recorder.runs.get(n) is not None and recorder.runs[n].finished is not None
                for n in wanted
            )

        return self.recorder.wait_for(done, timeout)

    def check_alive(self) -> None:
        self.controller.check_alive()
        self.session.cluster.check_alive()

    def wait_dags_observed(self, count: int, timeout: float) -> bool:
        """Until the controller has written the status of ``count`` DAGs of the namespace at
        their generation (each applied DAG answered: validity, its version snapshot stored)."""

        def observed() -> int:
            body = self.api.request("GET", custom_path("dags", self.namespace))
            return sum(
                1
                for dag in body.get("items", [])
                if (dag.get("status") or {}).get("observedGeneration")
                == dag["metadata"].get("generation")
            )

        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            if observed() >= count:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))

    # -- measurement --------------------------------------------------------------------------

    def request_totals(self) -> Counter[apimetrics.RequestKey]:
        return apimetrics.parse_request_totals(self.api.metrics())

    def controller_writes_since(self, before: Counter[apimetrics.RequestKey]) -> int:
        """The controller's API writes since ``before`` (``request_totals``)."""
        return apimetrics.attribute(apimetrics.delta(before, self.request_totals())).writes

    def begin(self) -> None:
        """Start the measured window: counters and the controller's CPU time."""
        self._metrics_before = self.request_totals()
        self.window.cpu_start = self.controller.cpu_seconds()
        self.window.harness_cpu_start = _own_cpu_seconds()
        self.window.cluster_cpu_start = self.session.cluster.cpu_seconds()
        self.window.gc_start = self._controller_metrics()
        self.window.started = time.time()

    def end(self, settle: float = SETTLE_SECONDS) -> None:
        time.sleep(settle)
        self.window.ended = time.time()
        self.window.cpu_end = self.controller.cpu_seconds()
        self.window.harness_cpu_end = _own_cpu_seconds()
        self.window.cluster_cpu_end = self.session.cluster.cpu_seconds()
        self.window.peak_rss_mib = self.controller.peak_rss_mib()
        self.window.gc_end = self._controller_metrics()
        self.window.requests = apimetrics.delta(self._metrics_before, self.request_totals())

    def _controller_metrics(self) -> controllermetrics.ControllerMetrics | None:
        port = self.controller.health_port
        try:
            return controllermetrics.scrape(port) if port is not None else None
        except controllermetrics.MetricsMissing as error:
            log.warning("no garbage collection figures from the controller: %s", error)
            return None  # a controller without them (an older --controller-pythonpath)

    def gc_in_window(self) -> dict[str, tuple[float, float]]:
        """The controller's garbage collections in the window: generation -> (collections,
        seconds); empty when its /metrics does not time them."""
        start, end = self.window.gc_start, self.window.gc_end
        return end.gc_since(start) if start is not None and end is not None else {}

    def pods(self, dag: str | None = None) -> list[PodRecord]:
        return [
            p
            for p in list(self.recorder.pods.values())
            if p.dag != WARMUP_DAG and (dag is None or p.dag == dag)
        ]

    def common_metrics(self) -> tuple[dict[str, float], dict[str, Any]]:
        """The figures every scenario reports, and the request breakdown for details."""
        pods = self.pods()
        tries = len(pods)
        attributed = apimetrics.attribute(
            self.window.requests, harness_dagrun_creates=self.harness_run_creates
        )
        bind = [(p.bound - p.added) * 1000 for p in pods if p.bound is not None]
        collections = self.gc_in_window()
        controller_cpu = self.window.cpu_end - self.window.cpu_start
        apiserver_cpu = cpu_between(
            self.window.cluster_cpu_start, self.window.cluster_cpu_end, "kube-apiserver"
        )
        metrics = {
            "task_tries": tries,
            "controller_cpu_s": controller_cpu,
            "controller_cpu_ms_per_try": 1000 * controller_cpu / tries if tries else math.nan,
            "apiserver_cpu_ms_per_try": 1000 * apiserver_cpu / tries if tries else math.nan,
            "controller_peak_rss_mib": self.window.peak_rss_mib,
            "controller_gc_s": (
                sum(seconds for _, seconds in collections.values()) if collections else math.nan
            ),
            "api_writes": attributed.writes,
            "api_reads": attributed.reads,
            "api_writes_per_try": attributed.writes / tries if tries else math.nan,
            "api_reads_per_try": attributed.reads / tries if tries else math.nan,
            "pod_bind_p50_ms": percentile(bind, 50),
            "pod_bind_p99_ms": percentile(bind, 99),
        }
        details = {
            "namespace": self.namespace,
            "window_s": round(self.window.ended - self.window.started, 3),
            "controller_ready_s": round(self.controller_ready_s, 3),
            # The harness shares the machine: its watches and waits are CPU the system under
            # test does not get.
            "harness_cpu_s": round(self.window.harness_cpu_end - self.window.harness_cpu_start, 2),
            "cluster_cpu_s": cluster_cpu_spent(
                self.window.cluster_cpu_start, self.window.cluster_cpu_end
            ),
            "controller_gc": {
                generation: {"collections": int(count), "seconds": round(seconds, 3)}
                for generation, (count, seconds) in collections.items()
            },
            "api_streams": attributed.streams,
            "requests": attributed.by_kind,
            "watch_errors": self.recorder.errors,
        }
        return metrics, details


def cpu_between(start: dict[str, float], end: dict[str, float], process: str) -> float:
    """A cluster process's CPU seconds between two readings of ``BenchCluster.cpu_seconds``;
    NaN when either reading lacks it (the process was not running)."""
    if process not in start or process not in end:
        return math.nan
    return end[process] - start[process]


def cluster_cpu_spent(start: dict[str, float], end: dict[str, float]) -> dict[str, float]:
    """Each cluster process's CPU seconds between two readings, to the hundredth."""
    return {name: round(value - start.get(name, 0.0), 2) for name, value in end.items()}


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


class Session:
    def __init__(
        self,
        cluster: BenchCluster,
        workdir: Path,
        *,
        profiler: str | None = None,
        profile_rate: int = 100,
        controller_pythonpath: Path | None = None,
    ) -> None:
        self.cluster = cluster
        self.notify_url: str | None = None
        """The chain's tasks notify this webhook (--notify-blackhole, --notify-silent)."""
        self.workdir = workdir
        self.profiler = profiler
        self.profile_rate = profile_rate
        self.controller_pythonpath = controller_pythonpath
        self.profiles: dict[str, str] = {}

    @contextmanager
    def scenario(
        self, name: str, controller_env: Mapping[str, str] | None = None
    ) -> Iterator[ScenarioRun]:
        """A fresh cluster (`BenchCluster.fresh`), namespace and controller (with these
        settings beyond the environment's), warmed up by one run of a one-task DAG."""
        self.cluster.fresh()
        run = ScenarioRun(self, name, controller_env)
        self.cluster.create_namespace(run.namespace)
        run.recorder.start()
        started = time.time()
        run.controller.start()
        profiler: subprocess.Popen[bytes] | None = None
        try:
            self._warm_up(run)
            run.controller_ready_s = time.time() - started
            if self.profiler:
                profiler = self._start_profiler(name, run.controller.pid)
            yield run
        finally:
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
                try:
                    profiler.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    profiler.kill()
            run.controller.stop()
            run.recorder.stop()
            self.cluster.run_ended(run.namespace)

    def _warm_up(self, run: ScenarioRun) -> None:
        """kopf's watches are up and the pod pipeline works once a run has succeeded."""
        dag = run.apply_dag(
            WARMUP_DAG,
            dag_spec([task("only", env=[{"name": "BENCH_TASK_DURATION", "value": "0s"}])]),
        )
        name = f"{WARMUP_DAG}-manual-0"
        run.create_run(dag, name, datetime(2000, 1, 1, tzinfo=UTC))
        run.harness_run_creates = 0
        if not run.wait_runs_finished([name], timeout=120):
            raise TimeoutError(
                f"the warm-up run did not finish; controller log tail:\n"
                f"{run.controller.process.log_tail()}"
            )

    def _start_profiler(self, name: str, pid: int) -> subprocess.Popen[bytes] | None:
        assert self.profiler is not None
        if shutil.which(self.profiler) is None and not Path(self.profiler).exists():
            log.warning("profiler %s not found; not profiling", self.profiler)
            return None
        out = self.workdir / f"profile-{name}.speedscope.json"
        self.profiles[name] = str(out)
        log.info("profiling the controller (pid %d) into %s", pid, out)
        return subprocess.Popen(
            [
                self.profiler,
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(self.profile_rate),
                "--gil",  # only samples holding the GIL: where the controller spends CPU
                "--format",
                "speedscope",
                "--output",
                str(out),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "logs" / f"py-spy-{name}.log").open("wb"),
        )
