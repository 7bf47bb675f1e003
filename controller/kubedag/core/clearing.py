"""Clear and mark, Airflow's rules 11-17, as pure functions over a run's status.

A request (`spec.request`) names tasks, or the whole run, optionally with every task
downstream or upstream of them, and asks to clear them (run them again with a fresh budget
of tries) or to mark them success or failed. `apply_request` returns the run's new status,
the pods to stop and the event to post; the run reconciler applies each request id once.

Setup and teardown tasks follow Airflow too: clearing a work task also clears its relevant
setups and their teardowns (rule 14, `select_tasks`); marking with `downstream` leaves
teardowns out (rule 16, `select_to_mark`); marking a run leaves teardowns alone and sets no
run state while one has not finished (rule 17, `_mark_run`).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from kubedag.core.durations import format_duration
from kubedag.core.execution_plan import ExecutionPlan, execution_plan
from kubedag.core.graph import TaskGraph, ancestors, descendants
from kubedag.core.run_engine import MESSAGE_LIMIT, RunEvent
from kubedag.core.setup_teardown import NO_SETUP_TEARDOWN, SetupTeardown
from kubedag.core.snapshot import Snapshot
from kubedag.core.suggestions import did_you_mean
from kubedag.core.tries import archive_try, earlier_tries_limit
from kubedag.models.common import Condition, ConditionStatus, set_condition
from kubedag.models.dagrun import (
    AppliedRequest,
    DagRun,
    DagRunStatus,
    RequestAction,
    RunRequest,
    RunState,
    TaskRecord,
    TaskState,
)

MAX_APPLIED_REQUESTS = 20
REQUEST_CONDITION = "RequestApplied"
ONLY_FAILED_STATES = frozenset({TaskState.FAILED, TaskState.UPSTREAM_FAILED})
_BACKFILL_PREFIX = "backfill/"
_NAMES_SHOWN = 10


@dataclass
class RequestOutcome:
    status: DagRunStatus
    pods_to_delete: list[str] = field(default_factory=list)
    events: list[RunEvent] = field(default_factory=list)


def pending_request(run: DagRun) -> RunRequest | None:
    """The run's request, unless its id was applied (or refused) already."""
    request = run.spec.request
    if request is None or any(done.id == request.id for done in run.status.requests):
        return None
    return request


def requested_by(request_id: str) -> str | None:
    """`backfill/NAME` for a backfill's request id `backfill/NAME/UID`, else None."""
    parts = request_id.split("/")
    if len(parts) == 3 and request_id.startswith(_BACKFILL_PREFIX) and all(parts):
        return f"{parts[0]}/{parts[1]}"
    return None


def select_tasks(
    graph: TaskGraph,
    names: Sequence[str] | None,
    *,
    downstream: bool,
    upstream: bool,
    roles: SetupTeardown = NO_SETUP_TEARDOWN,
) -> set[str]:
    """The tasks a clear chooses (Airflow's partial_subset): the named ones (every task when
    None), with every transitive descendant (`downstream`) and ancestor (`upstream`). A work
    task also brings its relevant setups and their teardowns (rule 14), a descendant brought
    in too; with `upstream`, every setup upstream brings its teardowns; a named setup brings
    its teardowns."""
    if names is None:
        return set(graph.tasks)
    named = set(names)
    chosen = set(named)
    if downstream:
        below = descendants(graph, named)
        chosen |= below
        for name in below - named:
            if roles.is_work(name):
                chosen |= roles.setups_and_teardowns_of(name)
    if upstream:
        above = ancestors(graph, named)
        chosen |= above
        for setup in above & roles.setups:
            chosen.update(roles.teardowns_of[setup])
    for name in named:
        if not upstream and roles.is_work(name):
            chosen |= roles.setups_and_teardowns_of(name)
        if not downstream and name in roles.setups:
            chosen.update(roles.teardowns_of[name])
    return chosen


def select_to_mark(
    graph: TaskGraph,
    names: Sequence[str],
    *,
    downstream: bool,
    upstream: bool,
    roles: SetupTeardown = NO_SETUP_TEARDOWN,
) -> set[str]:
    """The tasks a mark sets (rule 16's first step): the named ones, their descendants but
    teardowns (`downstream`), their ancestors (`upstream`)."""
    chosen = set(names)
    if downstream:
        chosen |= descendants(graph, names) - roles.teardowns
    if upstream:
        chosen |= ancestors(graph, names)
    return chosen


def clear_tasks(
    records: dict[str, TaskRecord], names: Iterable[str], *, only_failed: bool, note: str
) -> tuple[list[str], list[str]]:
    """Clear the named tasks' records in place (rules 11, 12, 14): a finished or waiting task
    goes back to `none` with a fresh budget of 1 + retries tries, keeping its try number; a
    running task goes to `restarting` (its pod is stopped, then it runs once more, its budget
    unchanged); a queued one likewise, with a fresh budget (Airflow resets a queued task to
    none). `only_failed` keeps only failed and upstream_failed tasks, after any expansion.
    Returns the tasks changed and the pods to stop."""
    changed: list[str] = []
    pods: list[str] = []
    for name in names:
        record = records[name]
        if only_failed and record.state not in ONLY_FAILED_STATES:
            continue
        if record.state is TaskState.RESTARTING:
            continue  # on its way to its next try already
        if record.state in (TaskState.QUEUED, TaskState.RUNNING) and record.pod:
            pods.append(record.pod)
            if record.state is TaskState.QUEUED:
                record.cleared_try = record.try_number
            record.state = TaskState.RESTARTING
            record.message = f"{note}: stopping pod {record.pod}"
            changed.append(name)
            continue
        if record.state.finished or record.state is TaskState.UP_FOR_RETRY:
            # The try's outcome is kept before the record is reset for the next one.
            archive_try(record, keep=earlier_tries_limit(len(records)))
        fresh = record.model_copy(
            update={
                "state": TaskState.NONE,
                "cleared_try": record.try_number or record.cleared_try,
                "queued_at": None,
                "started": None,
                "finished": None,
                "retry_at": None,
                "exit_code": None,
                "outputs": None,
                "outputs_in": None,
            }
        )
        if fresh != record:  # e.g. a task that never ran is left as it is
            fresh.message = note
            records[name] = fresh
            changed.append(name)
    return changed, pods


def mark_tasks(
    records: dict[str, TaskRecord],
    names: Iterable[str],
    state: TaskState,
    *,
    note: str,
    now: datetime,
) -> tuple[list[str], list[str]]:
    """Set the named tasks' state (rule 16's first step); a task with a pod has it stopped.
    Tasks in that state already are left alone. Returns the tasks changed and the pods."""
    changed: list[str] = []
    pods: list[str] = []
    for name in names:
        record = records[name]
        if record.state is state:
            continue
        _set_state(record, state, note=note, now=now, pods=pods)
        changed.append(name)
    return changed, pods


def _mark_run(
    records: dict[str, TaskRecord],
    state: RunState,
    *,
    teardowns: frozenset[str],
    note: str,
    now: datetime,
) -> tuple[list[str], list[str]]:
    """Rule 17 (Airflow 3.3): running tasks get the run's new state, tasks that have not
    finished become skipped, finished tasks keep theirs (even failed under success);
    teardowns are left alone, to do their work."""
    target = TaskState.SUCCESS if state is RunState.SUCCESS else TaskState.FAILED
    changed: list[str] = []
    pods: list[str] = []
    for name, record in records.items():
        if record.state.finished or name in teardowns:
            continue
        # Airflow's running states: a deferred task is running too.
        running = record.state in (TaskState.RUNNING, TaskState.DEFERRED)
        new = target if running else TaskState.SKIPPED
        _set_state(record, new, note=note, now=now, pods=pods)
        changed.append(name)
    return changed, pods


def _set_state(
    record: TaskRecord, state: TaskState, *, note: str, now: datetime, pods: list[str]
) -> None:
    if record.state.has_pod and record.pod and record.state is not TaskState.RESTARTING:
        pods.append(record.pod)
    record.state = state
    record.finished = now
    record.retry_at = None
    record.message = note


class _Application:
    """One request applied to a copy of the run's status."""

    def __init__(self, run: DagRun, request: RunRequest, now: datetime) -> None:
        self.run = run
        self.request = request
        self.now = now
        self.by = requested_by(request.id)
        self.ref = f"request {request.id}" + (f" (by {self.by})" if self.by else "")
        self.label = f"{_ACTION_WORDS[request.action]} {self.ref}"
        self.status = run.status.model_copy(
            update={
                "tasks": [r.model_copy() for r in run.status.tasks],
                "conditions": list(run.status.conditions),
                "requests": list(run.status.requests),
            }
        )
        self.records = {r.name: r for r in self.status.tasks}
        self.order = [r.name for r in self.status.tasks]
        self.outcome = RequestOutcome(self.status)

    def ordered(self, names: Iterable[str]) -> list[str]:
        chosen = set(names)
        return [n for n in self.order if n in chosen]

    def clear(self, plan: ExecutionPlan) -> None:
        request = self.request
        chosen = select_tasks(
            plan.graph,
            request.tasks,
            downstream=request.downstream,
            upstream=request.upstream,
            roles=plan.setup_teardown,
        )
        changed, pods = clear_tasks(
            self.records,
            self.ordered(chosen),
            only_failed=request.only_failed,
            note=f"cleared by {self.ref}",
        )
        if not changed:
            why = "no chosen task is failed" if request.only_failed else "no task to clear"
            return self.unchanged(why)
        requeued = self._requeue()
        self.finish(changed, pods, f"cleared {_names(changed)}" + _requeued(requeued))

    def mark_tasks(self, plan: ExecutionPlan, state: TaskState) -> None:
        request = self.request
        named = request.tasks or []
        roles = plan.setup_teardown
        chosen = select_to_mark(
            plan.graph,
            named,
            downstream=request.downstream,
            upstream=request.upstream,
            roles=roles,
        )
        marked, pods = mark_tasks(
            self.records, self.ordered(chosen), state, note=f"marked by {self.ref}", now=self.now
        )
        if not marked:
            return self.unchanged(f"every chosen task is {state} already")
        # Rule 16's second step: the named tasks' failed descendants run again (and their
        # failed setups: Airflow clears the named tasks' partial_subset, downstream).
        downstream = select_tasks(
            plan.graph, named, downstream=True, upstream=False, roles=roles
        ) - set(named)
        cleared, stopped = clear_tasks(
            self.records,
            self.ordered(downstream),
            only_failed=True,
            note=f"cleared by {self.ref}, which marked {_names(named)} {state}",
        )
        requeued = bool(cleared) and self._requeue()
        detail = f"marked {_names(marked)} {state}"
        if cleared:
            detail += f"; cleared {_names(cleared)}"
        self.finish(self.ordered({*marked, *cleared}), pods + stopped, detail + _requeued(requeued))

    def mark_run(self, plan: ExecutionPlan, state: RunState) -> None:
        if self.status.state is state:
            return self.unchanged(f"the run is {state} already")
        note = f"run marked {state} by {self.ref}"
        teardowns = plan.setup_teardown.teardowns
        changed, pods = _mark_run(self.records, state, teardowns=teardowns, note=note, now=self.now)
        pending = [n for n in self.order if n in teardowns and not self.records[n].state.finished]
        if pending:
            # Rule 17: the run goes on until its teardowns are done; its leaves decide then.
            detail = f"tasks changed: {_names(changed) or 'none'}; the run ends when teardown"
            detail += f" {_names(pending)} has finished"
            return self.finish(changed, pods, detail)
        status = self.status
        status.state = state
        status.end_time = self.now
        status.conditions = set_condition(
            status.conditions,
            Condition(
                type="Succeeded",
                status="True" if state is RunState.SUCCESS else "False",
                reason="MarkedSuccess" if state is RunState.SUCCESS else "MarkedFailed",
                message=f"marked {state} by {self.ref}",
                last_transition_time=self.now,
            ),
        )
        detail = f"run marked {state}"
        if changed:
            detail += f"; tasks changed: {_names(changed)}"
        self.finish(changed, pods, detail)

    def repin(self) -> None:
        """A run that never started (its DAG was missing or invalid) starts over: the next
        pass pins it to its DAG's current version."""
        self.status = self.outcome.status = DagRunStatus(requests=self.status.requests)
        self.finish([], [], "the run never started: it is pinned again")

    def refuse(self, reason: str, message: str) -> None:
        self._record([], refused=message)
        self._report(
            "Warning", "RequestRefused", f"{self.label} refused: {message}", "False", reason
        )

    def finish(self, changed: list[str], pods: list[str], detail: str) -> None:
        self._record(changed)
        self.outcome.pods_to_delete = pods
        reason = _EVENT_REASONS[self.request.action]
        self._report("Normal", reason, f"{self.label}: {detail}", "True", "Applied")

    def unchanged(self, why: str) -> None:
        """Nothing to do (Airflow answers 409 to marking a task with its own state): the
        request is recorded as applied, with no tasks."""
        self._record([])
        reason = _EVENT_REASONS[self.request.action]
        self._report("Normal", reason, f"{self.label}: changed nothing: {why}", "True", "Unchanged")

    def _requeue(self) -> bool:
        """Rule 13: a finished run goes back to queued; a queued or running one keeps its
        state."""
        status = self.status
        if status.state is None or not status.state.finished:
            return False
        status.state = RunState.QUEUED
        status.start_time = status.end_time = None
        status.duration = None
        status.conditions = set_condition(
            status.conditions,
            Condition(
                type="Succeeded",
                status="Unknown",
                reason="Queued",
                message=f"cleared by {self.ref}: waiting for a free slot under maxActiveRuns",
                last_transition_time=self.now,
            ),
        )
        return True

    def _record(self, changed: list[str], refused: str | None = None) -> None:
        applied = AppliedRequest(
            id=self.request.id,
            action=self.request.action,
            applied_at=self.now,
            tasks=changed,
            by=self.by,
            refused=refused,
        )
        status = self.status
        status.requests = [*status.requests, applied][-MAX_APPLIED_REQUESTS:]
        status.observed_generation = self.run.metadata.get("generation")
        if status.tasks:
            status.tasks = [self.records[name] for name in self.order]
            done = sum(1 for r in status.tasks if r.state.finished)
            status.progress = f"{done}/{len(status.tasks)}"
        if status.start_time and status.end_time:
            status.duration = format_duration(status.end_time - status.start_time)

    def _report(
        self, type_: str, reason: str, message: str, ok: ConditionStatus, condition: str
    ) -> None:
        message = _short(message)
        self.outcome.events.append(RunEvent(type_, reason, message))
        self.status.conditions = set_condition(
            self.status.conditions,
            Condition(
                type=REQUEST_CONDITION,
                status=ok,
                reason=condition,
                message=message,
                last_transition_time=self.now,
                observed_generation=self.run.metadata.get("generation"),
            ),
        )


_ACTION_WORDS = {
    RequestAction.CLEAR: "clear",
    RequestAction.MARK_SUCCESS: "mark-success",
    RequestAction.MARK_FAILED: "mark-failed",
}
_EVENT_REASONS = {
    RequestAction.CLEAR: "Cleared",
    RequestAction.MARK_SUCCESS: "MarkedSuccess",
    RequestAction.MARK_FAILED: "MarkedFailed",
}


def apply_request(run: DagRun, snapshot: Snapshot | None, now: datetime) -> RequestOutcome | None:
    """Apply the run's pending request, if any, to its status. `snapshot` is the run's pinned
    DAG version (None if the run has none, or it is gone)."""
    request = pending_request(run)
    if request is None:
        return None
    if requested_by(request.id) is not None:
        # A backfill's reprocessing clears the whole run (Airflow's rule 6). Its merge patch
        # names only the id and the action: fields an earlier request left behind are not
        # part of it.
        request = RunRequest(id=request.id, action=RequestAction.CLEAR)
    work = _Application(run, request, now)
    if run.status.snapshot is None:
        whole_clear = request.action is RequestAction.CLEAR and request.tasks is None
        if whole_clear and run.status.state is not None and run.status.state.finished:
            work.repin()
        else:
            work.refuse(
                "NotStarted", "the run has no tasks yet (it is not pinned to a DAG version)"
            )
        return work.outcome
    if snapshot is None:
        work.refuse("SnapshotMissing", f"snapshot {run.status.snapshot} of this run is gone")
        return work.outcome
    unknown = [t for t in request.tasks or [] if t not in work.records]
    if unknown:
        missing = ", ".join(repr(t) + did_you_mean(t, work.order) for t in unknown)
        work.refuse(
            "UnknownTask",
            f"no task {missing} in this run; its tasks: {', '.join(work.order)}",
        )
        return work.outcome
    plan = execution_plan(snapshot)
    if request.action is RequestAction.CLEAR:
        work.clear(plan)
    elif request.tasks is None:
        work.mark_run(
            plan,
            RunState.SUCCESS if request.action is RequestAction.MARK_SUCCESS else RunState.FAILED,
        )
    else:
        work.mark_tasks(
            plan,
            TaskState.SUCCESS if request.action is RequestAction.MARK_SUCCESS else TaskState.FAILED,
        )
    return work.outcome


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_NAMES_SHOWN])
    more = len(names) - _NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def _requeued(requeued: bool) -> str:
    return "; the run is queued again" if requeued else ""


def _short(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"
