"""Pods deleted while the pod watch was down. After a watch gap that ends in 410 Gone (the
API server restarted, or the resourceVersion was compacted away), kopf lists the pods again
and delivers each as an event of type None, but says nothing of the pods that were deleted
in the gap: unlike client-go's informer (`Replace`), it has no end-of-list to compare with.
Without this, the cache would keep such a pod as running for ever, and its run with it.

`RelistSweep` notes every pod event. A burst of listing events starts a sweep once it has
been quiet for `QUIET` seconds: each pod of the listed namespaces that the burst did not
deliver, and that no event touched since it began, is read with a GET, and one the API
server no longer has is handed back as a DELETED event (its try then fails as a pod that
disappeared, and is retried if it may be)."""

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from kubedag.kube.client import Kube, core_path

log = logging.getLogger(__name__)

QUIET = 1.0  # seconds without a listing event that end a burst

PodKey = tuple[str, str]  # (namespace, name)


class RelistSweep:
    def __init__(
        self, kube: Kube, on_deleted: Callable[[dict[str, Any]], None], quiet: float = QUIET
    ) -> None:
        self.kube = kube
        self.on_deleted = on_deleted
        self.quiet = quiet
        self.sweeps = 0
        self.found_gone = 0
        self._seq = 0
        self._touched: dict[PodKey, int] = {}  # pod -> sequence number of its newest event
        self._owners: dict[PodKey, dict[str, Any]] = {}  # pod -> the metadata to hand back
        self._burst_start: int | None = None
        self._burst_namespaces: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._sweeping: set[asyncio.Task[None]] = set()

    def pod_event(self, event_type: str | None, body: dict[str, Any]) -> None:
        metadata = body.get("metadata") or {}
        key = (str(metadata.get("namespace")), str(metadata.get("name")))
        if event_type == "DELETED":
            self._touched.pop(key, None)
            self._owners.pop(key, None)
            return
        self._seq += 1
        self._touched[key] = self._seq
        self._owners[key] = {
            "namespace": key[0],
            "name": key[1],
            "labels": metadata.get("labels") or {},
            "ownerReferences": metadata.get("ownerReferences") or [],
        }
        if event_type is not None:
            return
        if self._burst_start is None:
            self._burst_start = self._seq
        self._burst_namespaces.add(key[0])
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self.quiet, self._burst_over)

    def _burst_over(self) -> None:
        start, namespaces = self._burst_start, self._burst_namespaces
        self._burst_start, self._burst_namespaces, self._timer = None, set(), None
        if start is None:
            return
        suspects = [k for k, seq in self._touched.items() if seq < start and k[0] in namespaces]
        self.sweeps += 1
        if suspects:
            task = asyncio.get_running_loop().create_task(self._sweep(suspects))
            self._sweeping.add(task)
            task.add_done_callback(self._sweeping.discard)

    async def _sweep(self, suspects: list[PodKey]) -> None:
        log.info("pod watch re-listed: checking %d pods it did not list", len(suspects))
        for key in suspects:
            try:
                found = await self.kube.get(core_path("pods", *key))
            except Exception as error:  # the next re-list checks again
                log.warning("could not check pod %s/%s: %s", *key, error)
                continue
            metadata = self._owners.get(key)
            if found is None and metadata is not None:
                self.found_gone += 1
                log.info("pod %s/%s was deleted while the watch was down", *key)
                self.on_deleted({"metadata": metadata})

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._sweeping):
            task.cancel()
        await asyncio.gather(*self._sweeping, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._touched) + len(self._owners)
