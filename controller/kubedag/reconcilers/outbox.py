"""The run reconciler's side of notifications: each pass records the notifications its
change causes and the deadlines missed (`core.outbox.decide`) in the status it writes, marks
the ones whose sending ended, and hands the pending ones, once written, to the sender. A run
that is queued or finished gets a pass of its own for these (`idle_pass`)."""

from datetime import datetime
from typing import Any

from kubedag.core import outbox
from kubedag.core.dates import parse_time
from kubedag.core.deadlines import check_deadlines
from kubedag.core.notifications import run_notifiers, task_notifiers
from kubedag.core.run_engine import RunDecision, RunEvent
from kubedag.core.run_types import notifies
from kubedag.core.snapshot import Snapshot
from kubedag.manifests.notifications import RunFacts
from kubedag.models.dagrun import DagRun, DagRunStatus, RunState
from kubedag.models.notifications import Notification, Notifier
from kubedag.reconcilers.caches import NamespacedName
from kubedag.reconcilers.notifier import NotificationSender
from kubedag.reconcilers.requests import post_run_events
from kubedag.reconcilers.snapshots import SnapshotStore
from kubedag.reconcilers.status import StatusWriter


def created_at(body: dict[str, Any]) -> datetime:
    return parse_time(body["metadata"]["creationTimestamp"])


def run_facts(run: DagRun, status: DagRunStatus) -> RunFacts:
    return RunFacts(
        namespace=run.namespace,
        dag=run.spec.dag_name,
        run=run.name,
        run_type=run.spec.run_type.value,
        logical_date=status.logical_date,
        data_interval_start=status.data_interval_start,
        data_interval_end=status.data_interval_end,
    )


def notifier_lookup(snapshot: Snapshot) -> Any:
    """entry -> the notifier it names in this DAG version (None if it names none)."""

    def lookup(entry: Notification) -> Notifier | None:
        field, _, rest = entry.notifier.partition("[")
        index = int(rest.rstrip("]") or -1)
        if entry.task is not None:
            if entry.task not in {t.name for t in snapshot.tasks}:
                return None
            notifiers = task_notifiers(snapshot, entry.task, field)
        else:
            notifiers = run_notifiers(snapshot, field)
        return notifiers[index] if 0 <= index < len(notifiers) else None

    return lookup


class OutboxKeeper:
    def __init__(
        self, sender: NotificationSender, snapshots: SnapshotStore, status: StatusWriter
    ) -> None:
        self.sender = sender
        self.snapshots = snapshots
        self.status = status

    def settled(self, run: DagRun) -> tuple[DagRun, list[RunEvent]]:
        """The run with the outcomes of sending recorded in its outbox (and an Event for
        each one given up); the stored outbox's own outcomes are forgotten here."""
        self.sender.acknowledge(run.key, [n.to_wire() for n in run.status.notifications])
        outcomes = self.sender.outcomes(run.key)
        if not outcomes:
            return run, []
        notifications, given_up = outbox.settle(run.status.notifications, outcomes)
        status = run.status.model_copy(update={"notifications": notifications})
        events = [
            RunEvent(
                "Warning",
                "NotificationFailed",
                f"notification {n.event.value} of {f'task {n.task}' if n.task else 'the run'}"
                f" to {n.notifier} not delivered: {n.failed}",
            )
            for n in given_up
        ]
        return run.model_copy(update={"status": status}), events

    def begin(self, run: DagRun, snapshot: Snapshot) -> tuple[DagRun, list[RunEvent]]:
        """A running run's pass begins: its stored pending notifications go (again, after a
        restart), and the outcomes of sending are recorded (`settled`)."""
        self.send(run, run.status, snapshot)
        return self.settled(run)

    def decide(
        self,
        run: DagRun,
        body: dict[str, Any],
        snapshot: Snapshot,
        new: DagRunStatus,
        now: datetime,
    ) -> outbox.OutboxDecision:
        if not notifies(run.spec.run_type):
            return outbox.OutboxDecision(new)
        return outbox.decide(run.uid, created_at(body), run.status, new, snapshot, now)

    def note(
        self,
        run: DagRun,
        body: dict[str, Any],
        snapshot: Snapshot,
        decision: RunDecision,
        settled_events: list[RunEvent],
        now: datetime,
    ) -> datetime | None:
        """Add to the engine's decision what its change notifies and the deadlines missed
        (with the events of notifications given up); returns the next deadline."""
        noted = self.decide(run, body, snapshot, decision.status, now)
        decision.status = noted.status
        decision.events.extend([*settled_events, *noted.events])
        return noted.next_deadline

    def send(self, run: DagRun, status: DagRunStatus, snapshot: Snapshot) -> None:
        """Hand the pending notifications of a status that is stored to the sender (and
        forget the outcomes it records)."""
        self.sender.acknowledge(run.key, [n.to_wire() for n in status.notifications])
        entries = outbox.pending(status)
        if entries:
            self.sender.offer(run.key, run_facts(run, status), entries, notifier_lookup(snapshot))

    async def idle_pass(self, run: DagRun, body: dict[str, Any], now: datetime) -> datetime | None:
        """A queued or finished run: record the outcomes of sending, the deadlines a queued
        run missed, and send what is pending; returns its next deadline."""
        if not run.status.snapshot:
            return None  # never pinned: nothing was decided for it
        waiting = outbox.pending(run.status) or self.sender.outcomes(run.key)
        if run.status.state is not RunState.QUEUED and not waiting:
            return None
        snapshot = await self.snapshots.load(
            (run.namespace, run.spec.dag_name), run.status.snapshot
        )
        if snapshot is None:
            return None
        stored = run.status
        run, events = self.settled(run)
        wake: datetime | None = None
        status = run.status
        if run.status.state is RunState.QUEUED:
            decision = self.decide(run, body, snapshot, run.status, now)
            status, wake = decision.status, decision.next_deadline
            events.extend(decision.events)
        if status != stored:
            written = await self.status.write(
                run.key, status.to_wire(), body["metadata"]["resourceVersion"]
            )
            post_run_events(self.status.kube, written, events, now)
        self.send(run, status, snapshot)
        return wake

    def forget(self, key: NamespacedName) -> None:
        self.sender.forget(key)


def pin_wake(
    run: DagRun, body: dict[str, Any], status: DagRunStatus, snapshot: Snapshot, now: datetime
) -> datetime | None:
    """When a run just pinned (and left queued) needs a pass for its deadlines: at once if
    one is missed already, else at the first."""
    if not snapshot.notifies or not notifies(run.spec.run_type):
        return None
    check = check_deadlines(run.uid, status, snapshot, created_at(body), now)
    return now if check.misses else check.next_deadline
