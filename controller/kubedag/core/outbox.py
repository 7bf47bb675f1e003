"""A run's outbox: the notifications its changes caused, recorded in its status in the same
write as the change (before anything is sent), and marked delivered (or given up) once the
sending ended. `decide` is what a run pass adds: the notifications of its transition and
the deadlines missed."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from kubedag.core.deadlines import check_deadlines
from kubedag.core.notifications import transition_notifications
from kubedag.core.run_engine import RunEvent
from kubedag.core.snapshot import Snapshot
from kubedag.models.dagrun import DagRunStatus
from kubedag.models.notifications import Notification

# Pending notifications beyond this are dropped, oldest first (a dead endpoint must not grow
# a run's status without bound); delivered (or given up) ones are kept for the record.
MAX_PENDING = 100
MAX_SETTLED = 10


@dataclass
class OutboxDecision:
    status: DagRunStatus
    """The new status with the notifications and deadline misses added."""
    events: list[RunEvent] = field(default_factory=list)
    next_deadline: datetime | None = None
    """When the next deadline falls due (the run needs a pass then)."""


def decide(
    run_uid: str,
    created: datetime,
    old: DagRunStatus,
    new: DagRunStatus,
    snapshot: Snapshot,
    now: datetime,
) -> OutboxDecision:
    """What the change from `old` to `new` adds to the outbox, and the deadlines missed."""
    if not snapshot.notifies:
        return OutboxDecision(new)
    added = transition_notifications(run_uid, old, new, snapshot, now)
    check = check_deadlines(run_uid, new, snapshot, created, now)
    events = [RunEvent("Warning", "DeadlineMissed", message) for message in check.messages]
    if not added and not check.misses:
        return OutboxDecision(new, events, check.next_deadline)
    status = new.model_copy(
        update={
            "notifications": with_notifications(new.notifications, [*added, *check.notifications]),
            "deadline_misses": [*new.deadline_misses, *check.misses],
        }
    )
    return OutboxDecision(status, events, check.next_deadline)


def pending(status: DagRunStatus) -> list[Notification]:
    return [n for n in status.notifications if n.delivered is None and n.failed is None]


def has_pending(status: Mapping[str, object]) -> bool:
    """Whether a status (as stored, camelCase JSON) has a notification still to send."""
    entries = status.get("notifications") or []
    assert isinstance(entries, list)
    return any("delivered" not in n and "failed" not in n for n in entries)


def with_notifications(
    outbox: list[Notification], added: Iterable[Notification]
) -> list[Notification]:
    """The outbox with `added` appended (an entry already there is not added twice), then
    trimmed: the newest MAX_PENDING pending ones and the newest MAX_SETTLED settled ones,
    in their order."""
    present = {(n.id, n.notifier) for n in outbox}
    merged = list(outbox)
    for entry in added:
        if (entry.id, entry.notifier) not in present:
            present.add((entry.id, entry.notifier))
            merged.append(entry)
    kept: list[Notification] = []
    pending_left, settled_left = MAX_PENDING, MAX_SETTLED
    for entry in reversed(merged):
        settled = entry.delivered is not None or entry.failed is not None
        if settled and settled_left > 0:
            settled_left -= 1
            kept.append(entry)
        elif not settled and pending_left > 0:
            pending_left -= 1
            kept.append(entry)
    kept.reverse()
    return kept


@dataclass(frozen=True)
class Outcome:
    """How sending one notification ended: delivered at a time, or given up with a reason."""

    delivered: datetime | None = None
    failed: str | None = None


OutboxKey = tuple[str, str]  # (id, notifier)


def settle(
    outbox: list[Notification], outcomes: Mapping[OutboxKey, Outcome]
) -> tuple[list[Notification], list[Notification]]:
    """The outbox with the outcomes recorded, and the entries newly given up (for an
    Event). An outcome for an entry that is gone or already settled changes nothing."""
    result: list[Notification] = []
    given_up: list[Notification] = []
    for entry in outbox:
        outcome = outcomes.get((entry.id, entry.notifier))
        if outcome is None or entry.delivered is not None or entry.failed is not None:
            result.append(entry)
            continue
        entry = entry.model_copy(update={"delivered": outcome.delivered, "failed": outcome.failed})
        if outcome.failed is not None:
            given_up.append(entry)
        result.append(entry)
    return with_notifications(result, []), given_up


def unsettled_outcomes(
    outbox: Iterable[Mapping[str, object]], outcomes: Mapping[OutboxKey, Outcome]
) -> dict[OutboxKey, Outcome]:
    """The outcomes a stored outbox (camelCase JSON) does not show yet: those still to be
    written. An entry no longer in the outbox needs nothing written."""
    waiting = {
        (str(n.get("id")), str(n.get("notifier")))
        for n in outbox
        if "delivered" not in n and "failed" not in n
    }
    return {key: outcome for key, outcome in outcomes.items() if key in waiting}
