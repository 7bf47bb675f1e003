"""The engine copies only the records a pass changes (`_Pass.writable`): the run it is given
never changes, and a pod with no news leaves its record as it was."""

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from kubedag.core.pod_observation import GONE, PodObservation
from kubedag.core.run_engine import advance, pod_has_news
from kubedag.models.dagrun import TaskRecord, TaskState
from tests.unit.builders import T0, pod, running_run, snapshot_of, task

POD = "etl-20260101-0000-a-1"
ACTIVE = (TaskState.QUEUED, TaskState.RUNNING)
PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown", GONE)
REASONS = (None, "", "ContainerCreating", "ImagePullBackOff")


@st.composite
def observations(draw: st.DrawFn) -> tuple[TaskRecord, PodObservation]:
    record = TaskRecord(
        name="a",
        state=draw(st.sampled_from(ACTIVE)),
        try_number=1,
        pod=POD,
        queued_at=T0,
        message=draw(st.sampled_from(REASONS)),
    )
    phase = draw(st.sampled_from(PHASES))
    exit_code = draw(st.sampled_from((None, 0, 1, 99)))
    return record, pod(POD, phase, exit_code, reason=draw(st.sampled_from(REASONS)))


@settings(max_examples=300, deadline=None)
@given(observations())
def test_a_pod_without_news_leaves_its_record_as_it_was(
    seen: tuple[TaskRecord, PodObservation],
) -> None:
    record, observed = seen
    snapshot = snapshot_of(task("a"))
    run = running_run(snapshot)
    run = run.model_copy(update={"status": run.status.model_copy(update={"tasks": [record]})})
    given_run = run.model_dump()
    decision = advance(run, snapshot, pods={POD: observed}, now=T0 + timedelta(minutes=1))
    assert run.model_dump() == given_run  # the engine changed a copy, if anything
    after = decision.status.tasks[0]
    if not pod_has_news(record, observed):
        assert after == record
        assert after is record  # not even copied
    else:
        assert after is not record


def test_a_pass_over_many_tasks_copies_only_those_it_changes() -> None:
    snapshot = snapshot_of(*(task(f"t{i}") for i in range(100)))
    first = advance(running_run(snapshot), snapshot, pods={}, now=T0, task_slots=100)
    run = running_run(snapshot)
    run = run.model_copy(update={"status": first.status})
    finished = first.status.tasks[7]
    assert finished.pod is not None
    second = advance(run, snapshot, pods={finished.pod: pod(finished.pod, "Succeeded", 0)}, now=T0)
    changed = [
        new.name
        for old, new in zip(run.status.tasks, second.status.tasks, strict=True)
        if new is not old
    ]
    assert changed == ["t7"]
    assert second.status.tasks[7].state is TaskState.SUCCESS
    assert run.status.tasks[7].state is TaskState.QUEUED


def test_a_task_that_waited_for_a_slot_starts_on_a_copy() -> None:
    """The waiting task's record is unchanged by the pass that keeps it waiting (same
    message), so the pass that starts it is the first to copy it."""
    snapshot = snapshot_of(task("a"), task("b"))
    run = running_run(snapshot)
    for _ in range(3):  # a starts; b waits, twice with the same message; then b starts
        given_run = run.model_dump()
        decision = advance(run, snapshot, pods={}, now=T0, task_slots=1 if _ < 2 else 2)
        assert run.model_dump() == given_run
        run = run.model_copy(update={"status": decision.status})
    assert [r.state for r in run.status.tasks] == [TaskState.QUEUED, TaskState.QUEUED]


def test_a_waiting_task_whose_reason_changes_gets_it_on_a_copy() -> None:
    snapshot = snapshot_of(task("a"))
    run = running_run(snapshot)
    waiting = run.status.tasks[0].model_copy(
        update={"state": TaskState.SCHEDULED, "message": "an older reason"}
    )
    run = run.model_copy(update={"status": run.status.model_copy(update={"tasks": [waiting]})})
    decision = advance(run, snapshot, pods={}, now=T0, task_slots=0)
    assert decision.status.tasks[0].message not in (None, "an older reason")
    assert waiting.message == "an older reason"  # the run given is unchanged
