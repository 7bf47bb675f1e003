"""The Backfill reconciler: accepts or refuses a Backfill once (`core.backfill.accept`), then
on every pass (woken when a run of its DAG changes) creates or re-runs the runs its limit
allows, fails its queued runs when it is cancelled or deleted, and writes its progress."""

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from kubedag.core import run_engine
from kubedag.core.backfill import (
    OtherBackfill,
    accept,
    advance,
    planned_dates,
    refused_status,
    request_id,
    waiting_status,
)
from kubedag.core.dates import parse_time
from kubedag.core.schedule import PlannedRun
from kubedag.core.validation import Problem
from kubedag.kube.client import MERGE_PATCH, ApiError, custom_path
from kubedag.manifests import render
from kubedag.models.backfill import Backfill, BackfillPlan, BackfillState, BackfillStatus
from kubedag.models.dag import Dag
from kubedag.models.dagrun import DagRun, RunState
from kubedag.reconcilers.batching import WriteBatches
from kubedag.reconcilers.caches import NamespacedName, summarize_run
from kubedag.reconcilers.context import Reconciler, ReconcilerContext
from kubedag.reconcilers.informer import keep_run_answer
from kubedag.reconcilers.status import StatusWriter

log = logging.getLogger(__name__)

# Counts change with every run that finishes: written at most this long after they change.
STATUS_BATCH_DELAY = timedelta(seconds=1)


class BackfillReconciler(Reconciler):
    def __init__(
        self,
        context: ReconcilerContext,
        *,
        status: StatusWriter,
        run_status: StatusWriter,
        wake_run: Callable[[NamespacedName], None],
    ) -> None:
        super().__init__(context)
        self.status = status
        self.run_status = run_status
        self.wake_run = wake_run
        self.batches: WriteBatches[NamespacedName] = WriteBatches(STATUS_BATCH_DELAY)
        # Dates decided so far, ahead of the (batched) status write.
        self._decided: dict[NamespacedName, int] = {}
        self._dates: dict[NamespacedName, tuple[Any, list[PlannedRun]]] = {}
        self._deleted: dict[NamespacedName, dict[str, Any]] = {}

    def deleted(self, key: NamespacedName, body: dict[str, Any] | None) -> None:
        """A Backfill is gone: its next pass cancels it, as deleting it promises."""
        self.forget(key)
        if body is not None:
            self._deleted[key] = body

    def forget(self, key: NamespacedName) -> None:
        self.batches.written(key)
        self._decided.pop(key, None)
        self._dates.pop(key, None)

    def sizes(self) -> dict[str, int]:
        return {
            "backfill_status_batches": len(self.batches),
            "backfill_dates": len(self._dates),
            "backfill_decided": len(self._decided),
            "backfills_deleted": len(self._deleted),
        }

    async def reconcile(self, key: NamespacedName) -> datetime | None:
        """One pass; returns when to look again (a batched status write)."""
        body = self.informer.backfill(key)
        if body is None:
            body = await self.kube.get(custom_path("backfills", *key))
            if body is not None:
                self.informer.put_backfill(key, body)
        if body is None:
            gone = self._deleted.pop(key, None)
            if gone is not None:
                await self._cancel_deleted(gone)
            return None
        try:
            backfill = Backfill.model_validate(body)
        except ValidationError as error:
            log.warning("backfill %s/%s is not valid: %s", *key, error)
            return None
        state = backfill.status.state
        if state in (BackfillState.COMPLETED, BackfillState.REFUSED):
            return None
        try:
            return await self._pass(key, backfill, body)
        except ApiError as error:
            if not error.conflict:
                raise
            return self.now()  # a stale copy (dropped by the writer): look again at once

    async def _pass(
        self, key: NamespacedName, backfill: Backfill, body: dict[str, Any]
    ) -> datetime | None:
        now = self.now()
        namespace, dag_name = backfill.namespace, backfill.spec.dag_name
        dag_body = await self.dag_body((namespace, dag_name))
        if backfill.status.plan is None:
            plan = await self._accept(key, backfill, body, dag_body, now)
            if plan is None:
                return None
            backfill.status.plan = plan
        dates = self._planned(key, backfill)
        runs = self.informer.runs.for_dag(namespace, dag_name)
        decision = advance(backfill, dates, runs, now=now, next_date=self._decided.get(key))
        if dag_body is not None:
            dag_uid = dag_body["metadata"].get("uid")
            # Concurrently, as a run's pods are: a pass may free many slots at once.
            await asyncio.gather(
                *(self._create(backfill, planned, dag_uid) for planned in decision.to_create),
                *(self._rerun(backfill, run) for run in decision.to_rerun),
            )
            if decision.to_create or decision.to_rerun:
                log.info(
                    "backfill %s/%s: %d new runs, %d re-runs; %s in flight",
                    namespace,
                    backfill.name,
                    len(decision.to_create),
                    len(decision.to_rerun),
                    decision.status.running.count if decision.status.running else 0,
                )
        elif decision.to_create or decision.to_rerun:
            decision.status.next_date = backfill.status.next_date  # nothing done: DAG gone
        for run in decision.to_fail:
            await self._fail_queued(backfill, (namespace, run), now)
        self._decided[key] = decision.status.next_date
        return await self._write(key, body, backfill.status, decision.status, now)

    async def _accept(
        self,
        key: NamespacedName,
        backfill: Backfill,
        body: dict[str, Any],
        dag_body: dict[str, Any] | None,
        now: datetime,
    ) -> BackfillPlan | None:
        """The plan, or None after reporting why there is none (yet)."""
        if dag_body is None:
            problem = Problem(
                "DagNotFound",
                f"DAG {backfill.spec.dag_name!r} not found in namespace {backfill.namespace}:"
                " waiting for it",
            )
            await self._write(
                key, body, backfill.status, waiting_status(backfill, problem, now), now
            )
            return None
        dag = Dag.model_validate(dag_body)
        others = [
            _other(b)
            for b in self.informer.backfills_of(backfill.namespace, dag.name)
            if b["metadata"]["name"] != backfill.name
        ]
        result = accept(backfill, dag.spec, others, now)
        if isinstance(result, BackfillPlan):
            return result
        await self._write(key, body, backfill.status, refused_status(backfill, result, now), now)
        await self.kube.post_event(
            render.involved_object("Backfill", body),
            type_="Warning",
            reason=result.reason,
            message=result.message,
            now=now,
        )
        return None

    def _planned(self, key: NamespacedName, backfill: Backfill) -> list[PlannedRun]:
        """The backfill's dates, computed once per plan (a year of minutes is 525,600)."""
        assert backfill.status.plan is not None
        identity = (backfill.uid, backfill.status.plan, backfill.spec.from_, backfill.spec.to)
        cached = self._dates.get(key)
        if cached is None or cached[0] != identity:
            cached = (identity, planned_dates(backfill, backfill.status.plan))
            self._dates[key] = cached
        return cached[1]

    async def _create(self, backfill: Backfill, planned: PlannedRun, dag_uid: str | None) -> None:
        namespace = backfill.namespace
        manifest = render.backfill_run(
            namespace=namespace,
            dag_name=backfill.spec.dag_name,
            dag_uid=dag_uid,
            backfill=backfill.name,
            interval=planned.interval,
            conf=backfill.spec.conf,
        )
        run_key = (namespace, manifest["metadata"]["name"])
        created = await self.kube.create(custom_path("dagruns", namespace), manifest)
        if created:
            self.informer.put_run(run_key, created)
            self.wake_run(run_key)  # pinned from the response, not after the watch's echo
        else:  # AlreadyExists: the watch brings its body; count it now
            self.informer.runs.update(namespace, backfill.spec.dag_name, summarize_run(manifest))

    async def _rerun(self, backfill: Backfill, run: str) -> None:
        """Re-run a finished run: read it (finished runs are not cached; the patch must
        replace its conf), then one merge patch guarded by its resourceVersion."""
        namespace = backfill.namespace
        path = custom_path("dagruns", namespace, run)
        body = await self.kube.get(path)
        if body is None:
            return
        patch = render.backfill_rerun_patch(
            backfill=backfill.name,
            request_id=request_id(backfill),
            conf=backfill.spec.conf,
            old_conf=(body.get("spec") or {}).get("conf"),
            resource_version=body["metadata"]["resourceVersion"],
        )
        try:
            patched = await self.kube.request("PATCH", path, patch, content_type=MERGE_PATCH)
        except ApiError as error:
            if error.not_found:
                return
            raise  # a Conflict: the run changed meanwhile; the next pass decides again
        keep_run_answer(self.informer, (namespace, run), patched)
        self.wake_run((namespace, run))
        log.info("backfill %s/%s re-runs %s", namespace, backfill.name, run)

    async def _fail_queued(self, backfill: Backfill, key: NamespacedName, now: datetime) -> None:
        body = await self.run_body(key)
        if body is None:
            return
        run = DagRun.model_validate(body)
        if run.status.state not in (None, RunState.QUEUED):
            return
        message = f"Backfill {backfill.name} was cancelled before this run started"
        status = run_engine.fail_run(
            run.status, reason="BackfillCancelled", message=message, now=now
        )
        await self.run_status.write(key, status.to_wire(), body["metadata"]["resourceVersion"])

    async def _cancel_deleted(self, body: dict[str, Any]) -> None:
        try:
            backfill = Backfill.model_validate(body)
        except ValidationError:
            return
        if backfill.status.plan is None or (
            backfill.status.state is not None and backfill.status.state.finished
        ):
            return
        now = self.now()
        runs = self.informer.runs.for_dag(backfill.namespace, backfill.spec.dag_name)
        dates = planned_dates(backfill, backfill.status.plan)
        decision = advance(backfill, dates, runs, now=now, deleted=True)
        for run in decision.to_fail:
            try:
                await self._fail_queued(backfill, (backfill.namespace, run), now)
            except ApiError as error:
                log.warning("could not fail run %s of deleted backfill: %s", run, error)

    async def _write(
        self,
        key: NamespacedName,
        body: dict[str, Any],
        old: BackfillStatus,
        new: BackfillStatus,
        now: datetime,
    ) -> datetime | None:
        """State, conditions and acceptance are written at once; counts in batches."""
        wire = new.to_wire()
        if wire == (body.get("status") or {}):
            self.batches.written(key)
            return None
        urgent = (
            old.state != new.state
            or old.conditions != new.conditions
            or old.observed_generation != new.observed_generation
            or (body.get("status") or {}).get("plan") is None
        )
        if urgent or self.batches.due(key, now):
            await self.status.write(key, wire, body["metadata"]["resourceVersion"])
            self.batches.written(key)
            return None
        return self.batches.when(key)


def _other(body: dict[str, Any]) -> OtherBackfill:
    spec, status = body.get("spec") or {}, body.get("status") or {}
    stamp = body["metadata"].get("creationTimestamp")
    return OtherBackfill(
        name=str(body["metadata"]["name"]),
        created=parse_time(stamp) if stamp else datetime.max.replace(tzinfo=UTC),
        state=BackfillState(status["state"]) if status.get("state") else None,
        dry_run=bool(spec.get("dryRun")),
    )
