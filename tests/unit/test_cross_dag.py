"""Between DAGs: which run a sensor looks at, how the states it sees map to its own, and the
engine's pass over triggerDagRun and externalTaskSensor tasks (Airflow's
TriggerDagRunOperator and ExternalTaskSensor)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubedag.core.cross_dag import (
    CrossDagView,
    ObservedRun,
    SensorTarget,
    TargetDag,
    TriggeredRun,
    Verdict,
    access_refused,
    matching_run,
    observed_state,
    parse_triggered_by,
    sensor_target,
    sensor_verdict,
    trigger_verdict,
    triggered_by,
)
from kubedag.core.run_engine import RunDecision, advance
from kubedag.core.schedule import DataInterval
from kubedag.core.validation import validate_dag
from kubedag.models.cross_dag import ExternalTaskSensorSpec, TriggerDagRunSpec
from kubedag.models.dagrun import DagRun, RunState, TaskState
from tests.unit.builders import T0, dag_spec, running_run, snapshot_of, task

D1 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = DataInterval(D1, D1 + timedelta(days=1))


def sensor(**fields: Any) -> ExternalTaskSensorSpec:
    return ExternalTaskSensorSpec.model_validate({"dagName": "etl-a", **fields})


def trigger(**fields: Any) -> TriggerDagRunSpec:
    return TriggerDagRunSpec.model_validate({"dagName": "summary", **fields})


# Which run a sensor looks at ------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, SensorTarget("ns", "etl-a", None, D1)),
        ({"taskName": "load"}, SensorTarget("ns", "etl-a", "load", D1)),
        ({"executionDelta": "1h"}, SensorTarget("ns", "etl-a", None, D1 - timedelta(hours=1))),
        ({"executionDelta": "24h"}, SensorTarget("ns", "etl-a", None, D1 - timedelta(days=1))),
        ({"sameDataInterval": True}, SensorTarget("ns", "etl-a", None, None, DAY)),
        ({"namespace": "shared"}, SensorTarget("shared", "etl-a", None, D1)),
    ],
    ids=["same date", "a task", "1h earlier", "a day earlier", "same interval", "namespace"],
)
def test_sensor_target(fields: dict[str, Any], expected: SensorTarget) -> None:
    assert sensor_target(sensor(**fields), "ns", D1, DAY) == expected


def observed(name: str, logical: datetime | None, **fields: Any) -> ObservedRun:
    return ObservedRun(name=name, logical_date=logical, **fields)


SCHEDULED = observed("a-20260101-0000", D1, interval=DAY, created=D1 + timedelta(days=1))
MANUAL = observed(
    "a-manual-20260101-0000", D1, interval=DataInterval(D1 - timedelta(days=1), D1),
    created=D1 + timedelta(days=2),
)  # fmt: skip
OTHER_DAY = observed("a-20260102-0000", D1 + timedelta(days=1), interval=None)


@dataclass(frozen=True)
class Match:
    name: str
    runs: tuple[ObservedRun, ...]
    target: SensorTarget
    expected: str | None


MATCHES = [
    Match("none yet", (), SensorTarget("ns", "a", None, D1), None),
    Match("another date only", (OTHER_DAY,), SensorTarget("ns", "a", None, D1), None),
    Match("the run of that date", (SCHEDULED, OTHER_DAY), SensorTarget("ns", "a", None, D1),
          SCHEDULED.name),
    Match("of two runs of one date, the newest", (SCHEDULED, MANUAL),
          SensorTarget("ns", "a", None, D1), MANUAL.name),
    Match("same interval: by interval, not date", (MANUAL, SCHEDULED),
          SensorTarget("ns", "a", None, None, DAY), SCHEDULED.name),
    Match("same interval: none has it", (OTHER_DAY,),
          SensorTarget("ns", "a", None, None, DAY), None),
]  # fmt: skip


@pytest.mark.parametrize("case", MATCHES, ids=lambda c: c.name)
def test_matching_run(case: Match) -> None:
    found = matching_run(case.runs, case.target)
    assert (found.name if found else None) == case.expected


# What a sensor sees, and what it makes of it ---------------------------------------------


@pytest.mark.parametrize(
    ("run", "task", "expected"),
    [
        (None, None, None),
        (observed("r", D1), None, "queued"),  # not pinned yet
        (observed("r", D1, state=RunState.RUNNING), None, "running"),
        (observed("r", D1, state=RunState.SUCCESS, pending_request=True), None, None),
        (observed("r", D1), "load", "none"),
        (observed("r", D1, state=RunState.RUNNING, task_states={}), "load", None),
        (observed("r", D1, state=RunState.RUNNING, task_states={"load": TaskState.SKIPPED}),
         "load", "skipped"),
    ],
    ids=["no run", "not pinned", "running", "request waiting", "task of an unpinned run",
         "run without the task", "task state"],
)  # fmt: skip
def test_observed_state(run: ObservedRun | None, task: str | None, expected: str | None) -> None:
    assert observed_state(run, task) == expected


@pytest.mark.parametrize(
    ("fields", "state", "expected"),
    [
        ({}, None, Verdict.WAIT),
        ({}, "running", Verdict.WAIT),
        ({}, "success", Verdict.SUCCESS),
        ({}, "failed", Verdict.WAIT),  # failedStates default to none, as in Airflow
        ({"failedStates": ["failed"]}, "failed", Verdict.FAIL),
        ({"failedStates": ["failed"], "softFail": True}, "failed", Verdict.SKIP),
        ({"skippedStates": ["skipped"]}, "skipped", Verdict.SKIP),
        ({"allowedStates": ["success", "skipped"]}, "skipped", Verdict.SUCCESS),
        ({"allowedStates": ["failed"], "failedStates": ["success"]}, "failed", Verdict.SUCCESS),
        ({"allowedStates": ["failed"], "failedStates": ["success"]}, "success", Verdict.FAIL),
        ({"taskName": "t", "failedStates": ["upstream_failed"]}, "upstream_failed", Verdict.FAIL),
    ],
)
def test_sensor_verdict(fields: dict[str, Any], state: str | None, expected: Verdict) -> None:
    assert sensor_verdict(sensor(**fields), state) is expected


@pytest.mark.parametrize(
    ("fields", "state", "pending", "expected"),
    [
        ({}, RunState.RUNNING, False, Verdict.WAIT),
        ({}, RunState.SUCCESS, False, Verdict.SUCCESS),
        ({}, RunState.FAILED, False, Verdict.FAIL),
        ({}, RunState.SUCCESS, True, Verdict.WAIT),  # cleared, not applied yet
        ({"failedStates": []}, RunState.FAILED, False, Verdict.WAIT),
        ({"allowedStates": ["success", "failed"], "failedStates": []}, RunState.FAILED, False,
         Verdict.SUCCESS),
        ({"allowedStates": ["running"]}, RunState.RUNNING, False, Verdict.SUCCESS),
    ],
)  # fmt: skip
def test_trigger_verdict(
    fields: dict[str, Any], state: RunState, pending: bool, expected: Verdict
) -> None:
    run = observed("summary-manual-20260101-0000", D1, state=state, pending_request=pending)
    assert trigger_verdict(trigger(**fields), run) is expected


@pytest.mark.parametrize(
    ("own", "target", "allowed", "refused"),
    [
        ("etl", ("etl", "a"), (), False),
        ("team-b", ("etl", "a"), (), True),
        ("team-b", ("etl", "a"), ("team-c",), True),
        ("team-b", ("etl", "a"), ("team-b",), False),
        ("team-b", ("etl", "a"), ("*",), False),
    ],
)
def test_access_across_namespaces_only_where_the_target_allows(
    own: str, target: tuple[str, str], allowed: tuple[str, ...], refused: bool
) -> None:
    message = access_refused(
        own, target, TargetDag(external_namespaces=frozenset(allowed)), "watch"
    )
    assert (message is not None) is refused
    if message:
        assert "spec.externalNamespaces" in message and own in message


def test_triggered_by_round_trips_and_refuses_malformed_values() -> None:
    assert parse_triggered_by(triggered_by("ns", "run", "t", 2)) == (("ns", "run"), "t", 2)
    assert parse_triggered_by("ns/run/t") is None
    assert parse_triggered_by("ns/run/t/x") is None


# The engine's pass ----------------------------------------------------------------------

A = ("ns", "etl-a")
B = ("ns", "summary")


def trigger_task(name: str = "trigger", *deps: str, **fields: Any) -> dict[str, Any]:
    retries = {"retries": fields.pop("retries")} if "retries" in fields else {}
    spec = {"dagName": "summary", **fields}
    return {"name": name, "dependsOn": list(deps), "triggerDagRun": spec, **retries}


def sensor_task(name: str = "wait", *deps: str, **fields: Any) -> dict[str, Any]:
    retries = {"retries": fields.pop("retries")} if "retries" in fields else {}
    spec = {"dagName": "etl-a", **fields}
    return {"name": name, "dependsOn": list(deps), "externalTaskSensor": spec, **retries}


def view(*runs: ObservedRun, dag: tuple[str, str] = B, **fields: Any) -> CrossDagView:
    return CrossDagView(dags={dag: TargetDag(runs=runs)}, **fields)


def step(run: DagRun, *tasks: dict[str, Any], now: datetime = T0, **kwargs: Any) -> RunDecision:
    given = run.model_dump()
    decision = advance(run, snapshot_of(*tasks), pods={}, now=now, task_slots=4, **kwargs)
    assert run.model_dump() == given, "advance changed the run it was given"
    run.status = decision.status
    return decision


def record(decision: RunDecision, name: str) -> Any:
    return next(r for r in decision.status.tasks if r.name == name)


def test_trigger_creates_a_manual_run_of_its_logical_date_and_records_it_as_outputs() -> None:
    tasks = [trigger_task(logicalDate="{{ logical_date }}", conf={"day": "{{ ds }}"}),
             task("after", "trigger")]  # fmt: skip
    run = running_run(snapshot_of(*tasks))
    decision = step(run, *tasks, cross_dag=view())
    assert [(t.namespace, t.dag, t.name, t.logical_date, t.conf, t.triggered_by)
            for t in decision.cross_dag.runs_to_trigger] == [
        ("ns", "summary", "summary-manual-20260101-0000", D1, {"day": "2026-01-01"},
         "ns/etl-20260101-0000/trigger/1"),
    ]  # fmt: skip
    done = record(decision, "trigger")
    assert (done.state, done.try_number, done.pod) == (TaskState.SUCCESS, 1, None)
    assert done.outputs == {
        "trigger_run_id": "summary-manual-20260101-0000",
        "trigger_dag_id": "summary",
        "trigger_namespace": "ns",
        "trigger_logical_date_iso": "2026-01-01T00:00:00Z",
    }
    # No slot taken: the downstream task's pod goes out in the same pass.
    assert [launch.task.name for launch in decision.pods_to_create] == ["after"]


def test_trigger_without_a_logical_date_takes_the_trigger_time() -> None:
    tasks = [trigger_task()]
    decision = step(running_run(snapshot_of(*tasks)), *tasks, cross_dag=view())
    [created] = decision.cross_dag.runs_to_trigger
    assert (created.logical_date, created.name) == (T0, "summary-manual-20260102-0000")


EXISTING = observed("summary-20260101-0000", D1, state=RunState.SUCCESS)


@pytest.mark.parametrize(
    ("fields", "state", "message"),
    [
        ({}, TaskState.FAILED, "a run of DAG summary for 2026-01-01T00:00:00Z exists already"
         " (summary-20260101-0000): set triggerDagRun.resetDagRun"),
        ({"skipWhenAlreadyExists": True}, TaskState.SKIPPED, "exists already"),
        ({"resetDagRun": True}, TaskState.SUCCESS, "triggered run summary-20260101-0000"),
    ],
    ids=["fails", "skips", "resets"],
)  # fmt: skip
def test_a_run_of_that_date_exists_already(
    fields: dict[str, Any], state: TaskState, message: str
) -> None:
    tasks = [trigger_task(logicalDate="{{ ds }}", retries=3, **fields)]
    decision = step(running_run(snapshot_of(*tasks)), *tasks, cross_dag=view(EXISTING))
    done = record(decision, "trigger")
    assert done.state is state  # failed outright: a retry would meet the same run
    assert message in (done.message or "")
    assert decision.cross_dag.runs_to_trigger == []
    resets = [(r.name, r.request_id) for r in decision.cross_dag.runs_to_reset]
    expected = [("summary-20260101-0000", "trigger/ns/etl-20260101-0000/trigger/1")]
    assert resets == (expected if fields.get("resetDagRun") else [])


def test_waiting_for_completion_defers_until_the_triggered_run_ends() -> None:
    tasks = [trigger_task(logicalDate="{{ ds }}", waitForCompletion=True), task("after", "trigger")]
    run = running_run(snapshot_of(*tasks))
    first = step(run, *tasks, cross_dag=view())
    waiting = record(first, "trigger")
    assert waiting.state is TaskState.DEFERRED
    assert waiting.message == (
        "waiting for run summary-manual-20260101-0000 of DAG summary to be [success]: not seen yet"
    )
    assert first.pods_to_create == [] and first.requeue_at is None  # nothing polls
    name = "summary-manual-20260101-0000"
    running = step(run, *tasks, cross_dag=view(observed(name, D1, state=RunState.RUNNING)))
    assert record(running, "trigger").message.endswith(": running")  # type: ignore[union-attr]
    done = step(run, *tasks, cross_dag=view(observed(name, D1, state=RunState.SUCCESS)))
    assert record(done, "trigger").state is TaskState.SUCCESS
    assert [launch.task.name for launch in done.pods_to_create] == ["after"]


def test_a_triggered_run_that_fails_fails_the_task_without_retries() -> None:
    tasks = [trigger_task(logicalDate="{{ ds }}", waitForCompletion=True, retries=2)]
    run = running_run(snapshot_of(*tasks))
    step(run, *tasks, cross_dag=view())
    name = "summary-manual-20260101-0000"
    decision = step(run, *tasks, cross_dag=view(observed(name, D1, state=RunState.FAILED)))
    failed = record(decision, "trigger")
    assert failed.state is TaskState.FAILED
    assert failed.message == (
        f"triggered run {name} of DAG summary ended failed (failedStates [failed])"
    )
    assert decision.status.state is RunState.FAILED


def test_a_try_finds_the_run_it_created_before_its_status_was_written() -> None:
    tasks = [trigger_task()]
    run = running_run(snapshot_of(*tasks))
    mine = observed("summary-manual-20260102-0000", T0, state=RunState.QUEUED)
    later = T0 + timedelta(seconds=5)
    decision = step(
        run, *tasks, now=later,
        cross_dag=view(mine, triggered={"trigger": TriggeredRun("ns", mine.name, 1)}),
    )  # fmt: skip
    assert decision.cross_dag.runs_to_trigger == []
    assert record(decision, "trigger").outputs["trigger_run_id"] == mine.name


@pytest.mark.parametrize(
    ("dags", "message"),
    [
        ({}, "DAG summary not found in namespace ns"),
        ({("ns", "summary"): TargetDag()}, "a DAG cannot trigger itself"),
    ],
    ids=["missing DAG", "itself at its own date"],
)
def test_trigger_refusals(dags: dict[tuple[str, str], TargetDag], message: str) -> None:
    tasks = [trigger_task(logicalDate="{{ logical_date }}")]
    run = running_run(snapshot_of(*tasks))
    if dags:  # the run's own DAG is `etl`: make it trigger itself
        tasks = [
            {"name": "trigger", "triggerDagRun": {"dagName": "etl", "logicalDate": "{{ ds }}"}}
        ]
        dags = {("ns", "etl"): TargetDag()}
    decision = step(run, *tasks, cross_dag=CrossDagView(dags=dags))
    done = record(decision, "trigger")
    assert done.state is TaskState.FAILED and message in (done.message or "")


def test_a_bad_logical_date_template_fails_the_task_without_retries() -> None:
    tasks = [trigger_task(logicalDate="{{ ds }}x", retries=2)]
    decision = step(running_run(snapshot_of(*tasks)), *tasks, cross_dag=view())
    done = record(decision, "trigger")
    assert done.state is TaskState.FAILED
    assert "template error: triggerDagRun.logicalDate rendered '2026-01-01x'" in (
        done.message or ""
    )


def test_sensor_waits_deferred_and_says_for_what_then_succeeds() -> None:
    tasks = [sensor_task(taskName="load"), task("report", "wait")]
    run = running_run(snapshot_of(*tasks))
    first = step(run, *tasks, cross_dag=view(dag=A))
    waiting = record(first, "wait")
    assert waiting.state is TaskState.DEFERRED and waiting.pod is None
    assert waiting.message == (
        "waiting for DAG etl-a run of 2026-01-01T00:00:00Z (task load): none yet"
    )
    assert first.requeue_at == T0 + timedelta(days=7)  # only its timeout wakes it by time
    target = observed("etl-a-20260101-0000", D1, state=RunState.RUNNING,
                      task_states={"load": TaskState.RUNNING})  # fmt: skip
    second = step(run, *tasks, cross_dag=view(target, dag=A))
    assert record(second, "wait").message.endswith(  # type: ignore[union-attr]
        ": run etl-a-20260101-0000 is running"
    )
    target = observed("etl-a-20260101-0000", D1, state=RunState.RUNNING,
                      task_states={"load": TaskState.SUCCESS})  # fmt: skip
    done = step(run, *tasks, cross_dag=view(target, dag=A))
    assert record(done, "wait").state is TaskState.SUCCESS
    assert [launch.task.name for launch in done.pods_to_create] == ["report"]


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        ({"timeout": "10m"}, TaskState.FAILED),
        ({"timeout": "10m", "softFail": True}, TaskState.SKIPPED),
    ],
    ids=["fails", "soft fail skips"],
)
def test_sensor_times_out_without_retries(fields: dict[str, Any], state: TaskState) -> None:
    tasks = [sensor_task(**fields, retries=3)]
    run = running_run(snapshot_of(*tasks))
    first = step(run, *tasks, cross_dag=view(dag=A))
    assert first.requeue_at == T0 + timedelta(minutes=10)
    done = step(run, *tasks, now=T0 + timedelta(minutes=10), cross_dag=view(dag=A))
    timed_out = record(done, "wait")
    assert timed_out.state is state
    assert timed_out.message == (
        "timed out after 10m waiting for DAG etl-a run of 2026-01-01T00:00:00Z: none yet"
    )


def test_sensor_on_a_namespace_that_does_not_allow_it_fails_naming_the_field() -> None:
    tasks = [sensor_task(namespace="team-a")]
    run = running_run(snapshot_of(*tasks))
    decision = step(run, *tasks, cross_dag=view(dag=("team-a", "etl-a")))
    done = record(decision, "wait")
    assert done.state is TaskState.FAILED
    assert "does not let namespace ns watch it" in (done.message or "")


def test_a_paused_dag_freezes_its_deferred_sensors() -> None:
    tasks = [sensor_task()]
    run = running_run(snapshot_of(*tasks))
    step(run, *tasks, cross_dag=view(dag=A))
    target = observed("etl-a-20260101-0000", D1, state=RunState.SUCCESS)
    frozen = step(run, *tasks, cross_dag=view(target, dag=A), frozen=True)
    assert record(frozen, "wait").state is TaskState.DEFERRED


# Validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ([{"name": "again", "triggerDagRun": {"dagName": "etl", "logicalDate": "{{ ds }}"}}],
         "task 'again' triggerDagRun.dagName 'etl' with logicalDate '{{ ds }}': a DAG cannot"
         " trigger itself at its own run's logical date"),
        ([{"name": "self", "externalTaskSensor": {"dagName": "etl"}}],
         "task 'self' externalTaskSensor.dagName 'etl': a sensor cannot wait for its own run"),
        ([trigger_task(logicalDate="{{ dss }}")],
         "task 'trigger' triggerDagRun.logicalDate: 'dss' is undefined"),
        ([trigger_task(logicalDate="tomorrow")],
         "task 'trigger' triggerDagRun.logicalDate 'tomorrow' renders 'tomorrow': expected an"
         " RFC 3339 time or a date"),
        ([trigger_task(conf={"a": {"b": ["{{ nope }}"]}})],
         "task 'trigger' triggerDagRun.conf.a.b[0]: 'nope' is undefined"),
    ],
    ids=["trigger itself", "sensor on itself", "unknown variable", "not a date", "conf"],
)  # fmt: skip
def test_validation_names_the_field_and_value(tasks: list[dict[str, Any]], message: str) -> None:
    problems = validate_dag("etl", dag_spec(*tasks))
    assert any(message in p.message for p in problems), problems


def test_valid_cross_dag_tasks_need_no_image() -> None:
    spec = dag_spec(
        {"name": "again", "triggerDagRun": {"dagName": "etl", "logicalDate": "{{ next_ds }}"}},
        {"name": "yesterday", "externalTaskSensor": {"dagName": "etl", "executionDelta": "24h"}},
        sensor_task(taskName="load", allowedStates=["success", "skipped"]),
        schedule="@daily",
        startDate="2026-01-01",
    )
    assert validate_dag("etl", spec) == []


def test_a_trigger_scheduled_by_an_earlier_pass_starts_on_a_copy_of_its_record() -> None:
    tasks = [trigger_task()]
    run = running_run(snapshot_of(*tasks))
    scheduled = run.status.tasks[0].model_copy(update={"state": TaskState.SCHEDULED})
    run.status = run.status.model_copy(update={"tasks": [scheduled]})
    decision = step(run, *tasks, cross_dag=view())  # step asserts the run given is unchanged
    assert record(decision, "trigger").try_number == 1  # started: it triggered its run
    assert scheduled.state is TaskState.SCHEDULED and scheduled.try_number == 0
