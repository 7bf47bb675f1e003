"""The DAG scheduler's pass: due runs, promotion under maxActiveRuns, status. No cluster."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubedag.core.dag_scheduler import (
    CREATE_BATCH,
    STATUS_BATCH_DELAY,
    STATUS_HOLD_WHILE_RUNS,
    RunChange,
    RunSummary,
    moves_the_schedule,
    reconcile_dag,
    runs_to_start,
    starts_at_pin,
    status_batch_delay,
    status_write_is_urgent,
)
from kubedag.core.naming import dagrun_name
from kubedag.core.schedule import DataInterval, PlannedRun
from kubedag.core.validation import Problem
from kubedag.manifests import render
from kubedag.models.dag import Dag
from kubedag.models.dagrun import RunState, RunType
from tests.unit.builders import task


def make_dag(**spec: Any) -> Dag:
    return Dag.model_validate(
        {
            "metadata": {"name": "sales", "namespace": "etl", "uid": "dag-uid", "generation": 3},
            "spec": {"tasks": [task("a")], **spec},
        }
    )


def day(d: int, month: int = 1, year: int = 2026) -> datetime:
    return datetime(year, month, d, tzinfo=UTC)


def scheduled(d: int, state: RunState | None = RunState.SUCCESS) -> RunSummary:
    return RunSummary(
        name=f"sales-202601{d:02d}-0000",
        run_type=RunType.SCHEDULED,
        logical_date=day(d),
        interval=DataInterval(day(d), day(d + 1)),
        state=state,
    )


DAILY = {"schedule": "@daily", "startDate": "2026-01-01"}


def names(decision_runs: list[PlannedRun]) -> list[str]:
    return [dagrun_name("sales", RunType.SCHEDULED, p.logical_date) for p in decision_runs]


def test_catchup_creates_every_missed_interval_with_owner_and_interval() -> None:
    decision = reconcile_dag(
        make_dag(**DAILY), [], [], now=day(4, 1) + timedelta(hours=1), catchup_default=True
    )
    assert names(decision.runs_to_create) == [
        "sales-20260101-0000",
        "sales-20260102-0000",
        "sales-20260103-0000",
    ]
    planned = decision.runs_to_create[0]
    first = render.dagrun(
        namespace="etl",
        dag_name="sales",
        dag_uid="dag-uid",
        run_type=RunType.SCHEDULED,
        logical_date=planned.logical_date,
        interval=planned.interval,
    )
    assert first["spec"] == {
        "dagName": "sales",
        "runType": "scheduled",
        "logicalDate": "2026-01-01T00:00:00Z",
        "dataIntervalStart": "2026-01-01T00:00:00Z",
        "dataIntervalEnd": "2026-01-02T00:00:00Z",
    }
    assert first["metadata"]["ownerReferences"][0]["uid"] == "dag-uid"
    assert first["metadata"]["namespace"] == "etl"
    assert decision.status.next_run_after == day(5)
    assert decision.requeue_at == day(5)
    assert decision.status.last_scheduled_run == day(3)
    assert decision.status.queued_runs == 3


def test_catchup_default_false_creates_only_the_latest_interval() -> None:
    decision = reconcile_dag(make_dag(**DAILY), [], [], now=day(10), catchup_default=False)
    assert names(decision.runs_to_create) == ["sales-20260109-0000"]


def test_spec_catchup_overrides_the_controller_default() -> None:
    decision = reconcile_dag(
        make_dag(**DAILY, catchup=True), [], [], now=day(4), catchup_default=False
    )
    assert len(decision.runs_to_create) == 3


def test_continues_after_the_newest_scheduled_run_and_ignores_manual_ones() -> None:
    manual = RunSummary(
        "sales-manual-20260301-1200", RunType.MANUAL, day(1, 3), None, RunState.SUCCESS
    )
    decision = reconcile_dag(
        make_dag(**DAILY),
        [scheduled(1), scheduled(2), manual],
        [],
        now=day(4),
        catchup_default=True,
    )
    assert names(decision.runs_to_create) == ["sales-20260103-0000"]


def test_nothing_is_due_before_the_interval_ends() -> None:
    decision = reconcile_dag(
        make_dag(**DAILY),
        [scheduled(1)],
        [],
        now=day(3) - timedelta(microseconds=1),
        catchup_default=True,
    )
    assert decision.runs_to_create == []
    assert decision.requeue_at == day(3)


def test_paused_dag_creates_nothing_and_does_not_wake() -> None:
    decision = reconcile_dag(
        make_dag(**DAILY, paused=True), [], [], now=day(5), catchup_default=True
    )
    assert decision.runs_to_create == []
    assert decision.requeue_at is None
    assert decision.status.next_run_after is None


def test_a_paused_dag_starts_no_queued_run_not_even_at_pin() -> None:
    runs = [scheduled(1, RunState.QUEUED), scheduled(2, None)]
    decision = reconcile_dag(
        make_dag(**DAILY, paused=True), runs, [], now=day(3), catchup_default=True
    )
    assert decision.runs_to_start == []
    pinned = replace(runs[1], state=RunState.QUEUED)
    assert not starts_at_pin(runs[:1], pinned, 16, paused=True)
    assert starts_at_pin(runs[:1], pinned, 16)


def test_invalid_dag_gets_no_runs_and_a_precise_ready_condition() -> None:
    problems = [Problem("InvalidGraph", "task 'b' depends on unknown task 'x'")]
    decision = reconcile_dag(make_dag(**DAILY), [], problems, now=day(5), catchup_default=True)
    assert decision.runs_to_create == []
    ready = decision.status.conditions[0]
    assert (ready.type, ready.status, ready.reason) == ("Ready", "False", "InvalidGraph")
    assert ready.message == "task 'b' depends on unknown task 'x'"
    assert ready.observed_generation == 3
    assert decision.status.observed_generation == 3


def test_valid_dag_is_ready() -> None:
    decision = reconcile_dag(make_dag(), [], [], now=day(5), catchup_default=True)
    ready = decision.status.conditions[0]
    assert (ready.status, ready.reason) == ("True", "Valid")
    assert decision.runs_to_create == [] and decision.requeue_at is None


def test_ready_transition_time_is_kept_while_status_is_unchanged() -> None:
    dag = make_dag()
    first = reconcile_dag(dag, [], [], now=day(5), catchup_default=True)
    dag.status = first.status
    second = reconcile_dag(dag, [], [], now=day(6), catchup_default=True)
    assert second.status.conditions[0].last_transition_time == day(5)


def test_promotes_oldest_queued_runs_up_to_max_active_runs() -> None:
    runs = [
        scheduled(5, RunState.QUEUED),
        scheduled(3, RunState.QUEUED),
        scheduled(4, RunState.QUEUED),
        scheduled(2, RunState.RUNNING),
        scheduled(1, None),
    ]
    assert runs_to_start(runs, 3) == ["sales-20260103-0000", "sales-20260104-0000"]
    assert runs_to_start(runs, 1) == []
    decision = reconcile_dag(make_dag(maxActiveRuns=2), runs, [], now=day(9), catchup_default=True)
    assert decision.runs_to_start == ["sales-20260103-0000"]
    assert decision.status.active_runs == 2
    assert decision.status.queued_runs == 3  # days 4 and 5, and day 1, not pinned yet


@pytest.mark.parametrize(
    ("others", "pinned_day", "max_active_runs", "starts"),
    [
        ([], 1, 1, True),  # nothing else: straight to running
        ([scheduled(1, RunState.RUNNING)], 2, 1, False),  # no room
        ([scheduled(1, RunState.RUNNING)], 2, 2, True),
        ([scheduled(1, RunState.SUCCESS), scheduled(2, RunState.FAILED)], 3, 1, True),
        ([scheduled(1, RunState.QUEUED)], 2, 1, False),  # an older queued run goes first
        ([scheduled(1, RunState.QUEUED)], 2, 2, True),  # room for both
        ([scheduled(1, None)], 2, 1, False),  # an older run not pinned yet goes first too
        ([scheduled(1, None)], 2, 2, True),
        ([scheduled(3, RunState.RUNNING), scheduled(1, None)], 2, 2, False),
        ([scheduled(3, None)], 2, 1, True),  # a newer one waits for it
        ([scheduled(3, RunState.QUEUED)], 2, 1, True),
        ([scheduled(2, None)], 2, 1, True),  # its own cached summary does not count
        ([scheduled(2, RunState.RUNNING)], 2, 1, True),  # nor does a stale reservation
    ],
)
def test_starts_at_pin(
    others: list[RunSummary], pinned_day: int, max_active_runs: int, starts: bool
) -> None:
    pinned = scheduled(pinned_day, RunState.QUEUED)
    assert starts_at_pin(others, pinned, max_active_runs) is starts


def test_a_manual_run_without_logical_date_goes_after_dated_queued_runs() -> None:
    manual = RunSummary("sales-manual", RunType.MANUAL, None, None, RunState.QUEUED)
    assert not starts_at_pin([scheduled(1, RunState.QUEUED)], manual, 1)
    assert starts_at_pin([scheduled(1, RunState.QUEUED)], manual, 2)
    dated = replace(manual, logical_date=day(9))
    assert not starts_at_pin([scheduled(1, RunState.RUNNING)], dated, 1)
    assert starts_at_pin([scheduled(1, RunState.RUNNING)], dated, 2)


def test_only_validity_changes_make_a_status_write_urgent() -> None:
    dag = make_dag(**DAILY)
    first = reconcile_dag(dag, [], [], now=day(2), catchup_default=True).status
    assert status_write_is_urgent(None, first)  # a new DAG's Ready condition
    assert not status_write_is_urgent(first, first)
    counts = first.model_copy(update={"active_runs": 5, "queued_runs": 1, "next_run_after": day(7)})
    assert not status_write_is_urgent(first, counts)
    regenerated = first.model_copy(update={"observed_generation": 4})
    assert status_write_is_urgent(first, regenerated)
    invalid = reconcile_dag(
        dag, [], [Problem("BadSchedule", "bad")], now=day(2), catchup_default=True
    ).status
    assert status_write_is_urgent(first, invalid)


@pytest.mark.parametrize(
    ("active", "queued", "delay", "waits"),
    [
        (None, None, STATUS_BATCH_DELAY, STATUS_BATCH_DELAY),  # nothing in flight
        (0, 0, STATUS_BATCH_DELAY, STATUS_BATCH_DELAY),
        (1, 0, STATUS_BATCH_DELAY, STATUS_HOLD_WHILE_RUNS),  # a run is running
        (0, 3, STATUS_BATCH_DELAY, STATUS_HOLD_WHILE_RUNS),  # runs wait for a slot
        (1, 0, timedelta(minutes=2), timedelta(minutes=2)),  # a longer batch is kept
        (0, 0, timedelta(0), timedelta(0)),
    ],
)
def test_a_dag_s_status_batch_waits_for_its_runs_in_flight_up_to_the_hold(
    active: int | None, queued: int | None, delay: timedelta, waits: timedelta
) -> None:
    first = reconcile_dag(make_dag(**DAILY), [], [], now=day(2), catchup_default=True).status
    status = first.model_copy(update={"active_runs": active, "queued_runs": queued})
    assert status_batch_delay(status, delay) == waits


def test_existing_runs_are_not_created_again() -> None:
    runs = [scheduled(1, None)]
    decision = reconcile_dag(make_dag(**DAILY), runs, [], now=day(3), catchup_default=True)
    # the newest scheduled interval is day 1, so only day 2 is due; day 1 is never repeated
    assert names(decision.runs_to_create) == ["sales-20260102-0000"]


def manual(d: int, state: RunState | None) -> RunSummary:
    return RunSummary(f"sales-manual-{d}", RunType.MANUAL, day(d), None, state)


def backfill(d: int, state: RunState | None) -> RunSummary:
    return replace(scheduled(d, state), name=f"sales-backfill-{d}", run_type=RunType.BACKFILL)


@pytest.mark.parametrize(
    ("max_active_runs", "runs", "created"),
    [
        # Airflow: a scheduled run is created only while queued + running < max_active_runs.
        (3, [], 3),
        (3, [scheduled(1, RunState.RUNNING)], 2),
        (3, [scheduled(1, RunState.QUEUED), scheduled(2, None)], 1),
        (3, [scheduled(1, RunState.SUCCESS), scheduled(2, RunState.FAILED)], 3),
        (2, [manual(1, RunState.RUNNING), manual(2, RunState.QUEUED)], 0),  # manual runs count
        (2, [backfill(1, RunState.RUNNING), backfill(2, RunState.QUEUED)], 2),  # backfills not
        (1000, [], CREATE_BATCH),  # and at most a batch per pass
    ],
)
def test_scheduled_runs_are_created_only_as_max_active_runs_leaves_room(
    max_active_runs: int, runs: list[RunSummary], created: int
) -> None:
    dag = make_dag(schedule="@daily", startDate="2023-01-01", maxActiveRuns=max_active_runs)
    # Runs listed above are from December 2025; the DAG's own schedule runs from 2023.
    runs = [replace(r, name=r.name + "-x", interval=None) if r.interval else r for r in runs]
    decision = reconcile_dag(dag, runs, [], now=day(1), catchup_default=True)
    assert len(decision.runs_to_create) == created


def test_a_long_backlog_is_summarised_in_status_and_waits_for_room() -> None:
    dag = make_dag(schedule="* * * * *", startDate="2016-01-01", maxActiveRuns=2)
    decision = reconcile_dag(dag, [], [], now=day(1), catchup_default=True)
    assert names(decision.runs_to_create) == ["sales-20160101-0000", "sales-20160101-0001"]
    backlog = decision.status.backlog
    assert backlog is not None and backlog.estimated
    assert backlog.oldest == datetime(2016, 1, 1, 0, 2, tzinfo=UTC)
    minutes = int((day(1) - datetime(2016, 1, 1, tzinfo=UTC)).total_seconds() // 60)
    assert backlog.due == minutes - 2  # evenly spaced: the estimate is exact
    assert decision.status.next_run_after == datetime(2016, 1, 1, 0, 3, tzinfo=UTC)
    assert decision.requeue_at is None  # a run finishing makes room, and wakes the DAG


def test_a_short_backlog_is_counted_exactly() -> None:
    dag = make_dag(schedule="@daily", startDate="2025-12-20", maxActiveRuns=1)
    decision = reconcile_dag(dag, [], [], now=day(1), catchup_default=True)
    assert decision.status.backlog is not None
    assert (decision.status.backlog.due, decision.status.backlog.estimated) == (11, None)


def test_a_batch_limited_pass_comes_back_at_once() -> None:
    dag = make_dag(schedule="@daily", startDate="2023-01-01", maxActiveRuns=1000)
    decision = reconcile_dag(dag, [], [], now=day(1), catchup_default=True)
    assert len(decision.runs_to_create) == CREATE_BATCH
    assert decision.requeue_at == day(1)


def test_the_schedule_goes_on_from_the_status_when_the_newest_runs_are_deleted() -> None:
    dag = make_dag(**DAILY)
    first = reconcile_dag(dag, [], [], now=day(4), catchup_default=True)
    assert names(first.runs_to_create) == [f"sales-2026010{d}-0000" for d in (1, 2, 3)]
    assert first.status.last_scheduled_interval_end == day(4)
    # Every run deleted (history cleanup, or by hand): nothing comes back.
    later = dag.model_copy(update={"status": first.status})
    again = reconcile_dag(later, [], [], now=day(5), catchup_default=True)
    assert names(again.runs_to_create) == ["sales-20260104-0000"]


def test_manual_only_dag_never_wakes() -> None:
    decision = reconcile_dag(make_dag(), [], [], now=day(1), catchup_default=True)
    assert decision.requeue_at is None and decision.runs_to_create == []


def test_once_runs_once() -> None:
    dag = make_dag(schedule="@once", startDate="2026-01-01T06:00:00Z")
    first = reconcile_dag(dag, [], [], now=day(2), catchup_default=True)
    assert names(first.runs_to_create) == ["sales-20260101-0600"]
    done = RunSummary(
        "sales-20260101-0600",
        RunType.SCHEDULED,
        day(1) + timedelta(hours=6),
        DataInterval(day(1) + timedelta(hours=6), day(1) + timedelta(hours=6)),
        RunState.SUCCESS,
    )
    again = reconcile_dag(dag, [done], [], now=day(9), catchup_default=True)
    assert again.runs_to_create == [] and again.requeue_at is None


def backfill_run(d: int, state: RunState | None) -> RunSummary:
    return replace(
        scheduled(d, state),
        name=f"sales-backfill-202601{d:02d}-0000",
        run_type=RunType.BACKFILL,
        backfill="bf",
    )


@pytest.mark.parametrize(
    ("runs", "max_active_runs", "paused", "started"),
    [
        # Backfill runs do not count against the DAG's limit, and are not limited by it.
        (
            [scheduled(1, RunState.RUNNING), backfill_run(2, RunState.RUNNING)],
            2,
            False,
            [],
        ),
        (
            [
                scheduled(1, RunState.RUNNING),
                backfill_run(2, RunState.RUNNING),
                scheduled(3, RunState.QUEUED),
            ],
            2,
            False,
            ["sales-20260103-0000"],
        ),
        (
            [scheduled(1, RunState.RUNNING), backfill_run(2, RunState.QUEUED)],
            1,
            False,
            ["sales-backfill-20260102-0000"],
        ),
        # Backfill runs first, ahead of older queued runs.
        (
            [scheduled(1, RunState.QUEUED), backfill_run(5, RunState.QUEUED)],
            1,
            False,
            ["sales-backfill-20260105-0000", "sales-20260101-0000"],
        ),
        # A paused DAG starts only its backfill runs (unlike Airflow 3, apache/airflow#60768).
        (
            [scheduled(1, RunState.QUEUED), backfill_run(2, RunState.QUEUED)],
            5,
            True,
            ["sales-backfill-20260102-0000"],
        ),
        ([scheduled(1, RunState.QUEUED)], 5, True, []),
    ],
)
def test_runs_to_start_with_backfill_runs_and_pause(
    runs: list[RunSummary], max_active_runs: int, paused: bool, started: list[str]
) -> None:
    assert runs_to_start(runs, max_active_runs, paused=paused) == started


def test_starts_at_pin_follows_the_same_rule_for_backfill_runs_and_pause() -> None:
    full = [scheduled(1, RunState.RUNNING)]
    assert starts_at_pin(full, backfill_run(2, RunState.QUEUED), 1)
    assert not starts_at_pin(full, scheduled(2, RunState.QUEUED), 1)
    assert starts_at_pin([], backfill_run(2, RunState.QUEUED), 1, paused=True)
    assert not starts_at_pin([], scheduled(2, RunState.QUEUED), 1, paused=True)
    manual = RunSummary("sales-manual", RunType.MANUAL, day(2), None, RunState.QUEUED)
    assert not starts_at_pin([], manual, 1, paused=True)


def test_a_paused_dag_keeps_its_queued_runs_queued() -> None:
    runs = [scheduled(1, RunState.QUEUED), backfill_run(2, RunState.QUEUED)]
    decision = reconcile_dag(
        make_dag(**DAILY, paused=True), runs, [], now=day(9), catchup_default=True
    )
    assert decision.runs_to_start == ["sales-backfill-20260102-0000"]


def _summary(run_type: RunType, state: RunState | None) -> RunSummary:
    return RunSummary("r", run_type, datetime(2026, 1, 1, tzinfo=UTC), None, state)


SCHEDULED, BACKFILL = RunType.SCHEDULED, RunType.BACKFILL
# (run type, state before or "absent", state after or "deleted", the DAG's pass comes soon)
NEWS_CASES = [
    (SCHEDULED, "absent", None, True),  # created: counts under maxActiveRuns
    (SCHEDULED, None, RunState.RUNNING, True),
    (SCHEDULED, RunState.RUNNING, RunState.SUCCESS, True),  # frees a slot
    (SCHEDULED, RunState.SUCCESS, "deleted", True),
    (RunType.MANUAL, RunState.QUEUED, RunState.RUNNING, True),
    (BACKFILL, "absent", None, False),  # the backfill created it and starts it itself
    (BACKFILL, None, RunState.RUNNING, False),
    (BACKFILL, RunState.RUNNING, RunState.SUCCESS, False),  # counts and history only
    (BACKFILL, RunState.SUCCESS, "deleted", False),
    (BACKFILL, RunState.FAILED, RunState.QUEUED, True),  # cleared: the DAG's pass starts it
]


@pytest.mark.parametrize(("run_type", "before", "after", "soon"), NEWS_CASES)
def test_which_run_news_moves_the_schedule(
    run_type: RunType, before: RunState | str | None, after: RunState | str | None, soon: bool
) -> None:
    change = RunChange(
        None if before == "absent" else _summary(run_type, before),  # type: ignore[arg-type]
        None if after == "deleted" else _summary(run_type, after),  # type: ignore[arg-type]
    )
    assert moves_the_schedule(change) is soon


def _starts_at_pin_as_defined(
    runs: list[RunSummary], pinned: RunSummary, max_active_runs: int, paused: bool
) -> bool:
    """The rule as its docstring states it: `runs_to_start` over the runs with every run not
    yet pinned counted as queued (the definition `starts_at_pin` counts without copies)."""
    others = [
        replace(r, state=RunState.QUEUED) if r.state is None else r
        for r in runs
        if r.name != pinned.name
    ]
    return pinned.name in runs_to_start([*others, pinned], max_active_runs, paused=paused)


_summaries = st.builds(
    RunSummary,
    name=st.sampled_from([f"r{i}" for i in range(8)]),
    run_type=st.sampled_from(list(RunType)),
    logical_date=st.one_of(st.none(), st.integers(1, 5).map(day)),
    interval=st.none(),
    state=st.one_of(st.none(), st.sampled_from(list(RunState))),
)


@given(
    runs=st.lists(_summaries, max_size=10),
    pinned=_summaries,
    max_active_runs=st.integers(0, 4),
    paused=st.booleans(),
)
def test_starts_at_pin_counts_what_runs_to_start_would_promote(
    runs: list[RunSummary], pinned: RunSummary, max_active_runs: int, paused: bool
) -> None:
    expected = _starts_at_pin_as_defined(runs, pinned, max_active_runs, paused)
    assert starts_at_pin(runs, pinned, max_active_runs, paused=paused) is expected
