"""A run's task pods: what is known of its current tries, and carrying out the engine's
decision (create the pods it launches, concurrently; delete the ones it stops)."""

import asyncio
from datetime import datetime
from typing import Any

from kubedag.core import run_engine
from kubedag.core.pod_observation import PodObservation, observe_pod
from kubedag.core.snapshot import Snapshot
from kubedag.kube.client import ApiError, Kube, core_path
from kubedag.manifests import render
from kubedag.models.dagrun import DagRun
from kubedag.reconcilers.informer import Informer

# A pass's pod creates in flight at once: a wide run's first pass is bound by it, since each
# create waits on an API server busy with the scheduler's and the kubelets' writes
# (docs/performance.md, the 10,000-task run).
POD_CREATE_CONCURRENCY = 32


def _account_pending(error: ApiError) -> bool:
    """The API refused the pod because its ServiceAccount does not exist (yet): in a new
    namespace the `default` one appears a moment after the namespace. Not the task's fault:
    the pass is retried with backoff instead of failing a try, and a DAG naming an account
    that stays missing is reported on the DAG (ServiceAccountNotFound)."""
    return error.status == 403 and "error looking up service account" in error.message


class PodLauncher:
    def __init__(self, kube: Kube, informer: Informer) -> None:
        self.kube = kube
        self.informer = informer

    async def observe(self, run: DagRun) -> dict[str, PodObservation]:
        """Pods of the run's current tries; one missing from the watch cache is looked up,
        and only a confirmed 404 counts as disappeared (the cache may just lag)."""
        seen: dict[str, PodObservation] = {}
        for record in run.status.tasks:
            if not record.state.has_pod or not record.pod:
                continue
            pod = self.informer.pods.get(run.namespace, record.pod)
            if pod is None:
                body = await self.kube.get(core_path("pods", run.namespace, record.pod))
                pod = observe_pod(body) if body else PodObservation.gone(record.pod)
                if body:
                    self.informer.put_pod(run.namespace, pod)
            seen[record.pod] = pod
        return seen

    async def carry_out(
        self,
        run: DagRun,
        snapshot: Snapshot,
        decision: run_engine.RunDecision,
        now: datetime,
    ) -> bool:
        """Create and delete the decision's pods. Tries whose pod the API refused are
        recorded as failed in the decision; returns True if there were any (downstream tasks
        react to them on the next pass)."""
        uid = run.metadata.get("uid")
        owner = render.owner_reference("DagRun", run.name, str(uid)) if uid else None
        manifests = {
            launch.task.name: render.task_pod(launch, namespace=run.namespace, owner=owner)
            for launch in decision.pods_to_create
        }
        failures, made_before = await self._create(run.namespace, manifests)
        if failures:
            run_engine.launch_failed(run, snapshot, decision, failures, now)
        for pod_name in decision.pods_to_delete:
            await self.kube.delete(core_path("pods", run.namespace, pod_name))
        # A pod made before may have finished already: no event of it is to come, so the
        # next pass, at once, reads what became of it.
        return bool(failures) or made_before

    async def _create(
        self, namespace: str, manifests: dict[str, dict[str, Any]]
    ) -> tuple[dict[str, str], bool]:
        """Create the pods concurrently; returns task -> error for pods the API refused, and
        whether any was made before (by a pass whose status write did not land)."""
        failures: dict[str, str] = {}
        made_before: list[str] = []
        semaphore = asyncio.Semaphore(POD_CREATE_CONCURRENCY)

        async def create(task: str, manifest: dict[str, Any]) -> None:
            name = manifest["metadata"]["name"]
            if self.informer.pods.get(namespace, name) is not None:
                # This try's pod, whatever became of it since. Made again after a deletion,
                # it would run the same try twice; gone, the try fails as a pod that
                # disappeared.
                made_before.append(name)
                return
            async with semaphore:
                try:
                    created = await self.kube.create(core_path("pods", namespace), manifest)
                except ApiError as error:
                    if error.passing or _account_pending(error):
                        raise
                    failures[task] = f"pod rejected: {error.message}"
                    return
                if created is not None:
                    self.informer.put_pod(namespace, observe_pod(created))
                    return
                made_before.append(name)
                if self.informer.pods.get(namespace, name) is None:
                    # AlreadyExists, and the watch has not delivered it yet (a restart):
                    # it may have finished long ago, so its manifest would not do.
                    body = await self.kube.get(core_path("pods", namespace, name))
                    if body is not None:
                        self.informer.put_pod(namespace, observe_pod(body))

        await asyncio.gather(*(create(task, m) for task, m in manifests.items()))
        return failures, bool(made_before)
