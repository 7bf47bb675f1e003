"""Pods deleted while the pod watch was down. After a watch gap that ends in 410 Gone (the
API server restarted, or the resourceVersion was compacted away), the pod watch
(list_watch.py) lists the pods again and delivers each as an event of type None, which says
nothing of the pods that were deleted in the gap (kopf's listings, which delivered pods
before, had no end-of-list to compare with either, unlike client-go's informer `Replace`).
Without this, the cache would keep such a pod as running for ever, and its run with it.

A burst of listing events starts a sweep once it has been quiet for `QUIET` seconds: each
cached pod of the listed namespaces that no update touched since the burst began (the
listing touches every pod it delivers; a pod this controller created is cached from the
create's response) is read with a GET, and one the API server no longer has is forgotten as
a deleted pod is, and its run woken: its try then fails as a pod that disappeared, and is
retried if it may be."""

import asyncio
import logging
from collections.abc import Callable

from kubedag.kube.client import Kube, core_path
from kubedag.reconcilers.caches import NamespacedName
from kubedag.reconcilers.informer import Informer

log = logging.getLogger(__name__)

QUIET = 1.0  # seconds without a listing event that end a burst


class RelistSweep:
    def __init__(
        self,
        kube: Kube,
        informer: Informer,
        wake_run: Callable[[NamespacedName], None],
        wake_slot_winners: Callable[[], None],
        quiet: float = QUIET,
    ) -> None:
        self.kube = kube
        self.informer = informer
        self.pods = informer.pods
        self.wake_run = wake_run
        self.wake_slot_winners = wake_slot_winners
        self.quiet = quiet
        self.sweeps = 0
        self._burst_start: int | None = None
        self._burst_namespaces: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._sweeping: set[asyncio.Task[None]] = set()

    def listed(self, namespace: str) -> None:
        """A pod event of type None (a listing), before the cache takes the pod."""
        if self._burst_start is None:
            self._burst_start = self.pods.sequence + 1
        self._burst_namespaces.add(namespace)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self.quiet, self._burst_over)

    def _burst_over(self) -> None:
        start, namespaces = self._burst_start, self._burst_namespaces
        self._burst_start, self._burst_namespaces, self._timer = None, set(), None
        if start is None:
            return
        self.sweeps += 1
        suspects = self.pods.untouched_since(start, namespaces)
        if suspects:
            task = asyncio.get_running_loop().create_task(self._sweep(suspects, start))
            self._sweeping.add(task)
            task.add_done_callback(self._sweeping.discard)

    async def _sweep(self, suspects: list[NamespacedName], start: int) -> None:
        log.info("pod watch re-listed: checking %d pods it did not list", len(suspects))
        for key in suspects:
            try:
                found = await self.kube.get(core_path("pods", *key))
            except Exception as error:  # the next re-list checks again
                log.warning("could not check pod %s/%s: %s", *key, error)
                continue
            # Still cached and not touched since: no event came while the GET was out.
            touched = self.pods.touched_at(*key)
            if found is None and touched is not None and touched < start:
                log.info("pod %s/%s was deleted while the watch was down", *key)
                self._forget(*key)

    def _forget(self, namespace: str, name: str) -> None:
        pod = self.pods.get(namespace, name)
        if pod is None:
            return
        freed = self.informer.forget_pod(namespace, name)
        for run in self.informer.runs_labelled(namespace, pod.run):
            self.wake_run(run)
        if freed:
            self.wake_slot_winners()

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._sweeping):
            task.cancel()
        await asyncio.gather(*self._sweeping, return_exceptions=True)
