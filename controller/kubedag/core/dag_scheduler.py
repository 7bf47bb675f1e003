"""The DAG scheduler: which scheduled runs are due, which queued runs may start, and the
DAG's status, as pure functions of the DAG, its runs and the time.

Like the CronJob controller's syncCronJob: decisions depend only on the resources (the
newest scheduled run's data interval stands in for Airflow's next_dagrun column), so a
restart loses nothing, and run names derive from logical dates, so nothing is duplicated.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from kubedag.core.dates import localize
from kubedag.core.naming import dagrun_name
from kubedag.core.run_types import (
    counts_in_dag_outcomes,
    is_schedule_position,
    takes_dag_slot,
)
from kubedag.core.schedule import (
    Backlog,
    DataInterval,
    PlannedRun,
    Window,
    backlog,
    due_runs,
    next_wakeup,
    parse_timetable,
    upcoming_runs,
)
from kubedag.core.validation import Problem
from kubedag.models.common import Condition, find_condition, set_condition
from kubedag.models.dag import Dag, DagSpec, DagStatus, RunOutcome, ScheduleBacklog
from kubedag.models.dagrun import RunState, RunType, TaskState

# A DAG's run counts and schedule times are written at most this long after they change
# (the controller setting KUBEDAG_DAG_STATUS_BATCH), so a burst of run state changes, or a
# short run's creation, start and end, cost one status write (docs/performance.md).
STATUS_BATCH_DELAY = timedelta(seconds=5)

# While a DAG has runs queued or running, its batched status write waits for them to finish,
# at most this long from the first change it carries (status_batch_delay).
STATUS_HOLD_WHILE_RUNS = timedelta(seconds=30)

# Runs created per pass at most: with a large maxActiveRuns, a three-year catchup is created
# over several passes, so status and promotions keep flowing meanwhile.
CREATE_BATCH = 200

# Due runs counted one by one for the DAG's status; beyond this, estimated.
BACKLOG_EXACT = 100

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RunSummary:
    """What the scheduler needs of an existing DagRun."""

    name: str
    run_type: RunType
    logical_date: datetime | None
    interval: DataInterval | None
    state: RunState | None
    snapshot: str | None = None  # the pinned DAG version
    finished_at: datetime | None = None  # status.endTime
    backfill: str | None = None  # spec.backfill
    created: datetime | None = None
    pending_request: str | None = None  # the id of a clear/mark request not applied yet
    started: datetime | None = None  # status.startTime
    unsuccessful: tuple[tuple[str, TaskState], ...] = ()
    """A finished run's tasks that did not succeed or skip, with their states (what a later
    run's dependsOnPast reads; empty for an unfinished run, whose body is cached)."""


@dataclass(frozen=True)
class RunChange:
    """A run's summary before and after a change (None: the run did not exist, or was
    deleted)."""

    before: RunSummary | None
    after: RunSummary | None


def moves_the_schedule(change: RunChange) -> bool:
    """Whether a run's change may let its DAG's pass create or start a run, so the pass
    should come soon. Other changes reach only the DAG's status (run counts, last outcome)
    and history cleanup, which may wait for the status batch (STATUS_BATCH_DELAY).

    Every change of a scheduled or manual run counts (it takes or frees a slot under
    maxActiveRuns, or it was deleted). A backfill or test run's counts only when the run
    becomes queued (cleared: the DAG's pass starts it): a backfill creates and starts its
    runs within its own limit, and a test run starts when it is pinned."""
    run = change.after or change.before
    if run is None:
        return False
    if takes_dag_slot(run.run_type):
        return True
    return change.after is not None and change.after.state is RunState.QUEUED


@dataclass
class DagDecision:
    runs_to_create: list[PlannedRun] = field(default_factory=list)  # manifests.render.dagrun
    runs_to_start: list[str] = field(default_factory=list)
    status: DagStatus = field(default_factory=DagStatus)
    requeue_at: datetime | None = None


@dataclass(frozen=True)
class SchedulePlan:
    due: list[PlannedRun]
    """The runs to create now, oldest first (at most the limit asked for)."""
    upcoming: list[PlannedRun]
    next_run_after: datetime | None
    """When the first run not in `due` may be created; in the past while a backlog waits."""
    backlog: Backlog | None = None
    """Due runs beyond `due` (beyond the limit)."""


def plan_schedule(
    spec: DagSpec,
    *,
    catchup_default: bool,
    last_interval: DataInterval | None,
    now: datetime,
    limit: int | None = None,
    upcoming: int = 0,
) -> SchedulePlan:
    """The scheduled runs due at `now` after the run covering `last_interval`, oldest first,
    at most `limit` of them; what is due beyond that is summarised as a backlog (counted
    without walking it), and then `upcoming` and the wake-up are left out: they lie past
    the whole backlog.

    Shared by the controller and `kubedag plan`, so the CLI shows what the controller does.
    """
    if spec.schedule is None or spec.start_date is None:
        return SchedulePlan([], [], None)
    window = Window(
        timetable=parse_timetable(spec.schedule, spec.timezone),
        start_date=localize(spec.start_date, spec.timezone),
        end_date=localize(spec.end_date, spec.timezone) if spec.end_date else None,
        catchup=catchup_default if spec.catchup is None else spec.catchup,
        last_interval=last_interval,
        now=now,
    )
    due = due_runs(window, limit=limit)
    after_due = window.after(due[-1].interval if due else last_interval)
    if limit is not None:
        waiting = backlog(after_due, exact_up_to=BACKLOG_EXACT)
        if waiting is not None:
            return SchedulePlan(due, [], waiting.oldest.run_after, waiting)
    later = upcoming_runs(after_due, count=upcoming) if upcoming else []
    return SchedulePlan(due, later, next_wakeup(after_due))


def _is_position(run: RunSummary) -> bool:
    return is_schedule_position(run.run_type) and run.interval is not None


def _position_key(run: RunSummary) -> tuple[datetime, datetime, str]:
    assert run.interval is not None
    return (run.interval.start, run.interval.end, run.name)


def _reached(run: RunSummary, state: RunState) -> bool:
    return (
        run.state is state and run.finished_at is not None and counts_in_dag_outcomes(run.run_type)
    )


def _outcome_key(run: RunSummary) -> tuple[datetime, datetime, str]:
    return (run.finished_at or EPOCH, run.logical_date or EPOCH, run.name)


def newest_scheduled_run(runs: Sequence[RunSummary]) -> RunSummary | None:
    """The scheduled run of the newest interval: the scheduler's position (history cleanup
    never deletes it)."""
    return max(filter(_is_position, runs), key=_position_key, default=None)


def newest_scheduled_interval(runs: Sequence[RunSummary]) -> DataInterval | None:
    newest = newest_scheduled_run(runs)
    return newest.interval if newest else None


def last_outcome(
    runs: Sequence[RunSummary], state: RunState, remembered: RunOutcome | None
) -> RunOutcome | None:
    """The run that reached `state` most recently, among the runs and the one the DAG's
    status remembers (history cleanup may have deleted it since)."""
    newest = max((r for r in runs if _reached(r, state)), key=_outcome_key, default=None)
    candidates = [remembered] if remembered is not None else []
    if newest is not None:
        candidates.append(
            RunOutcome(
                run=newest.name, logical_date=newest.logical_date, finished_at=newest.finished_at
            )
        )
    if not candidates:
        return None
    return max(candidates, key=lambda o: (o.finished_at or EPOCH, o.logical_date or EPOCH, o.run))


@dataclass(frozen=True)
class FinishedMarks:
    """The only finished runs a DAG's pass reads: the newest scheduled run (the schedule's
    position) and the runs that reached success and failure last (the DAG's last outcomes).
    Every other decision of `reconcile_dag` reads unfinished runs only."""

    newest_scheduled: RunSummary | None = None
    last_success: RunSummary | None = None
    last_failure: RunSummary | None = None

    def with_run(self, run: RunSummary) -> "FinishedMarks":
        """The marks once the finished `run` is among the runs."""
        marks = self
        if _is_position(run) and _beats(run, marks.newest_scheduled, _position_key):
            marks = replace(marks, newest_scheduled=run)
        if _reached(run, RunState.SUCCESS) and _beats(run, marks.last_success, _outcome_key):
            marks = replace(marks, last_success=run)
        if _reached(run, RunState.FAILED) and _beats(run, marks.last_failure, _outcome_key):
            marks = replace(marks, last_failure=run)
        return marks

    def refreshed(self, run: RunSummary) -> "FinishedMarks | None":
        """The marks once a run that is one of them changed to `run` (a later status write);
        None when another run may have to take its place (it went back, or its key did)."""
        if is_unfinished(run):
            return None
        changed: dict[str, RunSummary] = {}
        for field_name, qualifies, key in (
            ("newest_scheduled", _is_position, _position_key),
            ("last_success", lambda r: _reached(r, RunState.SUCCESS), _outcome_key),
            ("last_failure", lambda r: _reached(r, RunState.FAILED), _outcome_key),
        ):
            mark: RunSummary | None = getattr(self, field_name)
            if mark is None or mark.name != run.name:
                continue
            if not qualifies(run) or key(run) < key(mark):
                return None
            changed[field_name] = run
        return replace(self, **changed).with_run(run)

    def names(self) -> set[str]:
        return {r.name for r in self.runs()}

    def runs(self) -> list[RunSummary]:
        found = (self.newest_scheduled, self.last_success, self.last_failure)
        unique = {r.name: r for r in found if r is not None}
        return list(unique.values())


def _beats(
    run: RunSummary,
    mark: RunSummary | None,
    key: Callable[[RunSummary], tuple[datetime, datetime, str]],
) -> bool:
    return mark is None or key(run) > key(mark)


def is_unfinished(run: RunSummary) -> bool:
    return run.state is None or not run.state.finished


def finished_marks(runs: Iterable[RunSummary]) -> FinishedMarks:
    marks = FinishedMarks()
    for run in runs:
        if not is_unfinished(run):
            marks = marks.with_run(run)
    return marks


def scheduler_view(runs: Sequence[RunSummary]) -> list[RunSummary]:
    """The runs `reconcile_dag` needs: the unfinished ones and the finished marks. Given
    them, it decides as it does given every run (tests/unit/test_dag_scheduler_view.py), so a
    DAG's pass costs its unfinished runs, not its history (the informer keeps the view
    up to date: reconcilers/run_index.py)."""
    return [r for r in runs if is_unfinished(r)] + finished_marks(runs).runs()


def schedule_position(runs: Sequence[RunSummary], status: DagStatus | None) -> DataInterval | None:
    """Where the schedule goes on from: the newest scheduled interval, of the runs or as the
    status recorded it, whichever is later. The runs cover a status write not made yet; the
    status covers runs deleted since (by hand or by history cleanup), which must not come
    back, as in Airflow, where the DAG's next_dagrun column carries the position."""
    from_runs = newest_scheduled_interval(runs)
    if status is None or status.last_scheduled_run is None:
        return from_runs
    if status.last_scheduled_interval_end is None:
        return from_runs
    recorded = DataInterval(status.last_scheduled_run, status.last_scheduled_interval_end)
    if from_runs is None:
        return recorded
    return max(from_runs, recorded, key=lambda i: (i.end, i.start))


def room_for_scheduled_runs(runs: Sequence[RunSummary], max_active_runs: int) -> int:
    """How many scheduled runs may be created now: Airflow creates one only while the DAG's
    queued and running runs (backfill and test runs aside) are fewer than max_active_runs."""
    active = sum(
        1 for r in runs if takes_dag_slot(r.run_type) and (r.state is None or not r.state.finished)
    )
    return max(0, max_active_runs - active)


def runs_to_start(
    runs: Sequence[RunSummary], max_active_runs: int, *, paused: bool = False
) -> list[str]:
    """Queued runs to promote to running, oldest logical date first.

    Backfill runs first and always (Airflow's rule 8: the DAG's maxActiveRuns counts only
    the other runs; a backfill keeps its own runs within its own limit by creating them as
    it allows), even while the DAG is paused, unlike Airflow 3 (apache/airflow#60768): a
    backfill is asked for by hand. Test runs likewise (they take no slot). The other queued
    runs of a paused DAG stay queued."""
    queued = sorted((r for r in runs if r.state is RunState.QUEUED), key=_start_order)
    by_hand = [r.name for r in queued if not takes_dag_slot(r.run_type)]
    others = [r.name for r in queued if takes_dag_slot(r.run_type)]
    return by_hand + others[: _free_slots(runs, max_active_runs, paused)]


def _start_order(run: RunSummary) -> tuple[bool, bool, datetime | None, str]:
    return (takes_dag_slot(run.run_type), run.logical_date is None, run.logical_date, run.name)


def _free_slots(runs: Iterable[RunSummary], max_active_runs: int, paused: bool) -> int:
    running = sum(1 for r in runs if r.state is RunState.RUNNING and takes_dag_slot(r.run_type))
    return 0 if paused else max(0, max_active_runs - running)


def starts_at_pin(
    runs: Sequence[RunSummary], pinned: RunSummary, max_active_runs: int, *, paused: bool = False
) -> bool:
    """Whether a run being pinned may go straight to running instead of waiting, queued, for
    the DAG's next pass: exactly when `runs_to_start` would promote it, with every run not
    yet pinned counted as queued, so an older one still starts first. Counted in one walk,
    without copying the runs: it is asked at every pin, and a DAG may have hundreds of runs
    open (docs/performance.md, "`make bench` with pod sweeps, held launches and four creators")."""
    if pinned.state is not RunState.QUEUED:
        return False
    if not takes_dag_slot(pinned.run_type):
        return True  # by hand: started whatever the DAG's slots
    order = _start_order(pinned)
    others = [r for r in runs if r.name != pinned.name]
    ahead = sum(
        1
        for r in others
        if r.state in (None, RunState.QUEUED)
        and takes_dag_slot(r.run_type)
        and _start_order(r) < order
    )
    return ahead < _free_slots(others, max_active_runs, paused)


def status_write_is_urgent(old: DagStatus | None, new: DagStatus) -> bool:
    """Whether a DAG's new status must be written at once: validity (the Ready condition and
    observedGeneration) is, since users apply a DAG and look; run counts and schedule times
    change with every run and are written in batches (STATUS_BATCH_DELAY)."""
    old = old or DagStatus()
    return (
        old.observed_generation != new.observed_generation
        or old.conditions != new.conditions
        or old.datasets != new.datasets  # a dataset-triggered run was created on it
        or old.shard != new.shard  # another shard took its namespace
    )


def status_batch_delay(new: DagStatus, delay: timedelta) -> timedelta:
    """How long a DAG's batched status write waits after the first change it carries: `delay`
    (STATUS_BATCH_DELAY) once no run is queued or running, else up to STATUS_HOLD_WHILE_RUNS.
    A run's creation, start and end then make one write even when the run takes longer than
    `delay`, and a long run's counts are still shown within STATUS_HOLD_WHILE_RUNS."""
    in_flight = (new.active_runs or 0) + (new.queued_runs or 0) > 0
    return max(delay, STATUS_HOLD_WHILE_RUNS) if in_flight else delay


def ready_condition(problems: Sequence[Problem], generation: int, now: datetime) -> Condition:
    if problems:
        return Condition(
            type="Ready",
            status="False",
            reason=problems[0].reason,
            message="; ".join(p.message for p in problems),
            last_transition_time=now,
            observed_generation=generation,
        )
    return Condition(
        type="Ready",
        status="True",
        reason="Valid",
        message="DAG is valid",
        last_transition_time=now,
        observed_generation=generation,
    )


def reconcile_dag(
    dag: Dag,
    runs: Sequence[RunSummary],
    problems: Sequence[Problem],
    *,
    now: datetime,
    catchup_default: bool,
) -> DagDecision:
    """One pass over a DAG: create due scheduled runs, promote queued runs, compute status."""
    spec = dag.spec
    decision = DagDecision()
    last_interval = schedule_position(runs, dag.status)
    next_run_after = None
    waiting: Backlog | None = None
    room = room_for_scheduled_runs(runs, spec.max_active_runs)
    if not problems and not spec.paused:
        plan = plan_schedule(
            spec,
            catchup_default=catchup_default,
            last_interval=last_interval,
            now=now,
            limit=min(CREATE_BATCH, room),
        )
        existing = {r.name for r in runs}
        for planned in plan.due:
            if dagrun_name(dag.name, RunType.SCHEDULED, planned.logical_date) not in existing:
                decision.runs_to_create.append(planned)
            last_interval = planned.interval
        next_run_after = plan.next_run_after
        waiting = plan.backlog
    decision.runs_to_start = runs_to_start(runs, spec.max_active_runs, paused=spec.paused)
    started = set(decision.runs_to_start)

    old = dag.status or DagStatus()
    status = DagStatus(
        observed_generation=dag.generation,
        conditions=set_condition(old.conditions, ready_condition(problems, dag.generation, now)),
        last_scheduled_run=last_interval.start if last_interval else None,
        last_scheduled_interval_end=last_interval.end if last_interval else None,
        next_run_after=next_run_after,
        backlog=None
        if waiting is None
        else ScheduleBacklog(
            due=waiting.count,
            estimated=waiting.estimated or None,
            oldest=waiting.oldest.logical_date,
        ),
        active_runs=sum(1 for r in runs if r.state is RunState.RUNNING or r.name in started),
        queued_runs=sum(  # a run not pinned yet is queued too, as far as users can tell
            1 for r in runs if r.state in (None, RunState.QUEUED) and r.name not in started
        )
        + len(decision.runs_to_create),
        last_successful_run=last_outcome(runs, RunState.SUCCESS, old.last_successful_run),
        last_failed_run=last_outcome(runs, RunState.FAILED, old.last_failed_run),
    )
    decision.status = status
    if waiting is None:
        decision.requeue_at = next_run_after
    elif room > len(decision.runs_to_create):
        decision.requeue_at = now  # only the batch size held the rest back
    else:
        decision.requeue_at = None  # a run finishing makes room, and wakes the DAG
    return decision


def invalid_spec_status(
    old: DagStatus, generation: int, message: str, now: datetime
) -> DagStatus | None:
    """The status of a DAG whose spec the models refuse (the API server's schema let it
    through, e.g. one written before a schema change): `Ready=False` with reason
    `InvalidSpec`. None when the status says so already."""
    ready = find_condition(old.conditions, "Ready")
    if ready is not None and ready.reason == "InvalidSpec" and ready.message == message:
        return None
    problem = Problem(reason="InvalidSpec", message=message)
    return DagStatus(
        observed_generation=generation,
        conditions=set_condition(old.conditions, ready_condition([problem], generation, now)),
    )
