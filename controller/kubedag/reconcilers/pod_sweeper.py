"""Carrying out pod sweeps (core/pod_sweeps.py): a finished run whose pods all go joins its
namespace's next sweep, which starts `delay` after the first run joined it, so the runs
finishing meanwhile share its DeleteCollection. A run cleared meanwhile leaves the sweep,
and a sweep deletes only pods that ended.

A sweep that fails for a reason that passes (the API server's 5xx or 429, a connection
lost) is tried again with the next one. The informer forgot the pods when their run joined,
so nothing else would: a terminal pod sends no further watch event that would bring it
back."""

import asyncio
import logging
from collections.abc import Callable

from kubedag.core.pod_sweeps import ENDED_PODS, sweep_selectors
from kubedag.kube.client import Kube, core_path
from kubedag.kube.transport import passing

log = logging.getLogger(__name__)


class PodSweeper:
    def __init__(self, kube: Kube, delay: float, still_swept: Callable[[str, str], bool]) -> None:
        """`still_swept(namespace, run)`: whether a run that joined still has its pods
        deleted when the sweep goes (`core.pod_sweeps.still_swept`)."""
        self.kube = kube
        self.delay = delay
        self.still_swept = still_swept
        self._waiting: dict[str, set[str]] = {}  # namespace -> runs joined its next sweep

    def __len__(self) -> int:
        return sum(len(runs) for runs in self._waiting.values())

    def add(self, namespace: str, run: str) -> None:
        """Delete the run's pods with its namespace's next sweep."""
        waiting = self._waiting.get(namespace)
        if waiting is None:
            waiting = self._waiting[namespace] = set()
            self.kube.in_background(self._sweep_later(namespace), f"pod sweep in {namespace}")
        waiting.add(run)

    async def _sweep_later(self, namespace: str) -> None:
        await asyncio.sleep(self.delay)
        runs = {r for r in self._waiting.pop(namespace, set()) if self.still_swept(namespace, r)}
        for selector in sweep_selectors(runs):
            try:
                await self.kube.delete_collection(
                    core_path("pods", namespace), label_selector=selector, field_selector=ENDED_PODS
                )
            except Exception as error:
                if not passing(error):
                    raise
                log.warning("pod sweep in %s failed, to be tried again: %s", namespace, error)
                for run in runs:
                    self.add(namespace, run)
                return
        log.debug("pod sweep in %s: the pods of %d runs", namespace, len(runs))
