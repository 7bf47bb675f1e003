"""Status writes, one writer per kind: the patch (guarded by the copy's resourceVersion),
the echo record, the write-through to the informer, and the wake-ups that follow. Every
status write of the controller goes through here, so none skips a step."""

import logging
from collections.abc import Callable
from typing import Any

from kubedag.core import run_observations
from kubedag.core.dag_scheduler import RunChange
from kubedag.kube.client import ApiError, Kube, custom_path
from kubedag.manifests import render
from kubedag.reconcilers import metrics
from kubedag.reconcilers.caches import NamespacedName
from kubedag.reconcilers.informer import Informer, Kind

log = logging.getLogger(__name__)

_PLURALS: dict[Kind, str] = {"DAG": "dags", "DagRun": "dagruns", "Backfill": "backfills"}


class StatusWriter:
    def __init__(
        self,
        kube: Kube,
        informer: Informer,
        kind: Kind,
        on_run_changed: Callable[[NamespacedName, RunChange], None] | None = None,
        on_run_written: Callable[[NamespacedName], None] | None = None,
    ) -> None:
        """`on_run_changed(dag_key, change)`: a run's summary changed, so its DAG has news.
        `on_run_written(run_key)`: any status write of a run (runs waiting on it have news)."""
        self.kube = kube
        self.informer = informer
        self.kind = kind
        self.on_run_changed = on_run_changed
        self.on_run_written = on_run_written

    async def write(
        self,
        key: NamespacedName,
        status: dict[str, Any],
        resource_version: str | None,
        *,
        wake_dag: bool = True,
        stored_status: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Merge-patch the status; with a resourceVersion a changed object fails the write
        with Conflict, and the stale copy is dropped so the next pass reads it afresh.
        `wake_dag=False`: the caller is the run's DAG pass, which has counted the change.
        `stored_status`: the status stored, when the informer's copy holds one not written
        yet (`batching.HeldStatuses`)."""
        current = {
            "DAG": self.informer.dag,
            "DagRun": self.informer.run,
            "Backfill": self.informer.backfill,
        }[self.kind](key)
        if stored_status is None:
            stored_status = (current or {}).get("status") or {}
        patch = render.status_patch(stored_status, status)
        try:
            written = await self.kube.patch_status(
                custom_path(_PLURALS[self.kind], *key), patch, resource_version
            )
        except ApiError as error:
            if error.conflict:
                self.informer.drop_stale(self.kind, key)
            raise
        if not self.informer.knows(self.kind, key):
            # The watch delivered its deletion while the write was out: keeping the answer
            # would keep the deleted object in the caches for good.
            return written
        self.informer.remember_write(self.kind, key, written)
        if self.kind == "DAG":
            self.informer.put_dag(key, written)
        elif self.kind == "Backfill":
            self.informer.put_backfill(key, written)
        else:
            before = stored_status
            metrics.record_run_write(key[0], before, status)
            if log.isEnabledFor(logging.DEBUG):
                for task, _ in run_observations.changed_tasks(before, status):
                    state, number = task.get("state", "none"), task.get("try", 0)
                    log.debug("task %s is %s (try %d)", task["name"], state, number,
                              extra={"task": task["name"]})  # fmt: skip
            change = self.informer.put_run(key, written)
            if change is not None and wake_dag and self.on_run_changed:
                dag = str(written["spec"]["dagName"])
                self.on_run_changed((key[0], dag), change)
            if self.on_run_written:
                self.on_run_written(key)
        return written
