"""The run engine, pass by pass: what it creates, records and decides, with no cluster."""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubedag.core.naming import pod_name
from kubedag.core.pod_observation import PodObservation
from kubedag.core.run_engine import (
    RunDecision,
    advance,
    launch_failed,
    run_dates,
)
from kubedag.core.snapshot import Snapshot
from kubedag.core.tries import archive_try, earlier_tries_limit
from kubedag.core.write_timing import only_tasks_started
from kubedag.manifests import render
from kubedag.models.dagrun import DagRun, RunState, TaskRecord, TaskState
from tests.unit.builders import T0, pod, running_run, snapshot_of, task

PodMap = Mapping[str, PodObservation]


def states(decision: RunDecision) -> dict[str, str]:
    return {r.name: r.state.value for r in decision.status.tasks}


def created(decision: RunDecision) -> list[str]:
    return [launch.pod_name for launch in decision.pods_to_create]


def manifests(decision: RunDecision, run: DagRun) -> list[dict[str, Any]]:
    """The pods the controller makes of the decision's launches (manifests.render)."""
    owner = render.owner_reference("DagRun", run.name, str(run.metadata["uid"]))
    return [
        render.task_pod(launch, namespace=run.namespace, owner=owner)
        for launch in decision.pods_to_create
    ]


class Driver:
    """Feeds the engine's output back in as the next pass's input, as the controller does."""

    def __init__(self, snapshot: Snapshot, run: DagRun | None = None, slots: int = 16) -> None:
        self.snapshot = snapshot
        self.run = run or running_run(snapshot)
        self.slots = slots
        self.now = T0

    def step(
        self, pods: PodMap | None = None, *, after: timedelta = timedelta(0), frozen: bool = False
    ) -> RunDecision:
        self.now += after
        given = self.run.model_dump()
        decision = advance(
            self.run,
            self.snapshot,
            pods=pods or {},
            now=self.now,
            task_slots=self.slots,
            frozen=frozen,
        )
        # The controller's caches hand their runs to the engine: it must never change one.
        assert self.run.model_dump() == given, "advance changed the run it was given"
        self.run = self.run.model_copy(update={"status": decision.status})
        return decision

    def pod_of(self, task_name: str) -> str:
        record = next(r for r in self.run.status.tasks if r.name == task_name)
        assert record.pod is not None
        return record.pod


def test_chain_runs_one_task_after_another_and_succeeds() -> None:
    d = Driver(snapshot_of(task("a"), task("b", "a"), task("c", "b")))
    first = d.step()
    assert created(first) == ["etl-20260101-0000-a-1"]
    assert states(first) == {"a": "queued", "b": "none", "c": "none"}
    assert first.status.progress == "0/3"

    second = d.step({d.pod_of("a"): pod(d.pod_of("a"), "Running", started=d.now)})
    assert created(second) == []
    assert states(second)["a"] == "running"

    third = d.step({d.pod_of("a"): pod(d.pod_of("a"), "Succeeded", 0)}, after=timedelta(seconds=5))
    assert created(third) == ["etl-20260101-0000-b-1"]
    assert states(third) == {"a": "success", "b": "queued", "c": "none"}

    fourth = d.step({d.pod_of("b"): pod(d.pod_of("b"), "Succeeded", 0)})
    assert created(fourth) == ["etl-20260101-0000-c-1"]
    last = d.step({d.pod_of("c"): pod(d.pod_of("c"), "Succeeded", 0)}, after=timedelta(seconds=5))
    assert last.status.state is RunState.SUCCESS
    assert last.status.progress == "3/3"
    assert last.status.end_time == d.now
    assert last.status.duration == "10s"
    assert [c.reason for c in last.status.conditions] == ["Succeeded"]
    assert last.requeue_at is None
    assert any(e.reason == "RunSucceeded" for e in last.events)


def test_branch_starts_both_downstream_tasks_together() -> None:
    d = Driver(
        snapshot_of(task("extract"), task("transform", "extract"), task("report", "extract"))
    )
    d.step()
    decision = d.step({d.pod_of("extract"): pod(d.pod_of("extract"), "Succeeded", 0)})
    assert sorted(created(decision)) == [
        "etl-20260101-0000-report-1",
        "etl-20260101-0000-transform-1",
    ]


def test_pod_manifest_carries_labels_owner_env_and_rendered_args() -> None:
    snap = snapshot_of(
        task("a", args=["--date={{ ds }}", "{{ params.table }}"]), params={"table": "sales"}
    )
    driver = Driver(snap)
    manifest = manifests(driver.step(), driver.run)[0]
    assert manifest["metadata"]["labels"] == {
        "kubedag.io/dag": "etl",
        "kubedag.io/dagrun": "etl-20260101-0000",
        "kubedag.io/task": "a",
        "kubedag.io/try": "1",
        "app.kubernetes.io/managed-by": "kubedag",
        "kubedag.io/pool": "default-pool",
        "kubedag.io/pool-slots": "1",
    }
    assert manifest["metadata"]["ownerReferences"][0]["uid"] == "run-uid"
    assert manifest["spec"]["restartPolicy"] == "Never"
    container = manifest["spec"]["containers"][0]
    assert container["args"] == ["--date=2026-01-01", "sales"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["KUBEDAG_LOGICAL_DATE"] == "2026-01-01T00:00:00Z"
    assert env["KUBEDAG_DATA_INTERVAL_END"] == "2026-01-02T00:00:00Z"
    assert env["KUBEDAG_TRY_NUMBER"] == "1"
    assert env["KUBEDAG_RUN_ID"] == "etl-20260101-0000"


def test_conf_overrides_params_in_templates() -> None:
    snap = snapshot_of(task("a", args=["{{ params.table }}"]), params={"table": "sales"})
    d = Driver(snap, running_run(snap, conf={"table": "refunds"}))
    assert manifests(d.step(), d.run)[0]["spec"]["containers"][0]["args"] == ["refunds"]


def test_airflow_2_dates_in_templates_follow_the_pinned_schedule() -> None:
    """A scheduled run of 1 January of a daily DAG: prev_ds is 31 December, next_ds
    2 January, execution_date the logical date, dag_run.start_date when the run started."""
    args = ["{{ prev_ds }}", "{{ next_ds }}", "{{ execution_date }}", "{{ dag_run.start_date }}"]
    snap = snapshot_of(task("a", args=args), schedule="@daily", startDate="2025-01-01")
    driver = Driver(snap)
    assert manifests(driver.step(), driver.run)[0]["spec"]["containers"][0]["args"] == [
        "2025-12-31",
        "2026-01-02",
        "2026-01-01T00:00:00+00:00",
        "2026-01-02T00:00:00+00:00",
    ]


def test_task_slots_bound_new_pods_and_declaration_order_wins() -> None:
    d = Driver(snapshot_of(task("a"), task("b"), task("c")), slots=2)
    decision = d.step()
    assert created(decision) == ["etl-20260101-0000-a-1", "etl-20260101-0000-b-1"]
    assert states(decision)["c"] == "scheduled"


def test_no_slots_means_no_pods_but_tasks_stay_scheduled() -> None:
    decision = Driver(snapshot_of(task("a")), slots=0).step()
    assert created(decision) == []
    assert states(decision) == {"a": "scheduled"}


def test_failed_try_is_retried_after_the_delay_then_fails_the_run() -> None:
    d = Driver(snapshot_of(task("a", retries=1, retryDelay="1m")))
    d.step()
    failed = d.step({d.pod_of("a"): pod(d.pod_of("a"), "Failed", 3, reason="Error")})
    record = failed.status.tasks[0]
    assert record.state is TaskState.UP_FOR_RETRY
    assert record.exit_code == 3
    assert record.retry_at == d.now + timedelta(minutes=1)
    assert failed.requeue_at == record.retry_at
    assert [e.reason for e in failed.events] == ["TaskRetry"]

    early = d.step(after=timedelta(seconds=59))
    assert created(early) == []
    assert states(early) == {"a": "up_for_retry"}

    retry = d.step(after=timedelta(seconds=1))
    assert created(retry) == ["etl-20260101-0000-a-2"]
    assert retry.status.tasks[0].try_number == 2
    assert retry.status.tasks[0].exit_code is None
    # The first try's outcome stays in the record, for when its pod is gone.
    assert [t.to_wire() for t in retry.status.tasks[0].tries or []] == [
        {
            "try": 1,
            "state": "failed",
            "exitCode": 3,
            "started": "2026-01-02T00:00:00Z",
            "finished": "2026-01-02T00:00:00Z",
            "pod": "etl-20260101-0000-a-1",
        }
    ]

    final = d.step({d.pod_of("a"): pod(d.pod_of("a"), "Failed", 1)})
    assert states(final) == {"a": "failed"}
    assert final.status.state is RunState.FAILED
    assert "task a failed" in final.status.conditions[0].message
    assert {e.reason for e in final.events} == {"TaskFailed", "RunFailed"}


def test_exponential_backoff_grows_and_is_capped() -> None:
    snap = snapshot_of(
        task("a", retries=5, retryDelay="10s", retryExponentialBackoff=True, maxRetryDelay="30s")
    )
    d = Driver(snap)
    d.step()
    waits = []
    for _ in range(4):
        decision = d.step({d.pod_of("a"): pod(d.pod_of("a"), "Failed", 1)})
        record = decision.status.tasks[0]
        assert record.retry_at is not None
        waits.append((record.retry_at - d.now).total_seconds())
        d.step(after=record.retry_at - d.now)
    assert 10 <= waits[0] < 20
    assert 20 <= waits[1] < 40
    assert waits[2] == 30 and waits[3] == 30


def test_exit_code_99_skips_the_task_and_its_all_success_downstream() -> None:
    d = Driver(snapshot_of(task("a"), task("b", "a"), task("c", "b", triggerRule="all_done")))
    d.step()
    decision = d.step({d.pod_of("a"): pod(d.pod_of("a"), "Failed", 99)})
    assert states(decision) == {"a": "skipped", "b": "skipped", "c": "scheduled"} or states(
        decision
    ) == {"a": "skipped", "b": "skipped", "c": "queued"}
    assert created(decision) == ["etl-20260101-0000-c-1"]
    done = d.step({d.pod_of("c"): pod(d.pod_of("c"), "Succeeded", 0)})
    assert done.status.state is RunState.SUCCESS


def test_diamond_with_trigger_rules_after_a_failure() -> None:
    # a -> (b, c) -> join(all_done) ; a -> (b, c) -> alert(one_failed) ; strict(all_success)
    d = Driver(
        snapshot_of(
            task("a"),
            task("b", "a"),
            task("c", "a"),
            task("join", "b", "c", triggerRule="all_done"),
            task("alert", "b", "c", triggerRule="one_failed"),
            task("strict", "b", "c"),
            task("cleanup", "join", "alert", "strict", triggerRule="none_failed_min_one_success"),
        )
    )
    d.step()
    d.step({d.pod_of("a"): pod(d.pod_of("a"), "Succeeded", 0)})
    decision = d.step({d.pod_of("b"): pod(d.pod_of("b"), "Failed", 1)})
    assert states(decision)["alert"] == "queued"  # one_failed fires before c is done
    assert states(decision)["strict"] == "upstream_failed"
    assert states(decision)["join"] == "none"
    decision = d.step(
        {
            d.pod_of("c"): pod(d.pod_of("c"), "Succeeded", 0),
            d.pod_of("alert"): pod(d.pod_of("alert"), "Succeeded", 0),
        }
    )
    assert states(decision)["join"] == "queued"
    decision = d.step({d.pod_of("join"): pod(d.pod_of("join"), "Succeeded", 0)})
    # strict failed upstream, so none_failed_min_one_success marks cleanup upstream_failed
    assert states(decision)["cleanup"] == "upstream_failed"
    assert decision.status.state is RunState.FAILED
    assert "cleanup upstream_failed" in decision.status.conditions[0].message


def test_a_failed_inner_task_does_not_fail_the_run_when_the_leaf_succeeds() -> None:
    d = Driver(snapshot_of(task("a"), task("b", "a", triggerRule="all_done")))
    d.step()
    d.step({d.pod_of("a"): pod(d.pod_of("a"), "Failed", 1)})
    final = d.step({d.pod_of("b"): pod(d.pod_of("b"), "Succeeded", 0)})
    assert final.status.state is RunState.SUCCESS


def test_always_runs_without_waiting_for_upstream() -> None:
    decision = Driver(snapshot_of(task("a"), task("b", "a", triggerRule="always"))).step()
    assert sorted(created(decision)) == ["etl-20260101-0000-a-1", "etl-20260101-0000-b-1"]


def test_execution_timeout_deletes_the_pod_and_fails_the_try_even_when_pending() -> None:
    d = Driver(snapshot_of(task("a", executionTimeout="5m", retries=1, retryDelay="10s")))
    first = d.step()
    assert first.requeue_at == T0 + timedelta(minutes=5)
    name = d.pod_of("a")
    waiting = d.step(
        {name: pod(name, "Pending", reason="ImagePullBackOff")}, after=timedelta(minutes=4)
    )
    assert waiting.status.tasks[0].message == "ImagePullBackOff"
    assert waiting.pods_to_delete == []
    timed_out = d.step({name: pod(name, "Pending")}, after=timedelta(minutes=1))
    assert timed_out.pods_to_delete == [name]
    record = timed_out.status.tasks[0]
    assert record.state is TaskState.UP_FOR_RETRY
    assert "execution timeout of 5m exceeded" in (record.message or "")
    retry = d.step(after=timedelta(seconds=10))
    assert created(retry) == ["etl-20260101-0000-a-2"]


def test_a_pod_that_disappears_counts_as_a_failed_try() -> None:
    d = Driver(snapshot_of(task("a")))
    d.step()
    decision = d.step({d.pod_of("a"): PodObservation.gone(d.pod_of("a"))})
    assert states(decision) == {"a": "failed"}
    assert "disappeared" in (decision.status.tasks[0].message or "")
    assert decision.status.state is RunState.FAILED


def test_an_evicted_pod_counts_as_a_failed_try() -> None:
    d = Driver(snapshot_of(task("a", retries=2, retryDelay="1m")))
    d.step()
    decision = d.step(
        {d.pod_of("a"): pod(d.pod_of("a"), "Failed", None, reason="Evicted: low memory")}
    )
    assert states(decision) == {"a": "up_for_retry"}
    assert decision.status.tasks[0].message == "Evicted: low memory"


def test_a_pod_not_yet_seen_changes_nothing() -> None:
    d = Driver(snapshot_of(task("a")))
    d.step()
    again = d.step(after=timedelta(minutes=10))
    assert states(again) == {"a": "queued"}
    assert created(again) == []


def test_template_error_fails_the_task_without_a_pod() -> None:
    d = Driver(snapshot_of(task("a", args=["{{ params.missing }}"]), task("b", "a")))
    decision = d.step()
    assert created(decision) == []
    assert states(decision) == {"a": "failed", "b": "upstream_failed"}
    assert "template error" in (decision.status.tasks[0].message or "")
    assert "missing" in (decision.status.tasks[0].message or "")
    assert decision.status.state is RunState.FAILED


def test_dagrun_timeout_fails_the_run_and_stops_its_pods() -> None:
    d = Driver(snapshot_of(task("a"), task("b", "a"), dagrunTimeout="1h"))
    first = d.step()
    assert first.requeue_at == T0 + timedelta(hours=1)
    decision = d.step(after=timedelta(hours=1))
    assert decision.pods_to_delete == ["etl-20260101-0000-a-1"]
    assert states(decision) == {"a": "skipped", "b": "skipped"}
    assert decision.status.state is RunState.FAILED
    assert decision.status.conditions[0].reason == "DagRunTimeout"


def test_a_repeated_pass_after_a_lost_status_write_recreates_the_same_pod_names() -> None:
    snap = snapshot_of(task("a"), task("b"))
    run = running_run(snap)
    one = advance(run, snap, pods={}, now=T0, task_slots=16)
    two = advance(run, snap, pods={}, now=T0 + timedelta(seconds=3), task_slots=16)
    assert created(one) == created(two)


def test_only_running_runs_advance() -> None:
    snap = snapshot_of(task("a"))
    run = running_run(snap)
    run.status.state = RunState.QUEUED
    decision = advance(run, snap, pods={}, now=T0, task_slots=16)
    assert created(decision) == []


def test_refused_pod_creation_is_a_failed_try() -> None:
    snap = snapshot_of(task("a", retries=1, retryDelay="30s"), task("b"))
    run = running_run(snap)
    decision = advance(run, snap, pods={}, now=T0, task_slots=16)
    launch_failed(run, snap, decision, {"a": "pod rejected: bad volume"}, T0)
    assert created(decision) == ["etl-20260101-0000-b-1"]
    record = decision.status.tasks[0]
    assert record.state is TaskState.UP_FOR_RETRY
    assert record.message == "pod rejected: bad volume"
    assert decision.requeue_at == T0 + timedelta(seconds=30)


@pytest.mark.parametrize("count", [2000])
def test_status_of_a_large_run_stays_compact(count: int) -> None:
    snap = snapshot_of(*(task(f"task-{i:04d}") for i in range(count)))
    d = Driver(snap, slots=count)
    d.step()
    pods = {
        d.pod_of(f"task-{i:04d}"): pod(d.pod_of(f"task-{i:04d}"), "Succeeded", 0)
        for i in range(count)
    }
    final = d.step(pods)
    assert final.status.state is RunState.SUCCESS
    size = len(final.status.model_dump_json(by_alias=True, exclude_none=True))
    assert size < 512 * 1024, size


def test_a_large_run_whose_every_task_was_retried_stays_below_etcd_s_limit() -> None:
    """Four tries of each of 2,000 tasks, with the times and pod names the engine records."""
    count = 2000
    d = Driver(snapshot_of(task("a")))
    records = []
    for i in range(count):
        record = TaskRecord(name=f"task-{i:04d}")
        for number in range(1, 5):
            archive_try(record, keep=earlier_tries_limit(count))
            record.try_number, record.state, record.exit_code = number, TaskState.FAILED, 1
            record.pod = pod_name(d.run.name, record.name, number)
            record.queued_at = record.started = record.finished = T0 + timedelta(seconds=i)
        records.append(record)
    status = d.run.status.model_copy(update={"tasks": records})
    assert [t.try_number for t in records[0].tries or []] == [2, 3]
    size = len(status.model_dump_json(by_alias=True, exclude_none=True))
    assert size < 1024 * 1024, size


def test_a_task_without_an_account_runs_tokenless_as_the_namespace_default() -> None:
    snap = snapshot_of(task("a"), task("b", serviceAccountName="loader"))
    run = running_run(snap)
    decision = advance(run, snap, pods={}, now=T0, task_slots=16)
    accounts = {
        m["metadata"]["labels"]["kubedag.io/task"]: (
            m["spec"].get("serviceAccountName"),
            m["spec"].get("automountServiceAccountToken"),
        )
        for m in manifests(decision, run)
    }
    # A named account keeps its own token setting: the DAG asked for its rights.
    assert accounts == {"a": (None, False), "b": ("loader", None)}


@pytest.mark.parametrize(
    ("dag_fields", "run_spec", "expected"),
    [
        # A manual run of a daily DAG triggered at 01:00 on the 25th covers the 24th.
        (
            {"schedule": "@daily", "startDate": "2026-01-01"},
            {},
            ("2026-01-25T01:00:00", "2026-01-24T00:00:00", "2026-01-25T00:00:00"),
        ),
        # Triggered exactly at a tick: the interval that just ended.
        (
            {"schedule": "@daily", "startDate": "2026-01-01"},
            {"logicalDate": "2026-01-25T00:00:00Z"},
            ("2026-01-25T00:00:00", "2026-01-24T00:00:00", "2026-01-25T00:00:00"),
        ),
        # Ticks in the DAG's timezone: 06:00 Berlin is 05:00 UTC in winter.
        (
            {"schedule": "0 6 * * *", "timezone": "Europe/Berlin", "startDate": "2026-01-01"},
            {},
            ("2026-01-25T01:00:00", "2026-01-23T05:00:00", "2026-01-24T05:00:00"),
        ),
        # No schedule, or @once: the empty interval at the logical date.
        ({}, {}, ("2026-01-25T01:00:00", "2026-01-25T01:00:00", "2026-01-25T01:00:00")),
        (
            {"schedule": "@once", "startDate": "2026-01-01"},
            {},
            ("2026-01-25T01:00:00", "2026-01-25T01:00:00", "2026-01-25T01:00:00"),
        ),
        # Given in the spec: taken as is.
        (
            {"schedule": "@daily", "startDate": "2026-01-01"},
            {
                "logicalDate": "2026-01-03T00:00:00Z",
                "dataIntervalStart": "2026-01-03T00:00:00Z",
                "dataIntervalEnd": "2026-01-04T00:00:00Z",
            },
            ("2026-01-03T00:00:00", "2026-01-03T00:00:00", "2026-01-04T00:00:00"),
        ),
    ],
    ids=["daily", "at-a-tick", "timezone", "no-schedule", "once", "explicit"],
)
def test_run_dates_follow_airflows_manual_runs(
    dag_fields: dict[str, object], run_spec: dict[str, str], expected: tuple[str, str, str]
) -> None:
    snap = snapshot_of(task("a"), **dag_fields)
    run = DagRun.model_validate({"metadata": {"name": "r"}, "spec": {"dagName": "etl", **run_spec}})
    created = datetime(2026, 1, 25, 1, 0, tzinfo=UTC)
    logical, interval = run_dates(run, snap, created)
    as_text = tuple(
        t.astimezone(UTC).replace(tzinfo=None).isoformat()
        for t in (logical, interval.start, interval.end)
    )
    assert as_text == expected


def test_only_a_start_of_running_may_wait_for_the_next_write() -> None:
    d = Driver(snapshot_of(task("a"), task("b"), task("c", "a")))
    launched = d.step()
    assert not only_tasks_started(running_run(d.snapshot).status, launched.status)  # pods
    queued = d.run.status
    started = d.step({d.pod_of("a"): pod(d.pod_of("a"), "Running", started=d.now)})
    assert only_tasks_started(queued, started.status)
    both = d.step(
        {
            d.pod_of("a"): pod(d.pod_of("a"), "Running", started=d.now),
            d.pod_of("b"): pod(d.pod_of("b"), "Running", started=d.now),
        }
    )
    assert only_tasks_started(queued, both.status)
    assert not only_tasks_started(queued, queued)  # nothing new: nothing to write
    waiting = queued.model_copy(
        update={
            "tasks": [
                r.model_copy(update={"message": "ContainerCreating"}) if r.name == "b" else r
                for r in queued.tasks
            ]
        }
    )
    assert not only_tasks_started(queued, waiting)  # a reason to show at once
    finished = d.step({d.pod_of("a"): pod(d.pod_of("a"), "Succeeded", 0)})
    assert not only_tasks_started(both.status, finished.status)
    assert not only_tasks_started(queued, queued.model_copy(update={"progress": "1/3"}))
    assert not only_tasks_started(queued, queued.model_copy(update={"tasks": queued.tasks[:2]}))


def test_a_frozen_run_records_its_pods_but_starts_and_concludes_nothing() -> None:
    d = Driver(snapshot_of(task("a"), task("b", "a", retries=1)))
    d.step()
    a = d.pod_of("a")
    paused = d.step({a: pod(a, "Succeeded", 0)}, frozen=True)
    assert states(paused) == {"a": "success", "b": "none"}  # recorded, as the pod finished
    assert created(paused) == [] and paused.status.state is RunState.RUNNING
    assert d.step(frozen=True).pods_to_create == []  # however often it is looked at

    resumed = d.step()  # unpaused: exactly where it stopped
    assert created(resumed) == ["etl-20260101-0000-b-1"]
    b = d.pod_of("b")
    d.step({b: pod(b, "Failed", 1)}, frozen=True)
    frozen_retry = d.step(after=timedelta(hours=1), frozen=True)
    assert states(frozen_retry)["b"] == "up_for_retry" and created(frozen_retry) == []
    assert created(d.step()) == ["etl-20260101-0000-b-2"]
