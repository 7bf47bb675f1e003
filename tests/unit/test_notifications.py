"""Notifications and deadlines, decided from a run's change (old status -> new status):
which changes notify, their ids, de-duplication in the outbox, deadlines, and the payloads."""

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedag.core import outbox
from kubedag.core.deadlines import check_deadlines
from kubedag.core.notifications import event_id, transition_notifications
from kubedag.core.run_engine import advance
from kubedag.core.snapshot import build_snapshot
from kubedag.core.validation import validate_dag
from kubedag.manifests.notifications import RunFacts, slack_payload, webhook_payload
from kubedag.models.dag import DagSpec
from kubedag.models.dagrun import DagRunStatus, RunState, TaskRecord, TaskState
from kubedag.models.notifications import DeadlineMiss, Notification, NotificationEvent
from tests.unit.builders import T0, pod, running_run, snapshot_of, task

REPO = Path(__file__).resolve().parents[2]
HOOK = {"secretKeyRef": {"name": "hooks", "key": "url"}}
SLACK = {"type": "slack", "secretKeyRef": {"name": "hooks", "key": "slack"}}
NOTIFIED = {"onFailure": [HOOK], "onRetry": [HOOK], "onSuccess": [HOOK]}
SNAPSHOT = snapshot_of(
    task("a", **NOTIFIED),
    task("b", "a", onFailure=[HOOK, SLACK]),
    onRunFailure=[HOOK],
    onRunSuccess=[SLACK],
)
T1 = T0 + timedelta(minutes=1)


def status(run: RunState = RunState.RUNNING, **tasks: tuple[str, int]) -> DagRunStatus:
    """A run's status with the given tasks' (state, try); unnamed tasks are `none`."""
    records = [
        TaskRecord(name=name, state=TaskState(state), try_number=try_, finished=T1)
        for name, (state, try_) in tasks.items()
    ]
    names = {r.name for r in records}
    records += [TaskRecord(name=t.name) for t in SNAPSHOT.tasks if t.name not in names]
    return DagRunStatus(
        state=run, tasks=records, end_time=T1 if run.finished else None, start_time=T0
    )


@dataclass(frozen=True)
class Case:
    name: str
    old: DagRunStatus
    new: DagRunStatus
    expected: list[tuple[str, str | None, int | None, str]] = field(default_factory=list)
    """(event, task, try, notifier)"""


CASES = [
    Case("nothing changed", status(a=("running", 1)), status(a=("running", 1))),
    Case("a task starts", status(a=("queued", 1)), status(a=("running", 1))),
    Case(
        "a try fails with a retry left",
        status(a=("running", 1)),
        status(a=("up_for_retry", 1)),
        [("taskRetry", "a", 1, "onRetry[0]")],
    ),
    Case(
        "the retry fails for good",
        status(a=("running", 2)),
        status(a=("failed", 2)),
        [("taskFailure", "a", 2, "onFailure[0]")],
    ),
    Case(
        "a task with two notifiers fails",
        status(a=("success", 1), b=("running", 1)),
        status(a=("success", 1), b=("failed", 1)),
        [("taskFailure", "b", 1, "onFailure[0]"), ("taskFailure", "b", 1, "onFailure[1]")],
    ),
    Case(
        "a task without onSuccess succeeds",
        status(a=("success", 1), b=("running", 1)),
        status(a=("success", 1), b=("success", 1)),
    ),
    Case(
        "a task succeeds",
        status(a=("running", 1)),
        status(a=("success", 1)),
        [("taskSuccess", "a", 1, "onSuccess[0]")],
    ),
    Case(
        "upstream_failed and skipped notify nothing (as Airflow: no try ran)",
        status(a=("failed", 1), b=("none", 0)),
        status(a=("failed", 1), b=("upstream_failed", 0)),
    ),
    Case(
        "a cleared task fails again on a later try",
        status(a=("running", 3)),
        status(a=("failed", 3)),
        [("taskFailure", "a", 3, "onFailure[0]")],
    ),
    Case(
        "the run fails, with its last task",
        status(a=("success", 1), b=("running", 1)),
        status(RunState.FAILED, a=("success", 1), b=("failed", 1)),
        [
            ("taskFailure", "b", 1, "onFailure[0]"),
            ("taskFailure", "b", 1, "onFailure[1]"),
            ("runFailure", None, None, "onRunFailure[0]"),
        ],
    ),
    Case(
        "the run succeeds",
        status(a=("success", 1), b=("running", 1)),
        status(RunState.SUCCESS, a=("success", 1), b=("success", 1)),
        [("runSuccess", None, None, "onRunSuccess[0]")],
    ),
    Case(
        "a finished run seen again",
        status(RunState.FAILED, a=("failed", 1)),
        status(RunState.FAILED, a=("failed", 1)),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_which_changes_notify(case: Case) -> None:
    found = transition_notifications("uid-1", case.old, case.new, SNAPSHOT, T1)
    assert [(n.event.value, n.task, n.try_number, n.notifier) for n in found] == case.expected


def test_an_event_has_one_stable_id_for_all_its_notifiers() -> None:
    old, new = status(b=("running", 1)), status(b=("failed", 1))
    first = transition_notifications("uid-1", old, new, SNAPSHOT, T1)
    again = transition_notifications("uid-1", old, new, SNAPSHOT, T1 + timedelta(hours=1))
    assert [n.id for n in first] == [n.id for n in again]
    assert first[0].id == first[1].id == event_id("uid-1", NotificationEvent.TASK_FAILURE, "b", "1")
    # Another try, task, event or run: another id.
    assert (
        len(
            {
                event_id("uid-1", NotificationEvent.TASK_FAILURE, "b", "1"),
                event_id("uid-1", NotificationEvent.TASK_FAILURE, "b", "2"),
                event_id("uid-1", NotificationEvent.TASK_FAILURE, "a", "1"),
                event_id("uid-1", NotificationEvent.TASK_RETRY, "b", "1"),
                event_id("uid-2", NotificationEvent.TASK_FAILURE, "b", "1"),
            }
        )
        == 5
    )


def test_a_dag_without_notifiers_or_deadlines_costs_no_check() -> None:
    plain = snapshot_of(task("a"))
    assert not plain.notifies and SNAPSHOT.notifies
    old, new = status(a=("running", 1)), status(a=("failed", 1))
    assert outbox.decide("u", T0, old, new, plain, T1).status is new


def entry(id_: str, notifier: str = "onFailure[0]", **fields: Any) -> Notification:
    return Notification(
        id=id_, event=NotificationEvent.TASK_FAILURE, notifier=notifier, at=T0, **fields
    )


def test_the_outbox_adds_an_entry_once_and_keeps_every_pending_one_and_the_newest_sent() -> None:
    box = outbox.with_notifications([], [entry("1"), entry("1"), entry("1", "onFailure[1]")])
    assert [(n.id, n.notifier) for n in box] == [("1", "onFailure[0]"), ("1", "onFailure[1]")]
    assert outbox.with_notifications(box, [entry("1")]) == box
    delivered = [entry(str(i), delivered=T1) for i in range(outbox.MAX_SETTLED + 5)]
    waiting = [entry(f"p{i}") for i in range(outbox.MAX_PENDING + 3)]
    kept = outbox.with_notifications(delivered, waiting)
    assert [n.id for n in kept if n.delivered] == [str(i) for i in range(5, 15)]
    assert [n.id for n in kept if not n.delivered] == [f"p{i}" for i in range(3, 103)]


def test_outcomes_are_recorded_once_and_a_given_up_one_is_reported() -> None:
    box = [entry("1"), entry("2"), entry("3", delivered=T0)]
    outcomes = {
        ("1", "onFailure[0]"): outbox.Outcome(delivered=T1),
        ("2", "onFailure[0]"): outbox.Outcome(failed="10 attempts failed, the last: HTTP 500"),
        ("3", "onFailure[0]"): outbox.Outcome(delivered=T1),  # settled before: kept as it was
        ("9", "onFailure[0]"): outbox.Outcome(delivered=T1),  # gone from the outbox
    }
    settled, given_up = outbox.settle(box, outcomes)
    assert [(n.id, n.delivered, n.failed) for n in settled] == [
        ("1", T1, None),
        ("2", None, "10 attempts failed, the last: HTTP 500"),
        ("3", T0, None),
    ]
    assert [n.id for n in given_up] == ["2"]
    assert outbox.settle(settled, outcomes) == (settled, [])
    stored = [n.to_wire() for n in box]
    assert outbox.unsettled_outcomes(stored, outcomes).keys() == {
        ("1", "onFailure[0]"),
        ("2", "onFailure[0]"),
    }
    assert outbox.unsettled_outcomes([n.to_wire() for n in settled], outcomes) == {}
    assert outbox.has_pending({"notifications": stored})
    assert not outbox.has_pending({"notifications": [n.to_wire() for n in settled]})


def test_a_run_through_the_engine_notifies_each_change_once() -> None:
    """A task that fails, is retried and fails again, then the run: each pass's outbox
    decision from the status before it, as the reconciler makes it."""
    snap = snapshot_of(task("a", retries=1, retryDelay="1m", **NOTIFIED), onRunFailure=[HOOK])
    run = running_run(snap)
    now = T0
    events: list[str] = []

    def step(pods: dict[str, Any], after: timedelta = timedelta(0)) -> None:
        nonlocal run, now
        now += after
        decision = advance(run, snap, pods=pods, now=now, task_slots=4)
        noted = outbox.decide(run.uid, T0, run.status, decision.status, snap, now)
        events.extend(
            f"{n.event.value}#{n.try_number}"
            for n in noted.status.notifications
            if n not in run.status.notifications
        )
        run = run.model_copy(update={"status": noted.status})

    step({})
    step({"etl-20260101-0000-a-1": pod("etl-20260101-0000-a-1", "Failed", 1)})
    step({"etl-20260101-0000-a-1": pod("etl-20260101-0000-a-1", "Failed", 1)})  # seen again
    step({}, after=timedelta(minutes=1))
    step({"etl-20260101-0000-a-2": pod("etl-20260101-0000-a-2", "Failed", 1)})
    step({})
    assert events == ["taskRetry#1", "taskFailure#2", "runFailure#None"]
    assert run.status.state is RunState.FAILED
    assert len({n.id for n in run.status.notifications}) == 3
    assert all(n.pod for n in run.status.notifications if n.task)


# Deadlines ----------------------------------------------------------------------------------

DEADLINED = snapshot_of(
    task("a", deadline={"reference": "intervalEnd", "after": "30m"}, onDeadlineMiss=[HOOK]),
    task("b", "a"),
    deadline={"reference": "queued", "after": "2h"},
    onDeadlineMiss=[SLACK],
)
INTERVAL_END = T0  # running_run's interval is 2026-01-01 .. T0
CREATED = T0 + timedelta(minutes=5)


@dataclass(frozen=True)
class DeadlineCase:
    name: str
    now: timedelta
    """After T0."""
    a: tuple[str, timedelta | None] = ("running", None)
    """Task a's state and when it finished (after T0)."""
    run: RunState = RunState.RUNNING
    recorded: tuple[str | None, ...] = ()
    missed: tuple[str | None, ...] = ()
    next_deadline: timedelta | None = None


DEADLINE_CASES = [
    DeadlineCase("before any deadline", timedelta(minutes=10), next_deadline=timedelta(minutes=30)),
    DeadlineCase(
        "the task's is due",
        timedelta(minutes=30),
        missed=("a",),
        next_deadline=timedelta(hours=2, minutes=5),
    ),
    DeadlineCase("both are due", timedelta(hours=3), missed=(None, "a")),
    DeadlineCase(
        "the task finished in time",
        timedelta(hours=1),
        a=("success", timedelta(minutes=20)),
        next_deadline=timedelta(hours=2, minutes=5),
    ),
    DeadlineCase(
        "the task finished late, seen later",
        timedelta(hours=1),
        a=("failed", timedelta(minutes=40)),
        missed=("a",),
        next_deadline=timedelta(hours=2, minutes=5),
    ),
    DeadlineCase("a miss is recorded once", timedelta(hours=3), recorded=(None, "a")),
    DeadlineCase(
        "the run finished in time",
        timedelta(hours=5),
        a=("success", timedelta(minutes=10)),
        run=RunState.SUCCESS,
    ),
]


@pytest.mark.parametrize("case", DEADLINE_CASES, ids=lambda c: c.name)
def test_deadlines(case: DeadlineCase) -> None:
    run = running_run(DEADLINED)
    state, finished = case.a
    records = [
        TaskRecord(
            name="a",
            state=TaskState(state),
            try_number=1,
            finished=T0 + finished if finished is not None else None,
        ),
        TaskRecord(name="b"),
    ]
    st = run.status.model_copy(
        update={
            "tasks": records,
            "state": case.run,
            "end_time": T0 + timedelta(minutes=15) if case.run.finished else None,
            "deadline_misses": [
                DeadlineMiss(task=t, deadline=T0, missed_at=T0) for t in case.recorded
            ],
        }
    )
    check = check_deadlines("uid", st, DEADLINED, CREATED, T0 + case.now)
    assert tuple(m.task for m in check.misses) == case.missed
    assert check.next_deadline == (T0 + case.next_deadline if case.next_deadline else None)
    assert [n.notifier for n in check.notifications] == ["onDeadlineMiss[0]" for _ in case.missed]
    assert all(n.event is NotificationEvent.DEADLINE_MISS for n in check.notifications)


def test_a_deadline_miss_is_recorded_with_an_event_and_notified_once() -> None:
    run = running_run(DEADLINED)
    first = outbox.decide(
        "uid", CREATED, run.status, run.status, DEADLINED, T0 + timedelta(hours=3)
    )
    assert [m.task for m in first.status.deadline_misses] == [None, "a"]
    assert [e.reason for e in first.events] == ["DeadlineMissed", "DeadlineMissed"]
    assert "task a missed its deadline 2026-01-02T00:30:00+00:00" in first.events[1].message
    again = outbox.decide(
        "uid", CREATED, first.status, first.status, DEADLINED, T0 + timedelta(hours=4)
    )
    assert again.status.notifications == first.status.notifications and again.events == []


# Payloads -----------------------------------------------------------------------------------

FACTS = RunFacts(
    namespace="etl-ns",
    dag="etl",
    run="etl-20260101-0000",
    run_type="scheduled",
    logical_date=T0 - timedelta(days=1),
    data_interval_start=T0 - timedelta(days=1),
    data_interval_end=T0,
)


def test_the_webhook_document_says_what_happened_and_how_to_look_further() -> None:
    failed = entry(
        "id-1", task="load", try_number=2, state="failed", message="exit code 1", pod="p-2"
    )
    assert webhook_payload(FACTS, failed, "line 1\nline 2\n") == {
        "apiVersion": "kubedag.io/notification/v1",
        "id": "id-1",
        "event": "taskFailure",
        "namespace": "etl-ns",
        "dag": "etl",
        "run": "etl-20260101-0000",
        "runType": "scheduled",
        "logicalDate": "2026-01-01T00:00:00Z",
        "dataIntervalStart": "2026-01-01T00:00:00Z",
        "dataIntervalEnd": "2026-01-02T00:00:00Z",
        "task": "load",
        "try": 2,
        "state": "failed",
        "message": "exit code 1",
        "at": "2026-01-02T00:00:00Z",
        "logTail": "line 1\nline 2\n",
        "commands": {
            "run": "kubectl get dagrun etl-20260101-0000 -n etl-ns -o yaml",
            "events": "kubectl describe dagrun etl-20260101-0000 -n etl-ns",
            "logs": "kubedag logs etl-20260101-0000 --task load -n etl-ns --try 2",
            "clear": "kubedag clear etl-20260101-0000 --task load -n etl-ns",
        },
    }
    run_failed = Notification(
        id="id-2",
        event=NotificationEvent.RUN_FAILURE,
        notifier="onRunFailure[0]",
        at=T0,
        state="failed",
    )
    document = webhook_payload(FACTS, run_failed)
    assert "task" not in document and "logTail" not in document
    assert (
        document["commands"]["clear"] == "kubedag clear etl-20260101-0000 --only-failed -n etl-ns"
    )


def test_the_slack_message_reads_as_a_sentence() -> None:
    failed = entry("id-1", task="load", try_number=2, state="failed", message="exit code 1")
    text = slack_payload(FACTS, failed, "Traceback ...\nValueError: bad row\n")["text"]
    assert text.splitlines()[:3] == [
        ":x: Task *load* of DAG *etl* failed on try 2",
        "Run `etl-20260101-0000` in namespace `etl-ns`, logical date 2026-01-01T00:00:00Z",
        "> exit code 1",
    ]
    assert "```\nTraceback ...\nValueError: bad row\n```" in text
    assert "`kubedag logs etl-20260101-0000 --task load -n etl-ns --try 2`" in text
    missed = Notification(
        id="id-3",
        event=NotificationEvent.DEADLINE_MISS,
        notifier="onDeadlineMiss[0]",
        at=T0,
        deadline=T0,
    )
    assert slack_payload(FACTS, missed)["text"].startswith(
        ":alarm_clock: Run of DAG *etl* missed its deadline 2026-01-02T00:00:00Z"
    )


def test_the_documented_example_is_a_valid_dag_whose_notifiers_name_its_secret() -> None:
    documents = list(yaml.safe_load_all((REPO / "examples/notifications-dag.yaml").read_text()))
    secret, dag = documents
    spec = DagSpec.model_validate(dag["spec"])
    assert validate_dag("etl", spec) == []
    snapshot = build_snapshot(spec)
    assert snapshot.notifies and snapshot.task("load").deadline is not None
    named = {
        n.secret_key_ref.key
        for t in snapshot.tasks
        for n in [*(t.on_failure or []), *(t.on_retry or []), *(t.on_success or [])]
    }
    assert named <= set(secret["stringData"])
