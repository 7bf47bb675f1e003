"""The DAG resource: a pipeline's schedule, its tasks and their defaults."""

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, WithJsonSchema

from kubedag.models.common import (
    DNS_LABEL_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    Condition,
    Duration,
    FreeForm,
    KubeModel,
    KubeObject,
    StatusTime,
    Timestamp,
)
from kubedag.models.cron import MAX_SCHEDULE_LENGTH, schedule_validations
from kubedag.models.cross_dag import (
    NAMESPACE_ENTRY_PATTERN,
    ExternalTaskSensorSpec,
    TriggerDagRunSpec,
)
from kubedag.models.dataset import DatasetConsumption, DatasetSchedule, DatasetUri
from kubedag.models.notifications import Deadline, Notifiers
from kubedag.models.security import (
    ContainerSecurityContext,
    PodAnnotations,
    PodLabels,
    PodSecurityContext,
)

MAX_TASKS = 10_000
MAX_POOL_SLOTS = 1_000_000
# Airflow stores priority weights as 32-bit integers and clamps their sums to that range.
MIN_PRIORITY, MAX_PRIORITY = -(2**31), 2**31 - 1
MAX_DEPENDENCIES = 256


def _named_init_containers(containers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for index, container in enumerate(containers):
        if not container.get("name") or not container.get("image") or container["name"] == "task":
            raise ValueError(
                f"initContainers[{index}] needs a name (not `task`, the task's own container)"
                " and an image"
            )
    return containers


DEFAULT_MAX_ACTIVE_TASKS = 16  # task pods of one DAG active at once, across its runs


class PodGC(StrEnum):
    """When a run's task pods (and with them their logs) are deleted; the outcome of every
    try stays in the run's status either way."""

    ON_RUN_SUCCESS = "OnRunSuccess"
    """Once the run succeeds; a failed run keeps its pods until history cleanup deletes it."""
    ON_RUN_COMPLETION = "OnRunCompletion"
    """Once the run finishes, successful or not."""
    ON_TASK_SUCCESS = "OnTaskSuccess"
    """The pods of a task once it succeeds (its failed tries' too), and all once the run
    succeeds."""
    NEVER = "Never"
    """Only with the run (history cleanup, or deleting it or its DAG)."""


class TriggerRule(StrEnum):
    """When a task runs, given its upstream tasks' states (Airflow's trigger rules)."""

    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_DONE_SETUP_SUCCESS = "all_done_setup_success"
    """All upstream tasks are done and, if some are setups, one of those succeeded: the
    default rule of a teardown task."""
    ALL_DONE_MIN_ONE_SUCCESS = "all_done_min_one_success"
    """No upstream task is skipped, all are done, and one succeeded (Airflow 3)."""
    ALL_SKIPPED = "all_skipped"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"


class WeightRule(StrEnum):
    """How a task's effective priority weight is computed (Airflow's weight_rule)."""

    DOWNSTREAM = "downstream"
    """Its own weight plus the weights of every task downstream of it (the default): the
    tasks that unblock the most work go first."""
    UPSTREAM = "upstream"
    """Its own weight plus the weights of every task upstream of it: runs further along
    finish first."""
    ABSOLUTE = "absolute"
    """Its own weight only."""


class EnvVar(KubeModel):
    """A container environment variable; `value` may use templates such as {{ ds }}."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    value: str | None = None
    value_from: FreeForm | None = None


EnvList = Annotated[
    list[EnvVar],
    Field(
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}
    ),
]


InitContainer = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "required": ["name", "image"],
            "properties": {
                "name": {"type": "string", "maxLength": 63},
                "image": {"type": "string", "minLength": 1},
            },
            "x-kubernetes-preserve-unknown-fields": True,
        }
    ),
]
InitContainers = Annotated[
    list[InitContainer],
    Field(
        max_length=16,
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.all(c, c.name != 'task')",
                    "message": "every init container has a name (not `task`, the task's own"
                    " container) and an image",
                }
            ]
        },
    ),
    AfterValidator(_named_init_containers),
]


class TaskDefaults(KubeModel):
    """Settings a task may leave out and take from the DAG's `defaults` (Airflow's default_args)."""

    image: str | None = Field(default=None, min_length=1)
    """Container image the task runs."""
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    env: EnvList | None = None
    """Environment variables; merged by name with the DAG defaults' env (the task's win)."""
    env_from: list[FreeForm] | None = None
    resources: FreeForm | None = None
    """Container resource requests and limits (core/v1 ResourceRequirements)."""
    volume_mounts: list[FreeForm] | None = None
    service_account_name: str | None = None
    volumes: list[FreeForm] | None = None
    node_selector: dict[str, str] | None = None
    tolerations: list[FreeForm] | None = None
    security_context: PodSecurityContext | None = None
    """Pod-level security context (core/v1 PodSecurityContext), merged key by key over
    kubedag's default (runAsNonRoot, runAsUser 65532, RuntimeDefault seccomp)."""
    container_security_context: ContainerSecurityContext | None = None
    """The container's security context (core/v1 SecurityContext), merged key by key over
    kubedag's default (no privilege escalation, every capability dropped, runAsNonRoot,
    RuntimeDefault seccomp): the pod passes the `restricted` Pod Security Standard unless
    this or securityContext loosens it. Init containers get the same default."""
    affinity: FreeForm | None = None
    """Node and pod affinity (core/v1 Affinity)."""
    priority_class_name: str | None = Field(
        default=None, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN
    )
    """The PriorityClass of the pod (the scheduler's priority and preemption)."""
    labels: PodLabels | None = None
    """Labels added to the pod; kubedag's own (kubedag.io/*) are refused."""
    annotations: PodAnnotations | None = None
    """Annotations added to the pod; kubedag's own (kubedag.io/*) are refused."""
    init_containers: InitContainers | None = None
    """Containers run to completion before the task's (core/v1 Container)."""
    trigger_rule: TriggerRule | None = None
    """When the task runs given its upstream states; default all_success (a teardown's:
    all_done_setup_success, whatever the DAG's defaults say)."""
    retries: int | None = Field(default=None, ge=0, le=100)
    """How many times a failed try is retried; default 0."""
    retry_delay: Duration | None = None
    """Wait before a retry; default 5m."""
    retry_exponential_backoff: bool | None = None
    """Double the wait after each failed try (with Airflow's deterministic jitter)."""
    max_retry_delay: Duration | None = None
    """Upper bound of the wait between tries."""
    execution_timeout: Duration | None = None
    """A try that has not finished this long after its pod was created fails."""
    depends_on_past: bool | None = None
    """Run only if this task succeeded or was skipped in the previous run (the latest with an
    earlier logical date); default false."""
    wait_for_downstream: bool | None = None
    """Also wait for this task's direct downstream tasks of the previous run to succeed or be
    skipped; implies dependsOnPast."""
    ignore_first_depends_on_past: bool | None = None
    """dependsOnPast does not hold a task that has never run before in this DAG."""
    # Notifications (Airflow's on_*_callback with notifiers) and the task's deadline.
    on_failure: Notifiers | None = None
    """Notified when a try fails and no retry is left (Airflow's on_failure_callback)."""
    on_retry: Notifiers | None = None
    """Notified when a try fails and the task will be retried (on_retry_callback)."""
    on_success: Notifiers | None = None
    """Notified when the task succeeds (on_success_callback)."""
    deadline: Deadline | None = None
    """The task has finished by then, or its deadline is missed (Airflow 2's task SLA)."""
    on_deadline_miss: Notifiers | None = None
    """Notified once when the task misses its deadline."""
    # Pools and priorities (Airflow's pool, pool_slots, priority_weight, weight_rule).
    pool: str | None = Field(default=None, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)
    """The Pool (in the DAG's namespace) whose slots a try's pod holds while it is queued or
    running; default `default-pool`. A task whose pool does not exist waits, scheduled."""
    pool_slots: int | None = Field(default=None, ge=1, le=MAX_POOL_SLOTS)
    """Slots of its pool one try holds; default 1."""
    priority_weight: int | None = Field(default=None, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    """Rank among tasks waiting for a slot (higher first; with weightRule); default 1."""
    weight_rule: WeightRule | None = None
    """downstream (default), upstream or absolute: see WeightRule."""
    max_active_tis_per_dag: int | None = Field(default=None, ge=1, le=MAX_POOL_SLOTS)
    """Tries of this task running or queued at once, across the DAG's runs; default no
    limit."""


class TaskSpec(TaskDefaults):
    """One task of the DAG: a container run as one pod per try."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.dependsOn) || !(self.name in self.dependsOn)",
                    "message": "a task cannot depend on itself",
                },
                {
                    "rule": "!(has(self.branch) && self.branch"
                    " && has(self.shortCircuit) && self.shortCircuit)",
                    "message": "a task is a branch or a short-circuit, not both",
                },
                {
                    "rule": "!(has(self.setup) && self.setup"
                    " && has(self.teardown) && self.teardown)",
                    "message": "a task is a setup or a teardown, not both",
                },
                {
                    "rule": "!has(self.onFailureFailDagrun)"
                    " || (has(self.teardown) && self.teardown)",
                    "message": "onFailureFailDagrun applies to teardown tasks only",
                },
                {
                    "rule": "!has(self.ignoreDownstreamTriggerRules)"
                    " || (has(self.shortCircuit) && self.shortCircuit)",
                    "message": "ignoreDownstreamTriggerRules applies to shortCircuit tasks only",
                },
                {
                    "rule": "!(has(self.triggerDagRun) && has(self.externalTaskSensor))",
                    "message": "a task is a triggerDagRun or an externalTaskSensor, not both",
                },
                {
                    "rule": "!(has(self.triggerDagRun) || has(self.externalTaskSensor))"
                    " || !(has(self.command) || has(self.args) || has(self.branch)"
                    " || has(self.shortCircuit) || has(self.setup) || has(self.teardown))",
                    "message": "a triggerDagRun or externalTaskSensor task runs in the controller:"
                    " it has no command or args and is not a branch, short-circuit, setup or"
                    " teardown",
                },
            ]
        }
    )

    name: str = Field(max_length=63, pattern=DNS_LABEL_PATTERN)
    """Unique within the DAG; a DNS label."""
    command: list[str] | None = None
    """Container entrypoint; items may use templates."""
    args: list[str] | None = None
    """Container arguments; items may use templates."""
    depends_on: Annotated[
        list[Annotated[str, Field(max_length=63)]] | None,
        Field(max_length=MAX_DEPENDENCIES, json_schema_extra={"x-kubernetes-list-type": "set"}),
    ] = None
    """Names of the upstream tasks this task waits for."""
    branch: bool | None = None
    """A branch: its output's `branch` key names the direct downstream tasks to follow (a
    name, a list of names, or null for none); the others are skipped."""
    short_circuit: bool | None = None
    """A short-circuit: a false `condition` in its output skips its downstream tasks."""
    ignore_downstream_trigger_rules: bool | None = None
    """For a short-circuit: true (default) skips every task downstream; false skips only the
    direct downstream tasks and lets trigger rules decide the rest."""
    setup: bool | None = None
    """A setup task: creates a resource that a teardown downstream of it releases."""
    teardown: bool | None = None
    """A teardown task: runs when one of its setups (upstream setup tasks) succeeded, whatever
    happened in between, and does not decide the run's state (see onFailureFailDagrun)."""
    on_failure_fail_dagrun: bool | None = None
    """For a teardown: a failed teardown fails the run."""
    trigger_dag_run: TriggerDagRunSpec | None = None
    """Trigger a run of another DAG instead of running a pod (Airflow's
    TriggerDagRunOperator); the task needs no image."""
    external_task_sensor: ExternalTaskSensorSpec | None = None
    """Wait for another DAG's run or task instead of running a pod (Airflow's
    ExternalTaskSensor); the task needs no image."""
    outlets: Annotated[
        list[DatasetUri] | None,
        Field(max_length=64, json_schema_extra={"x-kubernetes-list-type": "set"}),
    ] = None
    """Datasets this task updates: each time a try succeeds, an update of each is recorded
    (Airflow's task outlets), which DAGs scheduled on them see."""

    @property
    def in_controller(self) -> bool:
        """Runs in the controller, without a pod."""
        return self.trigger_dag_run is not None or self.external_task_sensor is not None


TaskList = Annotated[
    list[TaskSpec],
    Field(
        min_length=1,
        max_length=MAX_TASKS,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    ),
]


class DagSpec(KubeModel):
    """Desired state of a DAG."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.schedule) || has(self.startDate)",
                    "message": "startDate is required when schedule is set",
                },
                {
                    "rule": "!(has(self.schedule) && has(self.scheduleOn))",
                    "message": "a DAG runs on a cron (schedule) or on datasets (scheduleOn),"
                    " not both",
                },
                {
                    # The defaults first: with an image there, no task is looked at (each
                    # has() on a task costs the API server a walk of the task schema).
                    "rule": "(has(self.defaults) && has(self.defaults.image))"
                    " || self.tasks.all(t, has(t.image) || has(t.triggerDagRun)"
                    " || has(t.externalTaskSensor))",
                    "message": "every task needs an image, in the task or in defaults"
                    " (triggerDagRun and externalTaskSensor tasks excepted)",
                },
            ]
        }
    )

    schedule: str | None = Field(
        default=None,
        max_length=MAX_SCHEDULE_LENGTH,
        json_schema_extra={"x-kubernetes-validations": schedule_validations()},
    )
    """A 5-field cron expression (minute hour day-of-month month day-of-week) or a preset:
    @once, @hourly, @daily, @weekly, @monthly, @quarterly, @yearly, @annually, @midnight;
    absent for a DAG that only runs when triggered or on datasets (scheduleOn)."""
    schedule_on: DatasetSchedule | None = None
    """Run on datasets instead of a cron: once each time every one of `datasets` was updated
    since the previous such run (Airflow's data-aware scheduling)."""
    timezone: str = "UTC"
    """IANA timezone the schedule is evaluated in (daylight-saving aware)."""
    start_date: Timestamp | None = None
    """First data interval starts at the first schedule tick at or after this time."""
    end_date: Timestamp | None = None
    """No scheduled run whose interval starts after this time (inclusive)."""
    catchup: bool | None = None
    """Create a run for every missed interval; default from the controller (true)."""
    paused: bool = False
    """Freeze the DAG: no new scheduled runs, queued runs stay queued, running runs start no
    new task (pods already running finish and are recorded). Backfill runs go on."""
    max_active_runs: int = Field(default=16, ge=1, le=10000)
    """Runs of this DAG running at once (backfill runs aside); queued runs start oldest
    first. A due scheduled run is created only while fewer runs than this are queued or
    running, as in Airflow, so a long catchup never floods the cluster."""
    max_active_tasks: int = Field(default=DEFAULT_MAX_ACTIVE_TASKS, ge=1, le=10000)
    """Task pods of this DAG active at once, across its runs."""
    dagrun_timeout: Duration | None = None
    """A run still unfinished this long after it started fails."""
    params: FreeForm | None = None
    """Template parameters ({{ params.X }}); a run's conf overrides them."""
    owner: str | None = None
    """Who answers for this pipeline (the business owner)."""
    description: str | None = None
    """What this pipeline does (`kubectl get dags -o wide`, `kubedag lineage`)."""
    tags: list[str] | None = None
    """Labels for finding DAGs: each becomes the label `kubedag.io/tag-<tag>`."""
    inputs: list[str] | None = None
    """Datasets this pipeline reads (lineage; the datasets of scheduleOn are read too)."""
    outputs: list[str] | None = None
    """Datasets this pipeline writes: each successful run records an update of each, which
    DAGs scheduled on them see (lineage too)."""
    defaults: TaskDefaults | None = None
    """Values for every task that does not set them (Airflow's default_args)."""
    tasks: TaskList
    successful_runs_history_limit: int | None = Field(default=None, ge=0)
    """Successful runs kept, newest logical dates first; the older ones are deleted with
    their pods. Default from the controller (the chart sets it)."""
    failed_runs_history_limit: int | None = Field(default=None, ge=0)
    """Failed runs kept, newest logical dates first. Default from the controller."""
    run_ttl_after_finished: Duration | None = Field(default=None, alias="runTTLAfterFinished")
    """A finished run is deleted, with its pods, this long after it finished. Default from
    the controller."""
    pod_gc: PodGC | None = Field(default=None, alias="podGC")
    """When task pods are deleted: OnRunSuccess, OnRunCompletion, OnTaskSuccess or Never.
    Default from the controller (OnRunSuccess)."""
    # Notifications of the run (Airflow's DAG-level on_failure/on_success_callback) and its
    # deadline (Airflow 3.1's deadline alert).
    on_run_failure: Notifiers | None = None
    """Notified when a run fails."""
    on_run_success: Notifiers | None = None
    """Notified when a run succeeds."""
    deadline: Deadline | None = None
    """The run has finished by then, or its deadline is missed."""
    on_deadline_miss: Notifiers | None = None
    """Notified once when a run misses its deadline (the tasks' misses go to the tasks'
    onDeadlineMiss, usually set in defaults)."""
    external_namespaces: Annotated[
        list[Annotated[str, Field(max_length=63, pattern=NAMESPACE_ENTRY_PATTERN)]] | None,
        Field(max_length=256, json_schema_extra={"x-kubernetes-list-type": "set"}),
    ] = None
    """Namespaces whose DAGs may trigger this DAG (triggerDagRun) or wait for it
    (externalTaskSensor); "*" for any. DAGs of its own namespace always may, others never
    unless listed here."""


class RunOutcome(KubeModel):
    """A run that finished, as the DAG's status remembers it (the run may be gone since)."""

    run: str
    logical_date: StatusTime | None = None
    finished_at: StatusTime | None = None


class ScheduleBacklog(KubeModel):
    """Scheduled runs that are due but not created yet: a run is created only when
    maxActiveRuns leaves room for it, as Airflow does."""

    due: int
    """How many; exact up to 100, else estimated from the schedule (see `estimated`)."""
    estimated: bool | None = None
    """True when `due` is an estimate; absent when exact."""
    oldest: StatusTime
    """Logical date of the oldest of them, the next to be created."""


class DagStatus(KubeModel):
    """Observed state of a DAG, written by the controller."""

    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    last_scheduled_run: StatusTime | None = None
    """Logical date of the newest scheduled run."""
    last_scheduled_interval_end: StatusTime | None = None
    """End of the newest scheduled run's data interval: where the schedule goes on from,
    kept here so that deleting runs (by hand or by history cleanup) never re-creates them."""
    backlog: ScheduleBacklog | None = None
    next_run_after: StatusTime | None = None
    """When the next scheduled run is due to be created."""
    active_runs: int | None = None
    """Runs in state running."""
    queued_runs: int | None = None
    """Runs waiting for a free slot under maxActiveRuns."""
    last_successful_run: RunOutcome | None = None
    """The run that succeeded most recently (kept when history cleanup deletes it)."""
    last_failed_run: RunOutcome | None = None
    """The run that failed most recently (kept when history cleanup deletes it)."""
    datasets: list[DatasetConsumption] | None = None
    """For a DAG scheduled on datasets: how far its runs have consumed each one's updates."""
    shard: str | None = None
    """The controller shard that handles the DAG (its namespace's kubedag.io/shard label, or
    the default shard); unset when the controller is not sharded."""


class Dag(KubeObject):
    """A DAG as the controller reads it."""

    spec: DagSpec
    status: DagStatus | None = None
