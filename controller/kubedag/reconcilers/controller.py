"""The controller's wiring: the informer, the work queues and the reconcilers (DAGs, runs,
backfills), and the watch-event handlers that feed them.

Watch events (delivered by kopf, see operator.py) only update the informer and enqueue
keys; the work queues serialise all work on one DAG or one run, so no update is lost under
concurrent pod events, and each pass writes the status at most once.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from kubedag.core.dag_scheduler import RunChange, moves_the_schedule
from kubedag.core.pod_observation import observe_pod
from kubedag.kube.client import Kube
from kubedag.models.dagrun import RunState
from kubedag.reconcilers.accounts import ServiceAccounts
from kubedag.reconcilers.backfills import BackfillReconciler
from kubedag.reconcilers.caches import NamespacedName, owner_run, summarize_run
from kubedag.reconcilers.cleanup import Cleaner
from kubedag.reconcilers.context import ReconcilerContext
from kubedag.reconcilers.dags import DagReconciler
from kubedag.reconcilers.datasets import DatasetLinks
from kubedag.reconcilers.informer import Informer, take_pod_event
from kubedag.reconcilers.log_format import LogScope
from kubedag.reconcilers.notifier import NotificationSender
from kubedag.reconcilers.pools import PoolReconciler
from kubedag.reconcilers.relist import RelistSweep
from kubedag.reconcilers.runs import RunReconciler
from kubedag.reconcilers.settings import ControllerSettings
from kubedag.reconcilers.slots import SlotBook
from kubedag.reconcilers.snapshots import SnapshotStore
from kubedag.reconcilers.status import StatusWriter
from kubedag.reconcilers.workqueue import WorkQueue

DAGS_FIRST_LIMIT = 2.0  # seconds a run pass waits at most for due DAG passes
POOL_STATUS_WITHIN = 1.0  # seconds a burst of a pool's slot changes waits for its status


def utcnow() -> datetime:
    return datetime.now(UTC)


def give_log_scopes(controller: "Controller") -> None:
    """What each queue's passes concern, for their log lines (reconcilers/log_format.py): a
    DAG; a run and its DAG; a backfill and its DAG."""
    informer = controller.informer

    def backfill(key: NamespacedName) -> LogScope:
        dag = ((informer.backfill(key) or {}).get("spec") or {}).get("dagName")
        return LogScope(key[0], str(dag) if dag else None, backfill=key[1])

    controller.dag_queue.scope = lambda key: LogScope(key[0], key[1])
    controller.run_queue.scope = lambda key: LogScope(key[0], informer.run_dag(key), run=key[1])
    controller.backfill_queue.scope = backfill


def _paused(body: dict[str, Any] | None) -> bool:
    return bool(body and (body.get("spec") or {}).get("paused") is True)


class Controller:
    def __init__(
        self, kube: Kube, settings: ControllerSettings, now: Callable[[], datetime] = utcnow
    ) -> None:
        self.kube = kube
        self.now = now
        self.settings = settings
        self.informer = Informer(SlotBook(settings.default_pool_slots, settings.parallelism))
        self.snapshots = SnapshotStore(kube)
        self.dag_queue: WorkQueue[NamespacedName] = WorkQueue(
            "dags", self._reconcile_dag, workers=settings.dag_workers, now=now
        )
        self.run_queue: WorkQueue[NamespacedName] = WorkQueue(
            "dagruns",
            self._reconcile_run,
            workers=settings.run_workers,
            now=now,
            gate=self._dags_first,
        )
        # One worker: Backfills of one DAG are accepted one at a time (one runs at a time).
        self.backfill_queue: WorkQueue[NamespacedName] = WorkQueue(
            "backfills", self._reconcile_backfill, workers=1, now=now
        )
        run_status = StatusWriter(
            kube, self.informer, "DagRun", self._run_changed, self._wake_held_by
        )
        self.accounts = ServiceAccounts(kube, now)
        context = ReconcilerContext(
            kube, self.informer, self.snapshots, settings, now, self.accounts, DatasetLinks(kube)
        )
        self.cleaner = cleaner = Cleaner(kube, self.informer, self.snapshots, settings)
        self.dags = DagReconciler(
            context,
            dag_status=StatusWriter(kube, self.informer, "DAG"),
            run_status=run_status,
            wake_run=self.run_queue.add,
            cleaner=cleaner,
        )
        self.sender = NotificationSender(kube, settings, self.run_queue.add, now)
        self.runs = RunReconciler(
            context,
            status=run_status,
            wake_dag=self.dag_queue.add,
            cleaner=cleaner,
            sender=self.sender,
            wake_slot_winner=partial(self.run_queue.add, urgent=True),
        )
        self.pools = PoolReconciler(kube, self.informer.slots, now)
        self.pool_queue: WorkQueue[NamespacedName] = WorkQueue(
            "pools", self.pools.reconcile, workers=1, now=now
        )
        self.informer.slots.on_pool_change = self._pool_changed
        self.relist = RelistSweep(kube, self.informer, self.run_queue.add, self._wake_slot_winners)
        self.backfills = BackfillReconciler(
            context,
            status=StatusWriter(kube, self.informer, "Backfill"),
            run_status=run_status,
            wake_run=self.run_queue.add,
        )
        give_log_scopes(self)

    async def _reconcile_backfill(self, key: NamespacedName) -> datetime | None:
        return await self.backfills.reconcile(key)

    async def _reconcile_dag(self, key: NamespacedName) -> datetime | None:
        return await self.dags.reconcile(key)

    async def _reconcile_run(self, key: NamespacedName) -> datetime | None:
        return await self.runs.reconcile(key)

    async def _dags_first(self) -> None:
        """Run passes wait while DAG passes wait for a worker (for at most a moment): when
        many DAGs are due at once, their runs are created first, before the API server is
        also busy with the new runs' pods and statuses."""
        await self.dag_queue.drained(DAGS_FIRST_LIMIT)

    def _pool_changed(self, key: NamespacedName) -> None:
        """A pool's use changed: its status is written at most once a second."""
        if self.pools.known(key):
            self.pool_queue.add_soon(key, POOL_STATUS_WITHIN)

    def start(self) -> None:
        self.pool_queue.start()
        self.dag_queue.start()
        self.run_queue.start()
        self.backfill_queue.start()

    async def stop(self) -> None:
        await self.dag_queue.stop()
        await self.run_queue.stop()
        await self.backfill_queue.stop()
        await self.sender.stop()
        await self.pool_queue.stop()

    def cache_sizes(self) -> dict[str, int]:
        """Entries of every per-object cache (the `kubedag_cache_entries` gauge): after all
        DAGs and runs are deleted, each is 0."""
        return {
            **self.informer.sizes(),
            **self.snapshots.sizes(),
            **self.cleaner.sizes(),
            "dag_status_batches": len(self.dags.batches),
            "run_status_batches": len(self.runs.writes.batches),
            "run_statuses_held": len(self.runs.writes.held),
            "run_outputs": len(self.runs.outputs),
            "run_event_budgets": len(self.runs.events),
            "dag_queue": self.dag_queue.tracked(),
            "run_queue": self.run_queue.tracked(),
            "backfill_queue": self.backfill_queue.tracked(),
            "pool_queue": self.pool_queue.tracked(),
            "pool_bodies": len(self.pools),
            **self.backfills.sizes(),
            "service_accounts": len(self.accounts),
            **self.sender.sizes(),
        }

    # Watch events -------------------------------------------------------------------------

    def on_dag_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if event_type == "DELETED":
            self.informer.forget_dag(key)
            self._wake_waiting_on(key)
            self.snapshots.forget(key)
            self.runs.events.forget_dag(key)
            self.dags.forget(key)
            self.dag_queue.forget(key)
            return
        unpaused = _paused(self.informer.dag(key)) and not _paused(body)
        self.informer.put_dag(key, body)
        if not self.informer.is_own_write("DAG", key, body):
            self.dag_queue.add(key)
            self._wake_waiting_on(key)  # e.g. its externalNamespaces changed
            self._wake_slot_winners()  # its maxActiveTasks may have grown
            self._wake_backfills(key, waiting_only=True)
            for held in self.informer.held_in_dag(*key):  # its catchup decides the previous run
                self.run_queue.add(held)
        if unpaused:  # the frozen runs go on where they stopped
            for run in self.informer.runs.for_dag(*key):
                if run.state is RunState.RUNNING:
                    self.run_queue.add((key[0], run.name))

    def _run_changed(self, dag: NamespacedName, change: RunChange) -> None:
        """A run's summary changed: its DAG's scheduler and its backfills have news, and so
        have its runs held by dependsOnPast (a run came or went, or finished). News that
        cannot start or create a run reaches the DAG with its status batch."""
        # A DAG the informer does not know is deleted (its runs go after it) or not listed
        # yet (its own event queues it): waking it would leave a queue entry behind.
        known = self.informer.dag(dag) is not None
        if known and moves_the_schedule(change):
            self.dag_queue.add_soon(dag, self.settings.run_news_within)
        elif known:
            self.dag_queue.add_after(dag, self.now() + self.settings.dag_status_batch)
        self._wake_backfills(dag, within=self.settings.run_news_within)
        for held in self.informer.held_in_dag(*dag):
            self.run_queue.add(held)
        self._wake_waiting_on(dag)

    def _wake_held_by(self, run: NamespacedName) -> None:
        """The runs that dependsOnPast holds on `run` look again (e.g. it was cleared), and
        so do those whose deferred tasks wait on its DAG's runs."""
        for held in self.informer.held_by(run):
            self.run_queue.add(held)
        self._wake_waiting_on((run[0], self.informer.run_dag(run)))

    def _wake_waiting_on(self, dag: NamespacedName) -> None:
        """Runs whose deferred tasks (triggerDagRun, externalTaskSensor) wait on `dag`."""
        for waiting in self.informer.cross_dag.waiting_on(dag):
            self.run_queue.add(waiting)

    def _wake_backfills(
        self, dag: NamespacedName, waiting_only: bool = False, within: float = 0.0
    ) -> None:
        for body in self.informer.backfills_of(*dag):
            state = (body.get("status") or {}).get("state")
            if state in ("Completed", "Refused") or (waiting_only and state):
                continue
            key = (dag[0], body["metadata"]["name"])
            if within:
                self.backfill_queue.add_soon(key, within)
            else:
                self.backfill_queue.add(key)

    def on_backfill_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if event_type == "DELETED":
            self.backfills.deleted(key, self.informer.forget_backfill(key) or body)
            self.backfill_queue.forget(key)
            self.backfill_queue.add(key)  # its last pass cancels it
            return
        self.informer.put_backfill(key, body)
        if not self.informer.is_own_write("Backfill", key, body):
            self.backfill_queue.add(key)
        # Its first date is exempt from dependsOnPast: a run held before the watch delivered
        # the Backfill (after a restart) looks again.
        dag = str((body.get("spec") or {}).get("dagName", ""))
        for held in self.informer.held_in_dag(key[0], dag):
            self.run_queue.add(held)

    def on_run_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if event_type == "DELETED":
            # The informer forgets a run history cleanup deleted before the watch says so.
            dag = self.informer.run_dag(key) or str(body["spec"]["dagName"])
            before = self.informer.runs.get(key[0], dag, key[1]) or summarize_run(body)
            self.informer.forget_run(key)
            self.runs.forget(key)
            self.run_queue.forget(key)
            self._run_changed((key[0], dag), RunChange(before, None))
            return
        body = self.runs.writes.held.resolve(key, body)  # a held status stays in view
        stale = self.informer.has_newer_run(key, body)
        change = self.informer.put_run(key, body)
        if change is not None:
            self._run_changed((key[0], str((body.get("spec") or {}).get("dagName", ""))), change)
        self._wake_held_by(key)
        # An echo of our own write, or an event older than what a response gave us (a run
        # created and pinned before the watch delivered its creation), has no news.
        if not stale and not self.informer.is_own_write("DagRun", key, body):
            self.run_queue.add(key)

    def on_pod_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        namespace = body["metadata"]["namespace"]
        pod = observe_pod(body)
        news, freed = take_pod_event(self.informer, namespace, pod, deleted=event_type == "DELETED")
        run = owner_run(body)
        if run and news:
            self.run_queue.add((namespace, run))
        if freed:  # the slots go to the first waiting tasks in rank order, whatever their run
            self._wake_slot_winners()

    def _wake_slot_winners(self) -> None:
        for winner in self.informer.slots.winners():
            self.run_queue.add(winner, urgent=True)  # a freed slot idles until its pass runs

    def on_pool_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if event_type == "DELETED":
            self.informer.slots.forget_pool(key)
            self.pools.forget(key)
            self.pool_queue.forget(key)
            return
        self.informer.slots.put_pool(key, int((body.get("spec") or {}).get("slots", 0)))
        self.pools.put(key, body)
        if not self.pools.is_own_write(key, body):
            self.pool_queue.add(key)
        self._wake_slot_winners()  # a pool created or grown
