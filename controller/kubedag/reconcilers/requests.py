"""Clear and mark requests (`spec.request`) on runs that are not running (queued or
finished): apply the request (`core.clearing`), stop the pods it names, write the status
and post the event. A running run's request is applied within its engine pass (runs.py), so
both go out in one status write."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from kubedag.core import clearing
from kubedag.core.run_engine import RunEvent
from kubedag.kube.client import Kube, core_path
from kubedag.manifests import render
from kubedag.models.dagrun import DagRun, DagRunStatus
from kubedag.reconcilers.snapshots import SnapshotStore
from kubedag.reconcilers.status import StatusWriter


class RequestApplier:
    def __init__(
        self,
        kube: Kube,
        snapshots: SnapshotStore,
        status: StatusWriter,
        applied: Callable[[DagRun, DagRunStatus], Awaitable[None]] | None = None,
    ) -> None:
        """`applied(run, status)`: after a request's outcome is written."""
        self.kube = kube
        self.snapshots = snapshots
        self.status = status
        self.applied = applied

    async def outcome(self, run: DagRun, now: datetime) -> clearing.RequestOutcome | None:
        """The run's pending request applied to its status; None if there is none."""
        if clearing.pending_request(run) is None:
            return None
        snapshot = None
        if run.status.snapshot:
            dag = (run.namespace, run.spec.dag_name)
            snapshot = await self.snapshots.load(dag, run.status.snapshot)
        return clearing.apply_request(run, snapshot, now)

    async def apply(self, run: DagRun, body: dict[str, Any], now: datetime) -> datetime | None:
        """Apply the pending request of a queued or finished run; returns when to look
        again (at once for a run that goes back to be pinned)."""
        outcome = await self.outcome(run, now)
        if outcome is None:
            return None
        for pod in outcome.pods_to_delete:
            await self.kube.delete(core_path("pods", run.namespace, pod))
        status = outcome.status.to_wire()
        await self.status.write(run.key, status, body["metadata"]["resourceVersion"])
        post_run_events(self.kube, body, outcome.events, now)
        if self.applied is not None:
            await self.applied(run, outcome.status)
        return now if outcome.status.state is None else None


def post_run_events(
    kube: Kube, body: dict[str, Any], events: list[RunEvent], now: datetime
) -> None:
    """Post the run's events in the background: they are best effort, and a pass need not
    wait for them."""
    if not events:
        return
    involved = render.involved_object("DagRun", body)
    kube.in_background(_post_all(kube, involved, events, now), f"events of {involved['name']}")


async def _post_all(
    kube: Kube, involved: dict[str, Any], events: list[RunEvent], now: datetime
) -> None:
    await asyncio.gather(
        *(
            kube.post_event(involved, type_=e.type, reason=e.reason, message=e.message, now=now)
            for e in events
        )
    )
