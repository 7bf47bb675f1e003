"""Tasks that work between DAGs and run in the controller, without a pod: one triggers a
run of another DAG (Airflow's TriggerDagRunOperator), one waits for another DAG's run or
task (Airflow's ExternalTaskSensor)."""

from typing import Annotated, Any

from pydantic import ConfigDict, Field

from kubedag.models.common import DNS_LABEL_PATTERN, Duration, FreeForm, KubeModel
from kubedag.models.dagrun import RunState, TaskState

# A DAG's name is an object name: a DNS subdomain.
DAG_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
ANY_NAMESPACE = "*"
NAMESPACE_ENTRY_PATTERN = r"^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$"
# Airflow's BaseSensorOperator.timeout: seven days.
DEFAULT_SENSOR_TIMEOUT = "168h"

RUN_STATE_NAMES = [s.value for s in RunState]
TASK_STATE_NAMES = [s.value for s in TaskState]

DagName = Annotated[str, Field(min_length=1, max_length=253, pattern=DAG_NAME_PATTERN)]
Namespace = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]


def _states(names: list[str]) -> Any:
    return Field(
        default=None, max_length=len(names), json_schema_extra={"x-kubernetes-list-type": "set"}
    )


def _disjoint(first: str, second: str) -> dict[str, Any]:
    return {
        "rule": f"!has(self.{first}) || !has(self.{second})"
        f" || !self.{first}.exists(s, s in self.{second})",
        "message": f"a state cannot be in both {first} and {second}",
    }


class TriggerDagRunSpec(KubeModel):
    """Create a run of another DAG, and optionally wait for it to finish (Airflow's
    TriggerDagRunOperator). The controller creates the run: no pod, no API access for
    task pods."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _disjoint("allowedStates", "failedStates"),
                {
                    "rule": "!(has(self.resetDagRun) && self.resetDagRun"
                    " && has(self.skipWhenAlreadyExists) && self.skipWhenAlreadyExists)",
                    "message": "resetDagRun and skipWhenAlreadyExists exclude each other",
                },
            ]
        }
    )

    dag_name: DagName
    """The DAG to trigger."""
    namespace: Namespace | None = None
    """Its namespace; default this DAG's. Another namespace's DAG must list this one in its
    spec.externalNamespaces."""
    conf: FreeForm | None = None
    """The triggered run's conf; string values are templates ({{ ds }})."""
    logical_date: str | None = Field(default=None, max_length=1024)
    """The triggered run's logical date, a template giving an RFC 3339 time or a date
    ({{ logical_date }}: this run's); default the time of the trigger, as in Airflow."""
    wait_for_completion: bool | None = None
    """Wait (deferred, no pod) until the triggered run ends in allowedStates or failedStates."""
    allowed_states: list[RunState] | None = _states(RUN_STATE_NAMES)
    """Run states that end the wait successfully; default [success]."""
    failed_states: list[RunState] | None = _states(RUN_STATE_NAMES)
    """Run states that fail this task; default [failed]."""
    reset_dag_run: bool | None = None
    """A run of that DAG for that logical date exists already: clear it so it runs again
    (its conf stays), instead of failing this task."""
    skip_when_already_exists: bool | None = None
    """A run of that DAG for that logical date exists already: skip this task."""


class ExternalTaskSensorSpec(KubeModel):
    """Wait for a run of another DAG, or one of its tasks, to reach a state (Airflow's
    ExternalTaskSensor). The task is `deferred` while it waits: no pod, no polling; the
    controller looks again when a run of that DAG changes, and at the timeout."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                _disjoint("allowedStates", "failedStates"),
                _disjoint("allowedStates", "skippedStates"),
                _disjoint("failedStates", "skippedStates"),
                {
                    "rule": "!(has(self.executionDelta) && has(self.sameDataInterval)"
                    " && self.sameDataInterval)",
                    "message": "executionDelta and sameDataInterval exclude each other",
                },
                {
                    "rule": "has(self.taskName) || "
                    + " && ".join(
                        f"(!has(self.{f}) || self.{f}.all(s, s in {RUN_STATE_NAMES}))"
                        for f in ("allowedStates", "failedStates", "skippedStates")
                    ),
                    "message": "without taskName the states are run states: "
                    + ", ".join(RUN_STATE_NAMES),
                },
            ]
        }
    )

    dag_name: DagName
    """The DAG to wait for."""
    namespace: Namespace | None = None
    """Its namespace; default this DAG's. Another namespace's DAG must list this one in its
    spec.externalNamespaces."""
    task_name: str | None = Field(default=None, max_length=63, pattern=DNS_LABEL_PATTERN)
    """A task of that DAG to wait for; default the whole run."""
    execution_delta: Duration | None = None
    """Look at the run this long before this run's logical date (Airflow's execution_delta:
    positive means earlier); default the same logical date."""
    same_data_interval: bool | None = None
    """Look at the run whose data interval is this run's, whatever its logical date."""
    allowed_states: list[TaskState] | None = _states(TASK_STATE_NAMES)
    """States that end the wait successfully; default [success]."""
    failed_states: list[TaskState] | None = _states(TASK_STATE_NAMES)
    """States that fail this task (skip it with softFail); default none."""
    skipped_states: list[TaskState] | None = _states(TASK_STATE_NAMES)
    """States that skip this task; default none."""
    timeout: Duration | None = None
    """Give up this long after the wait began: the task fails, without retries (skipped
    with softFail); default 168h (7 days), as Airflow's."""
    soft_fail: bool | None = None
    """Skip instead of failing, on timeout or on a failed state."""
