"""Where a one-task run's time goes, step by step, by the harness's clock: the same split for
kubedag's runs and the peers' Jobs and Workflows. Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Protocol, TypeVar

from bench.stats import percentile

STEPS = (
    "run_created_to_pod_created",
    "pod_created_to_bound",
    "pod_bound_to_running",
    "pod_running_to_finished",
    "pod_finished_to_run_finished",
)


class RunMarks(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def added(self) -> float: ...
    @property
    def finished(self) -> float | None: ...


class PodMarks(Protocol):
    @property
    def added(self) -> float: ...
    @property
    def bound(self) -> float | None: ...
    @property
    def running(self) -> float | None: ...
    @property
    def finished(self) -> float | None: ...


P = TypeVar("P", bound=PodMarks)


def one_task_run_phases(
    runs: Sequence[RunMarks], pods: Sequence[P], run_of: Callable[[P], str], limit: int
) -> dict[str, float]:
    """Median milliseconds of each step of a one-task run (``run_of(pod)``: the run a pod
    belongs to; a run's first pod counts). ``slot_refill`` is from a run's end to the
    creation of the run that takes its place (the k-th run created after the first
    ``limit``), the harness's share when at most ``limit`` runs are open."""
    first_pod: dict[str, P] = {}
    for pod in sorted(pods, key=lambda p: p.added):
        first_pod.setdefault(run_of(pod), pod)
    steps: dict[str, list[float]] = {name: [] for name in STEPS}
    for run in runs:
        first = first_pod.get(run.name)
        pod_marks = (
            [first.added, first.bound, first.running, first.finished]
            if first
            else [None, None, None, None]
        )
        marks: list[float | None] = [run.added, *pod_marks, run.finished]
        for name, (start, end) in zip(STEPS, pairwise(marks), strict=True):
            if start is not None and end is not None:
                steps[name].append((end - start) * 1000)
    created = sorted(r.added for r in runs)
    ended = sorted(r.finished for r in runs if r.finished is not None)
    steps["slot_refill"] = [
        (created[k] - ended[k - limit]) * 1000
        for k in range(limit, len(created))
        if k - limit < len(ended)
    ]
    return {f"{name}_p50_ms": percentile(values, 50) for name, values in steps.items()}
