"""Finished runs' pods, deleted many runs to a request.

A run whose pods all go under its DAG's podGC (every run that succeeds, at the default
OnRunSuccess) would otherwise cost one DELETE of its own: a quarter of a one-task run's
writes. Runs that finish within a short delay of each other in one namespace share one
DeleteCollection instead, selecting their pods by their run label (`kubedag.io/dagrun in
(...)`). The API server still deletes each pod; what goes is a request per run, with its
authentication, admission and round trip (docs/performance.md,
"`make bench` with pod sweeps, held launches and four creators")."""

from collections.abc import Collection

from kubedag.core.naming import LABEL_DAGRUN, LABEL_MANAGED_BY, MANAGED_BY, label_value

RUNS_PER_SWEEP = 100
"""The runs one DeleteCollection selects at most: its selector, up to 64 characters a run,
keeps the request line under 8 KiB, well inside what the API server and proxies accept."""


ENDED_PODS = "status.phase!=Pending,status.phase!=Running,status.phase!=Unknown"
"""A sweep's field selector: only pods that ended. A run cleared after it joined a sweep
makes its next try's pod under the same run label; that pod is not the sweep's to delete."""


def still_swept(finished: bool | None, request_pending: bool) -> bool:
    """Whether a run that joined a sweep still has its pods deleted by it: not once it runs
    again (a clear applied: not finished) or is about to (a clear or mark request waiting).
    `finished` None: the run is gone, and so should its pods be."""
    return finished is None or (finished and not request_pending)


def run_pods_selector(run: str) -> str:
    """The label selector of one run's pods."""
    return f"{LABEL_DAGRUN}={label_value(run)},{LABEL_MANAGED_BY}={MANAGED_BY}"


def sweep_selectors(runs: Collection[str]) -> list[str]:
    """The label selectors that together select the pods of `runs` (DagRun names), in as
    few requests as `RUNS_PER_SWEEP` allows; in name order, so a sweep is reproducible."""
    labels = sorted({label_value(run) for run in runs})
    return [
        f"{LABEL_DAGRUN} in ({','.join(labels[i : i + RUNS_PER_SWEEP])}),"
        f"{LABEL_MANAGED_BY}={MANAGED_BY}"
        for i in range(0, len(labels), RUNS_PER_SWEEP)
    ]
