"""The DAG reconciler: one pass over a DAG creates its due scheduled runs, promotes queued
runs under maxActiveRuns and writes its status, then says when to look again (the end of
the next data interval, or when a batched status write falls due): nothing polls."""

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from kubedag.core import run_engine
from kubedag.core.dag_scheduler import (
    invalid_spec_status,
    reconcile_dag,
    status_batch_delay,
    status_write_is_urgent,
)
from kubedag.core.dates import earliest
from kubedag.core.validation import Problem, describe_validation_error
from kubedag.kube.client import custom_path
from kubedag.manifests import render
from kubedag.models.common import find_condition
from kubedag.models.dag import Dag, DagStatus
from kubedag.models.dagrun import DagRun, RunState, RunType
from kubedag.reconcilers import metrics
from kubedag.reconcilers.accounts import RECHECK_MISSING
from kubedag.reconcilers.batching import WriteBatches
from kubedag.reconcilers.caches import NamespacedName, summarize_run
from kubedag.reconcilers.cleanup import Cleaner
from kubedag.reconcilers.context import Reconciler, ReconcilerContext
from kubedag.reconcilers.status import StatusWriter
from kubedag.reconcilers.tags import label_tags

log = logging.getLogger(__name__)


def _waits_for_account(problems: list[Problem]) -> bool:
    return any(p.reason == "ServiceAccountNotFound" for p in problems)


class DagReconciler(Reconciler):
    def __init__(
        self,
        context: ReconcilerContext,
        *,
        dag_status: StatusWriter,
        run_status: StatusWriter,
        wake_run: Callable[[NamespacedName], None],
        cleaner: Cleaner,
    ) -> None:
        super().__init__(context)
        self.cleaner = cleaner
        self.dag_status = dag_status
        self.run_status = run_status
        self.wake_run = wake_run
        self.batches: WriteBatches[NamespacedName] = WriteBatches(context.settings.dag_status_batch)

    def forget(self, key: NamespacedName) -> None:
        self.batches.written(key)
        self.cleaner.forget(key)
        if self.datasets:
            self.datasets.book.forget_dag(key)

    async def reconcile(self, key: NamespacedName) -> datetime | None:
        """One pass; returns when to look again."""
        namespace, name = key
        body = await self.dag_body(key)
        if body is None:
            return None
        now = self.now()
        try:
            dag = Dag.model_validate(body)
        except ValidationError as error:
            await self._report_invalid_spec(key, body, error, now)
            return None
        problems = await self.dag_problems(dag)
        if not problems:
            await self.snapshots.store_current(
                dag, lambda: self.informer.runs.snapshots(namespace, name)
            )
        runs = self.informer.runs.scheduler_view(namespace, name)
        decision = reconcile_dag(
            dag, runs, problems, now=now, catchup_default=self.settings.catchup_by_default
        )
        for planned in decision.runs_to_create:
            manifest = render.dagrun(
                namespace=namespace,
                dag_name=name,
                dag_uid=dag.metadata.get("uid"),
                run_type=RunType.SCHEDULED,
                logical_date=planned.logical_date,
                interval=planned.interval,
            )
            created = await self.kube.create(custom_path("dagruns", namespace), manifest)
            if created:
                metrics.record_scheduled_run(namespace, self.now(), planned.run_after)
                run_key = (namespace, manifest["metadata"]["name"])
                self.informer.put_run(run_key, created)
                self.wake_run(run_key)  # pinned from the response, not after the watch's echo
                log.info("created scheduled run %s/%s", namespace, manifest["metadata"]["name"])
            else:  # AlreadyExists: the watch brings its body; the scheduler must count it now
                self.informer.runs.update(namespace, name, summarize_run(manifest))
        decision.status = await self._run_on_datasets(dag, problems, decision.status)
        decision.status = await label_tags(self.kube, dag, body, decision.status, now)
        decision.status = decision.status.model_copy(update={"shard": self.settings.shard})
        for run_name in decision.runs_to_start:
            await self._start_run((namespace, run_name), now)
        await self._write_status(key, body, dag.status, decision.status, now)
        clean_again = await self._clean_up(dag, decision.status, problems, now)
        recheck = now + RECHECK_MISSING if _waits_for_account(problems) else None
        return earliest(decision.requeue_at, self.batches.when(key), recheck, clean_again)

    async def _run_on_datasets(
        self, dag: Dag, problems: list[Problem], status: DagStatus
    ) -> DagStatus:
        """For a DAG scheduled on datasets: its dataset-triggered run, if due, and its
        position in its datasets' updates (see reconcilers/datasets.py)."""
        if self.datasets is None:
            return status
        self.datasets.book.put_dag((dag.namespace, dag.name), dag.spec)
        trigger = self.datasets.trigger(dag)
        if trigger is None:
            return status
        if trigger.run is None:
            return status.model_copy(update={"datasets": trigger.consumed or None})
        if problems or dag.spec.paused:  # the updates wait, as Airflow's queue does
            return status.model_copy(update={"datasets": (dag.status or DagStatus()).datasets})
        manifest, created = await self.datasets.create_run(dag, trigger)
        run_key = (dag.namespace, manifest["metadata"]["name"])
        if created:
            self.informer.put_run(run_key, created)
            self.wake_run(run_key)
        else:
            self.informer.runs.update(dag.namespace, dag.name, summarize_run(manifest))
        return status.model_copy(update={"datasets": trigger.consumed})

    async def _clean_up(
        self,
        dag: Dag,
        status: DagStatus,
        problems: list[Problem],
        now: datetime,
    ) -> datetime | None:
        """History cleanup, and the snapshots no run needs any more; returns when to look
        again. A run the new status names as the last success or failure stays until that
        status is written (it may wait in a batch): the DAG remembers it, whatever happens."""
        key = (dag.namespace, dag.name)
        written = (self.informer.dag(key) or {}).get("status") or {}
        pending = {
            outcome.run
            for field, outcome in (
                ("lastSuccessfulRun", status.last_successful_run),
                ("lastFailedRun", status.last_failed_run),
            )
            if outcome is not None and written.get(field) != outcome.to_wire()
        }
        clean_again = await self.cleaner.clean_runs(dag, now, keep=pending)
        current = None if problems else self.snapshots.current_name(dag)
        in_use = {r.snapshot for r in self.informer.runs.unfinished(*key) if r.snapshot}
        if current:
            in_use.add(current)
        self.snapshots.keep_only(key, in_use)
        await self.cleaner.clean_snapshots(dag, current)
        return clean_again

    async def _write_status(
        self,
        key: NamespacedName,
        body: dict[str, Any],
        old: DagStatus | None,
        new: DagStatus,
        now: datetime,
    ) -> None:
        """Validity is written at once; run counts and schedule times in batches."""
        wire = new.to_wire()
        if wire == (body.get("status") or {}):
            self.batches.written(key)
        elif status_write_is_urgent(old, new) or self.batches.due(
            key, now, status_batch_delay(new, self.batches.delay)
        ):
            await self.dag_status.write(key, wire, None)
            self.batches.written(key)
        old_ready = find_condition(old.conditions if old else [], "Ready")
        ready = find_condition(new.conditions, "Ready")
        if (
            ready
            and ready.status == "False"
            and (old_ready is None or old_ready.message != ready.message)
        ):
            await self.kube.post_event(
                render.involved_object("DAG", body),
                type_="Warning",
                reason=ready.reason,
                message=ready.message,
                now=now,
            )

    async def _report_invalid_spec(
        self, key: NamespacedName, body: dict[str, Any], error: ValidationError, now: datetime
    ) -> None:
        message = "; ".join(describe_validation_error(error)[:5])
        try:
            old = DagStatus.model_validate(body.get("status") or {})
        except ValidationError:
            old = DagStatus()
        generation = int(body["metadata"].get("generation") or 0)
        status = invalid_spec_status(old, generation, message, now)
        if status is None:
            return
        status = status.model_copy(update={"shard": self.settings.shard})
        await self.dag_status.write(key, status.to_wire(), None)
        await self.kube.post_event(
            render.involved_object("DAG", body),
            type_="Warning",
            reason="InvalidSpec",
            message=message,
            now=now,
        )

    async def _start_run(self, key: NamespacedName, now: datetime) -> None:
        """Promote a queued run to running; its own pass then launches its tasks."""
        body = await self.run_body(key)
        if body is None:
            self.informer.forget_run(key)
            return
        run = DagRun.model_validate(body)
        if run.status.state is not RunState.QUEUED:
            return
        status = run_engine.start(run.status, now)
        # This pass counts the run as started already: no need to wake the DAG again.
        await self.run_status.write(
            key, status.to_wire(), body["metadata"]["resourceVersion"], wake_dag=False
        )
        self.wake_run(key)
