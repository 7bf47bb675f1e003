"""A DAG's pass reads its unfinished runs and a few finished marks, not its history
(`dag_scheduler.scheduler_view`), and the informer keeps that view, the runs by date and the
snapshots referenced as runs come, change and go (`reconcilers/run_index.py`). Both are
checked against the walk of every run they replace. No cluster."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from kubedag.core import history, past
from kubedag.core.dag_scheduler import (
    RunSummary,
    finished_marks,
    reconcile_dag,
    scheduler_view,
    starts_at_pin,
)
from kubedag.core.history import HistoryPolicy
from kubedag.core.naming import dagrun_name
from kubedag.core.schedule import DataInterval
from kubedag.models.dag import Dag, DagStatus, RunOutcome
from kubedag.models.dagrun import RunState, RunType
from kubedag.reconcilers.run_index import DagRunIndex
from tests.unit.builders import task

T0 = datetime(2026, 3, 1, tzinfo=UTC)
STATES = [None, *RunState]


@st.composite
def run_summaries(draw: st.DrawFn, name_pool: int = 12) -> RunSummary:
    """A run as the cache holds one: a scheduled run is named for its logical date, as
    the scheduler names it; any type ends at any time."""
    run_type = draw(st.sampled_from(list(RunType)))
    day = draw(st.integers(0, 9))
    logical = T0 + timedelta(days=day)
    state = draw(st.sampled_from(STATES))
    finished = state is not None and state.finished
    if run_type is RunType.SCHEDULED:
        name = dagrun_name("sales", run_type, logical)
    else:
        name = f"sales-{run_type.value}-{draw(st.integers(0, name_pool))}"
    return RunSummary(
        name=name,
        run_type=run_type,
        logical_date=logical if draw(st.booleans()) or run_type is RunType.SCHEDULED else None,
        interval=DataInterval(logical, logical + timedelta(days=1))
        if run_type in (RunType.SCHEDULED, RunType.BACKFILL)
        else None,
        state=state,
        snapshot=draw(st.sampled_from([None, "sales-v1", "sales-v2"])),
        finished_at=T0 + timedelta(days=day, hours=draw(st.integers(1, 40)))
        if finished and draw(st.integers(0, 9))
        else None,
    )


def unique(runs: list[RunSummary]) -> list[RunSummary]:
    return list({r.name: r for r in runs}.values())


def dag(max_active_runs: int, paused: bool, catchup: bool, status: DagStatus | None) -> Dag:
    body = {
        "metadata": {"name": "sales", "namespace": "etl", "uid": "u", "generation": 2},
        "spec": {
            "tasks": [task("a")],
            "schedule": "@daily",
            "startDate": "2026-03-01",
            "maxActiveRuns": max_active_runs,
            "paused": paused,
            "catchup": catchup,
        },
    }
    if status is not None:
        body["status"] = status.to_wire()
    return Dag.model_validate(body)


@settings(max_examples=300)
@given(
    runs=st.lists(run_summaries(), max_size=25).map(unique),
    max_active_runs=st.integers(1, 4),
    paused=st.booleans(),
    catchup=st.booleans(),
    remembered=st.booleans(),
    now_days=st.integers(0, 14),
)
def test_a_pass_over_the_view_decides_as_a_pass_over_every_run(
    runs: list[RunSummary],
    max_active_runs: int,
    paused: bool,
    catchup: bool,
    remembered: bool,
    now_days: int,
) -> None:
    status = (
        DagStatus(
            last_scheduled_run=T0 + timedelta(days=2),
            last_scheduled_interval_end=T0 + timedelta(days=3),
            last_successful_run=RunOutcome(run="gone", finished_at=T0 + timedelta(days=3)),
        )
        if remembered
        else None
    )
    the_dag = dag(max_active_runs, paused, catchup, status)
    now = T0 + timedelta(days=now_days, hours=1)
    every = reconcile_dag(the_dag, runs, [], now=now, catchup_default=True)
    view = scheduler_view(runs)
    unfinished = [r for r in runs if r.state is None or not r.state.finished]
    assert len(view) <= len(unfinished) + 3
    assert reconcile_dag(the_dag, view, [], now=now, catchup_default=True) == every
    for pinned in unfinished:  # a pin reads only the unfinished runs (reconcilers/runs.py)
        as_queued = replace(pinned, state=RunState.QUEUED)
        assert starts_at_pin(unfinished, as_queued, max_active_runs, paused=paused) == (
            starts_at_pin(runs, as_queued, max_active_runs, paused=paused)
        )


Operation = tuple[str, RunSummary]
OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["put", "put", "put", "remove"]), run_summaries(name_pool=4)),
    max_size=40,
)


def by_name(runs: list[RunSummary]) -> list[RunSummary]:
    return sorted(runs, key=lambda r: r.name)


@settings(max_examples=300)
@given(operations=OPERATIONS, before_days=st.integers(0, 10))
def test_the_index_answers_as_a_walk_of_every_run(
    operations: list[Operation], before_days: int
) -> None:
    index = DagRunIndex()
    for operation, run in operations:
        if operation == "remove":
            index.remove(run.name)
        else:
            index.put(run, None)
        every = [summary for _, summary in index.summaries.values()]
        assert by_name(index.scheduler_view()) == by_name(scheduler_view(every))
    every = [summary for _, summary in index.summaries.values()]
    assert by_name(index.unfinished()) == by_name(
        [r for r in every if r.state is None or not r.state.finished]
    )
    assert index.snapshots() == {r.snapshot for r in every if r.snapshot}
    assert index.has_test_runs() == any(r.run_type is RunType.TEST for r in every)
    before = T0 + timedelta(days=before_days)
    walked = past.newest_first_before(every, before)
    assert list(index.newest_before(before)) == walked
    assert list(index.newest_before(before, "previous_under_catchup")) == [
        r for r in walked if past.counts_as_previous(r, catchup=True)
    ]
    assert list(index.newest_before(before, "successes")) == [
        r for r in walked if past.counts_as_previous_success(r)
    ]
    for catchup in (False, True):  # rule 22's answer, from either list
        candidates = index.newest_before(before, "previous_under_catchup" if catchup else "all")
        assert past.previous_among(candidates, catchup=catchup) == past.previous_run(
            every, before, catchup=catchup
        )
    successes = index.newest_before(before, "successes")
    assert past.previous_success_among(successes) == past.previous_success(every, before)


def test_a_mark_that_goes_back_is_replaced_by_the_next_best() -> None:
    def success(day: int) -> RunSummary:
        logical = T0 + timedelta(days=day)
        return RunSummary(
            name=dagrun_name("sales", RunType.SCHEDULED, logical),
            run_type=RunType.SCHEDULED,
            logical_date=logical,
            interval=DataInterval(logical, logical + timedelta(days=1)),
            state=RunState.SUCCESS,
            finished_at=logical + timedelta(days=1),
        )

    index = DagRunIndex()
    first, second = success(1), success(2)
    index.put(first, 1)
    index.put(second, 2)
    assert finished_marks(index.scheduler_view()).last_success == second
    cleared = replace(second, state=RunState.QUEUED, finished_at=None)
    index.put(cleared, 3)  # cleared: unfinished again, and no longer the last success
    marks = finished_marks(r for r in index.scheduler_view() if r != cleared)
    assert marks.last_success == first and marks.newest_scheduled == first
    assert cleared in index.scheduler_view()


@given(runs=st.lists(run_summaries(), max_size=25).map(unique), hours=st.integers(0, 400))
def test_a_policy_that_keeps_everything_deletes_nothing_but_test_runs(
    runs: list[RunSummary], hours: int
) -> None:
    now = T0 + timedelta(hours=hours)
    tests = any(r.run_type is RunType.TEST for r in runs)
    keep_all = HistoryPolicy()
    if not history.may_delete_runs(keep_all, tests):
        cleanup = history.runs_to_delete(runs, keep_all, protected=(), now=now)
        assert cleanup.runs_to_delete == [] and cleanup.look_again_at is None
    assert history.may_delete_runs(HistoryPolicy(successful_limit=5), False)
    assert history.may_delete_runs(HistoryPolicy(ttl=timedelta(days=1)), False)
    assert history.may_delete_runs(keep_all, True)


def test_a_run_that_succeeds_on_its_date_joins_the_successes_and_leaves_them_when_cleared() -> None:
    index = DagRunIndex()
    day = T0 + timedelta(days=1)
    running = RunSummary("sales-manual-1", RunType.MANUAL, day, None, RunState.RUNNING)
    after = T0 + timedelta(days=2)
    index.put(running, 1)
    assert list(index.newest_before(after, "successes")) == []
    succeeded = replace(running, state=RunState.SUCCESS, finished_at=after)
    index.put(succeeded, 2)  # same logical date, another list
    assert list(index.newest_before(after, "successes")) == [succeeded]
    assert list(index.newest_before(after)) == [succeeded]
    index.put(running, 3)  # cleared
    assert list(index.newest_before(after, "successes")) == []
    assert list(index.newest_before(after)) == [running]
