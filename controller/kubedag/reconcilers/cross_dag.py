"""The run reconciler's part between DAGs: gather what a run's triggerDagRun and
externalTaskSensor tasks look at (`core.cross_dag.CrossDagView`, from the informer), carry
out what the engine decided (create a run of another DAG, clear one), record which DAGs a
run's deferred tasks wait on (so the controller wakes it when their runs change: nothing
polls), and clear the runs whose sensors wait on a run cleared with `recursive` (Airflow's
ExternalTaskMarker)."""

import hashlib
import logging
from typing import Any

from kubedag.core.cross_dag import (
    ANNOTATION_TRIGGERED_BY,
    NO_VIEW,
    CrossDagView,
    NamespacedName,
    ObservedRun,
    TargetDag,
    access_refused,
    matching_run,
    sensor_target,
    targets,
    waits_on,
)
from kubedag.core.dag_scheduler import RunSummary
from kubedag.core.run_engine import RunDecision
from kubedag.core.run_types import seen_by_other_runs
from kubedag.core.schedule import DataInterval
from kubedag.core.snapshot import Snapshot
from kubedag.kube.client import MERGE_PATCH, ApiError, Kube, custom_path
from kubedag.manifests import render
from kubedag.models.compact_tasks import task_records
from kubedag.models.cross_dag import ExternalTaskSensorSpec
from kubedag.models.dag import Dag
from kubedag.models.dagrun import (
    DagRun,
    DagRunStatus,
    RequestAction,
    RunRequest,
    TaskState,
)
from kubedag.reconcilers.informer import Informer, keep_run_answer

log = logging.getLogger(__name__)

DEFAULT_RECURSION_DEPTH = 10  # Airflow's ExternalTaskMarker.recursion_depth


def _observed(summary: RunSummary, task_states: dict[str, TaskState] | None = None) -> ObservedRun:
    return ObservedRun(
        name=summary.name,
        logical_date=summary.logical_date,
        interval=summary.interval,
        state=summary.state,
        created=summary.created,
        pending_request=summary.pending_request is not None,
        task_states=task_states,
    )


def _task_states(body: dict[str, Any], wanted: set[str]) -> dict[str, TaskState]:
    records = task_records(body.get("status") or {})
    return {
        str(r["name"]): TaskState(r.get("state", TaskState.NONE.value))
        for r in records
        if r.get("name") in wanted
    }


class CrossDagLinks:
    def __init__(self, kube: Kube, informer: Informer) -> None:
        self.kube = kube
        self.informer = informer

    # What a pass looks at ---------------------------------------------------------------

    async def view(self, run: DagRun, snapshot: Snapshot) -> CrossDagView:
        keys = targets(snapshot, run.status.tasks, run.namespace)
        if not keys:
            return NO_VIEW
        dags: dict[NamespacedName, TargetDag] = {}
        for key in keys:
            body = await self._dag_body(key)
            if body is None:
                continue
            summaries = [
                s for s in self.informer.runs.for_dag(*key) if seen_by_other_runs(s.run_type)
            ]
            read = await self._sensed_task_states(run, snapshot, key, summaries)
            spec = body.get("spec") or {}
            dags[key] = TargetDag(
                runs=tuple(_observed(s, read.get(s.name)) for s in summaries),
                external_namespaces=frozenset(spec.get("externalNamespaces") or ()),
            )
        return CrossDagView(dags=dags, triggered=self.informer.cross_dag.triggered(run.key))

    async def _dag_body(self, key: NamespacedName) -> dict[str, Any] | None:
        body = self.informer.dag(key)
        if body is not None:
            return body
        try:
            body = await self.kube.get(custom_path("dags", *key))
        except ApiError as error:
            if error.status == 403:  # a namespace this controller does not watch
                return None
            raise
        if body is not None:
            self.informer.put_dag(key, body)
        return body

    async def _sensed_task_states(
        self, run: DagRun, snapshot: Snapshot, key: NamespacedName, summaries: list[RunSummary]
    ) -> dict[str, dict[str, TaskState]]:
        """The task states that the run's task sensors on DAG `key` compare, by run: read
        only from the one run each looks at (its cached body, else a GET once it finished)."""
        status = run.status
        if not (status.logical_date and status.data_interval_start and status.data_interval_end):
            return {}
        interval = DataInterval(status.data_interval_start, status.data_interval_end)
        wanted: dict[str, set[str]] = {}
        observed = [_observed(s) for s in summaries]
        for record in status.tasks:
            if record.state.finished:
                continue
            sensor = snapshot.task(record.name).external_task_sensor
            if sensor is None or sensor.task_name is None:
                continue
            target = sensor_target(sensor, run.namespace, status.logical_date, interval)
            if (target.namespace, target.dag) != key:
                continue
            found = matching_run(observed, target)
            if found is not None and found.state is not None:
                wanted.setdefault(found.name, set()).add(sensor.task_name)
        states: dict[str, dict[str, TaskState]] = {}
        for name, tasks in wanted.items():
            body = self.informer.run((key[0], name))
            if body is None:
                body = await self.kube.get(custom_path("dagruns", key[0], name))
            if body is not None:
                states[name] = _task_states(body, tasks)
        return states

    def wait(self, run: DagRun, snapshot: Snapshot, status: DagRunStatus) -> None:
        """Wake the run whenever a run of a DAG its deferred tasks wait on changes."""
        self.informer.cross_dag.wait_on(run.key, waits_on(snapshot, status, run.namespace))

    # What a pass decided ----------------------------------------------------------------

    async def carry_out(self, run: DagRun, snapshot: Snapshot, decision: RunDecision) -> bool:
        """Create and clear the runs the engine decided on, and record what the run's
        deferred tasks wait on; False when a run to create exists already, not created by
        this task's try: the pass is to be made again, with that run in view."""
        self.wait(run, snapshot, decision.status)
        actions = decision.cross_dag
        for trigger in actions.runs_to_trigger:
            dag = self.informer.dag((trigger.namespace, trigger.dag)) or {}
            manifest = render.triggered_dagrun(
                namespace=trigger.namespace,
                dag_name=trigger.dag,
                dag_uid=(dag.get("metadata") or {}).get("uid"),
                logical_date=trigger.logical_date,
                conf=trigger.conf,
                triggered_by=trigger.triggered_by,
            )
            key = (trigger.namespace, trigger.name)
            created = await self.kube.create(custom_path("dagruns", trigger.namespace), manifest)
            if created is None:
                created = await self.kube.get(custom_path("dagruns", *key))
                if created is not None:
                    self.informer.put_run(key, created)
                annotations = ((created or {}).get("metadata") or {}).get("annotations") or {}
                if annotations.get(ANNOTATION_TRIGGERED_BY) != trigger.triggered_by:
                    return False
            else:
                self.informer.put_run(key, created)
                log.info("run %s/%s triggered %s/%s", run.namespace, run.name, *key)
        for reset in actions.runs_to_reset:
            request = RunRequest(id=reset.request_id, action=RequestAction.CLEAR)
            if not await self._request(reset.namespace, reset.name, request):
                return False
        return True

    async def _request(self, namespace: str, name: str, request: RunRequest) -> bool:
        path = custom_path("dagruns", namespace, name)
        try:
            patched = await self.kube.request(
                "PATCH", path, render.run_request_patch(request), content_type=MERGE_PATCH
            )
        except ApiError as error:
            if not error.not_found:
                raise
            self.informer.forget_run((namespace, name))
            return False
        keep_run_answer(self.informer, (namespace, name), patched)
        return True

    # Recursive clear --------------------------------------------------------------------

    async def clear_dependents(self, run: DagRun, status: DagRunStatus) -> None:
        """After a `recursive` clear of `run` is applied: clear, in the runs whose sensors
        wait on it, those sensors and their downstream tasks (with `recursive`, one level
        less deep)."""
        request = run.spec.request
        if request is None or not request.recursive or request.action is not RequestAction.CLEAR:
            return
        applied = next((a for a in status.requests if a.id == request.id), None)
        depth = (
            DEFAULT_RECURSION_DEPTH if request.recursion_depth is None else request.recursion_depth
        )
        if applied is None or applied.refused or not applied.tasks or depth <= 0:
            return
        if not (status.logical_date and status.data_interval_start and status.data_interval_end):
            return
        cleared = set(applied.tasks)
        interval = DataInterval(status.data_interval_start, status.data_interval_end)
        source = (run.namespace, run.spec.dag_name)
        for dag_key in self.informer.cross_dag.sensors_on(source):
            body = self.informer.dag(dag_key)
            if body is None:
                continue
            dag = Dag.model_validate(body)
            sensors = [
                (t.name, t.external_task_sensor)
                for t in dag.spec.tasks
                if t.external_task_sensor is not None
                and (
                    t.external_task_sensor.namespace or dag.namespace,
                    t.external_task_sensor.dag_name,
                )
                == source
                and (
                    t.external_task_sensor.task_name is None
                    or t.external_task_sensor.task_name in cleared
                )
            ]
            own = self.informer.dag(source) or {}
            allowed = frozenset(((own.get("spec") or {}).get("externalNamespaces")) or ())
            if not sensors or access_refused(
                dag.namespace, source, TargetDag(external_namespaces=allowed), "watch"
            ):
                continue
            for dependent in self.informer.runs.for_dag(*dag_key):
                tasks = [
                    name
                    for name, sensor in sensors
                    if _looks_at(sensor, dag.namespace, dependent, status, interval)
                ]
                if not tasks:
                    continue
                child = RunRequest(
                    id=_child_id(request.id, run.key),
                    action=RequestAction.CLEAR,
                    tasks=tasks,
                    downstream=True,
                    only_failed=request.only_failed,
                    recursive=depth > 1,
                    recursion_depth=depth - 1,
                )
                await self._request(dag_key[0], dependent.name, child)
                log.info(
                    "recursive clear of %s/%s clears %s of %s/%s",
                    run.namespace,
                    run.name,
                    ", ".join(tasks),
                    dag_key[0],
                    dependent.name,
                )


def _looks_at(
    sensor: ExternalTaskSensorSpec,
    namespace: str,
    dependent: RunSummary,
    source: DagRunStatus,
    source_interval: DataInterval,
) -> bool:
    """Whether a sensor of the dependent run looks at the source run."""
    if dependent.logical_date is None or dependent.interval is None:
        return False
    target = sensor_target(sensor, namespace, dependent.logical_date, dependent.interval)
    if target.logical_date is not None:
        return target.logical_date == source.logical_date
    return target.interval == source_interval


def _child_id(parent: str, source: NamespacedName) -> str:
    digest = hashlib.sha256(f"{parent}|{source[0]}/{source[1]}".encode()).hexdigest()[:16]
    return f"recursive-{digest}"
