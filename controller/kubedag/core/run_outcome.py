"""A run's outcome from its tasks' states (Airflow's DagRun.update_state, rule 26)."""

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from kubedag.models.dagrun import RunState, TaskRecord, TaskState

_FAILED = (TaskState.FAILED, TaskState.UPSTREAM_FAILED)


@dataclass(frozen=True)
class Outcome:
    state: RunState
    reason: str
    message: str


def run_outcome(leaves: Collection[str], records: Mapping[str, TaskRecord]) -> Outcome | None:
    """None while a task (a teardown too) has not finished; then failed if an effective leaf
    failed or is upstream_failed, else success. A failed task that is not a leaf, or a
    teardown without onFailureFailDagrun, does not fail the run."""
    if not all(record.state.finished for record in records.values()):
        return None
    bad = [name for name in sorted(leaves) if records[name].state in _FAILED]
    if not bad:
        return Outcome(RunState.SUCCESS, "Succeeded", "all leaf tasks succeeded or skipped")
    first = records[bad[0]]
    detail = f": {first.message}" if first.message else ""
    return Outcome(RunState.FAILED, "TaskFailed", f"task {bad[0]} {first.state.value}{detail}")


def skip_unfinished(records: Iterable[TaskRecord], now: datetime, message: str) -> list[str]:
    """Every task that has not finished becomes skipped, as when a run exceeds its
    dagrunTimeout; returns the pods to stop."""
    pods = []
    for record in records:
        if record.state.finished:
            continue
        if record.state.has_pod and record.pod:
            pods.append(record.pod)
        record.state = TaskState.SKIPPED
        record.finished = now
        record.message = message
    return pods
