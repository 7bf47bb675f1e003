"""The run engine's part for tasks that run in the controller: a scheduled triggerDagRun
task triggers its run (or finds it exists), a scheduled externalTaskSensor task starts
waiting, and a deferred task looks at what it waits for. No pod, no task slot.

Failures follow Airflow 3: a trigger whose run exists already, or whose awaited run ends in
a failed state, fails without retries (the task SDK fails the task instance outright); a
sensor's timeout fails it without retries (AirflowSensorTimeout); a sensor whose target
reaches a failed state, a DAG not found and a refused namespace are ordinary failed tries."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from kubedag.core.cross_dag import (
    OUTPUT_DAG_ID,
    OUTPUT_LOGICAL_DATE,
    OUTPUT_NAMESPACE,
    OUTPUT_RUN_ID,
    TRIGGER_DEFAULT_ALLOWED,
    TRIGGER_DEFAULT_FAILED,
    CrossDagActions,
    CrossDagView,
    ObservedRun,
    RunToReset,
    RunToTrigger,
    SensorTarget,
    TargetDag,
    Verdict,
    access_refused,
    controller_tasks,
    matching_run,
    observed_state,
    run_of_date,
    sensor_deadline,
    sensor_target,
    sensor_verdict,
    states_text,
    target_of,
    trigger_verdict,
    triggered_by,
)
from kubedag.core.dates import parse_time, rfc3339
from kubedag.core.naming import dagrun_name
from kubedag.core.schedule import DataInterval
from kubedag.core.snapshot import ResolvedTask, Snapshot
from kubedag.core.templating import RunContext, TemplateError, render
from kubedag.core.tries import archive_try, earlier_tries_limit
from kubedag.models.cross_dag import TriggerDagRunSpec
from kubedag.models.dagrun import DagRun, DagRunStatus, RunType, TaskRecord, TaskState

MESSAGE_LIMIT = 200


class EnginePass(Protocol):
    """What of the run engine's pass this step works with."""

    run: DagRun
    snapshot: Snapshot
    status: DagRunStatus
    records: dict[str, TaskRecord]
    now: datetime

    def fail_try(
        self, record: TaskRecord, task: ResolvedTask, message: str, exit_code: int | None = None
    ) -> None: ...

    def writable(self, name: str) -> TaskRecord: ...

    def event(self, type_: str, reason: str, message: str) -> None: ...


@dataclass(frozen=True)
class _Trigger:
    name: str
    logical_date: datetime
    conf: dict[str, Any] | None


def _short(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def _render_value(value: Any, variables: dict[str, Any]) -> Any:
    """Airflow renders a templated dict's strings, however deep."""
    if isinstance(value, str):
        return render(value, variables)
    if isinstance(value, dict):
        return {k: _render_value(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_value(v, variables) for v in value]
    return value


def _ended(record: TaskRecord) -> bool:
    return record.state.finished or record.state in (TaskState.UP_FOR_RETRY,)


def render_trigger(spec: TriggerDagRunSpec, variables: dict[str, Any], now: datetime) -> _Trigger:
    """The run a trigger task creates: its templates rendered (TemplateError otherwise)."""
    logical = now
    if spec.logical_date is not None:
        text = render(spec.logical_date, variables)
        try:
            logical = parse_time(text.strip())
        except ValueError:
            raise TemplateError(
                f"triggerDagRun.logicalDate rendered {text!r}, not an RFC 3339 time or a date"
            ) from None
    conf = _render_value(spec.conf, variables) if spec.conf is not None else None
    return _Trigger(dagrun_name(spec.dag_name, RunType.MANUAL, logical), logical, conf)


def _waiting(
    target: SensorTarget, dag: TargetDag | None, run: ObservedRun | None, state: str | None
) -> str:
    where = f"waiting for {target.describe()}"
    if dag is None:
        return f"{where}: DAG not found in namespace {target.namespace}"
    if run is None:
        return f"{where}: none yet"
    if state is not None:
        return f"{where}: run {run.name} is {state}"
    if run.pending_request:
        return f"{where}: run {run.name} is being cleared or marked"
    return f"{where}: run {run.name} has no task {target.task}"


class CrossDagStep:
    def __init__(
        self,
        engine: EnginePass,
        view: CrossDagView,
        actions: CrossDagActions,
        context: Callable[[ResolvedTask, int], RunContext],
    ) -> None:
        self.engine = engine
        self.view = view
        self.actions = actions
        self.context = context
        self.names = controller_tasks(engine.snapshot)
        self.namespace = engine.run.namespace

    def step(self) -> bool:
        """Start the scheduled ones and look at the deferred ones; True if a task ended."""
        ended = False
        for name in self.names:
            state = self.engine.records[name].state
            if state is TaskState.SCHEDULED:
                self._start(self.engine.writable(name), self.engine.snapshot.task(name))
            elif state is TaskState.DEFERRED:
                self._look(self.engine.writable(name), self.engine.snapshot.task(name))
            else:
                continue
            record = self.engine.records[name]
            ended = ended or _ended(record)
        return ended

    # Lifecycle ------------------------------------------------------------------------

    def _start(self, record: TaskRecord, task: ResolvedTask) -> None:
        archive_try(record, keep=earlier_tries_limit(len(self.engine.records)))
        record.try_number += 1
        record.queued_at = record.started = self.engine.now
        record.finished = record.exit_code = record.message = record.pod = None
        record.outputs = record.outputs_in = None
        record.state = TaskState.DEFERRED
        if task.trigger_dag_run is not None:
            self._trigger(record, task)
        else:
            self._look(record, task)

    def _look(self, record: TaskRecord, task: ResolvedTask) -> None:
        if task.trigger_dag_run is not None:
            self._await_triggered(record, task)
        else:
            self._sense(record, task)

    def _end(self, record: TaskRecord, state: TaskState, message: str | None) -> None:
        record.state = state
        record.finished = self.engine.now
        record.message = _short(message) if message else None

    def _fail_outright(self, record: TaskRecord, task: ResolvedTask, message: str) -> None:
        self._end(record, TaskState.FAILED, message)
        self.engine.event("Warning", "TaskFailed", f"task {task.name} failed: {message}")

    def _skip(self, record: TaskRecord, task: ResolvedTask, message: str) -> None:
        self._end(record, TaskState.SKIPPED, message)
        self.engine.event("Normal", "TaskSkipped", f"task {task.name} skipped: {message}")

    def _fail_try(self, record: TaskRecord, task: ResolvedTask, message: str) -> None:
        self.engine.fail_try(record, task, _short(message))

    # Trigger --------------------------------------------------------------------------

    def _trigger(self, record: TaskRecord, task: ResolvedTask) -> None:
        spec = task.trigger_dag_run
        assert spec is not None
        target = target_of(task, self.namespace)
        assert target is not None
        mine = self.view.triggered.get(task.name)
        if mine is not None and mine.try_number == record.try_number:
            # This try created it before its status was written (a restart, a conflict).
            dag = self.view.dags.get(target, TargetDag())
            found = next((r for r in dag.runs if r.name == mine.name), None)
            logical = found.logical_date if found and found.logical_date else self.engine.now
            return self._triggered(record, task, target, mine.name, logical)
        try:
            variables = self.context(task, record.try_number).variables()
            trigger = render_trigger(spec, variables, self.engine.now)
        except TemplateError as error:
            return self._fail_outright(record, task, f"template error: {error}")
        found_dag = self.view.dags.get(target)
        if found_dag is None:
            namespace, name = target
            return self._fail_try(record, task, f"DAG {name} not found in namespace {namespace}")
        dag = found_dag
        refused = access_refused(self.namespace, target, dag, "trigger")
        if refused:
            return self._fail_try(record, task, refused)
        own = (self.namespace, self.engine.run.spec.dag_name)
        if target == own and trigger.logical_date == self.engine.status.logical_date:
            return self._fail_outright(
                record,
                task,
                f"triggerDagRun.logicalDate {rfc3339(trigger.logical_date)}: a DAG cannot"
                " trigger itself at its own run's logical date (it would trigger itself again)",
            )
        existing = run_of_date(dag.runs, trigger.logical_date)
        if existing is None:
            self.actions.runs_to_trigger.append(
                RunToTrigger(
                    namespace=target[0],
                    dag=target[1],
                    name=trigger.name,
                    logical_date=trigger.logical_date,
                    conf=trigger.conf,
                    triggered_by=triggered_by(
                        self.namespace, self.engine.run.name, task.name, record.try_number
                    ),
                )
            )
            return self._triggered(record, task, target, trigger.name, trigger.logical_date)
        if spec.reset_dag_run:
            request = (
                f"trigger/{self.namespace}/{self.engine.run.name}/{task.name}/{record.try_number}"
            )
            self.actions.runs_to_reset.append(RunToReset(target[0], existing.name, request[:128]))
            # Its state is the old run's until the clear is applied: look from the next pass.
            return self._triggered(
                record, task, target, existing.name, trigger.logical_date, look=False
            )
        exists = (
            f"a run of DAG {target[1]} for {rfc3339(trigger.logical_date)} exists already"
            f" ({existing.name})"
        )
        if spec.skip_when_already_exists:
            return self._skip(record, task, f"{exists} (skipWhenAlreadyExists)")
        self._fail_outright(
            record,
            task,
            f"{exists}: set triggerDagRun.resetDagRun to run it again, or"
            " skipWhenAlreadyExists to skip this task",
        )

    def _triggered(
        self,
        record: TaskRecord,
        task: ResolvedTask,
        target: tuple[str, str],
        run: str,
        logical: datetime,
        *,
        look: bool = True,
    ) -> None:
        record.outputs = {
            OUTPUT_RUN_ID: run,
            OUTPUT_DAG_ID: target[1],
            OUTPUT_NAMESPACE: target[0],
            OUTPUT_LOGICAL_DATE: rfc3339(logical),
        }
        spec = task.trigger_dag_run
        assert spec is not None
        if not spec.wait_for_completion:
            return self._end(record, TaskState.SUCCESS, f"triggered run {run} of DAG {target[1]}")
        if look:
            self._await_triggered(record, task)
        else:
            record.message = f"waiting for run {run} of DAG {target[1]}: cleared to run again"

    def _await_triggered(self, record: TaskRecord, task: ResolvedTask) -> None:
        spec = task.trigger_dag_run
        assert spec is not None and record.outputs is not None
        target = target_of(task, self.namespace)
        assert target is not None
        name = str(record.outputs.get(OUTPUT_RUN_ID))
        dag = self.view.dags.get(target, TargetDag())
        run = next((r for r in dag.runs if r.name == name), None)
        verdict = trigger_verdict(spec, run)
        state = observed_state(run, None)
        if verdict is Verdict.FAIL:
            failed = (
                spec.failed_states if spec.failed_states is not None else TRIGGER_DEFAULT_FAILED
            )
            return self._fail_outright(
                record,
                task,
                f"triggered run {name} of DAG {target[1]} ended {state}"
                f" (failedStates {states_text(failed)})",
            )
        if verdict is Verdict.SUCCESS:
            return self._end(record, TaskState.SUCCESS, f"run {name} of DAG {target[1]} is {state}")
        allowed = spec.allowed_states or TRIGGER_DEFAULT_ALLOWED
        seen = state or ("not seen yet" if run is None else "about to change")
        record.message = _short(
            f"waiting for run {name} of DAG {target[1]} to be {states_text(allowed)}: {seen}"
        )

    # Sensor ---------------------------------------------------------------------------

    def _sense(self, record: TaskRecord, task: ResolvedTask) -> None:
        sensor = task.external_task_sensor
        status = self.engine.status
        assert sensor is not None and status.logical_date is not None
        assert status.data_interval_start is not None and status.data_interval_end is not None
        target = sensor_target(
            sensor,
            self.namespace,
            status.logical_date,
            DataInterval(status.data_interval_start, status.data_interval_end),
        )
        key = (target.namespace, target.dag)
        dag = self.view.dags.get(key)
        if dag is not None and (refused := access_refused(self.namespace, key, dag, "watch")):
            return self._fail_try(record, task, refused)
        run = matching_run(dag.runs, target) if dag is not None else None
        state = observed_state(run, target.task)
        verdict = sensor_verdict(sensor, state)
        seen = f"{target.describe()} is {state}" + (f" (run {run.name})" if run else "")
        if verdict is Verdict.SUCCESS:
            return self._end(record, TaskState.SUCCESS, seen)
        if verdict is Verdict.SKIP:
            return self._skip(record, task, seen)
        if verdict is Verdict.FAIL:
            return self._fail_try(record, task, seen)
        deadline = sensor_deadline(sensor, record)
        waiting = _waiting(target, dag, run, state)
        if deadline is not None and self.engine.now >= deadline:
            timeout = sensor.timeout or "168h"
            message = f"timed out after {timeout} {waiting}"
            if sensor.soft_fail:
                return self._skip(record, task, message)
            return self._fail_outright(record, task, message)
        record.message = _short(waiting)
