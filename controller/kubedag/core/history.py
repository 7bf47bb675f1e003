"""History and cleanup, as pure decisions: which finished runs of a DAG to delete now (history
limits per state, a time to live after finishing) and when to look again; which task pods to
delete under the DAG's podGC policy; which DAG-version snapshots nothing needs any more.
(The DAG's last successful and failed runs, which outlive the runs, are in dag_scheduler.)

The CronJob controller's cleanupFinishedJobs (successfulJobsHistoryLimit,
failedJobsHistoryLimit), the Job TTL-after-finished controller and Argo's podGC, with rules
of kubedag's own: an unfinished run is never deleted, nor the newest scheduled run (the
scheduler's position), nor a run of a Backfill still in progress (`protected`).
"""

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from kubedag.core.dag_scheduler import EPOCH, RunSummary, newest_scheduled_run
from kubedag.core.durations import parse_duration
from kubedag.core.pod_observation import PodObservation
from kubedag.core.run_types import TEST_RUN_TTL, counts_in_history
from kubedag.models.dag import DagSpec, PodGC
from kubedag.models.dagrun import RunState

# Runs deleted per DAG pass: a limit set on a DAG with a year of hourly runs deletes them
# over several passes, so its schedule and status keep flowing meanwhile.
DELETE_BATCH = 50


T = TypeVar("T")


def _pick(own: T | None, default: T) -> T:
    return default if own is None else own


@dataclass(frozen=True)
class HistoryPolicy:
    """A DAG's history settings, its own or the controller's defaults; None keeps all."""

    successful_limit: int | None = None
    failed_limit: int | None = None
    ttl: timedelta | None = None
    pod_gc: PodGC = PodGC.ON_RUN_SUCCESS

    def for_dag(self, spec: DagSpec) -> "HistoryPolicy":
        """The DAG's settings, each falling back to this (the controller's) one."""
        ttl = spec.run_ttl_after_finished
        return HistoryPolicy(
            successful_limit=_pick(spec.successful_runs_history_limit, self.successful_limit),
            failed_limit=_pick(spec.failed_runs_history_limit, self.failed_limit),
            ttl=parse_duration(ttl) if ttl is not None else self.ttl,
            pod_gc=_pick(spec.pod_gc, self.pod_gc),
        )


@dataclass
class Cleanup:
    runs_to_delete: list[str] = field(default_factory=list)  # oldest first
    look_again_at: datetime | None = None  # the next run to reach its TTL, or now for more


def _recency(run: RunSummary) -> tuple[datetime, datetime, str]:
    """Runs are kept newest logical date first, as users list them (and as the scheduler
    moves); a run without one (it failed before it was pinned) counts by its end."""
    logical = run.logical_date or run.finished_at or EPOCH
    return (logical, run.finished_at or EPOCH, run.name)


def runs_to_delete(
    runs: Sequence[RunSummary],
    policy: HistoryPolicy,
    *,
    protected: Collection[str],
    now: datetime,
    batch: int = DELETE_BATCH,
) -> Cleanup:
    """The finished runs to delete now, oldest first (at most `batch`), and when to look again.

    Past its history limit, a state's oldest runs go (protected ones stay, beyond the limit);
    with a TTL, any finished run that ended at least that long ago. Never selected: a run
    not finished, the newest scheduled run, a name in `protected` (runs of a Backfill still
    in progress). Test runs count in no limit; one goes TEST_RUN_TTL after it ended (or the
    policy's TTL, if shorter)."""
    newest = newest_scheduled_run(runs)
    keep = set(protected) | ({newest.name} if newest else set())
    finished = [r for r in runs if r.state is not None and r.state.finished]
    doomed: dict[str, RunSummary] = {}
    limits = ((RunState.SUCCESS, policy.successful_limit), (RunState.FAILED, policy.failed_limit))
    for state, limit in limits:
        if limit is None:
            continue
        newest_first = sorted(
            (r for r in finished if r.state is state and counts_in_history(r.run_type)),
            key=_recency,
            reverse=True,
        )
        doomed.update((r.name, r) for r in newest_first[limit:] if r.name not in keep)
    wake: datetime | None = None
    for run in finished:
        ttl = policy.ttl if counts_in_history(run.run_type) else _shorter(policy.ttl, TEST_RUN_TTL)
        if ttl is None or run.name in keep or run.name in doomed or run.finished_at is None:
            continue
        expires = run.finished_at + ttl
        if expires <= now:
            doomed[run.name] = run
        else:
            wake = expires if wake is None else min(wake, expires)
    ordered = sorted(doomed.values(), key=_recency)
    if len(ordered) > batch:
        return Cleanup([r.name for r in ordered[:batch]], now)
    return Cleanup([r.name for r in ordered], wake)


def may_delete_runs(policy: HistoryPolicy, has_test_runs: bool) -> bool:
    """Whether `runs_to_delete` may select anything (a cheap test before a walk of every
    run): a limit or a TTL is set, or the DAG has test runs, which go TEST_RUN_TTL after they
    end whatever the policy."""
    limited = (policy.successful_limit, policy.failed_limit, policy.ttl) != (None, None, None)
    return limited or has_test_runs


def _shorter(ttl: timedelta | None, limit: timedelta) -> timedelta:
    return limit if ttl is None else min(ttl, limit)


def deletes_pods(policy: PodGC, run_state: RunState | None) -> bool:
    """Whether `pods_to_delete` may select anything for a run in this state (a cheap test
    before gathering the run's pods)."""
    if policy is PodGC.NEVER:
        return False
    return policy is PodGC.ON_TASK_SUCCESS or (run_state is not None and run_state.finished)


def pods_to_delete(
    policy: PodGC,
    run_state: RunState | None,
    pods: Iterable[PodObservation],
    succeeded_tasks: Collection[str],
) -> list[str]:
    """The run's pods to delete under `policy`, given the run's recorded state and its tasks
    recorded as succeeded. Only outcomes already written may lose their pods: the caller
    passes the state it has written."""
    if not deletes_pods(policy, run_state):
        return []
    pods = [p for p in pods if not p.deleting]
    if run_state is RunState.SUCCESS or (
        run_state is RunState.FAILED and policy is PodGC.ON_RUN_COMPLETION
    ):
        return sorted(p.name for p in pods)
    if policy is PodGC.ON_TASK_SUCCESS:
        return sorted(p.name for p in pods if p.task in succeeded_tasks and not p.active)
    return []


def run_being_pinned(runs: Sequence[RunSummary]) -> bool:
    """A run not finished and not yet pinned to a snapshot."""
    return any(r.snapshot is None and not (r.state and r.state.finished) for r in runs)


def snapshots_to_delete(
    stored: Iterable[str], runs: Sequence[RunSummary], current: str | None
) -> list[str]:
    """Snapshot ConfigMaps of the DAG that no run references and that are not its current
    version. None while a run is being pinned: it may be about to reference any of them."""
    if run_being_pinned(runs):
        return []
    referenced = {r.snapshot for r in runs if r.snapshot} | ({current} if current else set())
    return sorted(set(stored) - referenced)
