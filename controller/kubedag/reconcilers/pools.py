"""The Pool reconciler: writes each Pool's status (slots used, running, queued, scheduled,
open) from the slot book. Which task gets a slot is decided by the run passes
(`reconcilers/slots.py`); this only reports."""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from kubedag.core.pools import pool_status
from kubedag.kube.client import Kube, custom_path
from kubedag.manifests import render
from kubedag.models.pool import Pool
from kubedag.reconcilers.caches import BodyCache, NamespacedName
from kubedag.reconcilers.slots import SlotBook

# A pool whose use changed while its status was being written looks again this much later.
RECOUNT_AFTER = timedelta(seconds=1)


class PoolReconciler:
    def __init__(self, kube: Kube, slots: SlotBook, now: Callable[[], datetime]) -> None:
        self.kube = kube
        self.slots = slots
        self.now = now
        self._bodies = BodyCache()
        self._written: dict[NamespacedName, str] = {}

    def put(self, key: NamespacedName, body: dict[str, Any]) -> None:
        self._bodies.put(key, body)

    def known(self, key: NamespacedName) -> bool:
        return self._bodies.get(key) is not None

    def is_own_write(self, key: NamespacedName, body: dict[str, Any]) -> bool:
        version = body["metadata"].get("resourceVersion")
        return version is not None and self._written.get(key) == version

    def forget(self, key: NamespacedName) -> None:
        self._bodies.drop(key)
        self._written.pop(key, None)

    def _status(self, body: dict[str, Any]) -> dict[str, Any]:
        pool = Pool.model_validate(body)
        counts = self.slots.pool_counts((pool.namespace, pool.name))
        return pool_status(
            pool,
            used=counts.used,
            running=counts.running,
            scheduled=counts.scheduled,
            now=self.now(),
        ).to_wire()

    async def reconcile(self, key: NamespacedName) -> datetime | None:
        body = self._bodies.get(key)
        if body is None:
            return None
        status = self._status(body)
        old = body.get("status") or {}
        if status == old:
            return None
        patch = render.status_patch(old, status)
        written = await self.kube.patch_status(custom_path("pools", *key), patch, None)
        self._written[key] = str(written["metadata"].get("resourceVersion"))
        self._bodies.put(key, written)
        # Slots taken or freed during the write are counted by the next pass.
        return self.now() + RECOUNT_AFTER if self._status(written) != status else None

    def __len__(self) -> int:
        return len(self._bodies)
