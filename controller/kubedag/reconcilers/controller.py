"""The controller's reconcilers: read the resources, call the pure core, write the result.

Watch events (delivered by kopf, see operator.py) only update caches and enqueue keys; the
work queues serialise all work on one DAG or one run, so no update is lost under concurrent
pod events, and each pass writes the status at most once.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from kubedag.core import run_engine
from kubedag.core.dag_scheduler import (
    STATUS_BATCH_DELAY,
    RunSummary,
    reconcile_dag,
    starts_at_pin,
    status_write_is_urgent,
)
from kubedag.core.dates import parse_time, rfc3339
from kubedag.core.naming import LABEL_DAG, LABEL_MANAGED_BY, label_value, snapshot_name
from kubedag.core.pod_observation import PodObservation, observe_pod
from kubedag.core.snapshot import SNAPSHOT_KEY, Snapshot, build_snapshot
from kubedag.core.validation import Problem, validate_dag
from kubedag.kube.client import MERGE_PATCH, ApiError, Kube, core_path, custom_path, involved_object
from kubedag.manifests.documents import describe_validation_error
from kubedag.manifests.render import owner_reference
from kubedag.models.common import find_condition
from kubedag.models.dag import Dag
from kubedag.models.dagrun import DagRun, DagRunStatus, RunState, TaskState
from kubedag.reconcilers.batching import WriteBatches
from kubedag.reconcilers.caches import (
    BodyCache,
    NamespacedName,
    PodCache,
    RunCache,
    owner_run,
    resource_version,
    summarize_run,
)
from kubedag.reconcilers.settings import ControllerSettings
from kubedag.reconcilers.workqueue import WorkQueue

log = logging.getLogger(__name__)

POD_CREATE_CONCURRENCY = 16
DAGS_FIRST_LIMIT = 2.0  # seconds a run pass waits at most for due DAG passes


def utcnow() -> datetime:
    return datetime.now(UTC)


class Controller:
    def __init__(
        self, kube: Kube, settings: ControllerSettings, now: Callable[[], datetime] = utcnow
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.now = now
        self.pods = PodCache()
        self.runs = RunCache()
        self.run_dag: dict[NamespacedName, str] = {}
        self.max_active_tasks: dict[NamespacedName, int] = {}
        self.snapshots: dict[NamespacedName, Snapshot] = {}
        self.validated: dict[tuple[str, int], list[Problem]] = {}  # (uid, generation)
        self.written_versions: dict[tuple[str, str, str], str] = {}
        self.waiting_for_slots: dict[NamespacedName, set[NamespacedName]] = {}
        self.dag_bodies = BodyCache()
        self.run_bodies = BodyCache()  # unfinished runs only: finished ones are never worked on
        self.dag_status_batches: WriteBatches[NamespacedName] = WriteBatches(STATUS_BATCH_DELAY)
        self.run_status_batches: WriteBatches[NamespacedName] = WriteBatches(
            run_engine.STARTED_WRITE_DELAY
        )
        self.built_snapshots: dict[tuple[str, int], Snapshot] = {}  # (uid, generation)
        self.dag_queue: WorkQueue[NamespacedName] = WorkQueue(
            "dags", self.reconcile_dag, workers=settings.dag_workers, now=now
        )
        self.run_queue: WorkQueue[NamespacedName] = WorkQueue(
            "dagruns",
            self.reconcile_run,
            workers=settings.run_workers,
            now=now,
            gate=self._dags_first,
        )

    async def _dags_first(self) -> None:
        """Run passes wait while DAG passes wait for a worker (for at most a moment): when
        many DAGs are due at once, their runs are created first, before the API server is
        also busy with the new runs' pods and statuses."""
        await self.dag_queue.drained(DAGS_FIRST_LIMIT)

    def start(self) -> None:
        self.dag_queue.start()
        self.run_queue.start()

    async def stop(self) -> None:
        await self.dag_queue.stop()
        await self.run_queue.stop()

    # Watch events -------------------------------------------------------------------------

    def on_dag_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if event_type == "DELETED":
            self.dag_queue.forget(key)
            self.max_active_tasks.pop(key, None)
            self.dag_bodies.drop(key)
            self.dag_status_batches.written(key)
            return
        self.dag_bodies.put(key, body)
        spec = body.get("spec") or {}
        self.max_active_tasks[key] = int(spec.get("maxActiveTasks", 16))
        if self._is_own_write(key, body, "DAG"):
            return
        self.dag_queue.add(key)

    def on_run_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        dag = str((body.get("spec") or {}).get("dagName", ""))
        key = (namespace, name)
        self.run_dag[key] = dag
        if event_type == "DELETED":
            self.runs.remove(namespace, dag, name)
            self.run_queue.forget(key)
            self.run_dag.pop(key, None)
            self.run_bodies.drop(key)
            self.run_status_batches.written(key)
            self.dag_queue.add((namespace, dag))
            return
        self._cache_run(key, body)
        summary = summarize_run(body)
        old = self.runs.update(namespace, dag, summary, resource_version(body))
        if old is None or old.state != summary.state:
            self.dag_queue.add((namespace, dag))
        if not self._is_own_write(key, body, "DagRun"):
            self.run_queue.add(key)

    def on_pod_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        namespace = body["metadata"]["namespace"]
        pod = observe_pod(body)
        if event_type == "DELETED":
            self.pods.remove(namespace, pod.name)
        else:
            self.pods.update(namespace, pod)
        run = owner_run(body)
        if run:
            self.run_queue.add((namespace, run))
        if event_type == "DELETED" or not pod.active:
            for waiting in self.waiting_for_slots.get((namespace, pod.dag), ()):
                self.run_queue.add(waiting)

    def _cache_run(self, key: NamespacedName, body: dict[str, Any]) -> None:
        state = (body.get("status") or {}).get("state")
        if state and RunState(state).finished:
            self.run_bodies.drop(key)
        else:
            self.run_bodies.put(key, body)

    async def _dag_body(self, key: NamespacedName) -> dict[str, Any] | None:
        body = self.dag_bodies.get(key)
        if body is None:
            body = await self.kube.get(custom_path("dags", *key))
            if body is not None:
                self.dag_bodies.put(key, body)
        return body

    async def _run_body(self, key: NamespacedName) -> dict[str, Any] | None:
        body = self.run_bodies.get(key)
        if body is None:
            body = await self.kube.get(custom_path("dagruns", *key))
            if body is not None:
                self._cache_run(key, body)
        return body

    def _is_own_write(self, key: NamespacedName, body: dict[str, Any], kind: str) -> bool:
        """The echo of our own status write carries nothing new: skip a needless pass."""
        version = body["metadata"].get("resourceVersion")
        return version is not None and self.written_versions.get((kind, *key)) == version

    def _remember_write(self, kind: str, key: NamespacedName, body: dict[str, Any]) -> None:
        version = (body.get("metadata") or {}).get("resourceVersion")
        if version:
            self.written_versions[(kind, *key)] = version

    # DAGs ----------------------------------------------------------------------------------

    async def reconcile_dag(self, key: NamespacedName) -> None:
        namespace, name = key
        body = await self._dag_body(key)
        if body is None:
            return
        now = self.now()
        try:
            dag = Dag.model_validate(body)
        except ValidationError as error:
            await self._report_invalid_dag(body, _validation_message(error), now)
            return
        problems = self._problems(dag)
        runs = self.runs.for_dag(namespace, name)
        decision = reconcile_dag(
            dag, runs, problems, now=now, catchup_default=self.settings.catchup_by_default
        )
        for manifest in decision.runs_to_create:
            created = await self.kube.create(custom_path("dagruns", namespace), manifest)
            run_body = created or manifest
            self.runs.update(namespace, name, summarize_run(run_body), resource_version(run_body))
            if created:
                log.info("created scheduled run %s/%s", namespace, manifest["metadata"]["name"])
        for run_name in decision.runs_to_start:
            await self._start_run(namespace, name, run_name, now)
        old_ready = find_condition(dag.status.conditions if dag.status else [], "Ready")
        new_status = decision.status.to_wire()
        if new_status == (body.get("status") or {}):
            self.dag_status_batches.written(key)
        elif status_write_is_urgent(dag.status, decision.status) or self.dag_status_batches.due(
            key, now
        ):
            written = await self.kube.patch_status(
                custom_path("dags", namespace, name), new_status, None
            )
            self.dag_status_batches.written(key)
            self.dag_bodies.put(key, written)
            self._remember_write("DAG", key, written)
        new_ready = find_condition(decision.status.conditions, "Ready")
        if (
            new_ready
            and new_ready.status == "False"
            and (old_ready is None or old_ready.message != new_ready.message)
        ):
            await self.kube.post_event(
                involved_object("DAG", body),
                type_="Warning",
                reason=new_ready.reason,
                message=new_ready.message,
            )
        if decision.requeue_at is not None:
            self.dag_queue.add_after(key, decision.requeue_at)
        batch_due = self.dag_status_batches.when(key)
        if batch_due is not None:
            self.dag_queue.add_after(key, batch_due)

    def _problems(self, dag: Dag) -> list[Problem]:
        cache_key = (str(dag.metadata.get("uid")), dag.generation)
        problems = self.validated.get(cache_key)
        if problems is None:
            problems = validate_dag(dag.name, dag.spec)
            self.validated[cache_key] = problems
        return problems

    async def _report_invalid_dag(self, body: dict[str, Any], message: str, now: datetime) -> None:
        metadata = body["metadata"]
        status = {
            "observedGeneration": metadata.get("generation"),
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "InvalidSpec",
                    "message": message,
                    "lastTransitionTime": rfc3339(now.replace(microsecond=0)),
                    "observedGeneration": metadata.get("generation"),
                }
            ],
        }
        if (body.get("status") or {}).get("conditions", [{}])[0].get("message") != message:
            await self.kube.patch_status(
                custom_path("dags", metadata["namespace"], metadata["name"]), status, None
            )
            await self.kube.post_event(
                involved_object("DAG", body),
                type_="Warning",
                reason="InvalidSpec",
                message=message,
            )

    async def _start_run(self, namespace: str, dag: str, run_name: str, now: datetime) -> None:
        key = (namespace, run_name)
        path = custom_path("dagruns", namespace, run_name)
        body = await self._run_body(key)
        if body is None:
            self.runs.remove(namespace, dag, run_name)
            return
        run = DagRun.model_validate(body)
        if run.status.state is not RunState.QUEUED:
            self.runs.update(namespace, dag, summarize_run(body), resource_version(body))
            return
        status = run_engine.start(run.status, now)
        try:
            written = await self.kube.patch_status(
                path, status.to_wire(), body["metadata"]["resourceVersion"]
            )
        except ApiError as error:
            if error.conflict:
                self.run_bodies.drop(key)
            raise
        self._cache_run(key, written)
        self.runs.update(namespace, dag, summarize_run(written), resource_version(written))
        self.run_queue.add(key)

    # DagRuns -------------------------------------------------------------------------------

    async def reconcile_run(self, key: NamespacedName) -> None:
        known = self.runs.get(key[0], self.run_dag.get(key, ""), key[1])
        if known is not None and known.state is not None and known.state.finished:
            return  # a finished run never changes again (e.g. a late pod event or wake-up)
        body = await self._run_body(key)
        if body is None:
            return
        run = DagRun.model_validate(body)
        now = self.now()
        try:
            if run.status.state is None:
                await self._pin(run, body, now)
            elif run.status.state is RunState.RUNNING:
                await self._advance(run, body, now)
        except ApiError as error:
            if not error.conflict:
                raise
            # The copy was stale (changed under us): look again with fresh data.
            self.run_bodies.drop(key)
            self.run_queue.add(key)

    async def _pin(self, run: DagRun, body: dict[str, Any], now: datetime) -> None:
        """Bind a new run to the current version of its DAG (creating the snapshot), and start
        it at once when its DAG has room for it under maxActiveRuns."""
        namespace = run.namespace
        dag_key = (namespace, run.spec.dag_name)
        dag_body = await self._dag_body(dag_key)
        status: DagRunStatus
        if dag_body is None:
            status = run_engine.fail_run(
                run.status,
                reason="DagNotFound",
                message=f"DAG {run.spec.dag_name!r} not found in namespace {namespace}",
                now=now,
            )
        else:
            dag = Dag.model_validate(dag_body)
            body = await self._adopt(body, dag_body)
            problems = self._problems(dag)
            if problems:
                status = run_engine.fail_run(
                    run.status,
                    reason="DagNotReady",
                    message=f"DAG {dag.name} is invalid: {problems[0].message}",
                    now=now,
                )
            else:
                snapshot = self._built_snapshot(dag)
                snap_name = await self._ensure_snapshot(dag, dag_body, snapshot)
                created = parse_time(body["metadata"]["creationTimestamp"])
                logical, interval = run_engine.run_dates(run, snapshot, created)
                status = run_engine.pin(
                    run,
                    snapshot_name=snap_name,
                    snapshot=snapshot,
                    interval=interval,
                    logical_date=logical,
                    now=now,
                )
                queued = replace(summarize_run(body), state=RunState.QUEUED, logical_date=logical)
                if starts_at_pin(self.runs.for_dag(*dag_key), queued, dag.spec.max_active_runs):
                    await self._pin_running(run, body, run_engine.start(status, now), queued, now)
                    return
        written = await self.kube.patch_status(
            custom_path("dagruns", namespace, run.name),
            status.to_wire(),
            body["metadata"]["resourceVersion"],
        )
        self._remember_write("DagRun", (namespace, run.name), written)
        self._cache_run((namespace, run.name), written)
        self.runs.update(
            namespace, run.spec.dag_name, summarize_run(written), resource_version(written)
        )
        self.dag_queue.add(dag_key)
        if status.state is RunState.FAILED:
            await self._post_run_events(
                body, [run_engine.RunEvent("Warning", "RunFailed", status.conditions[0].message)]
            )

    async def _pin_running(
        self,
        run: DagRun,
        body: dict[str, Any],
        status: DagRunStatus,
        queued: RunSummary,
        now: datetime,
    ) -> None:
        """Pin and start in one write, with the first tasks' pods already created."""
        namespace, dag = run.namespace, run.spec.dag_name
        # Take the slot before the first await, so a concurrent pin of another run of the
        # same DAG counts it.
        version = resource_version(body)
        self.runs.update(namespace, dag, replace(queued, state=RunState.RUNNING), version)
        try:
            await self._advance(run.model_copy(update={"status": status}), body, now, pinning=True)
        except BaseException:
            self.runs.update(namespace, dag, summarize_run(body), version)
            raise
        finally:
            self.dag_queue.add((namespace, dag))

    def _built_snapshot(self, dag: Dag) -> Snapshot:
        key = (str(dag.metadata.get("uid")), dag.generation)
        snapshot = self.built_snapshots.get(key)
        if snapshot is None:
            snapshot = self.built_snapshots[key] = build_snapshot(dag.spec)
        return snapshot

    async def _adopt(self, body: dict[str, Any], dag_body: dict[str, Any]) -> dict[str, Any]:
        """A run created by hand gets its DAG as owner and the DAG label, like scheduled ones:
        deleting the DAG then removes it, and `-l kubedag.io/dag=NAME` finds it."""
        metadata = body["metadata"]
        dag_uid = dag_body["metadata"]["uid"]
        refs = metadata.get("ownerReferences") or []
        labels = metadata.get("labels") or {}
        dag_label = label_value(dag_body["metadata"]["name"])
        if any(r.get("uid") == dag_uid for r in refs) and labels.get(LABEL_DAG) == dag_label:
            return body
        patch = {
            "metadata": {
                "resourceVersion": metadata["resourceVersion"],
                "labels": {LABEL_DAG: dag_label},
                "ownerReferences": [
                    *(r for r in refs if r.get("uid") != dag_uid),
                    owner_reference("DAG", dag_body["metadata"]["name"], dag_uid),
                ],
            }
        }
        path = custom_path("dagruns", metadata["namespace"], metadata["name"])
        return await self.kube.request("PATCH", path, patch, content_type=MERGE_PATCH)

    async def _ensure_snapshot(self, dag: Dag, dag_body: dict[str, Any], snapshot: Snapshot) -> str:
        name = snapshot_name(dag.name, snapshot.digest())
        key = (dag.namespace, name)
        if key in self.snapshots:
            return name
        manifest = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": dag.namespace,
                "labels": {LABEL_DAG: label_value(dag.name), LABEL_MANAGED_BY: "kubedag"},
                "annotations": {"kubedag.io/dag-generation": str(dag.generation)},
                "ownerReferences": [owner_reference("DAG", dag.name, dag.metadata["uid"])],
            },
            "immutable": True,
            "binaryData": {SNAPSHOT_KEY: snapshot.encode()},
        }
        await self.kube.create(core_path("configmaps", dag.namespace), manifest)
        self.snapshots[key] = snapshot
        return name

    async def _load_snapshot(self, namespace: str, name: str) -> Snapshot | None:
        key = (namespace, name)
        if key not in self.snapshots:
            body = await self.kube.get(core_path("configmaps", namespace, name))
            if body is None:
                return None
            self.snapshots[key] = Snapshot.decode(body["binaryData"][SNAPSHOT_KEY])
        return self.snapshots[key]

    async def _observe_pods(self, run: DagRun) -> dict[str, PodObservation]:
        """Pods of the run's current tries; one missing from the watch cache is looked up,
        and only a confirmed 404 counts as disappeared (the cache may just lag)."""
        seen: dict[str, PodObservation] = {}
        for record in run.status.tasks:
            if not record.state.has_pod or not record.pod:
                continue
            pod = self.pods.get(run.namespace, record.pod)
            if pod is None:
                body = await self.kube.get(core_path("pods", run.namespace, record.pod))
                pod = observe_pod(body) if body else PodObservation.gone(record.pod)
                if body:
                    self.pods.update(run.namespace, pod)
            seen[record.pod] = pod
        return seen

    async def _advance(
        self, run: DagRun, body: dict[str, Any], now: datetime, *, pinning: bool = False
    ) -> None:
        """One pass over a running run (`pinning`: its first, with the pinned status not
        written yet)."""
        namespace = run.namespace
        key = (namespace, run.name)
        snapshot = await self._load_snapshot(namespace, run.status.snapshot or "")
        if snapshot is None:
            status = run_engine.fail_run(
                run.status,
                reason="SnapshotMissing",
                message=f"snapshot {run.status.snapshot} of this run is gone",
                now=now,
            )
            written = await self.kube.patch_status(
                custom_path("dagruns", namespace, run.name),
                status.to_wire(),
                body["metadata"]["resourceVersion"],
            )
            self._cache_run(key, written)
            return
        pods = await self._observe_pods(run)
        dag = run.spec.dag_name
        limit = self.max_active_tasks.get((namespace, dag), 16)
        slots = limit - self.pods.active_count(namespace, label_value(dag))
        decision = run_engine.advance(
            run,
            snapshot,
            pods=pods,
            now=now,
            task_slots=slots,
            default_service_account=self.settings.task_service_account,
        )

        failures = await self._create_pods(namespace, decision.pods_to_create)
        if failures:
            run_engine.launch_failed(run, snapshot, decision, failures, now)
            self.run_queue.add(key)  # downstream tasks react to the failed tries next pass
        for pod_name in decision.pods_to_delete:
            await self.kube.delete(core_path("pods", namespace, pod_name))

        new_status = decision.status.to_wire()
        if (
            not pinning
            and not decision.pods_to_create
            and not decision.pods_to_delete
            and not decision.events
            and run_engine.only_tasks_started(run.status, decision.status)
            and not self.run_status_batches.due(key, now)
        ):
            # A task that just started is recorded a moment later, so a short task goes from
            # queued to finished in one write.
            self.run_queue.add_after(key, self.run_status_batches.when(key) or now)
        elif new_status != body.get("status"):
            self.run_status_batches.written(key)
            # A Conflict goes to reconcile_run, which reads the run afresh and comes back.
            written = await self.kube.patch_status(
                custom_path("dagruns", namespace, run.name),
                new_status,
                body["metadata"]["resourceVersion"],
            )
            self._remember_write("DagRun", key, written)
            self._cache_run(key, written)
            if decision.status.state is not run.status.state:
                log.info("run %s/%s is %s", namespace, run.name, decision.status.state)
            summary = summarize_run(written)
            if self.runs.update(namespace, dag, summary, resource_version(written)) != summary:
                self.dag_queue.add((namespace, dag))
        else:
            self.run_status_batches.written(key)
        await self._post_run_events(body, decision.events)
        if decision.requeue_at is not None:
            self.run_queue.add_after(key, decision.requeue_at)
        waiting = self.waiting_for_slots.setdefault((namespace, label_value(dag)), set())
        if any(r.state is TaskState.SCHEDULED for r in decision.status.tasks):
            waiting.add(key)  # a pod of this DAG finishing frees a slot and wakes the run
        else:
            waiting.discard(key)

    async def _create_pods(self, namespace: str, manifests: list[dict[str, Any]]) -> dict[str, str]:
        """Create the pods concurrently; returns task -> error for pods the API refused."""
        failures: dict[str, str] = {}
        semaphore = asyncio.Semaphore(POD_CREATE_CONCURRENCY)

        async def create(manifest: dict[str, Any]) -> None:
            async with semaphore:
                task = manifest["metadata"]["labels"]["kubedag.io/task"]
                try:
                    created = await self.kube.create(core_path("pods", namespace), manifest)
                except ApiError as error:
                    if error.status >= 500 or error.status == 429:
                        raise
                    failures[task] = f"pod rejected: {error.message}"
                    return
                if created is not None:
                    self.pods.update(namespace, observe_pod(created))
                elif self.pods.get(namespace, manifest["metadata"]["name"]) is None:
                    # AlreadyExists, from a pass whose status write failed: the watch knows
                    # the pod better than the manifest does.
                    self.pods.update(namespace, observe_pod(manifest))

        await asyncio.gather(*(create(m) for m in manifests))
        return failures

    async def _post_run_events(
        self, body: dict[str, Any], events: list[run_engine.RunEvent]
    ) -> None:
        involved = involved_object("DagRun", body)
        await asyncio.gather(
            *(
                self.kube.post_event(involved, type_=e.type, reason=e.reason, message=e.message)
                for e in events
            )
        )


def _validation_message(error: ValidationError) -> str:
    return "; ".join(describe_validation_error(error)[:5])
