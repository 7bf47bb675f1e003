"""When a run's status is written: at once, or a moment later when its only news is that the
run or its tasks started, so a short task's run costs one write for its start and its end
(docs/design.md, "A run's start waits for news"). Pure: the reconciler
(`reconcilers/run_writes.py`) keeps the time and the held statuses."""

from datetime import datetime, timedelta

from kubedag.core.run_engine import RunDecision
from kubedag.models.dagrun import DagRunStatus, RunState, TaskState

# A task's start is written at most this long after the controller sees its pod running;
# what ends sooner is written once, finished. Two seconds, so a one-second task still costs
# one write when a busy node or API server stretches it (docs/performance.md).
STARTED_WRITE_DELAY = timedelta(seconds=2)
# A held start or launch (below) is written at most this long after its pods were made,
# even if none of them runs yet: how long `kubectl get dr` may show a run without its state
# while its pods wait for a node, a CPU or an image.
START_HOLD_LIMIT = timedelta(seconds=10)


def held_write_delay(since: datetime, first_running: datetime | None) -> timedelta:
    """How long after `since` (the pass that made its pods) a held start or launch is
    written: STARTED_WRITE_DELAY after the controller first saw one of the run's tasks
    running (`first_running`), so a short task is written once, started and finished,
    however long its pod took to be scheduled and started; START_HOLD_LIMIT at most."""
    if first_running is None:
        return START_HOLD_LIMIT
    return min(first_running - since + STARTED_WRITE_DELAY, START_HOLD_LIMIT)


def only_tasks_started(old: DagRunStatus, new: DagRunStatus) -> bool:
    """Whether the only news in `new` is tasks whose pods started running: such a write may
    wait (STARTED_WRITE_DELAY), so a short task's start and end cost one write."""
    if len(old.tasks) != len(new.tasks) or _besides_tasks(old) != _besides_tasks(new):
        return False
    changed = [(a, b) for a, b in zip(old.tasks, new.tasks, strict=True) if a != b]
    return bool(changed) and all(
        a.state is TaskState.QUEUED and b.state is TaskState.RUNNING for a, b in changed
    )


def _besides_tasks(status: DagRunStatus) -> DagRunStatus:
    """The status without its tasks, nor its duration (which each pass's clock moves)."""
    return status.model_copy(update={"tasks": [], "duration": None})


def news_may_wait(old: DagRunStatus, decision: RunDecision, *, held: bool) -> bool:
    """Whether a pass's write may wait (STARTED_WRITE_DELAY): its only news is tasks that
    started, or, while the run's start is held unwritten (`held`), nothing but the clock."""
    if decision.pods_to_create or decision.pods_to_delete or decision.events:
        return False
    new = decision.status
    if held and old.tasks == new.tasks:
        return _besides_tasks(old) == _besides_tasks(new)
    return only_tasks_started(old, new)


def start_may_wait(decision: RunDecision) -> bool:
    """Whether a run's first write (pinned and started, its first pods made) may be held
    (`held_write_delay`), so a run whose first tasks end soon after they start is written once.
    Only when the pass tells nothing else: every task it recorded is queued (a task held by
    dependsOnPast or waiting for a slot has a reason to show), and no pod to delete, Event,
    output, notification, dataset update or run to trigger."""
    status = decision.status
    return (
        status.state is RunState.RUNNING
        and all(
            record.state is TaskState.QUEUED
            or (record.state is TaskState.NONE and record.message is None)
            for record in status.tasks
        )
        and _only_launches(decision)
    )


def launch_may_wait(old: DagRunStatus, decision: RunDecision) -> bool:
    """Whether a later pass's write may be held like a run's start: its only news is pods made
    for tasks that had none yet (tasks that waited for a pool slot, say), so a short task
    launched after a wait costs one write for its launch and its end, as at the start. Not
    while another task still waits (its reason changes), nor for a retry or a cleared task."""
    new = decision.status
    if (
        new.state is not RunState.RUNNING
        or len(old.tasks) != len(new.tasks)
        or _besides_tasks(old) != _besides_tasks(new)
        or not _only_launches(decision)
    ):
        return False
    return all(
        a.state in (TaskState.NONE, TaskState.SCHEDULED)
        and a.try_number == 0
        and b.state is TaskState.QUEUED
        for a, b in zip(old.tasks, new.tasks, strict=True)
        if a != b
    )


def _only_launches(decision: RunDecision) -> bool:
    """The pass makes pods and tells nothing else: no pod to delete, Event, output, task
    waiting for a slot, run to trigger or reset, notification or dataset update."""
    return (
        bool(decision.pods_to_create)
        and not decision.pods_to_delete
        and not decision.events
        and not decision.outputs_to_store
        and not decision.waiting
        and not decision.cross_dag.runs_to_trigger
        and not decision.cross_dag.runs_to_reset
        and not decision.status.notifications
        and not decision.status.dataset_updates
    )
