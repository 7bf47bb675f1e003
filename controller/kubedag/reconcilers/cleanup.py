"""History and cleanup, carried out: the runs the history limits and TTL select are deleted
with their pods, task pods are deleted under the DAG's podGC policy, and snapshot ConfigMaps
nothing needs any more are deleted. The decisions are core/history.py's.

kubedag deletes a deleted run's pods itself rather than leaving them to the garbage
collector: the pods' ownerReference would do it on a cluster with kube-controller-manager,
but not on one without (the integration tests' bare API server), and deleting them first
frees their nodes' resources at once."""

import asyncio
import logging
from collections.abc import Collection, Sequence
from datetime import datetime

from kubedag.core import history, past, pod_sweeps
from kubedag.core.dag_scheduler import RunSummary
from kubedag.core.naming import LABEL_DAG, LABEL_MANAGED_BY, MANAGED_BY, label_value
from kubedag.core.pod_sweeps import run_pods_selector
from kubedag.kube.client import Kube, core_path, custom_path
from kubedag.models.dag import Dag, PodGC
from kubedag.models.dagrun import RunState
from kubedag.reconcilers.caches import NamespacedName
from kubedag.reconcilers.informer import Informer
from kubedag.reconcilers.pod_sweeper import PodSweeper
from kubedag.reconcilers.settings import ControllerSettings
from kubedag.reconcilers.snapshots import SnapshotStore

log = logging.getLogger(__name__)

DELETE_CONCURRENCY = 8


class Cleaner:
    def __init__(
        self,
        kube: Kube,
        informer: Informer,
        snapshots: SnapshotStore,
        settings: ControllerSettings,
    ) -> None:
        self.kube = kube
        self.informer = informer
        self.snapshots = snapshots
        self.settings = settings
        self.sweeper = PodSweeper(kube, settings.pod_sweep_delay, self._still_swept)
        # The snapshots each DAG needed at its last pass: one dropping out is the moment to
        # look for ConfigMaps to delete (a LIST only then, not on every pass).
        self._needed: dict[NamespacedName, set[str]] = {}

    def forget(self, dag: NamespacedName) -> None:
        self._needed.pop(dag, None)

    def _still_swept(self, namespace: str, run: str) -> bool:
        summary = self.informer.run_summary((namespace, run))
        finished = None if summary is None else bool(summary.state and summary.state.finished)
        return pod_sweeps.still_swept(finished, self.informer.request_pending((namespace, run)))

    def sizes(self) -> dict[str, int]:
        return {"snapshots_needed": len(self._needed), "runs_to_sweep": len(self.sweeper)}

    # Runs ----------------------------------------------------------------------------------

    async def clean_runs(
        self, dag: Dag, now: datetime, keep: Collection[str] = ()
    ) -> datetime | None:
        """Delete the runs past the DAG's history limits or TTL, except those in `keep` and
        those of a Backfill in progress; returns when to look again."""
        namespace = dag.namespace
        policy = self.settings.history.for_dag(dag.spec)
        if not history.may_delete_runs(
            policy, self.informer.runs.has_test_runs(namespace, dag.name)
        ):
            return None  # not worth a walk of the DAG's history
        runs = self.informer.runs.for_dag(namespace, dag.name)
        backfills = self.informer.unfinished_backfills(namespace)
        protected = {r.name for r in runs if r.backfill and r.backfill in backfills} | set(keep)
        protected |= self._kept_for_past(dag, runs)
        cleanup = history.runs_to_delete(runs, policy, protected=protected, now=now)
        semaphore = asyncio.Semaphore(DELETE_CONCURRENCY)

        async def delete(name: str) -> None:
            async with semaphore:
                await self.delete_run((namespace, name))

        await asyncio.gather(*(delete(name) for name in cleanup.runs_to_delete))
        if cleanup.runs_to_delete:
            log.info(
                "history of DAG %s/%s: deleted %d runs (%s)",
                namespace,
                dag.name,
                len(cleanup.runs_to_delete),
                ", ".join(cleanup.runs_to_delete[:5]),
            )
        return cleanup.look_again_at

    def _kept_for_past(self, dag: Dag, runs: Sequence[RunSummary]) -> set[str]:
        """The runs dependsOnPast still reads (`core.past.runs_kept_for_past`), for the
        tasks the DAG's current version reads from the past."""
        read = past.tasks_read_from_past(dag.spec)
        catchup = dag.spec.catchup
        if catchup is None:
            catchup = self.settings.catchup_by_default
        return past.runs_kept_for_past(runs, read=read, catchup=catchup)

    async def delete_run(self, key: NamespacedName) -> None:
        """Delete a run and its pods; the informer forgets it now, so the DAG's next pass
        does not select it again before the watch reports the deletion."""
        namespace, name = key
        pods = self.informer.pods.of_run(namespace, label_value(name))
        if pods:
            await self.kube.delete_collection(
                core_path("pods", namespace), label_selector=run_pods_selector(name)
            )
            self._forget_pods(namespace, [p.name for p in pods])
        await self.kube.delete(custom_path("dagruns", namespace, name))
        self.informer.forget_run(key)

    # Pods ----------------------------------------------------------------------------------

    async def collect_pods(
        self,
        run: NamespacedName,
        dag: str,
        state: RunState | None,
        succeeded_tasks: Collection[str] | None,
    ) -> None:
        """Delete the run's pods its DAG's podGC policy lets go, given the run's written
        state. `succeeded_tasks`: the tasks recorded as succeeded; None for a finished run
        whose records are not at hand (then: the tasks whose pod succeeded)."""
        namespace, name = run
        policy = await self._pod_gc((namespace, dag))
        if not history.deletes_pods(policy, state):
            return
        pods = self.informer.pods.of_run(namespace, label_value(name))
        if not pods:
            return
        if succeeded_tasks is None:
            succeeded_tasks = {p.task for p in pods if p.phase == "Succeeded"}
        doomed = history.pods_to_delete(policy, state, pods, succeeded_tasks)
        if not doomed:
            return
        # Forgotten first: a collection running meanwhile (from another pass) skips them.
        self._forget_pods(namespace, doomed)
        if len(doomed) == len(pods):
            self.sweeper.add(namespace, name)
        else:
            for pod in doomed:
                await self.kube.delete(core_path("pods", namespace, pod))
        log.debug("podGC %s of run %s/%s: deleted %d pods", policy, namespace, name, len(doomed))

    async def _pod_gc(self, dag: NamespacedName) -> PodGC:
        """The DAG's podGC, else the controller's. After a start (or a shard taking over a
        namespace) a finished run's pass can come before its DAG's watch event, as kopf
        lists each resource on its own: the DAG is read then, so a DAG's `podGC: Never` is
        never taken for the default."""
        if self.informer.dag(dag) is None:
            body = await self.kube.get(custom_path("dags", *dag))
            if body is not None:
                self.informer.put_dag(dag, body)
        return self.informer.pod_gc(dag) or self.settings.history.pod_gc

    def _forget_pods(self, namespace: str, names: Collection[str]) -> None:
        """Deleted pods leave the cache at once (write-through): a pass before the watch
        reports the deletion would otherwise delete them again. (If the deletion fails, the
        pod's next watch event brings it back.)"""
        for pod in names:
            self.informer.forget_pod(namespace, pod)

    # Snapshots -----------------------------------------------------------------------------

    async def clean_snapshots(self, dag: Dag, current: str | None) -> None:
        """Delete the DAG's snapshot ConfigMaps no run references and that are not its
        current version, when one of them stops being needed. (One that stopped being needed
        while the controller was down goes at the next such moment.)"""
        key = (dag.namespace, dag.name)
        needed = self.informer.runs.snapshots(*key) | ({current} if current else set())
        before = self._needed.get(key)
        pinning = history.run_being_pinned(self.informer.runs.unfinished(*key))
        if before is not None and not before <= needed and pinning:
            return  # the pin's write brings the DAG back here
        self._needed[key] = needed
        if before is None or before <= needed:
            return
        listed = await self.kube.list(
            core_path("configmaps", dag.namespace),
            label_selector=f"{LABEL_DAG}={label_value(dag.name)},{LABEL_MANAGED_BY}={MANAGED_BY}",
        )
        stored = [
            item["metadata"]["name"]
            for item in listed
            if any(
                ref.get("kind") == "DAG" and ref.get("name") == dag.name
                for ref in item["metadata"].get("ownerReferences") or []
            )
        ]
        runs = self.informer.runs.for_dag(*key)  # a snapshot dropped out: seldom
        for name in history.snapshots_to_delete(stored, runs, current):
            await self.kube.delete(core_path("configmaps", dag.namespace, name))
            log.info("deleted snapshot %s/%s: no run uses it", dag.namespace, name)
