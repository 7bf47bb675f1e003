"""Backfill planning and decisions (core/backfill.py), as tables: Airflow 3's rules 1-10 of
shared/airflow-semantics.md. No cluster."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubedag.core.backfill import (
    ALREADY_EXISTS,
    IN_FLIGHT,
    RUN_DELETED,
    OtherBackfill,
    accept,
    advance,
    planned_dates,
    request_id,
)
from kubedag.core.dag_scheduler import RunSummary
from kubedag.core.schedule import DataInterval
from kubedag.core.validation import Problem
from kubedag.models.backfill import Backfill, BackfillPlan, BackfillState, BackfillStatus
from kubedag.models.dag import DagSpec
from kubedag.models.dagrun import RunState, RunType
from tests.unit.builders import task

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def day(d: int, month: int = 1, year: int = 2026, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, d, hour, minute, tzinfo=UTC)


def dag(**spec: Any) -> DagSpec:
    return DagSpec.model_validate(
        {"schedule": "@daily", "startDate": "2020-01-01", "tasks": [task("a")], **spec}
    )


def backfill(status: dict[str, Any] | None = None, name: str = "bf", **spec: Any) -> Backfill:
    return Backfill.model_validate(
        {
            "metadata": {
                "name": name,
                "namespace": "etl",
                "uid": f"uid-{name}",
                "generation": 1,
                "creationTimestamp": "2026-03-01T11:00:00Z",
            },
            "spec": {"dagName": "sales", "from": "2026-01-01", "to": "2026-01-05", **spec},
            "status": status or {},
        }
    )


def accepted(bf: Backfill, dag_spec: DagSpec | None = None, now: datetime = NOW) -> Backfill:
    plan = accept(bf, dag_spec or dag(), [], now)
    assert isinstance(plan, BackfillPlan), plan
    bf.status.plan = plan
    return bf


def dates(bf: Backfill, dag_spec: DagSpec | None = None, now: datetime = NOW) -> list[datetime]:
    plan = accept(bf, dag_spec or dag(), [], now)
    assert isinstance(plan, BackfillPlan), plan
    return [p.logical_date for p in planned_dates(bf, plan)]


# -- Rule 1-4: which dates, in which order -------------------------------------------------


@dataclass(frozen=True)
class DatesCase:
    name: str
    spec: dict[str, Any]
    expected: list[datetime]
    dag: dict[str, Any] = field(default_factory=dict)
    now: datetime = NOW


DATES_CASES = [
    DatesCase(
        "both ends inclusive (test_create_backfill_simple)",
        {"from": "2026-01-01", "to": "2026-01-05"},
        [day(d) for d in range(1, 6)],
    ),
    DatesCase(
        "from aligned up to the next tick",
        {"from": "2026-01-01T12:00:00Z", "to": "2026-01-03"},
        [day(2), day(3)],
    ),
    DatesCase(
        "a date-only to means midnight: 30 6 * * * stops at 01-02 06:30",
        {"from": "2026-01-01", "to": "2026-01-03"},
        [day(1, hour=6, minute=30), day(2, hour=6, minute=30)],
        {"schedule": "30 6 * * *"},
    ),
    DatesCase(
        "a date-only date is midnight in the DAG's timezone",
        {"from": "2026-01-02", "to": "2026-01-03"},
        [day(1, hour=23), day(2, hour=23)],
        {"timezone": "Europe/Berlin"},
    ),
    DatesCase(
        "the DAG's startDate, endDate and catchup are ignored",
        {"from": "2026-01-01", "to": "2026-01-03"},
        [day(1), day(2), day(3)],
        {"startDate": "2026-02-01", "endDate": "2026-02-05", "catchup": False},
    ),
    DatesCase(
        "only intervals that ended before now: the one ending exactly now is left out",
        {"from": "2026-01-01", "to": "2026-01-10"},
        [day(1), day(2), day(3)],
        now=day(5),
    ),
    DatesCase(
        "run backwards: newest first",
        {"from": "2026-01-01", "to": "2026-01-03", "runBackwards": True},
        [day(3), day(2), day(1)],
    ),
    DatesCase(
        "a single date",
        {"from": "2026-01-04", "to": "2026-01-04"},
        [day(4)],
    ),
    DatesCase(
        "hourly across a range",
        {"from": "2026-01-01T22:00:00Z", "to": "2026-01-02T01:00:00Z"},
        [day(1, hour=22), day(1, hour=23), day(2), day(2, hour=1)],
        {"schedule": "@hourly"},
    ),
]


@pytest.mark.parametrize("case", DATES_CASES, ids=lambda c: c.name)
def test_planned_dates(case: DatesCase) -> None:
    assert dates(backfill(**case.spec), dag(**case.dag), case.now) == case.expected


def test_the_plan_records_the_schedule_and_cutoff_so_a_dag_edit_does_not_move_dates() -> None:
    bf = accepted(backfill(), dag(schedule="@daily"))
    assert bf.status.plan == BackfillPlan(schedule="@daily", timezone="UTC", cutoff=NOW)
    assert [p.logical_date for p in planned_dates(bf, bf.status.plan)] == [
        day(d) for d in range(1, 6)
    ]


# -- Rules 3 and 7: refusals ---------------------------------------------------------------


def other(name: str, state: BackfillState | None, created: datetime, dry: bool = False) -> Any:
    return OtherBackfill(name=name, created=created, state=state, dry_run=dry)


EARLIER, LATER = day(1, month=3, hour=10), day(1, month=3, hour=11, minute=30)


@pytest.mark.parametrize(
    ("spec", "dag_spec", "others", "reason"),
    [
        ({"from": "2026-01-05", "to": "2026-01-01"}, {}, [], "InvalidDateRange"),
        ({"from": "2026-03-02", "to": "2026-03-09"}, {}, [], "FutureDates"),
        ({"from": "2026-03-01T12:00:00Z", "to": "2026-03-09"}, {}, [], "FutureDates"),
        ({}, {"schedule": None, "startDate": None}, [], "NonPeriodicSchedule"),
        ({}, {"schedule": "@once"}, [], "NonPeriodicSchedule"),
        ({}, {}, [other("a", BackfillState.RUNNING, LATER)], "AlreadyRunningBackfill"),
        ({}, {}, [other("a", None, EARLIER)], "AlreadyRunningBackfill"),
        # A range with no tick that has ended (NoBackfillRunsToCreate).
        ({"from": "2026-01-01T01:00:00Z", "to": "2026-01-01T23:00:00Z"}, {}, [], "NoRunsToCreate"),
        ({"from": "2026-02-28T06:00:00Z", "to": "2026-03-05"}, {}, [], "NoRunsToCreate"),
        # Not refused:
        ({"from": "2026-02-27", "to": "2026-03-09"}, {}, [], None),  # one end in the past
        ({}, {}, [other("a", BackfillState.COMPLETED, EARLIER)], None),
        ({}, {}, [other("a", BackfillState.CANCELLED, EARLIER)], None),
        ({}, {}, [other("a", BackfillState.REFUSED, EARLIER)], None),
        ({}, {}, [other("a", None, LATER)], None),  # the newer one waits for this one
        ({}, {}, [other("a", BackfillState.RUNNING, EARLIER, dry=True)], None),
        ({"dryRun": True}, {}, [other("a", BackfillState.RUNNING, EARLIER)], None),
        (
            {"dryRun": True, "from": "2026-01-01T01:00:00Z", "to": "2026-01-01T02:00:00Z"},
            {},
            [],
            None,
        ),
    ],
)
def test_refusals(
    spec: dict[str, Any], dag_spec: dict[str, Any], others: list[Any], reason: str | None
) -> None:
    result = accept(backfill(**spec), dag(**dag_spec), others, NOW)
    if reason is None:
        assert isinstance(result, BackfillPlan), result
    else:
        assert isinstance(result, Problem) and result.reason == reason, result
        assert result.message


def test_a_refusal_names_the_problem() -> None:
    result = accept(backfill(), dag(schedule=None, startDate=None), [], NOW)
    assert isinstance(result, Problem)
    assert "sales" in result.message and "non-periodic" in result.message
    result = accept(backfill(), dag(), [other("older", BackfillState.RUNNING, EARLIER)], NOW)
    assert isinstance(result, Problem) and "older" in result.message


# -- Rule 5: the decision for each date ----------------------------------------------------


def run(
    d: int,
    state: RunState | None,
    *,
    mine: bool = False,
    name: str | None = None,
    created: datetime | None = None,
    pending: str | None = None,
) -> RunSummary:
    return RunSummary(
        name=name
        or (f"sales-backfill-202601{d:02d}-0000" if mine else f"sales-202601{d:02d}-0000"),
        run_type=RunType.BACKFILL if mine else RunType.SCHEDULED,
        logical_date=day(d),
        interval=DataInterval(day(d), day(d + 1)),
        state=state,
        backfill="bf" if mine else None,
        created=created or day(d + 1),
        pending_request=pending,
    )


S, F, R, Q = RunState.SUCCESS, RunState.FAILED, RunState.RUNNING, RunState.QUEUED
EXISTING = [run(2, S), run(3, F), run(4, R), run(5, Q)]  # day 1 has no run


@pytest.mark.parametrize(
    ("behaviour", "created", "rerun", "skipped"),
    [
        ("none", [day(1)], [], {ALREADY_EXISTS: [day(2), day(3)], IN_FLIGHT: [day(4), day(5)]}),
        (
            "failed",
            [day(1)],
            ["sales-20260103-0000"],
            {ALREADY_EXISTS: [day(2)], IN_FLIGHT: [day(4), day(5)]},
        ),
        (
            "completed",
            [day(1)],
            ["sales-20260102-0000", "sales-20260103-0000"],
            {IN_FLIGHT: [day(4), day(5)]},
        ),
    ],
)
def test_reprocess_behaviour(
    behaviour: str, created: list[datetime], rerun: list[str], skipped: dict[str, list[datetime]]
) -> None:
    bf = accepted(backfill(reprocessBehavior=behaviour))
    decision = advance(bf, planned_dates(bf, bf.status.plan), EXISTING, now=NOW)  # type: ignore[arg-type]
    assert [p.logical_date for p in decision.to_create] == created
    assert decision.to_rerun == rerun
    assert {s.reason: s.dates for s in decision.status.skipped} == skipped
    status = decision.status
    assert status.planned == 5 and status.next_date == 5
    assert status.progress == f"{1 + len(rerun)}/5"
    assert status.running is not None and status.running.count == 1 + len(rerun)
    assert status.state is BackfillState.RUNNING


def test_only_the_newest_run_of_a_date_counts() -> None:
    older_failed = run(1, F, name="sales-manual-1", created=day(2))
    newer_success = run(1, S, created=day(3))
    bf = accepted(backfill(reprocessBehavior="failed", to="2026-01-01"))
    decision = advance(
        bf, planned_dates(bf, bf.status.plan), [older_failed, newer_success], now=NOW
    )  # type: ignore[arg-type]
    assert decision.to_rerun == []
    assert [s.reason for s in decision.status.skipped] == [ALREADY_EXISTS]
    decision = advance(
        bf,
        planned_dates(bf, bf.status.plan),  # type: ignore[arg-type]
        [replace_created(older_failed, day(4)), newer_success],
        now=NOW,
    )
    assert decision.to_rerun == ["sales-manual-1"]


def replace_created(summary: RunSummary, created: datetime) -> RunSummary:
    from dataclasses import replace

    return replace(summary, created=created)


# -- Rule 8: the backfill's own limit; lazy creation ---------------------------------------


def test_runs_are_created_as_the_limit_allows_never_all_at_once() -> None:
    bf = accepted(backfill(maxActiveRuns=2, to="2026-01-10"))
    plan = planned_dates(bf, bf.status.plan)  # type: ignore[arg-type]
    first = advance(bf, plan, [], now=NOW)
    assert [p.logical_date for p in first.to_create] == [day(1), day(2)]
    assert first.status.next_date == 2
    # Those two exist and run: nothing more.
    runs = [run(1, R, mine=True), run(2, None, mine=True)]
    bf.status = first.status
    assert advance(bf, plan, runs, now=NOW).to_create == []
    # One finishes: one more.
    runs = [run(1, S, mine=True), run(2, R, mine=True)]
    following = advance(bf, plan, runs, now=NOW)
    assert [p.logical_date for p in following.to_create] == [day(3)]
    assert following.status.succeeded is not None and following.status.succeeded.dates == [day(1)]


def test_skipped_dates_take_no_slot_and_a_pending_rerun_counts_as_in_flight() -> None:
    bf = accepted(backfill(maxActiveRuns=1, reprocessBehavior="failed", to="2026-01-04"))
    plan = planned_dates(bf, bf.status.plan)  # type: ignore[arg-type]
    runs = [run(1, S), run(2, F), run(3, S)]
    decision = advance(bf, plan, runs, now=NOW)
    assert decision.to_rerun == ["sales-20260102-0000"] and decision.to_create == []
    assert decision.status.next_date == 3  # day 3's skip needs no slot
    # Re-run requested but not applied yet: the run still says failed, yet it is in flight.
    rerun = run(2, F, mine=True, name="sales-20260102-0000", pending=request_id(bf))
    bf.status = decision.status
    after = advance(bf, plan, [runs[0], rerun, runs[2]], now=NOW)
    assert after.to_create == [] and after.to_rerun == []
    assert after.status.running is not None and after.status.running.count == 1
    applied = run(2, S, mine=True, name="sales-20260102-0000")
    done = advance(bf, plan, [runs[0], applied, runs[2]], now=NOW)
    assert [p.logical_date for p in done.to_create] == [day(4)]
    assert done.status.next_date == 4


def test_a_decision_is_taken_once_when_the_date_is_reached() -> None:
    bf = accepted(backfill(maxActiveRuns=5, reprocessBehavior="failed", to="2026-01-02"))
    plan = planned_dates(bf, bf.status.plan)  # type: ignore[arg-type]
    first = advance(bf, plan, [run(2, R)], now=NOW)
    assert [s.dates for s in first.status.skipped] == [[day(2)]]
    bf.status = first.status
    # The in-flight run failed later: still skipped, and why.
    later = advance(bf, plan, [run(1, S, mine=True), run(2, F)], now=NOW)
    assert later.to_rerun == []
    assert {s.reason: s.dates for s in later.status.skipped} == {IN_FLIGHT: [day(2)]}
    assert later.status.state is BackfillState.COMPLETED
    assert later.status.completion_time == NOW
    gone = advance(bf, plan, [run(1, S, mine=True)], now=NOW)
    assert {s.reason: s.count for s in gone.status.skipped} == {RUN_DELETED: 1}


def test_runs_of_its_own_beyond_the_recorded_progress_are_not_made_again() -> None:
    """A restart after creating runs but before the status write: the runs tell."""
    bf = accepted(backfill(maxActiveRuns=2))
    plan = planned_dates(bf, bf.status.plan)  # type: ignore[arg-type]
    decision = advance(bf, plan, [run(1, S, mine=True), run(2, R, mine=True)], now=NOW)
    assert [p.logical_date for p in decision.to_create] == [day(3)]
    assert decision.status.next_date == 3
    ahead = advance(bf, plan, [run(1, S, mine=True)], now=NOW, next_date=3)
    assert [p.logical_date for p in ahead.to_create] == [day(4), day(5)]  # 2, 3: run deleted
    assert {s.reason: s.count for s in ahead.status.skipped} == {RUN_DELETED: 2}


def test_backwards_creates_newest_first() -> None:
    bf = accepted(backfill(maxActiveRuns=2, runBackwards=True))
    decision = advance(bf, planned_dates(bf, bf.status.plan), [], now=NOW)  # type: ignore[arg-type]
    assert [p.logical_date for p in decision.to_create] == [day(5), day(4)]


def test_completed_when_every_date_is_decided_and_its_runs_finished() -> None:
    bf = accepted(backfill(to="2026-01-02"))
    plan = planned_dates(bf, bf.status.plan)  # type: ignore[arg-type]
    bf.status.next_date = 2
    running = advance(bf, plan, [run(1, S, mine=True), run(2, R, mine=True)], now=NOW)
    assert running.status.state is BackfillState.RUNNING
    done = advance(bf, plan, [run(1, S, mine=True), run(2, F, mine=True)], now=NOW)
    assert done.status.state is BackfillState.COMPLETED
    assert (
        done.status.succeeded and done.status.succeeded.count,
        done.status.failed and done.status.failed.count,
    ) == (1, 1)
    assert done.status.progress == "2/2"


def test_at_most_100_dates_are_listed_per_class() -> None:
    bf = accepted(backfill(**{"from": "2025-01-01", "to": "2025-12-31"}, maxActiveRuns=1000))
    plan = planned_dates(bf, bf.status.plan)  # type: ignore[arg-type]
    decision = advance(bf, plan, [], now=NOW)
    assert len(decision.to_create) == 365
    created = decision.status.created
    assert created is not None and created.count == 365 and len(created.dates) == 100


# -- Rule 9: pause and cancel --------------------------------------------------------------


def test_paused_starts_nothing_more() -> None:
    bf = accepted(backfill(paused=True))
    decision = advance(bf, planned_dates(bf, bf.status.plan), [], now=NOW)  # type: ignore[arg-type]
    assert decision.to_create == [] and decision.status.next_date == 0
    assert decision.status.state is BackfillState.RUNNING
    assert decision.status.conditions[0].reason == "Paused"


def test_cancel_fails_queued_runs_once_and_lets_running_ones_finish() -> None:
    bf = accepted(backfill(cancel=True, maxActiveRuns=3))
    plan = planned_dates(bf, bf.status.plan)  # type: ignore[arg-type]
    bf.status.next_date = 3
    bf.status.state = BackfillState.RUNNING
    runs = [run(1, R, mine=True), run(2, Q, mine=True), run(3, None, mine=True)]
    decision = advance(bf, plan, runs, now=NOW)
    assert decision.to_create == []
    assert decision.to_fail == ["sales-backfill-20260102-0000", "sales-backfill-20260103-0000"]
    assert decision.status.state is BackfillState.CANCELLED
    assert decision.status.completion_time == NOW
    # Once cancelled, a run cleared afterwards runs (apache/airflow#72337 not copied).
    bf.status = decision.status
    again = advance(bf, plan, [run(1, S, mine=True), run(2, Q, mine=True)], now=NOW)
    assert again.to_fail == [] and again.to_create == []


def test_a_deleted_backfill_is_cancelled() -> None:
    bf = accepted(backfill())
    bf.status.state = BackfillState.RUNNING
    plan = planned_dates(bf, bf.status.plan)  # type: ignore[arg-type]
    decision = advance(bf, plan, [run(1, Q, mine=True)], now=NOW, deleted=True)
    assert decision.to_fail == ["sales-backfill-20260101-0000"] and decision.to_create == []


# -- Rule 10: dry run ----------------------------------------------------------------------


def test_dry_run_lists_what_it_would_create_or_clear_and_does_nothing() -> None:
    bf = accepted(backfill(dryRun=True, reprocessBehavior="failed"))
    decision = advance(bf, planned_dates(bf, bf.status.plan), EXISTING, now=NOW)  # type: ignore[arg-type]
    assert decision.to_create == [] and decision.to_rerun == [] and decision.to_fail == []
    status = decision.status
    assert status.would_create is not None and status.would_create.dates == [day(1)]
    assert status.would_rerun is not None and status.would_rerun.dates == [day(3)]
    assert status.skipped == [] and status.state is BackfillState.COMPLETED


def test_dry_run_of_an_empty_window_is_an_empty_list() -> None:
    bf = accepted(
        backfill(dryRun=True, **{"from": "2026-01-01T01:00:00Z", "to": "2026-01-01T02:00:00Z"})
    )
    decision = advance(bf, planned_dates(bf, bf.status.plan), [], now=NOW)  # type: ignore[arg-type]
    assert decision.status.would_create is not None and decision.status.would_create.count == 0
    assert decision.status.planned == 0


def test_request_id_is_the_shared_contracts_and_fits() -> None:
    assert request_id(backfill()) == "backfill/bf/uid-bf"
    assert len(request_id(backfill(name="x" * 200))) == 128


def test_status_round_trips_through_the_wire() -> None:
    bf = accepted(backfill(reprocessBehavior="completed"))
    decision = advance(bf, planned_dates(bf, bf.status.plan), EXISTING, now=NOW)  # type: ignore[arg-type]
    wire = decision.status.to_wire()
    assert BackfillStatus.model_validate(wire) == decision.status
    assert wire["skipped"] == [
        {
            "count": 2,
            "dates": ["2026-01-04T00:00:00Z", "2026-01-05T00:00:00Z"],
            "reason": "in flight",
        }
    ]
    assert timedelta(0) == NOW - wire_time(wire["startTime"])


def wire_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
