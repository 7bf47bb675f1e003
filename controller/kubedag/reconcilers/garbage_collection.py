"""The controller process's garbage collector: its thresholds, and the time it takes.

A controller keeps hundreds of thousands of long-lived objects (the cached bodies of its DAGs,
runs and pods) and allocates fast while it works. At CPython's default thresholds (700, 10,
10) a busy minute ends every few seconds in a full collection that walks all of them: in the
fleet benchmark (5,500 DAGs) the collector took 15% of the controller's CPU, in pauses of up
to 370 ms while the minute's 580 runs were being created (docs/performance.md, "The garbage
collector"). Only reference cycles need the collector; every other object is freed when its
last reference goes, whatever the thresholds."""

import gc
import time
from typing import Any

from kubedag.reconcilers.metrics import GC_PAUSE

THRESHOLDS = (10_000, 10, 100)
"""A young collection every 10,000 net allocations of tracked objects, a middle one every 10
young ones, a full one every 100 middle ones (and, as always, only once the objects promoted
since the last full collection are a quarter of those it kept)."""


class PauseRecorder:
    """Times each collection into `GC_PAUSE`, by generation (a `gc.callbacks` entry)."""

    def __init__(self) -> None:
        self.started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            elapsed = time.perf_counter() - self.started
            GC_PAUSE.labels(str(info["generation"])).observe(elapsed)


def tune() -> None:
    """Apply `THRESHOLDS`, move what the process holds at start (its modules, classes and
    functions, never garbage) out of every later collection's walk, and time collections."""
    gc.collect()  # what importing left behind goes now, not frozen with the rest
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    if not any(isinstance(callback, PauseRecorder) for callback in gc.callbacks):
        for generation in range(len(THRESHOLDS)):
            GC_PAUSE.labels(str(generation))  # exported from the start, at 0
        gc.callbacks.append(PauseRecorder())
