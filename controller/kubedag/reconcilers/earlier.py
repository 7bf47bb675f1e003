"""What a run knows of its DAG's earlier runs (`core.earlier_runs.EarlierRuns`), gathered from
the informer for each engine pass: the previous run (rule 22) and the latest earlier
success (for the templates), and, only while a dependsOnPast task of the run is still to be
scheduled, the previous run's recorded task states, whether the run is its Backfill's first
date, and which tasks earlier runs had.

The states come from the previous run's cached body while it is unfinished (or has a request
waiting), else from its summary (a finished run's tasks that did not succeed or skip) and its
pinned task list; only a previous run of another DAG version whose body is not cached is
read with a GET."""

from datetime import datetime
from typing import Any

from kubedag.core import past
from kubedag.core.backfill import first_date
from kubedag.core.dag_scheduler import RunSummary
from kubedag.core.earlier_runs import EarlierRuns
from kubedag.core.run_types import can_be_previous, reads_the_past
from kubedag.core.snapshot import Snapshot
from kubedag.kube.client import Kube, custom_path
from kubedag.models.backfill import Backfill
from kubedag.models.compact_tasks import task_records
from kubedag.models.dagrun import DagRun, TaskState
from kubedag.reconcilers.informer import Informer
from kubedag.reconcilers.run_index import Among
from kubedag.reconcilers.snapshots import SnapshotStore

# A task in these states may be scheduled in this pass (a restarting one once its pod stops).
_TO_SCHEDULE = (TaskState.NONE, TaskState.RESTARTING)


class EarlierRunsReader:
    def __init__(
        self, kube: Kube, informer: Informer, snapshots: SnapshotStore, catchup_default: bool
    ) -> None:
        self.kube = kube
        self.informer = informer
        self.snapshots = snapshots
        self.catchup_default = catchup_default

    def catchup(self, namespace: str, dag: str) -> bool:
        spec = (self.informer.dag((namespace, dag)) or {}).get("spec") or {}
        own = spec.get("catchup")
        return self.catchup_default if own is None else bool(own)

    async def read(self, run: DagRun, snapshot: Snapshot) -> EarlierRuns:
        logical = run.status.logical_date
        if logical is None or not reads_the_past(run.spec.run_type):
            return EarlierRuns()
        namespace, dag = run.namespace, run.spec.dag_name
        dag_key = (namespace, dag)
        cache = self.informer.runs
        success = past.previous_success_among(cache.newest_before(*dag_key, logical, "successes"))
        catchup = self.catchup(namespace, dag)
        among: Among = "previous_under_catchup" if catchup else "all"
        previous = past.previous_among(
            cache.newest_before(*dag_key, logical, among), catchup=catchup
        )
        earlier = EarlierRuns(
            previous=past.past_run(previous) if previous else None,
            previous_success=past.past_run(success) if success else None,
        )
        holding = past.depends_on_past_names(snapshot)
        if not holding or previous is None:
            return earlier
        waiting = [
            snapshot.task(r.name)
            for r in run.status.tasks
            if r.state in _TO_SCHEDULE and r.name in holding
        ]
        if not waiting:
            return earlier
        if self._first_of_backfill(run, logical):
            return EarlierRuns(earlier.previous, earlier.previous_success, first_of_backfill=True)
        read = past.tasks_read_from_past(snapshot)
        states = await self._task_states(namespace, previous, read, snapshot, run)
        before: frozenset[str] = frozenset()
        if any(t.ignore_first_depends_on_past and t.name not in states for t in waiting):
            runs = [
                r for r in self.informer.runs.for_dag(namespace, dag) if can_be_previous(r.run_type)
            ]
            before = await self._tasks_run_before(namespace, dag, runs, logical)
        return EarlierRuns(
            previous=past.past_run(previous, states),
            previous_success=earlier.previous_success,
            tasks_run_before=before,
        )

    def _first_of_backfill(self, run: DagRun, logical: datetime) -> bool:
        name = run.spec.backfill
        if not name:
            return False
        body = self.informer.backfill((run.namespace, name))
        if body is None:
            return False
        backfill = Backfill.model_validate(body)
        plan = backfill.status.plan
        return plan is not None and first_date(backfill, plan) == logical

    async def _task_states(
        self,
        namespace: str,
        previous: RunSummary,
        read: frozenset[str],
        snapshot: Snapshot,
        run: DagRun,
    ) -> dict[str, TaskState]:
        """The previous run's states of the tasks in `read` that it has."""
        body = self.informer.run((namespace, previous.name))
        if body is None and previous.snapshot != run.status.snapshot:
            body = await self.kube.get(custom_path("dagruns", namespace, previous.name))
        if body is not None:
            return _states_in(body, read)
        # A finished run of the same DAG version: it has this version's tasks, and those not
        # listed as unsuccessful succeeded or were skipped.
        unsuccessful = dict(previous.unsuccessful)
        return {
            t.name: unsuccessful.get(t.name, TaskState.SUCCESS)
            for t in snapshot.tasks
            if t.name in read
        }

    async def _tasks_run_before(
        self, namespace: str, dag: str, runs: list[RunSummary], logical: datetime
    ) -> frozenset[str]:
        """The tasks of every earlier run (Airflow's `_has_any_prior_tis`), from their
        pinned DAG versions."""
        versions = {
            r.snapshot
            for r in runs
            if r.snapshot and r.logical_date is not None and r.logical_date < logical
        }
        names: set[str] = set()
        for version in sorted(versions):
            pinned = await self.snapshots.load((namespace, dag), version)
            if pinned is not None:
                names.update(t.name for t in pinned.tasks)
        return frozenset(names)


def _states_in(body: dict[str, Any], read: frozenset[str]) -> dict[str, TaskState]:
    status = body.get("status") or {}
    if not status.get("state"):  # not pinned yet: every task is still to run (Airflow: None)
        return dict.fromkeys(read, TaskState.NONE)
    records = task_records(status)
    return {
        str(r["name"]): TaskState(r.get("state", TaskState.NONE.value))
        for r in records
        if r.get("name") in read
    }
