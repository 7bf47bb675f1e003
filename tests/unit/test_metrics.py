"""The controller's Prometheus metrics: what each hook records, read back from the registry
`/metrics` serves. The series are process-wide, so each test compares before and after."""

import asyncio
import json
from datetime import datetime
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from kubedag.kube import metrics as kube_metrics
from kubedag.kube.client import Answer, ApiError, Kube, Transport
from kubedag.reconcilers.log_format import SCOPE, LogScope
from kubedag.reconcilers.metrics import Workload, exported_names, process_registry
from kubedag.reconcilers.workqueue import WorkQueue
from tests.unit.test_reconcilers import NS, World, pod_path, run_async


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


class Delta:
    """Samples of the registry now, to compare with later."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.before = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in registry.collect()
            for s in family.samples
        }

    def __call__(self, name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return value(self.registry, name, **labels) - self.before.get(key, 0.0)


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/apis/kubedag.io/v1alpha1/namespaces/etl/dagruns/r1", ("get", "dagruns")),
        ("GET", "/apis/kubedag.io/v1alpha1/namespaces/etl/dagruns", ("list", "dagruns")),
        ("PATCH", "/apis/kubedag.io/v1alpha1/namespaces/etl/dagruns/r1/status",
         ("patch", "dagruns/status")),
        ("POST", "/api/v1/namespaces/etl/pods?fieldManager=kubedag", ("create", "pods")),
        ("DELETE", "/api/v1/namespaces/etl/pods/p", ("delete", "pods")),
        ("DELETE", "/api/v1/namespaces/etl/pods", ("deletecollection", "pods")),
        ("GET", "/api/v1/namespaces/etl/pods/p/log", ("get", "pods/log")),
        ("GET", "/api/v1/namespaces/etl", ("get", "namespaces")),
        ("PUT", "/apis/coordination.k8s.io/v1/namespaces/k/leases/l", ("update", "leases")),
    ],
)  # fmt: skip
def test_a_request_is_described_in_the_api_servers_terms(
    method: str, path: str, expected: tuple[str, str]
) -> None:
    assert kube_metrics.describe(method, path) == expected


def _answer(status: int, body: dict[str, Any]) -> Answer:
    return Answer(status, "", None, json.dumps(body).encode())


class _Transport(Transport):
    """Answers from a list, in place of the API server."""

    def __init__(self, *answers: Answer | Exception) -> None:
        self.answers = list(answers)

    async def send(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> Answer:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_every_request_is_counted_by_verb_resource_and_code() -> None:
    registry, _ = process_registry()
    delta = Delta(registry)
    missing = _answer(404, {"reason": "NotFound", "message": "gone"})
    transport = _Transport(_answer(200, {}), missing, ConnectionResetError("cut"))
    kube = Kube(cast(Any, None), transport)
    path = "/apis/kubedag.io/v1alpha1/namespaces/etl/dagruns/r1/status"

    async def scenario() -> None:
        await kube.patch_status(path.removesuffix("/status"), {}, None)
        assert await kube.get(path) is None
        with pytest.raises(ConnectionResetError):
            await kube.request("GET", path)

    run_async(scenario)
    counted = "kubedag_kube_requests_total"
    assert delta(counted, verb="patch", resource="dagruns/status", code="200") == 1
    assert delta(counted, verb="get", resource="dagruns/status", code="404") == 1
    assert delta(counted, verb="get", resource="dagruns/status", code="<error>") == 1
    timed = "kubedag_kube_request_duration_seconds_count"
    assert delta(timed, verb="get", resource="dagruns/status") == 2


def test_an_api_error_is_still_raised_after_it_is_counted() -> None:
    kube = Kube(cast(Any, None), _Transport(_answer(409, {"reason": "Conflict", "message": "x"})))

    async def scenario() -> None:
        with pytest.raises(ApiError, match="Conflict"):
            await kube.request("PATCH", "/api/v1/namespaces/a/pods/p")

    run_async(scenario)


def test_a_run_to_success_moves_the_run_task_and_queue_series() -> None:
    registry, collector = process_registry()
    delta = Delta(registry)

    async def scenario() -> None:
        world = World()
        collector.controller = Workload.of(world.controller)
        world.controller.start()
        world.apply_dag()
        world.create_run("r1")
        await world.settle()
        running = generate_latest(registry).decode()
        assert f'kubedag_dagruns{{dag="etl",namespace="{NS}",state="running"}} 1.0' in running
        assert f'kubedag_task_instances{{namespace="{NS}",state="queued"}} 1.0' in running
        world.api.objects[pod_path("r1-a-1")]["status"] = {"phase": "Running"}
        world.finish_pod("r1-a-1")
        await world.settle()
        await world.controller.stop()

    run_async(scenario)
    assert delta("kubedag_dagrun_transitions_total", namespace=NS, state="running") == 1
    assert delta("kubedag_dagrun_transitions_total", namespace=NS, state="success") == 1
    assert delta("kubedag_dagrun_duration_seconds_count", namespace=NS, state="success") == 1
    assert delta("kubedag_task_transitions_total", namespace=NS, state="queued") == 1
    assert delta("kubedag_task_transitions_total", namespace=NS, state="success") == 1
    assert delta("kubedag_task_try_duration_seconds_count", namespace=NS, state="success") == 1
    assert delta("kubedag_workqueue_adds_total", queue="dagruns") >= 2
    assert delta("kubedag_workqueue_work_duration_seconds_count", queue="dagruns") >= 2
    assert delta("kubedag_workqueue_queue_duration_seconds_count", queue="dags") >= 1
    assert value(registry, "kubedag_dagruns", namespace=NS, dag="etl", state="success") == 1
    assert value(registry, "kubedag_workqueue_depth", queue="dagruns") == 0
    assert value(registry, "kubedag_cache_entries", cache="run_summaries") >= 1


def test_a_scheduled_run_created_late_observes_its_lag() -> None:
    registry, _ = process_registry()
    delta = Delta(registry)

    async def scenario() -> None:
        world = World()
        world.controller.start()
        world.apply_dag(schedule="@daily", startDate="2025-12-30")  # T0 is 2026-01-02 00:00
        await world.settle()
        await world.controller.stop()

    run_async(scenario)
    # Created at T0, for the days that ended 48, 24 and 0 hours before.
    assert delta("kubedag_scheduling_lag_seconds_count", namespace=NS) == 3
    assert delta("kubedag_scheduling_lag_seconds_sum", namespace=NS) == (48 + 24) * 3600


def test_a_pass_that_fails_counts_a_retry_and_logs_in_its_keys_scope() -> None:
    registry, _ = process_registry()
    delta = Delta(registry)
    scopes: list[LogScope] = []

    async def process(key: tuple[str, str]) -> datetime | None:
        scopes.append(SCOPE.get())
        raise RuntimeError("boom")

    def scope(key: tuple[str, str]) -> LogScope:
        return LogScope(key[0], dag="d", run=key[1])

    async def scenario() -> None:
        queue: WorkQueue[tuple[str, str]] = WorkQueue(
            "test-retries", process, workers=1, now=datetime.now, scope=scope, max_backoff=60
        )
        queue.start()
        queue.add(("ns", "r1"))
        assert queue.depth() == (1, 0)
        for _ in range(10):
            await asyncio.sleep(0)
        await queue.stop()

    run_async(scenario)
    assert scopes == [LogScope("ns", "d", run="r1")]
    assert SCOPE.get() == LogScope()  # reset after the pass
    assert delta("kubedag_workqueue_retries_total", queue="test-retries") == 1
    assert delta("kubedag_workqueue_adds_total", queue="test-retries") == 1


def test_a_standby_serves_its_process_metrics_and_leader_zero() -> None:
    registry, collector = process_registry()
    assert collector.controller is None
    kube_metrics.LEADER.set(0)
    text = generate_latest(registry).decode()
    assert "kubedag_leader 0.0" in text
    assert "process_resident_memory_bytes" in text
    assert "kubedag_cache_entries" in exported_names(registry)


def test_exported_names_carry_the_suffixes_prometheus_sees() -> None:
    names = exported_names(process_registry()[0])
    assert {
        "kubedag_dagrun_transitions_total",
        "kubedag_task_try_duration_seconds_bucket",
        "kubedag_scheduling_lag_seconds_count",
        "kubedag_kube_requests_total",
        "kubedag_workqueue_depth",
    } <= names
