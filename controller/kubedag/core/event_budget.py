"""Which of a run's Events are posted: routine news (a run succeeded, a task skipped itself,
a branch decided) draws on a budget per DAG, as client-go's `EventSourceObjectSpamFilter`
limits the events one source posts about one object: a token bucket of 25, refilled with one
token every 5 minutes. A DAG's runs are the many objects of one source, so the bucket is the
DAG's. An hourly or five-minutely DAG never runs short; a 1,096-date backfill posts its first
25 successes and then one every 5 minutes, not 1,096 Events (each a write to etcd, kept for
an hour, and on this project's benchmark machine about a tenth of a run's CPU). The run's
status, the DAG's status and the metrics record every outcome; Warnings, and the answers to a
person's request (`Cleared`, `MarkedSuccess`, ...), are never held back."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from kubedag.core.run_engine import RunEvent

ROUTINE_REASONS = frozenset({"RunSucceeded", "TaskSkipped", "Decided"})
BURST = 25
REFILL_EVERY = timedelta(minutes=5)


@dataclass(frozen=True)
class EventBudget:
    tokens: float
    counted_at: datetime


@dataclass(frozen=True)
class Admitted:
    post: list[RunEvent]
    held_back: list[RunEvent]
    budget: EventBudget | None
    """The DAG's budget after these events (None: untouched, no routine event came)."""


def is_routine(event: RunEvent) -> bool:
    return event.type == "Normal" and event.reason in ROUTINE_REASONS


def refilled(budget: EventBudget | None, now: datetime) -> float:
    """The tokens the budget holds at `now`: full at first, one more every REFILL_EVERY."""
    if budget is None:
        return float(BURST)
    elapsed = max(timedelta(0), now - budget.counted_at)
    return min(float(BURST), budget.tokens + elapsed / REFILL_EVERY)


def admit(events: list[RunEvent], budget: EventBudget | None, now: datetime) -> Admitted:
    """The events of one pass of a run that may be posted, in their order."""
    if not any(is_routine(e) for e in events):
        return Admitted(list(events), [], budget)
    tokens = refilled(budget, now)
    post: list[RunEvent] = []
    held_back: list[RunEvent] = []
    for event in events:
        if not is_routine(event):
            post.append(event)
        elif tokens >= 1:
            tokens -= 1
            post.append(event)
        else:
            held_back.append(event)
    return Admitted(post, held_back, EventBudget(tokens, now))
