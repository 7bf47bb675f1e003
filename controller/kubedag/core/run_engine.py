"""The run engine: one pass over a running DagRun, as a pure function.

Given the pinned snapshot, the run's recorded task states, what the pods say and the time,
it returns the new status and the side effects for the controller to carry out (pods to
create and delete, events, when to look again). It performs no I/O, like Argo's
workflow/controller/dag package: the controller acts on its results.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kubedag.core.cross_dag import NO_VIEW, CrossDagActions, CrossDagView, next_wakeup
from kubedag.core.cross_dag_step import CrossDagStep
from kubedag.core.dates import utc
from kubedag.core.durations import format_duration
from kubedag.core.earlier_runs import NO_EARLIER_RUNS, EarlierRuns
from kubedag.core.execution_plan import ExecutionPlan, execution_plan
from kubedag.core.graph import ancestors
from kubedag.core.outputs import (
    NO_STORED_OUTPUTS,
    StoredOutputs,
    place_outputs,
    take_output,
    upstream_outputs,
)
from kubedag.core.past import waits_for_past
from kubedag.core.pod_observation import GONE, SKIP_EXIT_CODE, TERMINAL_PHASES, PodObservation
from kubedag.core.pools import Arbiter, Candidate, SlotClaim, counting_gate
from kubedag.core.priority import in_priority_order, task_candidate
from kubedag.core.readiness import WAIT, ReadinessCheck
from kubedag.core.retries import may_retry, retry_delay
from kubedag.core.run_outcome import run_outcome, skip_unfinished
from kubedag.core.run_types import template_run_type
from kubedag.core.schedule import (
    DataInterval,
    adjacent_logical_dates,
    manual_interval,
    parse_timetable,
)
from kubedag.core.skips import branch_problem
from kubedag.core.snapshot import ResolvedTask, Snapshot
from kubedag.core.task_launch import TaskLaunch, prepare_launch
from kubedag.core.templating import RunContext, TemplateError
from kubedag.core.tries import archive_try, earlier_tries_limit
from kubedag.models.common import Condition, set_condition
from kubedag.models.dagrun import DagRun, DagRunStatus, RunState, RunType, TaskRecord, TaskState

# Tries whose executionTimeout runs: a restarting task's pod is being stopped already.
_TIMED_STATES = (TaskState.QUEUED, TaskState.RUNNING)
MESSAGE_LIMIT = 200


@dataclass(frozen=True)
class RunEvent:
    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass
class RunDecision:
    status: DagRunStatus
    pods_to_create: list[TaskLaunch] = field(default_factory=list)
    pods_to_delete: list[str] = field(default_factory=list)
    events: list[RunEvent] = field(default_factory=list)
    requeue_at: datetime | None = None
    outputs_to_store: dict[str, dict[str, str]] = field(default_factory=dict)
    """Outputs the DagRun has no room for: ConfigMap -> task -> output (written before the
    status that points at them)."""
    cross_dag: CrossDagActions = field(default_factory=CrossDagActions)
    """Runs of other DAGs to create or clear (triggerDagRun), before the status is written."""
    claims: dict[str, SlotClaim] = field(default_factory=dict)
    """Pod -> the slots it takes, for each pod to create."""
    waiting: list[Candidate] = field(default_factory=list)
    """Scheduled tasks that wait for slots (the arbiter ranks them against other runs')."""


def _short(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def run_dates(run: DagRun, snapshot: Snapshot, created: datetime) -> tuple[datetime, DataInterval]:
    """The run's logical date and data interval: as its spec says, else, for a manual run,
    Airflow's: logical date = trigger (creation) time, interval = the last complete one
    before it ([t, t] for a DAG without a schedule or with @once)."""
    logical = utc(run.spec.logical_date or created)
    start, end = run.spec.data_interval_start, run.spec.data_interval_end
    if start is not None and end is not None:
        return logical, DataInterval(utc(start), utc(end))
    if snapshot.schedule:
        timetable = parse_timetable(snapshot.schedule, snapshot.timezone)
        return logical, manual_interval(timetable, logical)
    return logical, DataInterval(logical, logical)


def pin(
    run: DagRun,
    *,
    snapshot_name: str,
    snapshot: Snapshot,
    interval: DataInterval,
    logical_date: datetime,
    now: datetime,
) -> DagRunStatus:
    """The first status of a run: queued, pinned to its DAG version, every task `none`."""
    return DagRunStatus(
        state=RunState.QUEUED,
        snapshot=snapshot_name,
        logical_date=logical_date,
        data_interval_start=interval.start,
        data_interval_end=interval.end,
        progress=f"0/{len(snapshot.tasks)}",
        observed_generation=run.metadata.get("generation"),
        tasks=[TaskRecord(name=t.name) for t in snapshot.tasks],
        requests=run.status.requests,
        conditions=[
            Condition(
                type="Succeeded",
                status="Unknown",
                reason="Queued",
                message="waiting for a free slot under maxActiveRuns",
                last_transition_time=now,
            )
        ],
    )


def fail_run(status: DagRunStatus, *, reason: str, message: str, now: datetime) -> DagRunStatus:
    """A run that cannot start (its DAG is gone or invalid) fails with the reason."""
    new = status.model_copy(deep=True)
    new.start_time = new.start_time or now
    new.duration = format_duration(now - new.start_time)
    _end(new, RunState.FAILED, reason, message, now)
    return new


def _end(status: DagRunStatus, state: RunState, reason: str, message: str, now: datetime) -> None:
    status.state = state
    status.end_time = now
    status.conditions = set_condition(
        status.conditions,
        Condition(
            type="Succeeded",
            status="True" if state is RunState.SUCCESS else "False",
            reason=reason,
            message=_short(message),
            last_transition_time=now,
        ),
    )


def task_context(
    run: DagRun,
    status: DagRunStatus,
    snapshot: Snapshot,
    task: ResolvedTask,
    try_number: int,
    earlier: EarlierRuns = NO_EARLIER_RUNS,
    stored_outputs: StoredOutputs = NO_STORED_OUTPUTS,
    records: Mapping[str, TaskRecord] | None = None,
) -> RunContext:
    """What templates of try `try_number` of `task` see (Airflow's template context).
    `stored_outputs`: the outputs kept in the run's outputs ConfigMaps, by task; `records`:
    the run's records by name (default: from `status`)."""
    assert status.logical_date and status.data_interval_start and status.data_interval_end
    if records is None:
        records = {r.name: r for r in status.tasks}
    upstream = ancestors(execution_plan(snapshot).graph, [task.name])
    in_order = sorted(upstream, key=snapshot.task_positions.__getitem__)
    adjacent = adjacent_logical_dates(
        parse_timetable(snapshot.schedule, snapshot.timezone) if snapshot.schedule else None,
        status.logical_date,
        status.data_interval_end,
        manual=template_run_type(run.spec.run_type) is RunType.MANUAL,
    )
    return RunContext(
        dag_name=run.spec.dag_name,
        run_id=run.name,
        run_type=template_run_type(run.spec.run_type).value,
        task_name=task.name,
        try_number=try_number,
        logical_date=status.logical_date,
        data_interval_start=status.data_interval_start,
        data_interval_end=status.data_interval_end,
        params=snapshot.params,
        conf=run.spec.conf or {},
        outputs=upstream_outputs(records, in_order, stored_outputs),
        previous_success=earlier.previous_success,
        prev_execution_date=adjacent.previous,
        next_execution_date=adjacent.next,
        schedule=snapshot.schedule,
        timezone=snapshot.timezone,
        run_start_date=status.start_time,
    )


def next_pass_at(status: DagRunStatus, snapshot: Snapshot) -> datetime | None:
    """The next moment the run needs a pass without any event: a retry falls due, or a task
    or the run reaches its timeout."""
    times: list[datetime] = []
    for record in status.tasks:
        if record.state is TaskState.UP_FOR_RETRY and record.retry_at:
            times.append(record.retry_at)
        limit = snapshot.task(record.name).execution_timeout_span
        if record.state in _TIMED_STATES and record.queued_at and limit is not None:
            times.append(record.queued_at + limit)
    run_limit = snapshot.dagrun_timeout_span
    if run_limit is not None and status.start_time and not status.end_time:
        times.append(status.start_time + run_limit)
    if (sensor_timeout := next_wakeup(snapshot, status.tasks)) is not None:
        times.append(sensor_timeout)
    return min(times) if times else None


def _candidate(
    run: DagRun, status: DagRunStatus, snapshot: Snapshot, task: ResolvedTask
) -> Candidate:
    """The task's candidate, made once per run: a wide run offers its thousands of waiting
    tasks to the gate on every pass, and the same task of the same run competes the same."""
    assert status.logical_date is not None
    key = (run.namespace, run.spec.dag_name, run.name, status.logical_date, task.name)
    memo = snapshot.candidates
    found = memo.get(key)
    if found is None:
        if len(memo) >= 2 * len(snapshot.tasks) + 1024:  # runs of this version come and go
            memo.clear()
        found = memo[key] = task_candidate(
            snapshot,
            task,
            namespace=run.namespace,
            dag=run.spec.dag_name,
            run=run.name,
            logical_date=status.logical_date,
        )
    return found


def _scheduled_pod_tasks(
    order: Sequence[str], records: Mapping[str, TaskRecord], snapshot: Snapshot
) -> list[str]:
    """The scheduled tasks that run as pods: those run in the controller (CrossDagStep)
    hold no slot and never wait for one."""
    return [
        name
        for name in order
        if records[name].state is TaskState.SCHEDULED and not snapshot.task(name).in_controller
    ]


def _stop_reason(
    task: ResolvedTask, record: TaskRecord, pod: PodObservation | None, now: datetime
) -> str | None:
    """Why a try whose pod has not finished is failed and its pod deleted: its execution
    timeout passed, or its pod waits for something that will never come (core/unrunnable.py)."""
    limit = task.execution_timeout_span
    if limit is not None and record.queued_at and now >= record.queued_at + limit:
        return f"execution timeout of {task.execution_timeout} exceeded"
    if pod is not None and pod.phase == "Pending":
        return pod.unrunnable
    return None


def _delay_before_retry(
    run: DagRun, status: DagRunStatus, task: ResolvedTask, record: TaskRecord
) -> timedelta | None:
    """How long a failed try waits for the next, or None if it was the last."""
    next_try = record.try_number + 1
    if not may_retry(
        try_number=record.try_number, retries=task.retries, cleared_try=record.cleared_try
    ):
        return None
    return retry_delay(
        base=task.retry_delay_span,
        exponential=task.retry_exponential_backoff,
        max_delay=task.max_retry_delay_span,
        next_try=next_try,
        jitter_key=f"{run.spec.dag_name}#{task.name}#{status.logical_date}#{next_try}",
    )


def _try_queued(record: TaskRecord, try_number: int, pod: str, now: datetime) -> None:
    """A try starts with its pod: nothing of the try before it stays but its archive (as
    Airflow clears a try's XComs)."""
    record.try_number, record.state = try_number, TaskState.QUEUED
    record.pod, record.queued_at = pod, now
    record.started = record.finished = record.exit_code = record.message = None
    record.outputs = record.outputs_in = None


def _try_ended(
    record: TaskRecord, try_number: int, state: TaskState, message: str, now: datetime
) -> None:
    """A try that ended before its pod was made (e.g. a template error)."""
    record.try_number, record.state, record.finished = try_number, state, now
    record.message = _short(message)


def pod_has_news(record: TaskRecord, pod: PodObservation | None) -> bool:
    """Whether what is seen of a try's pod changes its record (`_Pass._apply_pod`): the pod
    is gone or finished, it started running, or it waits for a new reason."""
    if pod is None:
        return False
    if pod.phase == GONE or pod.phase in TERMINAL_PHASES:
        return True
    if pod.phase == "Running":
        return record.state is TaskState.QUEUED
    if pod.phase != "Pending" or not pod.reason:
        return False
    return record.message != _short(pod.reason)


class _Pass:
    """State of one engine pass; methods change only the records made `writable`."""

    def __init__(
        self,
        run: DagRun,
        snapshot: Snapshot,
        now: datetime,
        gate: Arbiter,
        earlier: EarlierRuns = NO_EARLIER_RUNS,
        stored_outputs: StoredOutputs = NO_STORED_OUTPUTS,
    ) -> None:
        self.run = run
        self.earlier = earlier
        self.stored_outputs = stored_outputs
        self.snapshot = snapshot
        self.plan: ExecutionPlan = execution_plan(snapshot)
        self.now = now
        self.gate = gate
        self.status = run.status.model_copy(
            update={"tasks": list(run.status.tasks), "conditions": list(run.status.conditions)}
        )
        self.records = {r.name: r for r in self.status.tasks}
        self._written: set[str] = set()
        for task in snapshot.tasks:  # a run pinned before a task list grew: never, but be safe
            if task.name not in self.records:
                self.records[task.name] = TaskRecord(name=task.name)
                self._written.add(task.name)
        self.decision = RunDecision(status=self.status)
        self.readiness = ReadinessCheck(self.plan, snapshot, self.records, earlier)
        self.fresh_outputs: list[str] = []  # tasks whose try ended with an output, this pass

    def writable(self, name: str) -> TaskRecord:
        """The pass's own copy of a record, made before its first change: a pass over 10,000
        tasks copies the few it changes, and the run passed in never changes (a shallow copy
        is a deep one: records hold only immutable values)."""
        if name not in self._written:
            self._written.add(name)
            self.records[name] = self.records[name].model_copy()
        return self.records[name]

    def event(self, type_: str, reason: str, message: str) -> None:
        self.decision.events.append(RunEvent(type_, reason, _short(message)))

    def fail_try(
        self, record: TaskRecord, task: ResolvedTask, message: str, exit_code: int | None = None
    ) -> None:
        record.finished = self.now
        record.exit_code = exit_code
        record.message = _short(message)
        delay = _delay_before_retry(self.run, self.status, task, record)
        if delay is not None:
            record.state = TaskState.UP_FOR_RETRY
            record.retry_at = self.now + delay
            self.event(
                "Warning",
                "TaskRetry",
                f"task {task.name} try {record.try_number} failed ({message}); "
                f"retry in {format_duration(delay)}",
            )
        else:
            record.state = TaskState.FAILED
            self.event(
                "Warning",
                "TaskFailed",
                f"task {task.name} failed on try {record.try_number}: {message}",
            )

    def observe(self, pods: Mapping[str, PodObservation]) -> None:
        for name in self.plan.order:
            record = self.records[name]
            if record.state is TaskState.RESTARTING:
                self._restart_when_stopped(name, pods, record.pod)
                continue
            if not record.state.has_pod or record.pod is None:
                continue
            task, pod_name = self.snapshot.task(name), record.pod
            pod = pods.get(pod_name)
            if not pod_has_news(record, pod) and not _stop_reason(task, record, pod, self.now):
                continue
            record = self.writable(name)
            if pod is not None:
                self._apply_pod(record, task, pod)
                if record.state is TaskState.SUCCESS and name in self.plan.deciders:
                    self._decided(record, task)
            stop = _stop_reason(task, record, pod, self.now)
            if record.state.has_pod and stop:
                self.decision.pods_to_delete.append(pod_name)
                self.fail_try(record, task, stop)
        if self.fresh_outputs:
            records = [self.records[t.name] for t in self.snapshot.tasks]
            moved = place_outputs(self.run.name, records, self.fresh_outputs, self.plan.deciders)
            self.decision.outputs_to_store = moved
            self.stored_outputs = self.stored_outputs.adding(moved)

    def _restart_when_stopped(
        self, name: str, pods: Mapping[str, PodObservation], pod_name: str | None
    ) -> None:
        """A task cleared while its pod ran gets its next try once that pod has stopped
        (Airflow's `restarting`: one more try, whatever its budget says)."""
        pod = pods.get(pod_name) if pod_name else PodObservation.gone("")
        if pod is None or pod.active:
            return
        record = self.writable(name)
        # The stopped try is kept with the state that says why it ended.
        archive_try(record, TaskState.RESTARTING, keep=earlier_tries_limit(len(self.records)))
        record.state = TaskState.NONE
        record.message = f"try {record.try_number} stopped by a clear; the task runs again"

    def _apply_pod(self, record: TaskRecord, task: ResolvedTask, pod: PodObservation) -> None:
        if pod.phase == GONE:
            self.fail_try(record, task, f"pod {pod.name} disappeared")
        elif pod.phase in TERMINAL_PHASES:
            record.started = record.started or pod.started or record.queued_at
            output_error = take_output(record, pod.output)
            if record.outputs is not None:
                self.fresh_outputs.append(record.name)
            if pod.phase == "Failed" and pod.exit_code != SKIP_EXIT_CODE:
                message = "; ".join(part for part in (pod.failure, output_error) if part)
                self.fail_try(record, task, message, pod.exit_code)
            elif output_error:
                # No exit code kept: 0 or 99 would archive the try as a success or a skip.
                self.fail_try(record, task, f"{output_error} (exit code {pod.exit_code})")
            elif pod.phase == "Succeeded":
                record.state = TaskState.SUCCESS
                record.exit_code = pod.exit_code if pod.exit_code is not None else 0
                record.message = None
            else:
                record.state = TaskState.SKIPPED
                record.exit_code = pod.exit_code
                record.message = f"skipped: exit code {SKIP_EXIT_CODE}"
                self.event("Normal", "TaskSkipped", f"task {task.name} skipped itself")
            record.finished = pod.finished or self.now
        elif pod.phase == "Running" and record.state is TaskState.QUEUED:
            record.state = TaskState.RUNNING
            record.started = pod.started or self.now
            record.message = None
        elif pod.phase == "Pending" and pod.reason and record.message != _short(pod.reason):
            record.message = _short(pod.reason)  # e.g. ImagePullBackOff: shows why it waits

    def _decided(self, record: TaskRecord, task: ResolvedTask) -> None:
        """A deciding task just succeeded: a branch naming no task fails (Airflow raises)."""
        problem = task.branch and branch_problem(task.name, record.outputs, self.plan.graph)
        if problem:
            return self.fail_try(record, task, problem, exit_code=0)
        decision = self.readiness.decision(task.name)
        record.message = _short(decision.summary)
        self.event("Normal", "Decided", f"task {task.name}: {decision.report}")

    def release_retries(self) -> None:
        for name, record in self.records.items():
            due = record.retry_at is not None and record.retry_at <= self.now
            if record.state is TaskState.UP_FOR_RETRY and due:
                record = self.writable(name)
                record.state, record.retry_at = TaskState.SCHEDULED, None

    def apply_trigger_rules(self) -> None:
        for name in self.plan.order:
            record = self.records[name]
            ready = self.readiness.of(name) if record.state is TaskState.NONE else WAIT
            message = None if ready.message is None else _short(ready.message)
            held = ready.state is TaskState.SCHEDULED and waits_for_past(record)
            if ready.state is None and not held and message in (None, record.message):
                continue
            record = self.writable(name)
            if held:
                record.message = None  # no longer held by dependsOnPast
            if ready.state is not None:
                record.state = ready.state
                if ready.state.finished:
                    record.finished = self.now
            if message is not None:
                record.message = message

    def launch(self) -> bool:
        """Create pods for the scheduled tasks the gate admits, highest priority first (the
        others keep waiting, with the gate's reason); True if a task ended instead."""
        settled = False
        scheduled = _scheduled_pod_tasks(self.plan.order, self.records, self.snapshot)
        for name in in_priority_order(self.snapshot, scheduled):
            task = self.snapshot.task(name)
            candidate = _candidate(self.run, self.status, self.snapshot, task)
            waits = self.gate.admit(candidate)
            if waits is not None:
                if self.records[name].message != (reason := _short(waits)):
                    self.writable(name).message = reason
                self.decision.waiting.append(candidate)
                continue
            record = self.writable(name)
            try_number = record.try_number + 1
            archive_try(record, keep=earlier_tries_limit(len(self.snapshot.tasks)))
            try:
                launch = prepare_launch(task, self._context(task, try_number))
            except TemplateError as error:
                self.gate.release(candidate)
                _try_ended(
                    record, try_number, TaskState.FAILED, f"template error: {error}", self.now
                )
                self.event("Warning", "TaskFailed", f"task {name}: template error: {error}")
                settled = True
                continue
            _try_queued(record, try_number, launch.pod_name, self.now)
            self.decision.pods_to_create.append(launch)
            self.decision.claims[launch.pod_name] = candidate.claim
        return settled

    def _context(self, task: ResolvedTask, try_number: int) -> RunContext:
        earlier, stored = self.earlier, self.stored_outputs
        return task_context(
            self.run, self.status, self.snapshot, task, try_number, earlier, stored, self.records
        )

    def enforce_run_timeout(self) -> None:
        timeout, limit = self.snapshot.dagrun_timeout, self.snapshot.dagrun_timeout_span
        if limit is None or not self.status.start_time:
            return
        if self.now < self.status.start_time + limit:
            return
        unfinished = [self.writable(n) for n, r in self.records.items() if not r.state.finished]
        stopped = skip_unfinished(unfinished, self.now, "skipped: dagrun timeout")
        self.decision.pods_to_delete.extend(stopped)
        self._finish(RunState.FAILED, "DagRunTimeout", f"run exceeded dagrunTimeout {timeout}")

    def conclude(self) -> None:
        if self.status.state is not RunState.RUNNING:
            return
        outcome = run_outcome(self.plan.leaves, self.records)
        if outcome is not None:
            self._finish(outcome.state, outcome.reason, outcome.message)

    def _finish(self, state: RunState, reason: str, message: str) -> None:
        _end(self.status, state, reason, message, self.now)
        self.event(
            "Normal" if state is RunState.SUCCESS else "Warning",
            "RunSucceeded" if state is RunState.SUCCESS else "RunFailed",
            message,
        )

    def result(self) -> RunDecision:
        records = self.records
        self.status.tasks = [records[t.name] for t in self.snapshot.tasks]
        done = sum(1 for r in self.status.tasks if r.state.finished)
        self.status.progress = f"{done}/{len(self.status.tasks)}"
        if self.status.start_time:
            end = self.status.end_time or self.now
            self.status.duration = format_duration(end - self.status.start_time)
        self.decision.requeue_at = (
            None if self.status.end_time else next_pass_at(self.status, self.snapshot)
        )
        return self.decision


def launch_failed(
    run: DagRun,
    snapshot: Snapshot,
    decision: RunDecision,
    failures: Mapping[str, str],
    now: datetime,
) -> None:
    """Record tries whose pod the API refused (e.g. an invalid volume) as failed tries."""
    state = _Pass(run, snapshot, now, counting_gate(0))
    state.status = decision.status
    state.records = {r.name: r for r in decision.status.tasks}
    state._written = set()
    state.decision = decision
    for task_name, message in failures.items():
        record = state.writable(task_name)
        record.pod = None
        state.fail_try(record, snapshot.task(task_name), message)
        decision.pods_to_create = [
            launch for launch in decision.pods_to_create if launch.task.name != task_name
        ]
    state.conclude()
    state.result()


def advance(
    run: DagRun,
    snapshot: Snapshot,
    *,
    pods: Mapping[str, PodObservation],
    now: datetime,
    task_slots: int | None = None,
    frozen: bool = False,
    earlier: EarlierRuns = NO_EARLIER_RUNS,
    stored_outputs: StoredOutputs = NO_STORED_OUTPUTS,
    cross_dag: CrossDagView = NO_VIEW,
    gate: Arbiter | None = None,
) -> RunDecision:
    """One pass over a running run: observe pods, release due retries, apply trigger rules,
    launch what may start (at most `task_slots` new pods), enforce timeouts, conclude.

    `pods` maps pod names to what is known of them; a pod absent from it is simply not
    observed yet, one with phase GONE was confirmed deleted. A `frozen` run (its DAG is
    paused) only records what its pods do: as Airflow's scheduler does not examine the runs
    of a paused DAG, nothing starts, propagates or concludes until it is unpaused.
    `earlier` is what the run knows of the DAG's earlier runs (dependsOnPast, templates);
    `stored_outputs` the outputs kept in the run's outputs ConfigMaps (templates);
    `cross_dag` what the run's triggerDagRun and externalTaskSensor tasks look at.
    `gate` decides which scheduled tasks start (pools, limits, other runs' tasks); without
    one, at most `task_slots` (default: no limit) start.
    """
    if gate is None:
        gate = counting_gate(task_slots if task_slots is not None else len(snapshot.tasks))
    state = _Pass(run, snapshot, now, gate, earlier, stored_outputs)
    if state.status.state is not RunState.RUNNING:
        return state.result()
    state.observe(pods)
    if frozen:
        return state.result()
    state.release_retries()
    # Tasks that run in the controller hold no task slot: they go before the pods.
    in_controller = CrossDagStep(state, cross_dag, state.decision.cross_dag, state._context)
    for _ in range(len(snapshot.tasks) + 1):
        state.apply_trigger_rules()
        ended = in_controller.step()
        if not state.launch() and not ended:
            break
    state.enforce_run_timeout()
    state.conclude()
    return state.result()


def start(status: DagRunStatus, now: datetime) -> DagRunStatus:
    """A queued run promoted to running (under maxActiveRuns)."""
    new = status.model_copy(deep=True)
    new.state = RunState.RUNNING
    new.start_time = now
    new.conditions = set_condition(
        new.conditions,
        Condition(
            type="Succeeded",
            status="Unknown",
            reason="Running",
            message="tasks are running",
            last_transition_time=now,
        ),
    )
    return new
