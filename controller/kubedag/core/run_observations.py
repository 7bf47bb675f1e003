"""What one status write of a DagRun tells the controller's metrics: the state the run
entered, the states its tasks entered, and the tries and the run that ended, with their
durations. A pure function of the stored status and the written one (both in their wire
form, as the status writer holds them), so a write that fails counts nothing and a pass
repeated after a restart counts nothing twice."""

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubedag.core.dates import parse_time
from kubedag.models.compact_tasks import task_records

# States a try ends in with a pod that ran: the states whose durations are observed. A
# try cleared while it ran is archived as `restarting`, and upstream_failed and skipped
# tasks never started.
TRY_ENDED = frozenset({"success", "failed", "up_for_retry"})
RUN_FINISHED = frozenset({"success", "failed"})


@dataclass(frozen=True)
class EndedTry:
    state: str
    seconds: float


@dataclass(frozen=True)
class StatusObservations:
    run_entered: str | None = None
    """The run's new state, if this write changed it."""
    run_seconds: float | None = None
    """Start to end, if this write finished the run."""
    tasks_entered: Mapping[str, int] = field(default_factory=dict)
    """New state -> tasks that entered it (a changed state or a new try; a try first written
    past `queued` entered `queued` too)."""
    tries_ended: tuple[EndedTry, ...] = ()
    run_started_unwritten: bool = False
    """The write finished a run whose start was never written (a short run's start is held,
    docs/design.md): it entered `running` too."""


def _seconds(record: Mapping[str, Any], start: str, end: str) -> float | None:
    started, finished = record.get(start), record.get(end)
    if not started or not finished:
        return None
    return max(0.0, (parse_time(finished) - parse_time(started)).total_seconds())


def _ended_tries(record: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
    """Try number -> the record of each of a task's tries that has ended with a pod."""
    ended = {
        int(archived.get("try", 0)): archived
        for archived in record.get("tries") or ()
        if archived.get("state") in TRY_ENDED
    }
    if record.get("state") in TRY_ENDED:
        ended[int(record.get("try", 0))] = record
    return ended


def changed_tasks(
    old: Mapping[str, Any], new: Mapping[str, Any]
) -> Iterator[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """(new record, old record or {}) of each task whose state or try changed."""
    before = {record["name"]: record for record in task_records(old)}
    for record in task_records(new):
        previous = before.get(record["name"]) or {}
        if record == previous:  # most records of a write: compared in C, not field by field
            continue
        state = record.get("state", "none")
        if state != previous.get("state", "none") or record.get("try") != previous.get("try"):
            yield record, previous


def observe(old: Mapping[str, Any], new: Mapping[str, Any]) -> StatusObservations:
    """The changes from status `old` to status `new` (wire form; `{}` for none)."""
    old_state, new_state = old.get("state"), new.get("state")
    run_entered = new_state if new_state and new_state != old_state else None
    run_seconds = None
    started_unwritten = False
    if run_entered in RUN_FINISHED:
        run_seconds = _seconds(new, "startTime", "endTime")
        started_unwritten = bool(new.get("startTime")) and not old.get("startTime")
    entered: Counter[str] = Counter()
    ended: list[EndedTry] = []
    for record, previous in changed_tasks(old, new):
        entered[record.get("state", "none")] += 1
        queued = record.get("queued")
        if queued and record.get("state") != "queued" and queued != previous.get("queued"):
            entered["queued"] += 1  # a try whose queued state was never written (held)
        known = _ended_tries(previous)
        for number, ending in _ended_tries(record).items():
            seconds = _seconds(ending, "started", "finished")
            if number not in known and seconds is not None:
                ended.append(EndedTry(str(ending["state"]), seconds))
    return StatusObservations(
        run_entered, run_seconds, dict(entered), tuple(ended), started_unwritten
    )


def scheduling_lag(created: datetime, due: datetime) -> float:
    """Seconds a scheduled run was created after its due time (its data interval's end);
    never negative: a clock a little behind the due time is no lead."""
    return max(0.0, (created - due).total_seconds())
