"""The DagRun resource: one run of a DAG for one data interval, and its tasks' states."""

from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator

from kubedag.models import compact_tasks
from kubedag.models.common import (
    Condition,
    FreeForm,
    KubeModel,
    KubeObject,
    StatusTime,
    unchanged_rule,
)
from kubedag.models.dataset import TriggeredBy, UnrecordedUpdate
from kubedag.models.notifications import DeadlineMiss, Notification

MAX_REQUEST_TASKS = 10_000


class RunType(StrEnum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    BACKFILL = "backfill"
    DATASET_TRIGGERED = "dataset_triggered"
    """Started by dataset updates (Airflow 2's dataset_triggered, 3's asset_triggered)."""
    TEST = "test"
    """A throwaway run made by `kubedag test` (Airflow's `dags test`): it runs its tasks and
    takes part in nothing else (see core/run_types.py), and is deleted when it ends."""


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (RunState.SUCCESS, RunState.FAILED)


class TaskState(StrEnum):
    """Airflow's task-instance states."""

    NONE = "none"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"
    RESTARTING = "restarting"
    """Cleared while its pod ran: the pod is being stopped, then the task runs again."""
    DEFERRED = "deferred"
    """A triggerDagRun or externalTaskSensor task waiting for another DAG's run, without a
    pod: the controller looks again when that DAG's runs change."""

    @property
    def finished(self) -> bool:
        return self in FINISHED_TASK_STATES

    @property
    def has_pod(self) -> bool:
        """A pod of the current try exists (or is being created, or stopped)."""
        return self in (TaskState.QUEUED, TaskState.RUNNING, TaskState.RESTARTING)


FINISHED_TASK_STATES = frozenset(
    {TaskState.SUCCESS, TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.SKIPPED}
)


class RequestAction(StrEnum):
    """What a request on a run asks for (Airflow's clear and mark, rules 11-17)."""

    CLEAR = "clear"
    MARK_SUCCESS = "markSuccess"
    MARK_FAILED = "markFailed"


class RunRequest(KubeModel):
    """A request to clear or mark some of the run's tasks (or the whole run). The controller
    applies each `id` once and records it in `status.requests`: applying the same request
    again changes nothing; a new request needs a new id."""

    id: str = Field(min_length=1, max_length=128)
    """Any string unique among this run's requests, e.g. a timestamp."""
    action: RequestAction
    tasks: Annotated[
        list[Annotated[str, Field(max_length=63)]] | None,
        Field(max_length=MAX_REQUEST_TASKS, json_schema_extra={"x-kubernetes-list-type": "set"}),
    ] = None
    """The tasks to clear or mark; absent means every task of the run."""
    downstream: bool = False
    """Also every task downstream of the named ones (transitively)."""
    upstream: bool = False
    """Also every task upstream of the named ones (transitively)."""
    only_failed: bool = False
    """Clear only tasks that are failed or upstream_failed (after the expansion above)."""
    recursive: bool = False
    """Clear: also clear, in other DAGs' runs, the externalTaskSensor tasks that wait for
    the cleared tasks of this run, with their downstream tasks, and so on from those runs
    (Airflow's ExternalTaskMarker with recursion)."""
    recursion_depth: int | None = Field(default=None, ge=0, le=10)
    """How many DAGs further `recursive` goes; default 10 (Airflow's recursion_depth)."""


# A run's identity (DAG, dates) never changes; what a run is for may: a backfill reprocesses
# a run in place (Airflow's rule 6: it becomes a backfill run and takes the backfill's conf),
# and users clear or mark it with `request`.
IDENTITY_RULE = unchanged_rule("dagName", ("logicalDate", "dataIntervalStart", "dataIntervalEnd"))


class DagRunSpec(KubeModel):
    """Which DAG to run, for which data interval, with which configuration."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": IDENTITY_RULE,
                    "message": "a DagRun's dagName, logicalDate and data interval are immutable",
                },
                {
                    "rule": "self.runType == oldSelf.runType"
                    " || (self.runType == 'backfill' && oldSelf.runType != 'test')",
                    "message": "runType can only change to backfill, and a test run's never",
                },
                {
                    "rule": "has(self.dataIntervalStart) == has(self.dataIntervalEnd)",
                    "message": "set both dataIntervalStart and dataIntervalEnd, or neither",
                },
            ]
        }
    )

    dag_name: str = Field(min_length=1, max_length=253)
    """The DAG (in the same namespace) this run belongs to."""
    logical_date: StatusTime | None = None
    """The run's logical (execution) date; for a manual run, default the creation time."""
    data_interval_start: StatusTime | None = None
    data_interval_end: StatusTime | None = None
    run_type: RunType = RunType.MANUAL
    conf: FreeForm | None = None
    """Overrides of the DAG's params for this run."""
    backfill: str | None = Field(default=None, max_length=253)
    """The Backfill that created this run, or last reprocessed it."""
    request: RunRequest | None = None
    """The newest clear or mark request (see RunRequest)."""
    triggered_by: TriggeredBy | None = None
    """For a dataset-triggered run: the dataset updates (and so the upstream runs) that
    started it."""


class TryRecord(KubeModel):
    """The outcome of one earlier try of a task, kept when its pod is gone."""

    model_config = ConfigDict(frozen=True)

    try_number: int = Field(alias="try")
    state: TaskState
    """How the try ended: failed (then retried), or the state it had when it was cleared."""
    exit_code: int | None = None
    started: StatusTime | None = None
    finished: StatusTime | None = None
    pod: str | None = None


class TaskRecord(KubeModel):
    """Compact per-task state; kept small so a 2,000-task run stays far below etcd's limit."""

    name: str
    state: TaskState = TaskState.NONE
    try_number: int = Field(default=0, alias="try")
    """The current (or last) try, 1-based; 0 before the first."""
    pod: str | None = None
    queued_at: StatusTime | None = Field(default=None, alias="queued")
    started: StatusTime | None = None
    finished: StatusTime | None = None
    retry_at: StatusTime | None = Field(default=None, alias="retryAt")
    exit_code: int | None = None
    message: str | None = None
    cleared_try: int | None = None
    """The try the task was cleared after: its budget of 1 + retries tries counts from the
    next one (Airflow's max_tries = try_number + retries). Absent: never cleared."""
    outputs: FreeForm | None = None
    """The task's output (the JSON object it wrote to its termination message), while the
    run's outputs fit their budget on the DagRun; see `outputsIn` otherwise."""
    outputs_in: str | None = None
    """The ConfigMap that holds this task's output when the DagRun has no room for it."""
    tries: list[TryRecord] | None = None
    """The earlier tries (the current one is the record itself), oldest first: the newest
    10 (fewer in runs of over 400 tasks: 4,000 a run); absent before a second try."""


class AppliedRequest(KubeModel):
    """A clear or mark request the controller has applied, and what it changed."""

    id: str
    action: RequestAction
    applied_at: StatusTime
    tasks: list[str] = Field(default_factory=list)
    """The tasks whose state the request changed (after expansion and filters)."""
    by: str | None = None
    """Who asked: `backfill/NAME` for a backfill's reprocessing, else absent."""
    refused: str | None = None
    """Why the request was refused (nothing changed), e.g. a task the run does not have."""


class DagRunStatus(KubeModel):
    """Observed state of a run, written by the controller."""

    state: RunState | None = None
    snapshot: str | None = None
    """The immutable snapshot (ConfigMap) of the DAG version this run executes."""
    logical_date: StatusTime | None = None
    data_interval_start: StatusTime | None = None
    data_interval_end: StatusTime | None = None
    start_time: StatusTime | None = None
    end_time: StatusTime | None = None
    duration: str | None = None
    progress: str | None = None
    """Finished tasks / all tasks, e.g. "3/5"."""
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    tasks: list[TaskRecord] = Field(
        default_factory=list, json_schema_extra={"x-kubernetes-list-type": "atomic"}
    )
    """One record per task, in the DAG's order. In a run of over 1,000 tasks (the
    controller's compactTasksOver) only the active ones, at most 100, are here: the rest are
    in `compressedTasks`, and `kubedag status` shows them all."""
    compressed_tasks: str | None = None
    """The records of a large run not in `tasks` (gzip, base64: models/compact_tasks.py).
    Always absent once read: the model expands it into `tasks`."""
    requests: list[AppliedRequest] = Field(
        default_factory=list, json_schema_extra={"x-kubernetes-list-type": "atomic"}
    )
    """The newest applied clear and mark requests, oldest first (at most 20)."""
    notifications: list[Notification] = Field(
        default_factory=list, json_schema_extra={"x-kubernetes-list-type": "atomic"}
    )
    """The run's notifications, oldest first: every pending one, and the newest delivered."""
    deadline_misses: list[DeadlineMiss] = Field(
        default_factory=list, json_schema_extra={"x-kubernetes-list-type": "atomic"}
    )
    """The deadlines the run and its tasks missed, each once."""
    dataset_updates: Annotated[
        list[UnrecordedUpdate] | None, Field(json_schema_extra={"x-kubernetes-list-type": "atomic"})
    ] = None
    """Dataset updates this run's change made that their Datasets do not hold yet (the next
    pass records them and removes them from here)."""

    @model_validator(mode="before")
    @classmethod
    def _expand_compressed_tasks(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        field = next(
            (k for k in (compact_tasks.COMPRESSED_FIELD, "compressed_tasks") if k in data), None
        )
        if field is None:
            return data
        expanded = dict(data)
        packed = expanded.pop(field)
        expanded["tasks"] = compact_tasks.expand(expanded.get("tasks") or (), packed)
        return expanded

    def to_wire(self) -> dict[str, Any]:
        """As stored: a large run's records compacted (models/compact_tasks.py)."""
        wire = super().to_wire()
        plain, packed = compact_tasks.compact(wire.get("tasks") or [])
        if packed is not None:
            wire["tasks"] = plain
            wire[compact_tasks.COMPRESSED_FIELD] = packed
        return wire


class DagRun(KubeObject):
    spec: DagRunSpec
    status: DagRunStatus = Field(default_factory=DagRunStatus)

    @property
    def key(self) -> tuple[str, str]:
        """(namespace, name): how the controller's caches and work queue know the run."""
        return (self.namespace, self.name)
