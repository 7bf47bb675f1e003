"""Backfills as pure functions: whether a request is accepted (Airflow 3's refusals, rules 3
and 7), which dates it covers (rules 1-4), what to do with each date given the runs that
exist (rule 5), and which runs to create or re-run now so that the backfill's own unfinished
runs stay within its maxActiveRuns (rule 8; runs are created as the limit allows, never all
at once).

Dates are decided in the backfill's order, one after the other: `status.nextDate` counts
the decided ones, so a date's decision is taken once, when its turn comes, and never
revisited (a run that was in flight then stays skipped when it finishes later).

A backfill's first date is exempt from dependsOnPast (`first_date`, Airflow's
`sort_ordinal == 1`), so `runBackwards` with a dependsOnPast task is refused
(InvalidBackfillDirection), as in Airflow.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from kubedag.core.dag_scheduler import RunSummary
from kubedag.core.dates import localize, parse_time
from kubedag.core.naming import fit
from kubedag.core.past import tasks_depending_on_past
from kubedag.core.run_types import seen_by_other_runs
from kubedag.core.schedule import PlannedRun, ScheduleError, parse_timetable, runs_between
from kubedag.core.validation import Problem
from kubedag.models.backfill import (
    MAX_LISTED_DATES,
    Backfill,
    BackfillPlan,
    BackfillSpec,
    BackfillState,
    BackfillStatus,
    DateList,
    ReprocessBehavior,
    SkippedDates,
)
from kubedag.models.common import Condition, set_condition
from kubedag.models.dag import DagSpec
from kubedag.models.dagrun import RunState, RunType

ALREADY_EXISTS = "already exists"
IN_FLIGHT = "in flight"
RUN_DELETED = "run deleted"
MAX_REQUEST_ID = 128


@dataclass(frozen=True)
class OtherBackfill:
    """What the one-backfill-at-a-time rule needs of another Backfill of the same DAG."""

    name: str
    created: datetime
    state: BackfillState | None
    dry_run: bool


def request_id(backfill: Backfill) -> str:
    """The clear request a re-run carries (the shared contract): unique per Backfill object."""
    return fit(f"backfill/{backfill.name}/{backfill.uid}", MAX_REQUEST_ID)


def _problem(reason: str, message: str) -> Problem:
    return Problem(reason=reason, message=message)


def accept(
    backfill: Backfill,
    dag: DagSpec,
    others: Iterable[OtherBackfill],
    now: datetime,
) -> BackfillPlan | Problem:
    """The plan of an acceptable request, or the problem Airflow would refuse it for."""
    spec = backfill.spec
    first, last = localize(spec.from_, dag.timezone), localize(spec.to, dag.timezone)
    if first > last:
        return _problem(
            "InvalidDateRange",
            f"from ({first.isoformat()}) is after to ({last.isoformat()}): from must be at or"
            " before to",
        )
    if first >= now and last >= now:
        return _problem(
            "FutureDates",
            f"from and to ({first.isoformat()}, {last.isoformat()}) both lie in the future:"
            " only intervals that have ended can be backfilled",
        )
    problem = _depends_on_past_problem(spec, dag)
    if problem is not None:
        return problem
    if dag.schedule is None or dag.schedule == "@once":
        what = "no schedule" if dag.schedule is None else "the schedule @once"
        return _problem(
            "NonPeriodicSchedule",
            f"DAG {spec.dag_name} has {what}, a non-periodic schedule that does not support"
            " backfills: give it a cron schedule",
        )
    try:
        parse_timetable(dag.schedule, dag.timezone)
    except ScheduleError as error:
        return _problem("InvalidSchedule", f"DAG {spec.dag_name}: {error}")
    stamp = backfill.metadata.get("creationTimestamp")
    created = parse_time(stamp) if stamp else now
    if not spec.dry_run:
        for other in others:
            if other.dry_run or (other.state is not None and other.state.finished):
                continue
            older = (other.created, other.name) < (created, backfill.name)
            if other.state is BackfillState.RUNNING or older:
                return _problem(
                    "AlreadyRunningBackfill",
                    f"Backfill {other.name} of DAG {spec.dag_name} is not finished: one"
                    " backfill of a DAG runs at a time (cancel it, or wait until it completes)",
                )
    plan = BackfillPlan(schedule=dag.schedule, timezone=dag.timezone, cutoff=now)
    if not spec.dry_run and not planned_dates(backfill, plan):
        return _problem(
            "NoRunsToCreate",
            f"no interval of schedule {dag.schedule!r} ({dag.timezone}) starts between"
            f" {first.isoformat()} and {last.isoformat()} and has ended",
        )
    return plan


def _depends_on_past_problem(spec: BackfillSpec, dag: DagSpec) -> Problem | None:
    """Airflow's refusals for a DAG with dependsOnPast tasks: its dates must run forwards
    (only the first date is exempt), and a finished date must be re-run, not left as is."""
    reading = tasks_depending_on_past(dag)
    if not reading:
        return None
    tasks = ", ".join(reading[:5]) + (", ..." if len(reading) > 5 else "")
    if spec.run_backwards:
        return _problem(
            "InvalidBackfillDirection",
            f"runBackwards: true, but DAG {spec.dag_name} has tasks with dependsOnPast ({tasks}):"
            " its dates must run forwards (runBackwards: false)",
        )
    if spec.reprocess_behavior is ReprocessBehavior.NONE:
        return _problem(
            "InvalidReprocessBehavior",
            f"reprocessBehavior: none, but DAG {spec.dag_name} has tasks with dependsOnPast"
            f" ({tasks}): set reprocessBehavior to failed or completed",
        )
    return None


def planned_dates(backfill: Backfill, plan: BackfillPlan) -> list[PlannedRun]:
    """Every date the backfill covers, in its order (newest first with runBackwards)."""
    spec = backfill.spec
    timetable = parse_timetable(plan.schedule, plan.timezone)
    first, last = localize(spec.from_, plan.timezone), localize(spec.to, plan.timezone)
    dates = list(runs_between(timetable, first, last, ended_before=plan.cutoff))
    return dates[::-1] if spec.run_backwards else dates


def first_date(backfill: Backfill, plan: BackfillPlan) -> datetime | None:
    """The logical date of the backfill's first run in its order, without listing the rest:
    dependsOnPast does not hold that run (Airflow's `sort_ordinal == 1`), even when the date
    was skipped (then no run of this backfill is exempt, as in Airflow)."""
    if backfill.spec.run_backwards:
        dates = planned_dates(backfill, plan)
        return dates[0].logical_date if dates else None
    spec = backfill.spec
    timetable = parse_timetable(plan.schedule, plan.timezone)
    first, last = localize(spec.from_, plan.timezone), localize(spec.to, plan.timezone)
    run = next(iter(runs_between(timetable, first, last, ended_before=plan.cutoff)), None)
    return run.logical_date if run else None


@dataclass
class BackfillDecision:
    status: BackfillStatus
    to_create: list[PlannedRun] = field(default_factory=list)
    to_rerun: list[str] = field(default_factory=list)
    """Finished runs to clear and run again as this backfill's (the merge patch)."""
    to_fail: list[str] = field(default_factory=list)
    """Queued runs of a backfill being cancelled."""


def _in_flight(run: RunSummary, request: str) -> bool:
    return run.state is None or not run.state.finished or run.pending_request == request


def _choice(run: RunSummary | None, behaviour: ReprocessBehavior) -> str:
    """Rule 5 for a date reached now: "create", "rerun", or the reason to skip it."""
    if run is None:
        return "create"
    if run.state is None or not run.state.finished:
        return IN_FLIGHT
    if behaviour is ReprocessBehavior.COMPLETED or (
        behaviour is ReprocessBehavior.FAILED and run.state is RunState.FAILED
    ):
        return "rerun"
    return ALREADY_EXISTS


def _runs_by_date(runs: Sequence[RunSummary], mine: str) -> dict[datetime, RunSummary]:
    """The run each date is judged by: this backfill's own if it has one, else the newest."""
    chosen: dict[datetime, RunSummary] = {}
    for run in runs:
        if run.logical_date is None or not seen_by_other_runs(run.run_type):
            continue
        known = chosen.get(run.logical_date)
        if known is None or _rank(run, mine) > _rank(known, mine):
            chosen[run.logical_date] = run
    return chosen


def _rank(run: RunSummary, mine: str) -> tuple[bool, str, str]:
    created = run.created.isoformat() if run.created else ""
    return (_is_mine(run, mine), created, run.name)


def _is_mine(run: RunSummary, name: str) -> bool:
    return run.backfill == name and run.run_type is RunType.BACKFILL


class _Tally:
    """The dates of each class, counted, with the first MAX_LISTED_DATES kept. Plain
    counters and lists while a pass adds a date per class (a model's attribute assignment
    costs several times as much), models at the end."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.dates: dict[str, list[datetime]] = {}

    def add(self, what: str, date: datetime) -> None:
        count = self.counts.get(what, 0)
        self.counts[what] = count + 1
        if count < MAX_LISTED_DATES:
            self.dates.setdefault(what, []).append(date)

    def get(self, what: str) -> DateList | None:
        if what not in self.counts:
            return None
        return DateList(count=self.counts[what], dates=self.dates[what])

    def count(self, what: str) -> int:
        return self.counts.get(what, 0)


def _skipped(tally: _Tally) -> list[SkippedDates]:
    return [
        SkippedDates(reason=reason, count=tally.counts[key], dates=tally.dates[key])
        for reason in (ALREADY_EXISTS, IN_FLIGHT, RUN_DELETED)
        if (key := f"skipped:{reason}") in tally.counts
    ]


def advance(
    backfill: Backfill,
    dates: Sequence[PlannedRun],
    runs: Sequence[RunSummary],
    *,
    now: datetime,
    next_date: int | None = None,
    deleted: bool = False,
) -> BackfillDecision:
    """One pass over an accepted backfill: its progress, and the runs to create or re-run now.

    `next_date`: the decided dates as the caller knows them, when newer than the status.
    `deleted`: the Backfill is gone; it is cancelled, as deleting it promises.
    """
    spec, old = backfill.spec, backfill.status
    name, request = backfill.name, request_id(backfill)
    cancelled = spec.cancel or deleted
    if spec.dry_run:
        return _dry_run(backfill, dates, runs, now)
    by_date = _runs_by_date(runs, name)
    mine = [r for r in runs if _is_mine(r, name)]
    free = max(0, spec.max_active_runs - sum(1 for r in mine if _in_flight(r, request)))
    decided = max(old.next_date, next_date or 0)
    may_start = not (cancelled or spec.paused)
    tally = _Tally()
    decision = BackfillDecision(status=BackfillStatus())
    for index, planned in enumerate(dates):
        date = planned.logical_date
        run = by_date.get(date)
        if run is not None and _is_mine(run, name):
            if index == decided:
                decided = index + 1
            tally.add("created", date)
            if _in_flight(run, request):
                tally.add("running", date)
            else:
                tally.add("succeeded" if run.state is RunState.SUCCESS else "failed", date)
            continue
        if index < decided:
            if run is None:
                tally.add(f"skipped:{RUN_DELETED}", date)
            else:  # a date to re-run would be this backfill's run: it was in flight then
                choice = _choice(run, spec.reprocess_behavior)
                tally.add(f"skipped:{IN_FLIGHT if choice == 'rerun' else choice}", date)
            continue
        if index > decided or not may_start:
            continue  # not reached yet
        choice = _choice(run, spec.reprocess_behavior)
        if choice in ("create", "rerun"):
            if free == 0:
                continue
            free -= 1
            if run is None:
                decision.to_create.append(planned)
            else:
                decision.to_rerun.append(run.name)
            tally.add("created", date)
            tally.add("running", date)
        else:
            tally.add(f"skipped:{choice}", date)
        decided = index + 1
    if cancelled and old.state is not BackfillState.CANCELLED:
        # Airflow's cancel fails the queued runs once; a run cleared afterwards runs again.
        decision.to_fail = [
            r.name
            for r in mine
            if r.state in (None, RunState.QUEUED) and r.pending_request != request
        ]
    if cancelled:
        state = BackfillState.CANCELLED
    elif decided >= len(dates) and tally.count("running") == 0:
        state = BackfillState.COMPLETED
    else:
        state = BackfillState.RUNNING
    decision.status = BackfillStatus(
        observed_generation=backfill.generation,
        conditions=_accepted(old.conditions, backfill.generation, now, paused=spec.paused),
        state=state,
        plan=old.plan,
        next_date=decided,
        planned=len(dates),
        progress=f"{tally.count('created')}/{len(dates)}",
        created=tally.get("created"),
        running=tally.get("running"),
        succeeded=tally.get("succeeded"),
        failed=tally.get("failed"),
        skipped=_skipped(tally),
        start_time=old.start_time or now,
        completion_time=old.completion_time or (now if state.finished else None),
    )
    return decision


def _dry_run(
    backfill: Backfill, dates: Sequence[PlannedRun], runs: Sequence[RunSummary], now: datetime
) -> BackfillDecision:
    """Rule 10: the dates a real backfill would create or clear, and nothing else."""
    old = backfill.status
    by_date = _runs_by_date(runs, backfill.name)
    tally = _Tally()
    for planned in dates:
        choice = _choice(by_date.get(planned.logical_date), backfill.spec.reprocess_behavior)
        if choice == "create":
            tally.add("create", planned.logical_date)
        elif choice == "rerun":
            tally.add("rerun", planned.logical_date)
    would = tally.count("create") + tally.count("rerun")
    status = BackfillStatus(
        observed_generation=backfill.generation,
        conditions=_accepted(old.conditions, backfill.generation, now, paused=False),
        state=BackfillState.COMPLETED,
        plan=old.plan,
        planned=len(dates),
        progress=f"0/{would}",
        would_create=tally.get("create") or DateList(),
        would_rerun=tally.get("rerun") or DateList(),
        start_time=old.start_time or now,
        completion_time=old.completion_time or now,
    )
    return BackfillDecision(status=status)


def _accepted(
    conditions: list[Condition], generation: int, now: datetime, *, paused: bool
) -> list[Condition]:
    accepted = Condition(
        type="Accepted",
        status="True",
        reason="Paused" if paused else "Accepted",
        message="paused: no more runs start until unpaused" if paused else "the dates are planned",
        last_transition_time=now,
        observed_generation=generation,
    )
    return set_condition(conditions, accepted)


def refused_status(backfill: Backfill, problem: Problem, now: datetime) -> BackfillStatus:
    """A refused request: state Refused for good, the reason in the Accepted condition."""
    condition = Condition(
        type="Accepted",
        status="False",
        reason=problem.reason,
        message=problem.message,
        last_transition_time=now,
        observed_generation=backfill.generation,
    )
    return BackfillStatus(
        observed_generation=backfill.generation,
        conditions=set_condition(backfill.status.conditions, condition),
        state=BackfillState.REFUSED,
        progress="0/0",
        completion_time=now,
    )


def waiting_status(backfill: Backfill, problem: Problem, now: datetime) -> BackfillStatus:
    """Not decided yet (its DAG does not exist yet): Accepted=Unknown, naming what is missing."""
    condition = Condition(
        type="Accepted",
        status="Unknown",
        reason=problem.reason,
        message=problem.message,
        last_transition_time=now,
        observed_generation=backfill.generation,
    )
    return BackfillStatus(
        observed_generation=backfill.generation,
        conditions=set_condition(backfill.status.conditions, condition),
    )
