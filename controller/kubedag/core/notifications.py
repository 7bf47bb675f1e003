"""Which notifications a run's change causes, and the run's outbox of them.

A pass over a run turns its stored status (old) into a new one; the notifications that
change calls for are decided here from the two, each with an id derived from what happened
(the run, the event, the task and its try, or the run's end, or the deadline), so deciding
again after a restart gives the same id. They join the outbox in the run's status in the
same write as the change, before anything is sent (a transactional outbox): a receiver that
drops repeated ids sees each event once however often it is sent."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from kubedag.core.snapshot import Snapshot
from kubedag.models.dagrun import DagRunStatus, RunState, TaskRecord, TaskState
from kubedag.models.notifications import Notification, NotificationEvent, Notifier

_ID_NAMESPACE = uuid.UUID("6f1d3c52-7a9e-4c1b-9d0e-6b8f2a4c7e31")

# The task states whose entry notifies, and the notifier field of each.
_TASK_EVENTS = {
    TaskState.FAILED: (NotificationEvent.TASK_FAILURE, "onFailure"),
    TaskState.UP_FOR_RETRY: (NotificationEvent.TASK_RETRY, "onRetry"),
    TaskState.SUCCESS: (NotificationEvent.TASK_SUCCESS, "onSuccess"),
}
_RUN_EVENTS = {
    RunState.FAILED: (NotificationEvent.RUN_FAILURE, "onRunFailure"),
    RunState.SUCCESS: (NotificationEvent.RUN_SUCCESS, "onRunSuccess"),
}


def event_id(run_uid: str, event: NotificationEvent, task: str | None, detail: str) -> str:
    """A stable id: the same event of the same run always gets the same one."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{run_uid}/{event.value}/{task or ''}/{detail}"))


def task_notifiers(snapshot: Snapshot, task: str, field: str) -> list[Notifier]:
    resolved = snapshot.task(task)
    return {
        "onFailure": resolved.on_failure,
        "onRetry": resolved.on_retry,
        "onSuccess": resolved.on_success,
        "onDeadlineMiss": resolved.on_deadline_miss,
    }[field] or []


def run_notifiers(snapshot: Snapshot, field: str) -> list[Notifier]:
    return {
        "onRunFailure": snapshot.on_run_failure,
        "onRunSuccess": snapshot.on_run_success,
        "onDeadlineMiss": snapshot.on_deadline_miss,
    }[field] or []


@dataclass(frozen=True)
class Happening:
    """One event, before it is addressed to the notifiers that want it."""

    event: NotificationEvent
    field: str
    id: str
    at: datetime
    task: str | None = None
    try_number: int | None = None
    state: str | None = None
    message: str | None = None
    pod: str | None = None
    deadline: datetime | None = None

    def addressed(self, notifiers: list[Notifier]) -> list[Notification]:
        return [
            Notification(
                id=self.id,
                event=self.event,
                notifier=f"{self.field}[{index}]",
                task=self.task,
                try_number=self.try_number,
                state=self.state,
                message=self.message,
                pod=self.pod,
                deadline=self.deadline,
                at=self.at,
            )
            for index in range(len(notifiers))
        ]


def _task_happening(
    run_uid: str, old: TaskRecord | None, new: TaskRecord, now: datetime
) -> Happening | None:
    kind = _TASK_EVENTS.get(new.state)
    if kind is None:
        return None
    if old is not None and old.state is new.state and old.try_number == new.try_number:
        return None
    event, field = kind
    return Happening(
        event=event,
        field=field,
        id=event_id(run_uid, event, new.name, str(new.try_number)),
        at=new.finished or now,
        task=new.name,
        try_number=new.try_number,
        state=new.state.value,
        message=new.message,
        pod=new.pod,
    )


def _run_message(status: DagRunStatus) -> str | None:
    return next((c.message for c in status.conditions if c.type == "Succeeded"), None)


def transition_notifications(
    run_uid: str, old: DagRunStatus, new: DagRunStatus, snapshot: Snapshot, now: datetime
) -> list[Notification]:
    """The notifications the change from `old` to `new` causes, for the notifiers the
    run's DAG version names: a task's try that failed for good, failed with a retry left,
    or succeeded; the run that ended. A task's end is noticed once: the same state with
    the same try in `old` is no news (so deciding again on an unchanged status adds
    nothing)."""
    if not snapshot.notifies:
        return []
    found: list[Notification] = []
    before = {r.name: r for r in old.tasks}
    for record in new.tasks:
        happening = _task_happening(run_uid, before.get(record.name), record, now)
        if happening is not None:
            notifiers = task_notifiers(snapshot, record.name, happening.field)
            found.extend(happening.addressed(notifiers))
    kind = _RUN_EVENTS.get(new.state) if new.state is not None else None
    if kind is not None and old.state is not new.state:
        event, field = kind
        ended = new.end_time or now
        happening = Happening(
            event=event,
            field=field,
            id=event_id(run_uid, event, None, ended.isoformat()),
            at=ended,
            state=new.state.value if new.state else None,
            message=_run_message(new),
        )
        found.extend(happening.addressed(run_notifiers(snapshot, field)))
    return found
