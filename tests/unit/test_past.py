"""Dependencies across runs (core/past.py: Airflow's rules 22-25), as table tests: which run
is the previous one, whether dependsOnPast holds a task, which runs history cleanup keeps
for it; and how the engine holds a task (core/run_engine.py)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubedag.core import past
from kubedag.core.backfill import accept, first_date
from kubedag.core.dag_scheduler import RunSummary
from kubedag.core.earlier_runs import EarlierRuns, PastRun
from kubedag.core.history import HistoryPolicy, runs_to_delete
from kubedag.core.run_engine import advance
from kubedag.core.schedule import DataInterval
from kubedag.core.validation import Problem
from kubedag.models.backfill import Backfill
from kubedag.models.dagrun import RunState, RunType, TaskState
from kubedag.reconcilers.caches import summarize_run
from tests.unit.builders import T0, dag_spec, pod, running_run, snapshot_of, task

S, F, R, Q = RunState.SUCCESS, RunState.FAILED, RunState.RUNNING, RunState.QUEUED
SCHEDULED, MANUAL, BACKFILL = RunType.SCHEDULED, RunType.MANUAL, RunType.BACKFILL
T = TaskState


def day(n: int) -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=n)


def run(
    n: int,
    state: RunState | None = S,
    kind: RunType = SCHEDULED,
    *,
    unsuccessful: tuple[tuple[str, TaskState], ...] = (),
    pending: str | None = None,
) -> RunSummary:
    return RunSummary(
        name=f"{kind.value}-{n}",
        run_type=kind,
        logical_date=day(n),
        interval=DataInterval(day(n), day(n + 1)),
        state=state,
        started=day(n + 1),
        unsuccessful=unsuccessful,
        pending_request=pending,
    )


# Rule 22: the previous run -------------------------------------------------------------


@dataclass(frozen=True)
class PreviousCase:
    name: str
    runs: list[RunSummary]
    logical: datetime
    catchup: bool
    previous: str | None
    success: str | None


PREVIOUS_CASES = [
    PreviousCase("no earlier run", [run(5)], day(5), True, None, None),
    PreviousCase(
        "the latest earlier, however far back",
        [run(1), run(3), run(9)],
        day(5),
        True,
        "scheduled-3",
        "scheduled-3",
    ),
    PreviousCase(
        "catchup: a manual run does not count",
        [run(1), run(3, kind=MANUAL)],
        day(5),
        True,
        "scheduled-1",
        "manual-3",  # prev_*_success: any type (Airflow 2.10)
    ),
    PreviousCase(
        "no catchup: every type counts",
        [run(1), run(3, kind=MANUAL)],
        day(5),
        False,
        "manual-3",
        "manual-3",
    ),
    PreviousCase(
        "a backfill run counts with catchup",
        [run(1), run(3, kind=BACKFILL)],
        day(5),
        True,
        "backfill-3",
        "backfill-3",
    ),
    PreviousCase(
        "an unfinished or failed run is the previous run; the success is older",
        [run(1), run(3, F), run(4, R)],
        day(5),
        True,
        "scheduled-4",
        "scheduled-1",
    ),
    PreviousCase(
        "the same logical date is not earlier",
        [run(5, kind=MANUAL), run(2)],
        day(5),
        False,
        "scheduled-2",
        "scheduled-2",
    ),
]


@pytest.mark.parametrize("case", PREVIOUS_CASES, ids=lambda c: c.name)
def test_the_previous_run_and_the_previous_success(case: PreviousCase) -> None:
    previous = past.previous_run(case.runs, case.logical, catchup=case.catchup)
    success = past.previous_success(case.runs, case.logical)
    assert (previous.name if previous else None) == case.previous
    assert (success.name if success else None) == case.success


# Rules 23-24: whether a task may start -------------------------------------------------


@dataclass(frozen=True)
class HoldCase:
    name: str
    flags: dict[str, Any]
    previous: dict[str, TaskState] | None  # the previous run's task states; None: no run
    held: str | None  # the message, or None when the task may start
    first_of_backfill: bool = False
    run_before: frozenset[str] = frozenset()


DOP = {"dependsOnPast": True}
WFD = {"waitForDownstream": True}
IGNORE_FIRST = {"dependsOnPast": True, "ignoreFirstDependsOnPast": True}
PREV = "scheduled-1"

HOLD_CASES = [
    HoldCase("without dependsOnPast nothing holds", {}, {"load": T.FAILED}, None),
    HoldCase("no previous run", DOP, None, None),
    HoldCase("previous success", DOP, {"load": T.SUCCESS}, None),
    HoldCase("previous skipped", DOP, {"load": T.SKIPPED}, None),
    *(
        HoldCase(
            f"previous {state.value} holds",
            DOP,
            {"load": state},
            f"waiting for task load of run {PREV} ({state.value}) (dependsOnPast)",
        )
        for state in (
            T.NONE,
            T.SCHEDULED,
            T.QUEUED,
            T.RUNNING,
            T.FAILED,
            T.UPSTREAM_FAILED,
            T.UP_FOR_RETRY,
            T.RESTARTING,
        )
    ),
    HoldCase(
        "the first run of a backfill is exempt",
        DOP,
        {"load": T.FAILED},
        None,
        first_of_backfill=True,
    ),
    HoldCase(
        "a previous run without the task holds it",
        DOP,
        {"other": T.SUCCESS},
        f"waiting for task load of run {PREV}, which does not have it (dependsOnPast;"
        " with ignoreFirstDependsOnPast a task that never ran may start)",
    ),
    HoldCase("ignoreFirstDependsOnPast: a task that never ran starts", IGNORE_FIRST, {}, None),
    HoldCase(
        "ignoreFirstDependsOnPast: a task that ran in an older run is held",
        IGNORE_FIRST,
        {},
        f"waiting for task load of run {PREV}, which does not have it (dependsOnPast;"
        " with ignoreFirstDependsOnPast a task that never ran may start)",
        run_before=frozenset({"load"}),
    ),
    HoldCase(
        "ignoreFirstDependsOnPast does not exempt a task the previous run failed",
        IGNORE_FIRST,
        {"load": T.FAILED},
        f"waiting for task load of run {PREV} (failed) (dependsOnPast)",
    ),
    HoldCase(
        "waitForDownstream: a direct downstream task failed",
        WFD,
        {"load": T.SUCCESS, "report": T.SUCCESS, "audit": T.FAILED, "publish": T.FAILED},
        f"waiting for task audit of run {PREV} (failed) (waitForDownstream of load)",
    ),
    HoldCase(
        "waitForDownstream: an indirect downstream task does not count",
        WFD,
        {"load": T.SUCCESS, "report": T.SKIPPED, "audit": T.SUCCESS, "publish": T.FAILED},
        None,
    ),
    HoldCase(
        "waitForDownstream: a downstream task the previous run lacks does not hold",
        WFD,
        {"load": T.SUCCESS, "report": T.SUCCESS},
        None,
    ),
    HoldCase(
        "waitForDownstream: still running",
        WFD,
        {"load": T.SUCCESS, "report": T.RUNNING, "audit": T.SUCCESS},
        f"waiting for task report of run {PREV} (running) (waitForDownstream of load)",
    ),
    HoldCase(
        "waitForDownstream implies dependsOnPast",
        WFD,
        {"load": T.FAILED, "report": T.SUCCESS},
        f"waiting for task load of run {PREV} (failed) (dependsOnPast)",
    ),
]

# load -> report, audit; report -> publish
GRAPH = (
    ("extract",),
    ("load", "extract"),
    ("report", "load"),
    ("audit", "load"),
    ("publish", "report"),
)


@pytest.mark.parametrize("case", HOLD_CASES, ids=lambda c: c.name)
def test_whether_depends_on_past_holds_a_task(case: HoldCase) -> None:
    tasks = [task(name, *deps, **(case.flags if name == "load" else {})) for name, *deps in GRAPH]
    snapshot = snapshot_of(*tasks)
    previous = (
        PastRun(PREV, SCHEDULED, day(1), S, tasks=case.previous)
        if case.previous is not None
        else None
    )
    earlier = EarlierRuns(
        previous=previous,
        first_of_backfill=case.first_of_backfill,
        tasks_run_before=case.run_before,
    )
    blocker = past.past_blocker(snapshot.task("load"), ["report", "audit"], earlier)
    assert blocker == case.held


def test_the_tasks_read_from_the_past_come_from_the_task_or_its_defaults() -> None:
    fields: dict[str, Any] = {"defaults": {"dependsOnPast": True}}
    tasks = (
        task("extract"),
        task("load", "extract", waitForDownstream=True),
        task("report", "load", dependsOnPast=False),
        task("publish", "report", dependsOnPast=False),
    )
    spec = dag_spec(*tasks, **fields)
    assert past.tasks_depending_on_past(spec) == ["extract", "load"]
    # extract and load hold on their own; report is load's direct downstream.
    assert past.tasks_read_from_past(spec) == {"extract", "load", "report"}
    assert past.tasks_read_from_past(snapshot_of(*tasks, **fields)) == {"extract", "load", "report"}
    # waitForDownstream from the defaults implies dependsOnPast, as on the task itself.
    inherited: dict[str, Any] = {"defaults": {"waitForDownstream": True}}
    assert snapshot_of(task("a"), **inherited).task("a").depends_on_past
    assert past.tasks_read_from_past(dag_spec(task("a"), task("b", "a"), **inherited)) == {"a", "b"}


# History cleanup keeps what dependsOnPast reads ------------------------------------------


@dataclass(frozen=True)
class KeepCase:
    name: str
    runs: list[RunSummary]
    kept: set[str]
    catchup: bool = True
    read: frozenset[str] = frozenset({"load"})


FAILED_LOAD = (("load", T.FAILED),)

KEEP_CASES = [
    KeepCase(
        "a DAG that reads nothing from the past keeps nothing",
        [run(1, F, unsuccessful=FAILED_LOAD), run(2, R)],
        set(),
        read=frozenset(),
    ),
    KeepCase("the previous run of an unfinished run", [run(1), run(2), run(3, R)], {"scheduled-2"}),
    KeepCase(
        "of a run not pinned yet, and of a queued one",
        [run(1), run(2, None), run(4), run(5, Q)],
        {"scheduled-1", "scheduled-4"},
    ),
    KeepCase(
        "of a finished run with a request waiting",
        [run(1), run(2, pending="fix-1")],
        {"scheduled-1"},
    ),
    KeepCase(
        "a finished run that holds its successor, whatever comes after",
        [run(1, F, unsuccessful=FAILED_LOAD), run(2), run(3)],
        {"scheduled-1"},
    ),
    KeepCase(
        "a failure of a task nobody reads does not keep the run",
        [run(1, F, unsuccessful=(("report", T.FAILED),)), run(2)],
        set(),
    ),
    KeepCase(
        "with catchup, a manual run is nobody's previous run",
        [run(1), run(2, kind=MANUAL), run(3, R)],
        {"scheduled-1"},
    ),
    KeepCase(
        "without catchup, it is",
        [run(1), run(2, kind=MANUAL), run(3, R)],
        {"manual-2"},
        catchup=False,
    ),
]


@pytest.mark.parametrize("case", KEEP_CASES, ids=lambda c: c.name)
def test_history_cleanup_keeps_the_runs_depends_on_past_reads(case: KeepCase) -> None:
    assert past.runs_kept_for_past(case.runs, read=case.read, catchup=case.catchup) == case.kept


def test_a_failed_previous_run_past_the_history_limit_is_not_deleted() -> None:
    """The day-1 failure holds day 2: with failedRunsHistoryLimit 0 it stays, so day 2 is
    never checked against day 0 (a success)."""
    runs = [run(0), run(1, F, unsuccessful=FAILED_LOAD), run(2, R)]
    kept = past.runs_kept_for_past(runs, read={"load"}, catchup=True)
    policy = HistoryPolicy(successful_limit=0, failed_limit=0, ttl=timedelta(0))
    cleanup = runs_to_delete(runs, policy, protected=kept, now=day(9))
    assert cleanup.runs_to_delete == ["scheduled-0"]


# The engine -------------------------------------------------------------------------------


def held_engine_pass(earlier: EarlierRuns, **fields: Any) -> Any:
    snapshot = snapshot_of(task("extract"), task("load", "extract", dependsOnPast=True), **fields)
    run = running_run(snapshot)
    first = advance(run, snapshot, pods={}, now=T0, task_slots=10, earlier=earlier)
    run.status = first.status
    done = advance(
        run,
        snapshot,
        pods={"etl-20260101-0000-extract-1": pod("etl-20260101-0000-extract-1", "Succeeded")},
        now=T0 + timedelta(hours=5),
        task_slots=10,
        earlier=earlier,
    )
    return run, snapshot, done


def test_a_held_task_stays_none_with_the_reason_and_the_run_keeps_running() -> None:
    failed = EarlierRuns(
        previous=PastRun("etl-20251231-0000", SCHEDULED, day(-1), F, tasks={"load": T.FAILED})
    )
    run, snapshot, decision = held_engine_pass(failed)
    load = {r.name: r for r in decision.status.tasks}["load"]
    assert load.state is T.NONE
    assert load.message == "waiting for task load of run etl-20251231-0000 (failed) (dependsOnPast)"
    assert decision.status.state is R and decision.status.end_time is None  # rule 25
    assert decision.status.duration == "5h"  # it keeps counting
    assert past.held_by_past(decision.status.tasks)
    # The previous run's load is cleared and succeeds: the next pass lets load start.
    run.status = decision.status
    cleared = EarlierRuns(
        previous=PastRun("etl-20251231-0000", SCHEDULED, day(-1), S, tasks={"load": T.SUCCESS})
    )
    released = advance(
        run, snapshot, pods={}, now=T0 + timedelta(hours=6), task_slots=10, earlier=cleared
    )
    load = {r.name: r for r in released.status.tasks}["load"]
    assert load.state is T.QUEUED and load.message is None
    assert [launch.task.name for launch in released.pods_to_create] == ["load"]
    assert not past.held_by_past(released.status.tasks)


def test_a_released_task_waiting_for_a_slot_no_longer_says_it_waits() -> None:
    failed = EarlierRuns(previous=PastRun("p", SCHEDULED, day(-1), F, tasks={"load": T.FAILED}))
    run, snapshot, decision = held_engine_pass(failed)
    run.status = decision.status
    cleared = EarlierRuns(previous=PastRun("p", SCHEDULED, day(-1), S, tasks={"load": T.SUCCESS}))
    released = advance(run, snapshot, pods={}, now=T0, task_slots=0, earlier=cleared)
    load = {r.name: r for r in released.status.tasks}["load"]
    # It says what it waits for now: a slot, no longer the past.
    assert (load.state, load.message) == (
        T.SCHEDULED,
        "waiting for a free task slot of the DAG (maxActiveTasks 0)",
    )


def test_a_held_task_is_still_skipped_or_upstream_failed_by_its_trigger_rule() -> None:
    """Only a task about to run waits on the past (Airflow's default
    wait_for_past_depends_before_skipping=False)."""
    snapshot = snapshot_of(task("extract"), task("load", "extract", dependsOnPast=True))
    run = running_run(snapshot)
    run.status = advance(run, snapshot, pods={}, now=T0, task_slots=10).status
    failed = EarlierRuns(previous=PastRun("p", SCHEDULED, day(-1), F, tasks={"load": T.FAILED}))
    pods = {"etl-20260101-0000-extract-1": pod("etl-20260101-0000-extract-1", "Failed", 1)}
    decision = advance(run, snapshot, pods=pods, now=T0, task_slots=10, earlier=failed)
    assert {r.name: r.state for r in decision.status.tasks} == {
        "extract": T.FAILED,
        "load": T.UPSTREAM_FAILED,
    }
    assert decision.status.state is F


# Backfills --------------------------------------------------------------------------------


def backfill(**spec: Any) -> Backfill:
    return Backfill.model_validate(
        {
            "metadata": {
                "name": "bf",
                "namespace": "ns",
                "uid": "u",
                "creationTimestamp": "2026-02-01T00:00:00Z",
            },
            "spec": {"dagName": "etl", "from": "2026-01-03T06:00:00", "to": "2026-01-05", **spec},
        }
    )


NOW = datetime(2026, 2, 1, tzinfo=UTC)


def test_a_backfill_s_first_date_is_its_first_tick_in_order() -> None:
    spec = dag_spec(task("a", dependsOnPast=True), schedule="@daily", startDate="2025-01-01")
    plan = accept(backfill(reprocessBehavior="failed"), spec, [], now=NOW)
    assert not isinstance(plan, Problem)
    assert first_date(backfill(), plan) == day(3)  # 06:00 aligned up to the next midnight
    plain = dag_spec(task("a"), schedule="@daily", startDate="2025-01-01")
    backwards = accept(backfill(runBackwards=True), plain, [], now=NOW)
    assert not isinstance(backwards, Problem)
    assert first_date(backfill(runBackwards=True), backwards) == day(4)


@pytest.mark.parametrize(
    ("spec", "reason", "message"),
    [
        (
            {"runBackwards": True, "reprocessBehavior": "failed"},
            "InvalidBackfillDirection",
            "runBackwards: true, but DAG etl has tasks with dependsOnPast (a): its dates must"
            " run forwards (runBackwards: false)",
        ),
        (
            {},
            "InvalidReprocessBehavior",
            "reprocessBehavior: none, but DAG etl has tasks with dependsOnPast (a): set"
            " reprocessBehavior to failed or completed",
        ),
    ],
)
def test_a_backfill_of_a_dag_with_depends_on_past_is_refused_as_airflow_does(
    spec: dict[str, Any], reason: str, message: str
) -> None:
    dag = dag_spec(
        task("a", dependsOnPast=True), task("b"), schedule="@daily", startDate="2025-01-01"
    )
    refused = accept(backfill(**spec), dag, [], now=NOW)
    assert isinstance(refused, Problem)
    assert (refused.reason, refused.message) == (reason, message)


def test_a_run_summary_carries_what_later_runs_read() -> None:
    body = {
        "metadata": {"name": "etl-manual-1", "creationTimestamp": "2026-01-02T00:00:00Z"},
        "spec": {"dagName": "etl", "runType": "manual"},
        "status": {
            "state": "failed",
            "logicalDate": "2026-01-02T00:00:00Z",
            "dataIntervalStart": "2026-01-01T00:00:00Z",
            "dataIntervalEnd": "2026-01-02T00:00:00Z",
            "startTime": "2026-01-02T00:00:05Z",
            "tasks": [
                {"name": "extract", "state": "success"},
                {"name": "load", "state": "failed"},
                {"name": "report", "state": "upstream_failed"},
                {"name": "audit", "state": "skipped"},
            ],
        },
    }
    summary = summarize_run(body)
    assert summary.interval == DataInterval(day(0), day(1))  # a manual run's, from its status
    assert summary.started == datetime(2026, 1, 2, 0, 0, 5, tzinfo=UTC)
    assert summary.unsuccessful == (("load", T.FAILED), ("report", T.UPSTREAM_FAILED))
    body["status"]["state"] = "running"  # an unfinished run's body is cached: no copy here
    assert summarize_run(body).unsuccessful == ()


def test_a_past_run_carries_the_times_the_prev_success_variables_read() -> None:
    start, end = datetime(2026, 1, 2, 0, 5, tzinfo=UTC), datetime(2026, 1, 2, 0, 9, tzinfo=UTC)
    summary = RunSummary(
        name="day1",
        run_type=RunType.SCHEDULED,
        logical_date=datetime(2026, 1, 1, tzinfo=UTC),
        interval=None,
        state=RunState.SUCCESS,
        finished_at=end,
        started=start,
    )
    run = past.past_run(summary)
    assert (run.start_time, run.end_time) == (start, end)
