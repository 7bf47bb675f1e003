"""Dependencies across runs, as pure decisions: Airflow's `depends_on_past`,
`wait_for_downstream` and `ignore_first_depends_on_past` (rules 22-25, its
ti_deps/deps/prev_dagrun_dep.py), and which runs history cleanup must keep for them.

- The previous run (rule 22) is the latest run with an earlier logical date; with the DAG's
  catchup true, manual runs do not count (Airflow's `get_previous_scheduled_dagrun`).
- A dependsOnPast task may start when its own record in the previous run is `success` or
  `skipped`; with waitForDownstream, its direct downstream tasks' records there too
  (a downstream task the previous run lacks does not hold it, as Airflow's query).
- It starts anyway (rule 24) when there is no previous run, when the run is its Backfill's
  first date, and with ignoreFirstDependsOnPast when the previous run lacks the task and no
  earlier run has it. A previous run that lacks the task holds it otherwise, as in Airflow.
  Airflow's exemption for a task whose `start_date` is after the previous run has no
  equivalent: kubedag tasks have no start date.
- Only a task about to be scheduled is checked (from `none`, also after a clear); a retry
  within the run is not checked again.

The outcomes read are the recorded ones, so history cleanup keeps what the check needs
(`runs_kept_for_past`): a finished run in which a task read from the past did not succeed or
skip (it holds its successor until it is cleared or marked), and the previous run of every
run still to be decided.
"""

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache

from kubedag.core.dag_scheduler import RunSummary
from kubedag.core.earlier_runs import EarlierRuns, PastRun
from kubedag.core.run_types import can_be_previous, reads_the_past
from kubedag.core.snapshot import ResolvedTask, Snapshot
from kubedag.models.dag import DagSpec, TaskSpec
from kubedag.models.dagrun import RunState, RunType, TaskRecord, TaskState

PAST_MET = frozenset({TaskState.SUCCESS, TaskState.SKIPPED})
# Every message of a task held by the past starts so (how the reconciler knows a run waits).
PAST_MESSAGE_PREFIX = "waiting for task "


def counts_as_previous(run: RunSummary, *, catchup: bool) -> bool:
    """Whether the run can be another run's previous run (rule 22)."""
    if run.logical_date is None or not can_be_previous(run.run_type):
        return False
    return not (catchup and run.run_type is RunType.MANUAL)


def previous_run(
    runs: Iterable[RunSummary], logical_date: datetime, *, catchup: bool
) -> RunSummary | None:
    """The latest run with an earlier logical date (manual runs left out with catchup)."""
    return previous_among(newest_first_before(runs, logical_date), catchup=catchup)


def previous_among(newest_first: Iterable[RunSummary], *, catchup: bool) -> RunSummary | None:
    """`previous_run`, given the runs before the logical date, newest first."""
    return next((r for r in newest_first if counts_as_previous(r, catchup=catchup)), None)


def previous_success(runs: Iterable[RunSummary], logical_date: datetime) -> RunSummary | None:
    """The latest successful run with an earlier logical date, of any type and whatever the
    catchup (Airflow 2.10's `get_previous_dagrun(state=SUCCESS)` behind the
    `prev_*_success` template variables)."""
    return previous_success_among(newest_first_before(runs, logical_date))


def counts_as_previous_success(run: RunSummary) -> bool:
    """Whether the run can be a later run's latest earlier success."""
    return run.state is RunState.SUCCESS and can_be_previous(run.run_type)


def previous_success_among(newest_first: Iterable[RunSummary]) -> RunSummary | None:
    """`previous_success`, given the runs before the logical date, newest first."""
    return next((r for r in newest_first if counts_as_previous_success(r)), None)


def newest_first_before(runs: Iterable[RunSummary], logical_date: datetime) -> list[RunSummary]:
    """The runs with a logical date before `logical_date`, newest first (then by name)."""
    earlier = [r for r in runs if r.logical_date is not None and r.logical_date < logical_date]
    return sorted(earlier, key=_by_date, reverse=True)


def _by_date(run: RunSummary) -> tuple[datetime, str]:
    assert run.logical_date is not None
    return (run.logical_date, run.name)


def past_run(summary: RunSummary, tasks: Mapping[str, TaskState] | None = None) -> PastRun:
    """What a later run reads of `summary`; `tasks`: its recorded task states, when needed."""
    assert summary.logical_date is not None
    interval = summary.interval
    return PastRun(
        name=summary.name,
        run_type=summary.run_type,
        logical_date=summary.logical_date,
        state=summary.state,
        data_interval_start=interval.start if interval else None,
        data_interval_end=interval.end if interval else None,
        start_time=summary.started,
        end_time=summary.finished_at,
        tasks=dict(tasks or {}),
    )


def tasks_depending_on_past(spec: DagSpec) -> list[str]:
    """The DAG's dependsOnPast tasks (set on the task or by its defaults; waitForDownstream
    implies it), read from the spec without resolving every task."""
    return [t.name for t in spec.tasks if _flag(spec, t, "depends_on_past", "wait_for_downstream")]


def depends_on_past_names(snapshot: Snapshot) -> frozenset[str]:
    """The snapshot's dependsOnPast tasks, computed once per DAG version (a run pass asks
    every time)."""
    return _depends_on_past_names(snapshot.canonical_json())


@lru_cache(maxsize=256)
def _depends_on_past_names(snapshot_json: str) -> frozenset[str]:
    snapshot = Snapshot.model_validate_json(snapshot_json)
    return frozenset(t.name for t in snapshot.tasks if t.depends_on_past)


def tasks_read_from_past(spec_or_snapshot: DagSpec | Snapshot) -> frozenset[str]:
    """The tasks whose records in the previous run the tasks read: the dependsOnPast tasks,
    and the direct downstream tasks of the waitForDownstream ones."""
    if isinstance(spec_or_snapshot, Snapshot):
        resolved = spec_or_snapshot.tasks
        reading = {t.name for t in resolved if t.depends_on_past}
        waiting = {t.name for t in resolved if t.wait_for_downstream}
        edges = [(t.name, t.depends_on) for t in resolved]
    else:
        spec = spec_or_snapshot
        reading = set(tasks_depending_on_past(spec))
        waiting = {t.name for t in spec.tasks if _flag(spec, t, "wait_for_downstream")}
        edges = [(t.name, t.depends_on or []) for t in spec.tasks]
    below = {name for name, upstream in edges if waiting.intersection(upstream)}
    return frozenset(reading | below)


def _flag(spec: DagSpec, task: TaskSpec, *fields: str) -> bool:
    """Whether any of the boolean task fields is true, on the task or else by the defaults."""
    for name in fields:
        own = getattr(task, name)
        if own is None and spec.defaults is not None:
            own = getattr(spec.defaults, name)
        if own:
            return True
    return False


def past_blocker(task: ResolvedTask, downstream: Sequence[str], earlier: EarlierRuns) -> str | None:
    """Why dependsOnPast holds `task` (a message for its record), or None if it may start.
    `downstream`: its direct downstream tasks (read with waitForDownstream)."""
    if not task.depends_on_past or earlier.first_of_backfill:
        return None
    previous = earlier.previous
    if previous is None:
        return None
    state = previous.tasks.get(task.name)
    if state is None:
        if task.ignore_first_depends_on_past and task.name not in earlier.tasks_run_before:
            return None
        return (
            f"waiting for task {task.name} of run {previous.name}, which does not have it"
            " (dependsOnPast; with ignoreFirstDependsOnPast a task that never ran may start)"
        )
    if state not in PAST_MET:
        return (
            f"waiting for task {task.name} of run {previous.name} ({state.value}) (dependsOnPast)"
        )
    if task.wait_for_downstream:
        for name in downstream:
            below = previous.tasks.get(name)
            if below is not None and below not in PAST_MET:
                return (
                    f"waiting for task {name} of run {previous.name} ({below.value})"
                    f" (waitForDownstream of {task.name})"
                )
    return None


def held_by_past(records: Iterable[TaskRecord]) -> bool:
    """Whether some task of the run waits on the previous run (its record says so)."""
    return any(waits_for_past(r) for r in records)


def waits_for_past(record: TaskRecord) -> bool:
    return record.state is TaskState.NONE and (record.message or "").startswith(PAST_MESSAGE_PREFIX)


def blocks_successor(run: RunSummary, read: Collection[str]) -> bool:
    """A finished run in which a task read from the past (`read`) did not succeed or skip:
    it holds the dependsOnPast tasks of the run after it."""
    return any(name in read for name, _ in run.unsuccessful)


def runs_kept_for_past(
    runs: Sequence[RunSummary], *, read: Collection[str], catchup: bool
) -> set[str]:
    """The runs history cleanup must keep so that no dependsOnPast check is decided by an
    older run than rule 22's previous run: every finished run that would hold its successor,
    and the previous run of every run still to be decided (not finished, or with a clear or
    mark request waiting). Empty when the DAG reads nothing from the past."""
    if not read:
        return set()
    kept = {
        r.name
        for r in runs
        if r.state is not None
        and r.state.finished
        and can_be_previous(r.run_type)
        and blocks_successor(r, read)
    }
    for run in runs:
        deciding = run.state is None or not run.state.finished or run.pending_request
        if deciding and run.logical_date is not None and reads_the_past(run.run_type):
            previous = previous_run(runs, run.logical_date, catchup=catchup)
            if previous is not None:
                kept.add(previous.name)
    return kept
