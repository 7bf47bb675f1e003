"""Notifications and deadlines as the resources spell them: where a notification goes (a
webhook or a Slack incoming webhook whose URL is in a Secret), deadlines (Airflow 3.1's
deadline alerts), and the run's outbox of notifications with their delivery."""

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from kubedag.models.common import Duration, KubeModel, StatusTime

MAX_NOTIFIERS = 8
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
MAX_LOG_TAIL_LINES = 200


class SecretKeyRef(KubeModel):
    """A key of a Secret in the DAG's namespace (as core/v1 SecretKeySelector names one)."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)
    key: str = Field(min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$")


class Notifier(KubeModel):
    """Where one notification goes: a generic webhook (a JSON document, see the README's
    payload reference) or a Slack incoming webhook (a readable message). The URL is read from
    the Secret when sending; it is never written to a status, an Event or a log."""

    model_config = ConfigDict(frozen=True)

    type: Literal["webhook", "slack"] = "webhook"
    secret_key_ref: SecretKeyRef
    """The Secret key whose value is the URL (https://hooks.slack.com/services/... for Slack)."""
    log_tail_lines: int | None = Field(default=None, ge=0, le=MAX_LOG_TAIL_LINES)
    """Add the last lines of the task's log to a task's notification; default 0 (none): a
    task may print secrets, so the DAG has to ask for it."""


Notifiers = Annotated[list[Notifier], Field(max_length=MAX_NOTIFIERS)]


class DeadlineReference(StrEnum):
    """The moment a deadline counts from (Airflow 3.1's DeadlineReference)."""

    INTERVAL_END = "intervalEnd"
    """The end of the run's data interval (Airflow 2's SLA counted from there)."""
    LOGICAL_DATE = "logicalDate"
    """The run's logical date (DAGRUN_LOGICAL_DATE)."""
    QUEUED = "queued"
    """When the run was created, i.e. queued (DAGRUN_QUEUED_AT)."""


class Deadline(KubeModel):
    """The run (or the task) has finished `after` this long past the reference point, or
    the deadline is missed: recorded on the run once, and notified to `onDeadlineMiss`."""

    model_config = ConfigDict(frozen=True)

    reference: DeadlineReference = DeadlineReference.QUEUED
    after: Duration


class NotificationEvent(StrEnum):
    """What happened, as a notification's `event` says it."""

    TASK_FAILURE = "taskFailure"
    TASK_RETRY = "taskRetry"
    TASK_SUCCESS = "taskSuccess"
    RUN_FAILURE = "runFailure"
    RUN_SUCCESS = "runSuccess"
    DEADLINE_MISS = "deadlineMiss"


class Notification(KubeModel):
    """One notification to one notifier, recorded in the run's status in the same write as
    the change that caused it, before it is sent; `delivered` once the endpoint answered 2xx.
    A pending one is sent again with the same id after a controller restart."""

    id: str
    """The event's id, stable across retries and restarts: the `Idempotency-Key` header."""
    event: NotificationEvent
    notifier: str
    """Which notifier: e.g. `onFailure[0]` of the task, or `onRunFailure[1]` of the DAG."""
    task: str | None = None
    try_number: int | None = Field(default=None, alias="try")
    state: str | None = None
    """The task's (or the run's) state the event is about."""
    message: str | None = None
    pod: str | None = None
    """The try's pod (for the log tail)."""
    deadline: StatusTime | None = None
    at: StatusTime
    """When the event happened."""
    delivered: StatusTime | None = None
    failed: str | None = None
    """Why delivery was given up (the endpoint never answered 2xx); the URL is never shown."""


class DeadlineMiss(KubeModel):
    """A deadline the run (or one of its tasks) missed."""

    task: str | None = None
    """The task; absent for the run's own deadline."""
    deadline: StatusTime
    missed_at: StatusTime
    """When the controller noticed (at the deadline, or when the late task ended)."""
