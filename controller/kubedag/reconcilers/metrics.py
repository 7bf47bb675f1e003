"""Prometheus metrics of the controller, served at /metrics (README "Observability").

Counters and histograms are module-level and created unregistered: the hot path records into
them directly (children resolved once per label set), and `process_registry` puts them, the
I/O layer's (`kube/metrics.py`) and the scrape-time collectors into the registry served.
Gauges of what the controller holds (runs by state, queue depths, cache sizes) are read from
its caches at scrape time, so keeping them costs the passes nothing. Labels are bounded:
namespaces, DAG names (only on the runs gauge, read from the cache, so a deleted DAG's
series go with it), states, queue names, verbs, resources and status codes; never a run."""

from collections import Counter as Tally
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kubedag.core import run_observations
from kubedag.kube import metrics as kube_metrics
from kubedag.models.compact_tasks import task_records
from kubedag.reconcilers import shards as shard_metrics

if TYPE_CHECKING:
    from kubedag.reconcilers.controller import Controller
    from kubedag.reconcilers.informer import Informer
    from kubedag.reconcilers.workqueue import WorkQueue

# Seconds: task tries and runs last from seconds to hours.
DURATION_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0,
                    21600.0, 86400.0)  # fmt: skip
# A scheduled run is created within a second or two of its due time; catchup makes days.
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0, 86400.0)
# A pass takes milliseconds; one that waits on many requests, seconds.
WORK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

RUN_TRANSITIONS = Counter(
    "kubedag_dagrun_transitions",
    "DagRuns that entered a state (queued, running, success, failed), by namespace",
    ["namespace", "state"],
    registry=None,
)
TASK_TRANSITIONS = Counter(
    "kubedag_task_transitions",
    "Task instances that entered a state (Airflow's task states; a new try counts as "
    "entering its state again), by namespace",
    ["namespace", "state"],
    registry=None,
)
EVENTS_HELD_BACK = Counter(
    "kubedag_events_held_back",
    "Routine run Events (RunSucceeded, TaskSkipped, Decided) not posted because their DAG's "
    "budget was spent (core/event_budget.py), by namespace and reason",
    ["namespace", "reason"],
    registry=None,
)
RUN_DURATION = Histogram(
    "kubedag_dagrun_duration_seconds",
    "Finished DagRuns: start to end, by namespace and final state",
    ["namespace", "state"],
    buckets=DURATION_BUCKETS,
    registry=None,
)
TRY_DURATION = Histogram(
    "kubedag_task_try_duration_seconds",
    "Task tries that ended with a pod that ran: its start to its end, by namespace and the "
    "state it ended in (success, failed, up_for_retry)",
    ["namespace", "state"],
    buckets=DURATION_BUCKETS,
    registry=None,
)
SCHEDULING_LAG = Histogram(
    "kubedag_scheduling_lag_seconds",
    "Scheduled DagRuns: created by the controller minus due (their data interval's end), "
    "by namespace",
    ["namespace"],
    buckets=LAG_BUCKETS,
    registry=None,
)
QUEUE_ADDS = Counter(
    "kubedag_workqueue_adds", "Keys added to a work queue", ["queue"], registry=None
)
QUEUE_RETRIES = Counter(
    "kubedag_workqueue_retries",
    "Passes that failed and were queued again with backoff",
    ["queue"],
    registry=None,
)
QUEUE_WAIT = Histogram(
    "kubedag_workqueue_queue_duration_seconds",
    "Time a key waited in a work queue for a worker",
    ["queue"],
    buckets=WORK_BUCKETS,
    registry=None,
)
QUEUE_WORK = Histogram(
    "kubedag_workqueue_work_duration_seconds",
    "Time a worker took for one pass over a key",
    ["queue"],
    buckets=WORK_BUCKETS,
    registry=None,
)
GC_PAUSE = Histogram(
    "kubedag_gc_pause_seconds",
    "The garbage collector's collections (the process stops for each): their duration, by "
    "generation (0 young, 2 full)",
    ["generation"],
    buckets=WORK_BUCKETS,
    registry=None,
)
RECORDED = (
    RUN_TRANSITIONS,
    TASK_TRANSITIONS,
    EVENTS_HELD_BACK,
    RUN_DURATION,
    TRY_DURATION,
    SCHEDULING_LAG,
    QUEUE_ADDS,
    QUEUE_RETRIES,
    QUEUE_WAIT,
    QUEUE_WORK,
    GC_PAUSE,
    kube_metrics.API_REQUESTS,
    kube_metrics.API_LATENCY,
    kube_metrics.LEADER,
    *shard_metrics.RECORDED,
)


def record_run_write(namespace: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    """A DagRun's status written (`old`: the status it replaced): its transitions counted,
    the durations of what ended observed."""
    seen = run_observations.observe(old, new)
    if seen.run_started_unwritten:
        RUN_TRANSITIONS.labels(namespace, "running").inc()
    if seen.run_entered is not None:
        RUN_TRANSITIONS.labels(namespace, seen.run_entered).inc()
        if seen.run_seconds is not None:
            RUN_DURATION.labels(namespace, seen.run_entered).observe(seen.run_seconds)
    for state, count in seen.tasks_entered.items():
        TASK_TRANSITIONS.labels(namespace, state).inc(count)
    for ended in seen.tries_ended:
        TRY_DURATION.labels(namespace, ended.state).observe(ended.seconds)


def record_scheduled_run(namespace: str, created: datetime, due: datetime) -> None:
    SCHEDULING_LAG.labels(namespace).observe(run_observations.scheduling_lag(created, due))


class QueueMetrics:
    """One work queue's children, resolved once."""

    def __init__(self, queue: str) -> None:
        self.adds = QUEUE_ADDS.labels(queue)
        self.retries = QUEUE_RETRIES.labels(queue)
        self.wait = QUEUE_WAIT.labels(queue)
        self.work = QUEUE_WORK.labels(queue)


@dataclass(frozen=True)
class Workload:
    """What the scrape-time gauges read of the running controller."""

    cache_sizes: Callable[[], dict[str, int]]
    informer: "Informer"
    queues: "tuple[WorkQueue[Any], ...]"

    @classmethod
    def of(cls, controller: "Controller") -> "Workload":
        queues = (
            controller.dag_queue,
            controller.run_queue,
            controller.backfill_queue,
            controller.pool_queue,
        )
        return cls(controller.cache_sizes, controller.informer, queues)


def run_states(informer: "Informer") -> Tally[tuple[str, str, str]]:
    """Runs by (namespace, DAG, state), from the run summaries."""
    tally: Tally[tuple[str, str, str]] = Tally()
    for (namespace, dag), states in informer.runs.states():
        for state, count in states.items():
            tally[(namespace, dag, state.value if state else "pending")] = count
    return tally


def task_states(informer: "Informer") -> Tally[tuple[str, str]]:
    """Task instances of the runs whose bodies the informer keeps (the unfinished ones), by
    (namespace, state)."""
    tally: Tally[tuple[str, str]] = Tally()
    for body in informer.run_bodies():
        status = body.get("status") or {}
        if status.get("state") not in run_observations.RUN_FINISHED:
            namespace = body["metadata"]["namespace"]
            tally.update((namespace, t.get("state", "none")) for t in task_records(status))
    return tally


class ControllerCollector(Collector):
    """Gauges read from the running controller at scrape time (none on a standby):
    `kubedag_cache_entries{cache}` (each 0 once every DAG and run is deleted; the soak
    benchmark checks it), the runs and task instances it holds by state, and each work
    queue's keys waiting and in progress."""

    def __init__(self) -> None:
        self.controller: Workload | None = None

    def collect(self) -> Iterator[Metric]:
        controller = self.controller
        caches = GaugeMetricFamily(
            "kubedag_cache_entries",
            "Entries held by each per-object cache of the controller",
            labels=["cache"],
        )
        runs = GaugeMetricFamily(
            "kubedag_dagruns",
            "DagRuns the controller knows, by namespace, DAG and state (pending: not pinned "
            "yet); finished ones until history cleanup deletes them",
            labels=["namespace", "dag", "state"],
        )
        tasks = GaugeMetricFamily(
            "kubedag_task_instances",
            "Task instances of the unfinished DagRuns, by namespace and state",
            labels=["namespace", "state"],
        )
        depth = GaugeMetricFamily(
            "kubedag_workqueue_depth", "Keys waiting in a work queue for a worker", labels=["queue"]
        )
        active = GaugeMetricFamily(
            "kubedag_workqueue_in_progress",
            "Keys a work queue's workers are processing",
            labels=["queue"],
        )
        if controller is not None:
            for cache, size in sorted(controller.cache_sizes().items()):
                caches.add_metric([cache], size)
            for labels, count in sorted(run_states(controller.informer).items()):
                runs.add_metric(list(labels), count)
            for pair, count in sorted(task_states(controller.informer).items()):
                tasks.add_metric(list(pair), count)
            for queue in controller.queues:
                waiting, processing = queue.depth()
                depth.add_metric([queue.name], waiting)
                active.add_metric([queue.name], processing)
        yield from (caches, runs, tasks, depth, active)


def process_registry() -> tuple[CollectorRegistry, ControllerCollector]:
    """The registry `/metrics` serves from the process's start, on a standby too: process
    and platform metrics (RSS, CPU), the recorded series, and the controller's gauges once
    `collector.controller` is set."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    for metric in RECORDED:
        registry.register(metric)
    collector = ControllerCollector()
    registry.register(collector)
    return registry, collector


def exported_names(registry: CollectorRegistry) -> set[str]:
    """Every series name the registry exposes, with the suffixes Prometheus sees
    (`_total`, `_bucket`, `_sum`, `_count`, `_created`), for checking queries against."""
    names: set[str] = set()
    for family in registry.collect():
        names.add(family.name)
        suffixes: dict[str, tuple[str, ...]] = {
            "counter": ("_total", "_created"),
            "histogram": ("_bucket", "_sum", "_count", "_created"),
        }
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names
