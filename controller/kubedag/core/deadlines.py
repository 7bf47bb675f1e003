"""Deadlines (Airflow 3.1's deadline alerts, per run and, as Airflow 2's SLAs were, per task):
a reference point of the run plus a duration. A run or task that has not finished by then
misses it; each miss is recorded once on the run and notified once. The engine wakes at the
next deadline (`next_deadline`), so nothing polls."""

from dataclasses import dataclass, field
from datetime import datetime

from kubedag.core.durations import format_duration
from kubedag.core.notifications import Happening, event_id, run_notifiers, task_notifiers
from kubedag.core.snapshot import Snapshot
from kubedag.models.dagrun import DagRunStatus, TaskRecord
from kubedag.models.notifications import (
    DeadlineMiss,
    DeadlineReference,
    Notification,
    NotificationEvent,
)


def reference_time(
    reference: DeadlineReference, status: DagRunStatus, created: datetime
) -> datetime | None:
    """The moment a deadline counts from; None while the run does not know it yet."""
    if reference is DeadlineReference.INTERVAL_END:
        return status.data_interval_end
    if reference is DeadlineReference.LOGICAL_DATE:
        return status.logical_date
    return created


@dataclass(frozen=True)
class _Subject:
    """A run or a task with a deadline: when it is due and when it finished (if it did)."""

    task: str | None
    due: datetime
    finished: datetime | None


def _subjects(status: DagRunStatus, snapshot: Snapshot, created: datetime) -> list[_Subject]:
    subjects: list[_Subject] = []
    run_end = status.end_time if status.state is not None and status.state.finished else None
    if snapshot.deadline is not None and snapshot.deadline_span is not None:
        start = reference_time(snapshot.deadline.reference, status, created)
        if start is not None:
            subjects.append(_Subject(None, start + snapshot.deadline_span, run_end))
    for record in status.tasks:
        task = snapshot.task(record.name)
        if task.deadline is None or task.deadline_span is None:
            continue
        start = reference_time(task.deadline.reference, status, created)
        if start is not None:
            subjects.append(
                _Subject(record.name, start + task.deadline_span, _ended(record, run_end))
            )
    return subjects


def _ended(record: TaskRecord, run_end: datetime | None) -> datetime | None:
    if record.state.finished:
        return record.finished or run_end
    return run_end  # a task the finished run never ran ends with it


def _recorded(status: DagRunStatus) -> set[str | None]:
    return {miss.task for miss in status.deadline_misses}


@dataclass
class DeadlineCheck:
    """The deadlines a run missed since its last pass: to record, to notify, to report."""

    misses: list[DeadlineMiss] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    next_deadline: datetime | None = None


def check_deadlines(
    run_uid: str, status: DagRunStatus, snapshot: Snapshot, created: datetime, now: datetime
) -> DeadlineCheck:
    """Misses not recorded yet: a subject still unfinished at its deadline, or one that
    finished after it (noticed late, e.g. after a controller restart). Each run and each task
    misses at most once. `next_deadline`: the earliest deadline still ahead of a subject
    that has not finished."""
    result = DeadlineCheck()
    recorded = _recorded(status)
    for subject in _subjects(status, snapshot, created):
        if subject.task in recorded:
            continue
        late = subject.finished > subject.due if subject.finished else now >= subject.due
        if not late:
            if subject.finished is None and (
                result.next_deadline is None or subject.due < result.next_deadline
            ):
                result.next_deadline = subject.due
            continue
        result.misses.append(DeadlineMiss(task=subject.task, deadline=subject.due, missed_at=now))
        what = f"task {subject.task}" if subject.task else "the run"
        result.messages.append(
            f"{what} missed its deadline {subject.due.isoformat()}"
            + (
                f" (finished {format_duration(subject.finished - subject.due)} late)"
                if subject.finished
                else ""
            )
        )
        happening = Happening(
            event=NotificationEvent.DEADLINE_MISS,
            field="onDeadlineMiss",
            id=event_id(
                run_uid, NotificationEvent.DEADLINE_MISS, subject.task, subject.due.isoformat()
            ),
            at=now,
            task=subject.task,
            message=result.messages[-1],
            deadline=subject.due,
        )
        notifiers = (
            task_notifiers(snapshot, subject.task, "onDeadlineMiss")
            if subject.task
            else run_notifiers(snapshot, "onDeadlineMiss")
        )
        result.notifications.extend(happening.addressed(notifiers))
    return result
