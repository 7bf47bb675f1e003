"""The DagRun reconciler: a new run is pinned to its DAG's current version (and started in
the same write when its DAG has room); a running run is advanced by `run_engine.advance`,
its pods created and deleted, its status written; a clear or mark request is applied once
(`core.clearing`). Each pass returns when to look again."""

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from kubedag.core import clearing, past, run_engine
from kubedag.core.dag_scheduler import RunSummary, starts_at_pin
from kubedag.core.dates import earliest, parse_time
from kubedag.core.run_types import runs_while_paused, takes_dag_slot
from kubedag.core.snapshot import Snapshot
from kubedag.kube.client import MERGE_PATCH, ApiError, Kube, custom_path
from kubedag.manifests import render
from kubedag.models.common import find_condition
from kubedag.models.dag import Dag
from kubedag.models.dagrun import DagRun, DagRunStatus, RunState, TaskState
from kubedag.reconcilers.caches import NamespacedName, resource_version, summarize_run
from kubedag.reconcilers.cleanup import Cleaner
from kubedag.reconcilers.context import Reconciler, ReconcilerContext
from kubedag.reconcilers.cross_dag import CrossDagLinks
from kubedag.reconcilers.earlier import EarlierRunsReader
from kubedag.reconcilers.informer import Informer, keep_run_answer
from kubedag.reconcilers.notifier import NotificationSender
from kubedag.reconcilers.outbox import OutboxKeeper, pin_wake
from kubedag.reconcilers.outputs import OutputStore
from kubedag.reconcilers.pods import PodLauncher
from kubedag.reconcilers.requests import RequestApplier, post_run_events
from kubedag.reconcilers.run_events import RunEvents
from kubedag.reconcilers.run_writes import RunStatusWrites
from kubedag.reconcilers.status import StatusWriter

log = logging.getLogger(__name__)


class RunReconciler(Reconciler):
    def __init__(
        self,
        context: ReconcilerContext,
        *,
        status: StatusWriter,
        wake_dag: Callable[[NamespacedName], None],
        cleaner: Cleaner,
        sender: NotificationSender,
        wake_slot_winner: Callable[[NamespacedName], None] = lambda _: None,
    ) -> None:
        """`wake_slot_winner`: a run whose waiting task now has the slots it waits for."""
        super().__init__(context)
        self.wake_slot_winner = wake_slot_winner
        self.cleaner = cleaner
        self.status = status
        self.wake_dag = wake_dag
        self.pods = PodLauncher(context.kube, context.informer)
        self.earlier = EarlierRunsReader(
            context.kube, context.informer, context.snapshots, context.settings.catchup_by_default
        )
        self.outputs = OutputStore(context.kube)
        self.cross_dag = CrossDagLinks(context.kube, context.informer)
        self.requests = RequestApplier(
            context.kube, context.snapshots, status, applied=self.cross_dag.clear_dependents
        )
        self.outbox = OutboxKeeper(sender, context.snapshots, status)
        self.writes = RunStatusWrites(status, context.informer)
        self.events = RunEvents(context.kube)

    def forget(self, key: NamespacedName) -> None:
        self.writes.forget(key)
        self.outputs.forget(key)
        self.outbox.forget(key)

    async def reconcile(self, key: NamespacedName) -> datetime | None:
        """One pass; returns when to look again."""
        known = self.informer.run_summary(key)
        finished = known is not None and known.state is not None and known.state.finished
        idle = not self.informer.request_pending(key) and not self.informer.outbox_waits(key)
        if finished and idle:
            # A finished run changes only by a request (not by a late pod event); a late pod
            # event, or a restart, may find pods its DAG's podGC lets go.
            assert known is not None and known.state is not None
            await self.cleaner.collect_pods(key, self.informer.run_dag(key), known.state, None)
            return None
        body = await self.run_body(key)
        if body is None:
            return None
        body = self.writes.resolve(key, body)
        run = DagRun.model_validate(body)
        now = self.now()
        finished = run.status.state is not None and run.status.state.finished
        if finished and clearing.pending_request(run) is None:
            assert run.status.state is not None
            if self.datasets and run.status.dataset_updates:
                return await self.datasets.idle_pass(run, body, self.status, now)
            await self.outbox.idle_pass(run, body, now)
            await self.cleaner.collect_pods(key, run.spec.dag_name, run.status.state, None)
            return None
        try:
            if run.status.state is None:
                again = await self._pin(run, body, now)
                # A request waits for the pinned status, which the next pass reads.
                return now if clearing.pending_request(run) else again
            if run.status.state is RunState.RUNNING:
                return await self._advance(run, body, now)
            if clearing.pending_request(run) is None:
                return await self.outbox.idle_pass(run, body, now)
            return await self.requests.apply(run, body, now)
        except ApiError as error:
            if not error.conflict:
                raise
            return now  # the copy was stale (dropped by the writer): look again at once

    async def _pin(self, run: DagRun, body: dict[str, Any], now: datetime) -> datetime | None:
        """Bind a new run to the current version of its DAG (creating the snapshot), and start
        it at once when its DAG has room for it under maxActiveRuns."""
        dag_key = (run.namespace, run.spec.dag_name)
        dag_body = await self.dag_body(dag_key)
        if dag_body is None:
            message = f"DAG {run.spec.dag_name!r} not found in namespace {run.namespace}"
            await fail_unpinned(self.kube, self.status, body, "DagNotFound", message, now)
            return None
        dag = Dag.model_validate(dag_body)
        body = await adopt(self.kube, self.informer, body, dag_body)
        problems = await self.dag_problems(dag)
        if problems:
            message = f"DAG {dag.name} is invalid: {problems[0].message}"
            await fail_unpinned(self.kube, self.status, body, "DagNotReady", message, now)
            return None
        snapshot = self.snapshots.current(dag)
        pinned_name = await self.snapshots.ensure_stored(dag, snapshot)
        created = parse_time(body["metadata"]["creationTimestamp"])
        logical, interval = run_engine.run_dates(run, snapshot, created)
        status = run_engine.pin(
            run,
            snapshot_name=pinned_name,
            snapshot=snapshot,
            interval=interval,
            logical_date=logical,
            now=now,
        )
        queued = replace(summarize_run(body), state=RunState.QUEUED, logical_date=logical)
        siblings = self.informer.runs.unfinished(*dag_key)  # all runs_to_start counts
        if starts_at_pin(siblings, queued, dag.spec.max_active_runs, paused=dag.spec.paused):
            return await self._pin_running(run, body, run_engine.start(status, now), queued, now)
        # The writer wakes the DAG: the run is queued now, and counts.
        await self.status.write(run.key, status.to_wire(), body["metadata"]["resourceVersion"])
        return pin_wake(run, body, status, snapshot, now)

    async def _pin_running(
        self,
        run: DagRun,
        body: dict[str, Any],
        status: DagRunStatus,
        queued: RunSummary,
        now: datetime,
    ) -> datetime | None:
        """Pin and start in one write, with the first tasks' pods already created."""
        namespace, dag = run.namespace, run.spec.dag_name
        # Take the slot before the first await, so a concurrent pin of another run of the
        # same DAG counts it.
        version = resource_version(body)
        self.informer.runs.update(namespace, dag, replace(queued, state=RunState.RUNNING), version)
        try:
            pinned = run.model_copy(update={"status": status})
            return await self._advance(pinned, body, now, pinning=True)
        except BaseException:
            if self.informer.knows("DagRun", run.key):  # not deleted meanwhile
                self.informer.runs.update(namespace, dag, summarize_run(body), version)
            raise
        finally:
            # The slot was taken outside the DAG's pass; backfill and test runs take none.
            if takes_dag_slot(run.spec.run_type):
                self.wake_dag((namespace, dag))

    async def _advance(
        self, run: DagRun, body: dict[str, Any], now: datetime, *, pinning: bool = False
    ) -> datetime | None:
        """One pass over a running run (`pinning`: its first, its pinned status unwritten)."""
        key = run.key
        snapshot = await self.snapshots.load(
            (run.namespace, run.spec.dag_name), run.status.snapshot or ""
        )
        if snapshot is None:
            message = f"snapshot {run.status.snapshot} of this run is gone"
            status = run_engine.fail_run(
                run.status, reason="SnapshotMissing", message=message, now=now
            )
            await self.status.write(key, status.to_wire(), body["metadata"]["resourceVersion"])
            return None
        run, settled_events = self.outbox.begin(run, snapshot)
        if self.datasets:  # updates the last write kept: recorded now, removed by this write
            run = await self.datasets.record_stored(run, now)
        request = await self.requests.outcome(run, now)
        if request is not None:
            run = run.model_copy(update={"status": request.status})
        decision = await self._decide(run, snapshot, now)
        try:
            if not await self.cross_dag.carry_out(run, snapshot, decision):
                return now  # a run it was to trigger exists: decide again with it in view
            # Before the status that points at them: a reader never misses an output.
            await self.outputs.store(run, decision.outputs_to_store)
            if request is not None:
                decision.pods_to_delete[:0] = request.pods_to_delete
                decision.events[:0] = request.events
            again = await self.pods.carry_out(run, snapshot, decision, now)
        finally:
            # Created pods hold their slots themselves now; refused or unmade ones hold none.
            self.informer.slots.unreserve_run(key)
        deadline = self.outbox.note(run, body, snapshot, decision, settled_events, now)
        if self.datasets:  # its successful outputs and outlets: written with the change
            decision.status = self.datasets.note(run, decision.status, snapshot)
        wake = await self.writes.write(run, body, decision, now, pinning=pinning, settled=not again)
        if wake is None:  # written: its pending notifications are recorded, and may go
            self.outbox.send(run, decision.status, snapshot)
        self.events.post(body, decision.events, now)
        if request is not None:
            await self.cross_dag.clear_dependents(run, decision.status)
        if decision.status.end_time:
            self.outputs.forget(key)  # a finished run launches nothing: no template reads them
        # Only outcomes written may lose their pods; the pass need not wait for it.
        succeeded = {r.name for r in decision.status.tasks if r.state is TaskState.SUCCESS}
        self.kube.in_background(
            self.cleaner.collect_pods(key, run.spec.dag_name, decision.status.state, succeeded),
            f"podGC of run {key[0]}/{key[1]}",
        )
        recording = bool(decision.status.dataset_updates)  # the next pass records them
        return now if again or recording else earliest(decision.requeue_at, wake, deadline)

    async def _decide(
        self, run: DagRun, snapshot: Snapshot, now: datetime
    ) -> run_engine.RunDecision:
        dag = run.spec.dag_name
        pods = await self.pods.observe(run)
        earlier = await self.earlier.read(run, snapshot)
        stored_outputs = await self.outputs.load(run)
        cross_dag = await self.cross_dag.view(run, snapshot)
        # No await from here to the reservation: the slots this pass counts free are taken
        # before any other pass runs (see reconcilers/slots.py).
        arbiter = self.informer.slots.arbiter(run.key)
        decision = run_engine.advance(
            run,
            snapshot,
            pods=pods,
            now=now,
            frozen=frozen(self.informer, run),
            earlier=earlier,
            stored_outputs=stored_outputs,
            cross_dag=cross_dag,
            gate=arbiter,
        )
        for winner in self.informer.slots.decided(run.key, decision, arbiter):
            self.wake_slot_winner(winner)
        # A run held by dependsOnPast is woken when its previous run changes (or any run of
        # its DAG comes or goes, which may change which run is the previous one).
        previous = earlier.previous
        held = previous is not None and past.held_by_past(decision.status.tasks)
        self.informer.hold_for_past(run.key, dag, previous.name if held and previous else None)
        return decision


async def fail_unpinned(
    kube: Kube, writer: StatusWriter, body: dict[str, Any], reason: str, message: str, now: datetime
) -> None:
    """A new run that cannot be pinned (its DAG is missing or invalid) fails, with an Event."""
    run = DagRun.model_validate(body)
    status = run_engine.fail_run(run.status, reason=reason, message=message, now=now)
    await writer.write(run.key, status.to_wire(), body["metadata"]["resourceVersion"])
    failed = find_condition(status.conditions, "Succeeded")
    event = run_engine.RunEvent("Warning", "RunFailed", failed.message if failed else message)
    post_run_events(kube, body, [event], now)


async def adopt(
    kube: Kube, informer: Informer, body: dict[str, Any], dag_body: dict[str, Any]
) -> dict[str, Any]:
    """The run owned by its DAG (a run created by hand has no ownerReference yet)."""
    patch = render.adoption_patch(body, dag_body)
    if patch is None:
        return body
    metadata = body["metadata"]
    path = custom_path("dagruns", metadata["namespace"], metadata["name"])
    adopted = await kube.request("PATCH", path, patch, content_type=MERGE_PATCH)
    keep_run_answer(informer, (metadata["namespace"], metadata["name"]), adopted)
    return adopted  # cached too: the pass may end before its status write


def frozen(informer: Informer, run: DagRun) -> bool:
    """A paused DAG freezes its runs, except those asked for by hand (backfill, test)."""
    if runs_while_paused(run.spec.run_type):
        return False
    dag = informer.dag((run.namespace, run.spec.dag_name)) or {}
    return (dag.get("spec") or {}).get("paused") is True
