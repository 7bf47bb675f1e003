"""What a notification says: the generic webhook's JSON document (the README's payload
reference) and the Slack incoming webhook's message. Pure: the sender adds only the log
tail it read and posts the result."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubedag.core.dates import rfc3339
from kubedag.models.notifications import Notification, NotificationEvent

PAYLOAD_VERSION = "kubedag.io/notification/v1"
LOG_TAIL_LIMIT = 16 * 1024  # characters of log in a webhook document
SLACK_LOG_LIMIT = 2500  # Slack cuts a message's text at 40,000; keep the tail readable


@dataclass(frozen=True)
class RunFacts:
    """What a notification says of its run."""

    namespace: str
    dag: str
    run: str
    run_type: str
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None


def _time(value: datetime | None) -> str | None:
    return rfc3339(value) if value is not None else None


def commands(facts: RunFacts, entry: Notification) -> dict[str, str]:
    """Commands that look further: the run, its events, and the task's log."""
    ns, run = facts.namespace, facts.run
    found = {
        "run": f"kubectl get dagrun {run} -n {ns} -o yaml",
        "events": f"kubectl describe dagrun {run} -n {ns}",
    }
    if entry.task:
        logs = f"kubedag logs {run} --task {entry.task} -n {ns}"
        if entry.try_number:
            logs += f" --try {entry.try_number}"
        found["logs"] = logs
        if entry.event in (NotificationEvent.TASK_FAILURE, NotificationEvent.DEADLINE_MISS):
            found["clear"] = f"kubedag clear {run} --task {entry.task} -n {ns}"
    elif entry.event is NotificationEvent.RUN_FAILURE:
        found["clear"] = f"kubedag clear {run} --only-failed -n {ns}"
    return found


def webhook_payload(
    facts: RunFacts, entry: Notification, log_tail: str | None = None
) -> dict[str, Any]:
    """The generic webhook's JSON document; absent facts are left out (null-free)."""
    document: dict[str, Any] = {
        "apiVersion": PAYLOAD_VERSION,
        "id": entry.id,
        "event": entry.event.value,
        "namespace": facts.namespace,
        "dag": facts.dag,
        "run": facts.run,
        "runType": facts.run_type,
        "logicalDate": _time(facts.logical_date),
        "dataIntervalStart": _time(facts.data_interval_start),
        "dataIntervalEnd": _time(facts.data_interval_end),
        "task": entry.task,
        "try": entry.try_number,
        "state": entry.state,
        "message": entry.message,
        "deadline": _time(entry.deadline),
        "at": rfc3339(entry.at),
        "logTail": log_tail[-LOG_TAIL_LIMIT:] if log_tail is not None else None,
        "commands": commands(facts, entry),
    }
    return {k: v for k, v in document.items() if v is not None}


_HEADLINES = {
    NotificationEvent.TASK_FAILURE: ":x: Task *{task}* of DAG *{dag}* failed on try {try_}",
    NotificationEvent.TASK_RETRY: ":warning: Task *{task}* of DAG *{dag}* failed on try {try_};"
    " it will be retried",
    NotificationEvent.TASK_SUCCESS: ":white_check_mark: Task *{task}* of DAG *{dag}* succeeded"
    " on try {try_}",
    NotificationEvent.RUN_FAILURE: ":x: Run of DAG *{dag}* failed",
    NotificationEvent.RUN_SUCCESS: ":white_check_mark: Run of DAG *{dag}* succeeded",
}


def slack_payload(
    facts: RunFacts, entry: Notification, log_tail: str | None = None
) -> dict[str, Any]:
    """A Slack incoming webhook's message: a headline, the run and its logical date, the
    message, the log tail (if asked for) and the commands that look further."""
    if entry.event is NotificationEvent.DEADLINE_MISS:
        subject = (
            f"Task *{entry.task}* of DAG *{facts.dag}*"
            if entry.task
            else f"Run of DAG *{facts.dag}*"
        )
        headline = f":alarm_clock: {subject} missed its deadline {_time(entry.deadline)}"
    else:
        headline = _HEADLINES[entry.event].format(
            task=entry.task, dag=facts.dag, try_=entry.try_number
        )
    lines = [
        headline,
        f"Run `{facts.run}` in namespace `{facts.namespace}`, logical date "
        f"{_time(facts.logical_date) or 'unknown'}",
    ]
    if entry.message:
        lines.append(f"> {entry.message}")
    if log_tail:
        lines.append("```\n" + log_tail[-SLACK_LOG_LIMIT:].rstrip("\n") + "\n```")
    lines.extend(f"`{command}`" for command in commands(facts, entry).values())
    return {"text": "\n".join(lines)}
