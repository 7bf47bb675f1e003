"""The DagRun resource: one run of a DAG for one data interval, and its tasks' states."""

from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field

from kubedag.models.common import Condition, FreeForm, KubeModel, StatusTime


class RunType(StrEnum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    BACKFILL = "backfill"


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

    @property
    def finished(self) -> bool:
        return self in FINISHED_TASK_STATES

    @property
    def has_pod(self) -> bool:
        """A pod of the current try exists or is being created."""
        return self in (TaskState.QUEUED, TaskState.RUNNING)


FINISHED_TASK_STATES = frozenset(
    {TaskState.SUCCESS, TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.SKIPPED}
)


class DagRunSpec(KubeModel):
    """Which DAG to run, for which data interval, with which configuration."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self == oldSelf", "message": "a DagRun's spec is immutable"},
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


class DagRun(KubeModel):
    model_config = ConfigDict(extra="ignore")

    metadata: dict[str, Any]
    spec: DagRunSpec
    status: DagRunStatus = Field(default_factory=DagRunStatus)

    @property
    def name(self) -> str:
        return str(self.metadata["name"])

    @property
    def namespace(self) -> str:
        return str(self.metadata.get("namespace", "default"))

    @property
    def key(self) -> tuple[str, str]:
        """(namespace, name): how the controller's caches and work queue know the run."""
        return (self.namespace, self.name)
