"""Between DAGs: what a triggerDagRun or externalTaskSensor task looks at, and how the
states it sees map to its own (Airflow's TriggerDagRunOperator and ExternalTaskSensor).

The run reconciler gathers a `CrossDagView` from the informer (the runs of every DAG the
run's unfinished cross-DAG tasks name, like pod observations), the engine decides with it
(`cross_dag_step`), and the reconciler carries out the `CrossDagActions` (runs to create,
runs to clear) before it writes the status."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import lru_cache

from kubedag.core.dates import rfc3339
from kubedag.core.durations import parse_duration
from kubedag.core.schedule import DataInterval
from kubedag.core.snapshot import ResolvedTask, Snapshot
from kubedag.models.cross_dag import (
    ANY_NAMESPACE,
    DEFAULT_SENSOR_TIMEOUT,
    ExternalTaskSensorSpec,
    TriggerDagRunSpec,
)
from kubedag.models.dagrun import DagRunStatus, RunState, TaskRecord, TaskState

NamespacedName = tuple[str, str]

# Airflow's XCom keys of TriggerDagRunOperator, so `ti.xcom_pull(key="trigger_run_id")` reads
# the same in kubedag.
OUTPUT_RUN_ID = "trigger_run_id"
OUTPUT_DAG_ID = "trigger_dag_id"
OUTPUT_NAMESPACE = "trigger_namespace"
OUTPUT_LOGICAL_DATE = "trigger_logical_date_iso"
# On a run a trigger task created: `namespace/run/task/try` of that task's try.
ANNOTATION_TRIGGERED_BY = "kubedag.io/triggered-by"
TRIGGER_DEFAULT_ALLOWED = (RunState.SUCCESS,)
TRIGGER_DEFAULT_FAILED = (RunState.FAILED,)
SENSOR_DEFAULT_ALLOWED = (TaskState.SUCCESS,)


@dataclass(frozen=True)
class ObservedRun:
    """One run of a DAG another DAG's task looks at, as the informer knows it."""

    name: str
    logical_date: datetime | None
    interval: DataInterval | None = None
    state: RunState | None = None
    """None: not pinned yet (Airflow's queued)."""
    created: datetime | None = None
    pending_request: bool = False
    """A clear or mark request waits on it: its state is about to change."""
    task_states: Mapping[str, TaskState] | None = None
    """The states of the tasks sensors wait for (None: not read; the run has no such
    task: absent)."""


@dataclass(frozen=True)
class TargetDag:
    runs: Sequence[ObservedRun] = ()
    external_namespaces: frozenset[str] = frozenset()
    """Its spec.externalNamespaces: who else may trigger it or wait for it."""


@dataclass(frozen=True)
class TriggeredRun:
    """A run a trigger task's try created (the run's `kubedag.io/triggered-by`)."""

    namespace: str
    name: str
    try_number: int


@dataclass(frozen=True)
class CrossDagView:
    dags: Mapping[NamespacedName, TargetDag] = field(default_factory=dict)
    """The DAGs the run's cross-DAG tasks name; a DAG absent does not exist (or is not
    watched by this controller)."""
    triggered: Mapping[str, TriggeredRun] = field(default_factory=dict)
    """Task -> the run its newest try created."""


NO_VIEW = CrossDagView()


@dataclass(frozen=True)
class RunToTrigger:
    namespace: str
    dag: str
    name: str
    logical_date: datetime
    conf: dict[str, object] | None
    triggered_by: str
    """`namespace/run/task/try`: how a try recognises the run it created."""


@dataclass(frozen=True)
class RunToReset:
    namespace: str
    name: str
    request_id: str


@dataclass
class CrossDagActions:
    runs_to_trigger: list[RunToTrigger] = field(default_factory=list)
    runs_to_reset: list[RunToReset] = field(default_factory=list)


def triggered_by(namespace: str, run: str, task: str, try_number: int) -> str:
    return f"{namespace}/{run}/{task}/{try_number}"


def parse_triggered_by(value: str) -> tuple[NamespacedName, str, int] | None:
    """(triggering run, task, try) from a `kubedag.io/triggered-by` value; None if malformed."""
    parts = value.split("/")
    if len(parts) != 4 or not parts[3].isdigit() or not all(parts[:3]):
        return None
    return (parts[0], parts[1]), parts[2], int(parts[3])


def target_of(task: ResolvedTask, namespace: str) -> NamespacedName | None:
    spec: TriggerDagRunSpec | ExternalTaskSensorSpec | None = (
        task.trigger_dag_run or task.external_task_sensor
    )
    return (spec.namespace or namespace, spec.dag_name) if spec is not None else None


@lru_cache(maxsize=256)
def _controller_tasks(snapshot_json: str) -> tuple[str, ...]:
    snapshot = Snapshot.model_validate_json(snapshot_json)
    return tuple(t.name for t in snapshot.tasks if t.in_controller)


def controller_tasks(snapshot: Snapshot) -> tuple[str, ...]:
    """The snapshot's triggerDagRun and externalTaskSensor tasks, in order."""
    return _controller_tasks(snapshot.canonical_json())


def targets(
    snapshot: Snapshot, records: Iterable[TaskRecord], namespace: str
) -> set[NamespacedName]:
    """The DAGs that the run's unfinished cross-DAG tasks name: what its view must hold."""
    names = controller_tasks(snapshot)
    if not names:
        return set()
    unfinished = {r.name for r in records if not r.state.finished}
    found = set()
    for name in names:
        if name in unfinished and (target := target_of(snapshot.task(name), namespace)):
            found.add(target)
    return found


def waits_on(snapshot: Snapshot, status: DagRunStatus, namespace: str) -> set[NamespacedName]:
    """The DAGs whose runs' changes the run's deferred tasks wait for."""
    names = controller_tasks(snapshot)
    if not names:
        return set()
    deferred = {r.name for r in status.tasks if r.state is TaskState.DEFERRED}
    return {
        target
        for name in names
        if name in deferred and (target := target_of(snapshot.task(name), namespace))
    }


def access_refused(
    own_namespace: str, target: NamespacedName, dag: TargetDag, verb: str
) -> str | None:
    """Why a DAG of `own_namespace` may not trigger or watch `target` (None: it may)."""
    namespace, name = target
    allowed = dag.external_namespaces
    if namespace == own_namespace or own_namespace in allowed or ANY_NAMESPACE in allowed:
        return None
    listed = ", ".join(sorted(allowed)) or "none"
    return (
        f"DAG {name} in namespace {namespace} does not let namespace {own_namespace} {verb} it:"
        f" its spec.externalNamespaces lists {listed}; add {own_namespace} there"
    )


# Sensors --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SensorTarget:
    namespace: str
    dag: str
    task: str | None
    logical_date: datetime | None
    """The logical date looked at; None when the sensor matches the data interval."""
    interval: DataInterval | None = None

    def describe(self) -> str:
        when = (
            f"of {rfc3339(self.logical_date)}"
            if self.logical_date is not None
            else f"for {rfc3339(self.interval.start)}/{rfc3339(self.interval.end)}"
            if self.interval is not None
            else "(no date)"
        )
        where = f" (task {self.task})" if self.task else ""
        return f"DAG {self.dag} run {when}{where}"


def sensor_target(
    sensor: ExternalTaskSensorSpec,
    namespace: str,
    logical_date: datetime,
    interval: DataInterval,
) -> SensorTarget:
    """Which run (and task) a sensor of a run with these dates waits for: the same logical
    date, `executionDelta` earlier, or the same data interval."""
    target_namespace = sensor.namespace or namespace
    if sensor.same_data_interval:
        return SensorTarget(target_namespace, sensor.dag_name, sensor.task_name, None, interval)
    delta = parse_duration(sensor.execution_delta) if sensor.execution_delta else None
    looked_at = logical_date - delta if delta is not None else logical_date
    return SensorTarget(target_namespace, sensor.dag_name, sensor.task_name, looked_at)


def matching_run(runs: Iterable[ObservedRun], target: SensorTarget) -> ObservedRun | None:
    """The run a sensor looks at: the target DAG's run of that logical date (or data
    interval); of several (a scheduled and a manual run of one date), the newest."""
    if target.logical_date is not None:
        found = [r for r in runs if r.logical_date == target.logical_date]
    else:
        found = [r for r in runs if r.interval is not None and r.interval == target.interval]
    if not found:
        return None
    return max(found, key=lambda r: (r.created is not None, r.created or r.logical_date, r.name))


class Verdict(StrEnum):
    WAIT = "wait"
    SUCCESS = "success"
    FAIL = "fail"
    SKIP = "skip"


def observed_state(run: ObservedRun | None, task: str | None) -> str | None:
    """The state a sensor compares with its states: the run's, or its task's; None while
    there is nothing to compare (no run yet, or a request about to change it)."""
    if run is None or run.pending_request:
        return None
    if task is None:
        return (run.state or RunState.QUEUED).value
    if run.state is None:
        return TaskState.NONE.value
    if run.task_states is None or task not in run.task_states:
        return None
    return run.task_states[task].value


def sensor_verdict(sensor: ExternalTaskSensorSpec, state: str | None) -> Verdict:
    """Airflow's order: a failed state fails (skips with softFail), then a skipped state
    skips, then an allowed state succeeds; anything else waits."""
    if state is None:
        return Verdict.WAIT
    if state in (sensor.failed_states or ()):
        return Verdict.SKIP if sensor.soft_fail else Verdict.FAIL
    if state in (sensor.skipped_states or ()):
        return Verdict.SKIP
    if state in (sensor.allowed_states or SENSOR_DEFAULT_ALLOWED):
        return Verdict.SUCCESS
    return Verdict.WAIT


def sensor_deadline(sensor: ExternalTaskSensorSpec, record: TaskRecord) -> datetime | None:
    """When a deferred sensor gives up: its wait began at `started`."""
    if record.state is not TaskState.DEFERRED or record.started is None:
        return None
    return record.started + parse_duration(sensor.timeout or DEFAULT_SENSOR_TIMEOUT)


def next_wakeup(snapshot: Snapshot, records: Iterable[TaskRecord]) -> datetime | None:
    """The earliest timeout of the run's deferred sensors."""
    names = controller_tasks(snapshot)
    if not names:
        return None
    wanted = set(names)
    deadlines = [
        deadline
        for r in records
        if r.name in wanted
        and (sensor := snapshot.task(r.name).external_task_sensor) is not None
        and (deadline := sensor_deadline(sensor, r)) is not None
    ]
    return min(deadlines) if deadlines else None


# Triggers -------------------------------------------------------------------------------


def trigger_verdict(trigger: TriggerDagRunSpec, run: ObservedRun | None) -> Verdict:
    """A waiting trigger's verdict on its triggered run's state (failed states first)."""
    state = observed_state(run, None)
    if state is None:
        return Verdict.WAIT
    if state in (
        trigger.failed_states if trigger.failed_states is not None else TRIGGER_DEFAULT_FAILED
    ):
        return Verdict.FAIL
    if state in (trigger.allowed_states or TRIGGER_DEFAULT_ALLOWED):
        return Verdict.SUCCESS
    return Verdict.WAIT


def run_of_date(runs: Iterable[ObservedRun], logical_date: datetime) -> ObservedRun | None:
    """A run of that logical date (Airflow allows one per DAG and date)."""
    found = [r for r in runs if r.logical_date == logical_date]
    return max(found, key=lambda r: r.name) if found else None


def states_text(states: Iterable[str]) -> str:
    return "[" + ", ".join(str(s) for s in states) + "]"
