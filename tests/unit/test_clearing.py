"""Clear and mark (Airflow's rules 11-17) as tables over a run's task states, then whole
runs through the engine: cleared tasks run again with a fresh budget, a running one
restarts, a finished run is queued again."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from kubedag.core.clearing import (
    MAX_APPLIED_REQUESTS,
    apply_request,
    pending_request,
    requested_by,
    select_tasks,
)
from kubedag.core.graph import build_graph
from kubedag.core.retries import may_retry
from kubedag.core.run_engine import advance, execution_plan
from kubedag.core.snapshot import Snapshot
from kubedag.models.dagrun import (
    AppliedRequest,
    DagRun,
    RequestAction,
    RunRequest,
    RunState,
    TaskState,
)
from tests.unit.builders import T0, pod, running_run, snapshot_of, task

S = TaskState

# a -> b -> c, a -> d, and e on its own.
GRAPH = build_graph([("a", []), ("b", ["a"]), ("c", ["b"]), ("d", ["a"]), ("e", [])])


@pytest.mark.parametrize(
    ("names", "downstream", "upstream", "expected"),
    [
        (["b"], False, False, "b"),
        (["b"], True, False, "bc"),
        (["b"], False, True, "ab"),
        (["b"], True, True, "abc"),
        (["a"], True, False, "abcd"),
        (["c"], False, True, "abc"),
        (["c", "d"], False, True, "abcd"),
        (["e"], True, True, "e"),
        (None, False, False, "abcde"),
        ([], True, True, ""),
    ],
)
def test_which_tasks_a_request_chooses(
    names: list[str] | None, downstream: bool, upstream: bool, expected: str
) -> None:
    chosen = select_tasks(GRAPH, names, downstream=downstream, upstream=upstream)
    assert "".join(sorted(chosen)) == expected


# Airflow's test_clear_task_instances: try 1, retries 2 -> max_tries 3, the next try is 2.
@pytest.mark.parametrize(
    ("try_number", "retries", "cleared_try", "retried"),
    [
        (1, 0, None, False),
        (1, 2, None, True),
        (2, 2, None, True),
        (3, 2, None, False),
        (2, 2, 1, True),  # cleared after try 1: tries 2, 3 and 4 are its budget
        (3, 2, 1, True),
        (4, 2, 1, False),
        (4, 0, 3, False),  # no retries: one try per clear
        (6, 3, 3, True),
    ],
)
def test_a_cleared_task_has_a_fresh_budget_of_tries(
    try_number: int, retries: int, cleared_try: int | None, retried: bool
) -> None:
    assert may_retry(try_number=try_number, retries=retries, cleared_try=cleared_try) is retried


CHAIN = snapshot_of(task("a"), task("b", "a"), task("c", "b"), task("d", "a"), task("e"))


def run_with(
    states: dict[str, TaskState],
    *,
    run_state: RunState = RunState.RUNNING,
    snapshot: Snapshot = CHAIN,
    request: dict[str, Any] | None = None,
    applied: Sequence[str] = (),
) -> DagRun:
    """A run of `snapshot` whose tasks are in `states` (try 1 for those that ran)."""
    run = running_run(snapshot)
    for record in run.status.tasks:
        record.state = states.get(record.name, S.NONE)
        if record.state not in (S.NONE, S.SCHEDULED, S.UPSTREAM_FAILED):
            record.try_number = 1
            record.pod = f"{run.name}-{record.name}-1"
        if record.state.finished:
            record.finished = T0
    run.status.state = run_state
    if run_state.finished:
        run.status.end_time = T0 + timedelta(minutes=1)
        run.status.duration = "1m"
    run.status.requests = [
        AppliedRequest(id=i, action=RequestAction.CLEAR, applied_at=T0) for i in applied
    ]
    if request is not None:
        run.spec.request = RunRequest.model_validate({"id": "r1", **request})
    return run


def states_after(run: DagRun, now: Any = None) -> dict[str, str]:
    outcome = apply_request(run, CHAIN, now or T0 + timedelta(hours=1))
    assert outcome is not None
    return {r.name: r.state.value for r in outcome.status.tasks}


ALL_STATES = [s for s in TaskState if s is not S.RESTARTING]


# Airflow's test_clear_dag: every state but running goes to none; running to restarting.
# kubedag stops a queued task's pod first, as a running one's (see README).
@pytest.mark.parametrize("state", ALL_STATES, ids=lambda s: s.value)
def test_clearing_a_task_in_each_state(state: TaskState) -> None:
    run = run_with({"a": state}, request={"action": "clear", "tasks": ["a"]})
    outcome = apply_request(run, CHAIN, T0)
    assert outcome is not None
    record = outcome.status.tasks[0]
    has_pod = state in (S.QUEUED, S.RUNNING)
    assert record.state is (S.RESTARTING if has_pod else S.NONE)
    assert record.try_number == (0 if state in (S.NONE, S.SCHEDULED, S.UPSTREAM_FAILED) else 1)
    assert outcome.pods_to_delete == ([record.pod] if has_pod else [])
    # The budget restarts after the current try, except for a running task (Airflow's
    # restarting keeps max_tries; its next try is given whatever the budget says).
    assert record.cleared_try == (None if state is S.RUNNING or not record.try_number else 1)
    changed = state not in (S.NONE,)
    assert outcome.status.requests[-1].tasks == (["a"] if changed else [])


def test_a_cleared_try_keeps_its_outcome_among_the_earlier_tries() -> None:
    run = run_with({"a": S.FAILED}, request={"action": "clear", "tasks": ["a"]})
    outcome = apply_request(run, CHAIN, T0)
    assert outcome is not None
    record = outcome.status.tasks[0]
    assert record.tries is not None
    assert [(t.try_number, t.state) for t in record.tries] == [(1, S.FAILED)]
    assert record.exit_code is None and record.state is S.NONE


def test_only_failed_filters_after_the_expansion() -> None:
    states = {"a": S.SUCCESS, "b": S.FAILED, "c": S.UPSTREAM_FAILED, "d": S.SUCCESS, "e": S.FAILED}
    request = {"action": "clear", "tasks": ["a"], "downstream": True, "onlyFailed": True}
    after = states_after(run_with(states, run_state=RunState.FAILED, request=request))
    assert after == {"a": "success", "b": "none", "c": "none", "d": "success", "e": "failed"}


def test_clearing_a_finished_run_queues_it_again_and_forgets_its_times() -> None:
    run = run_with(
        {"a": S.SUCCESS, "b": S.FAILED, "c": S.UPSTREAM_FAILED, "d": S.SUCCESS, "e": S.SUCCESS},
        run_state=RunState.FAILED,
        request={"action": "clear", "tasks": ["b"], "downstream": True},
    )
    outcome = apply_request(run, CHAIN, T0 + timedelta(hours=1))
    assert outcome is not None
    status = outcome.status
    assert status.state is RunState.QUEUED
    assert status.start_time is None and status.end_time is None and status.duration is None
    assert status.progress == "3/5"
    succeeded = next(c for c in status.conditions if c.type == "Succeeded")
    assert (succeeded.status, succeeded.reason) == ("Unknown", "Queued")
    assert [(e.type, e.reason) for e in outcome.events] == [("Normal", "Cleared")]
    assert "cleared b, c; the run is queued again" in outcome.events[0].message
    applied = status.requests[-1]
    assert (applied.id, applied.action, applied.tasks, applied.by) == (
        "r1",
        RequestAction.CLEAR,
        ["b", "c"],
        None,
    )
    assert applied.applied_at == T0 + timedelta(hours=1)
    assert status.observed_generation == 1


def test_a_running_run_keeps_its_state_and_a_clear_that_changes_nothing_is_recorded() -> None:
    running = run_with({"a": S.SUCCESS}, request={"action": "clear", "tasks": ["a"]})
    outcome = apply_request(running, CHAIN, T0)
    assert outcome is not None and outcome.status.state is RunState.RUNNING

    nothing = run_with(
        {"a": S.SUCCESS},
        run_state=RunState.SUCCESS,
        request={"action": "clear", "onlyFailed": True},
    )
    outcome = apply_request(nothing, CHAIN, T0)
    assert outcome is not None
    assert outcome.status.state is RunState.SUCCESS  # nothing cleared: the run stays
    assert outcome.status.requests[-1].tasks == []
    assert "changed nothing: no chosen task is failed" in outcome.events[0].message


def test_a_request_is_applied_once_and_the_newest_twenty_are_kept() -> None:
    run = run_with(
        {"a": S.FAILED},
        run_state=RunState.FAILED,
        request={"action": "clear"},
        applied=[f"old-{i}" for i in range(MAX_APPLIED_REQUESTS)],
    )
    outcome = apply_request(run, CHAIN, T0)
    assert outcome is not None
    ids = [r.id for r in outcome.status.requests]
    assert len(ids) == MAX_APPLIED_REQUESTS and ids[0] == "old-1" and ids[-1] == "r1"
    again = run.model_copy(update={"status": outcome.status})
    assert pending_request(again) is None
    assert apply_request(again, CHAIN, T0) is None


def test_a_request_naming_an_unknown_task_is_refused_and_changes_nothing() -> None:
    run = run_with(
        {"a": S.FAILED},
        run_state=RunState.FAILED,
        request={"action": "clear", "tasks": ["a", "lod"]},
    )
    outcome = apply_request(run, CHAIN, T0)
    assert outcome is not None
    assert [r.state for r in outcome.status.tasks] == [r.state for r in run.status.tasks]
    assert outcome.status.state is RunState.FAILED and outcome.pods_to_delete == []
    refused = outcome.status.requests[-1]
    assert refused.tasks == [] and refused.refused is not None
    assert "no task 'lod' in this run; its tasks: a, b, c, d, e" in refused.refused
    assert [(e.type, e.reason) for e in outcome.events] == [("Warning", "RequestRefused")]
    condition = next(c for c in outcome.status.conditions if c.type == "RequestApplied")
    assert (condition.status, condition.reason) == ("False", "UnknownTask")


def test_a_backfills_request_says_so() -> None:
    assert requested_by("backfill/march/0c1d-22") == "backfill/march"
    assert requested_by("backfill/march") is None
    assert requested_by("2026-11-29T12:00:00Z") is None
    # Its merge patch sets the id and the action only: what an earlier request of a user left
    # in spec.request (here tasks and onlyFailed) does not narrow the backfill's clear.
    run = run_with(
        {"a": S.SUCCESS, "b": S.SUCCESS},
        run_state=RunState.SUCCESS,
        request={"action": "clear", "tasks": ["b"], "onlyFailed": True},
    )
    run.spec.request = run.spec.request.model_copy(update={"id": "backfill/march/0c1d-22"})
    outcome = apply_request(run, CHAIN, T0)
    assert outcome is not None and outcome.status.requests[-1].by == "backfill/march"
    assert outcome.status.requests[-1].tasks == ["a", "b"]
    assert outcome.status.state is RunState.QUEUED
    assert "(by backfill/march)" in outcome.events[0].message


# Airflow's test_set_task_instance_state: 1 >> [2, 3, 4, 5]; marking the failed task_1
# success clears its failed and upstream_failed downstream tasks and re-queues the run.
def test_marking_a_failed_task_success_clears_its_failed_downstream() -> None:
    snap = snapshot_of(*(task(f"t{i}", *(["t1"] if i > 1 else [])) for i in range(1, 6)))
    run = run_with(
        {"t1": S.FAILED, "t2": S.SUCCESS, "t3": S.UPSTREAM_FAILED, "t4": S.FAILED, "t5": S.SKIPPED},
        run_state=RunState.FAILED,
        snapshot=snap,
        request={"action": "markSuccess", "tasks": ["t1"]},
    )
    outcome = apply_request(run, snap, T0)
    assert outcome is not None
    assert {r.name: r.state.value for r in outcome.status.tasks} == {
        "t1": "success",
        "t2": "success",
        "t3": "none",
        "t4": "none",
        "t5": "skipped",
    }
    assert outcome.status.state is RunState.QUEUED
    assert outcome.status.requests[-1].tasks == ["t1", "t3", "t4"]
    assert [e.reason for e in outcome.events] == ["MarkedSuccess"]


@dataclass(frozen=True)
class MarkCase:
    name: str
    states: dict[str, TaskState]
    request: dict[str, Any]
    expected: str  # states of a..e, one letter each (see LETTERS)
    pods: list[str]


LETTERS = {
    "none": "-",
    "success": "S",
    "failed": "F",
    "skipped": "K",
    "upstream_failed": "U",
    "running": "R",
    "restarting": "T",
    "queued": "Q",
    "scheduled": "D",
    "up_for_retry": "Y",
}

MARK_CASES = [
    MarkCase(
        "mark a running task success: its pod stops, nothing downstream is failed",
        {"a": S.RUNNING},
        {"action": "markSuccess", "tasks": ["a"]},
        "S----",
        ["a"],
    ),
    MarkCase(
        "mark with downstream: every descendant gets the state",
        {"a": S.SUCCESS, "b": S.FAILED, "c": S.UPSTREAM_FAILED, "d": S.RUNNING},
        {"action": "markSuccess", "tasks": ["b"], "downstream": True},
        "SSSR-",
        [],
    ),
    MarkCase(
        "mark with upstream: the ancestors too",
        {"a": S.FAILED, "b": S.UPSTREAM_FAILED, "c": S.UPSTREAM_FAILED, "d": S.UPSTREAM_FAILED},
        {"action": "markSuccess", "tasks": ["b"], "upstream": True},
        "SS-U-",
        [],
    ),
    MarkCase(
        # Airflow marks b and c failed, then its clear of b's failed downstream (b itself
        # excluded) resets c: the trigger rules make it upstream_failed on the next pass.
        "mark failed with downstream: the marked descendants are cleared again",
        {"a": S.SUCCESS, "b": S.RUNNING, "c": S.NONE},
        {"action": "markFailed", "tasks": ["b"], "downstream": True},
        "SF---",
        ["b"],
    ),
    MarkCase(
        "mark failed a task whose downstream failed already: that one runs again",
        {"a": S.SUCCESS, "b": S.SUCCESS, "c": S.FAILED},
        {"action": "markFailed", "tasks": ["b"]},
        "SF---",
        [],
    ),
]


@pytest.mark.parametrize("case", MARK_CASES, ids=lambda c: c.name)
def test_mark_tasks(case: MarkCase) -> None:
    run = run_with(case.states, request=case.request)
    outcome = apply_request(run, CHAIN, T0)
    assert outcome is not None
    got = "".join(LETTERS[r.state.value] for r in outcome.status.tasks)
    assert got == case.expected
    assert outcome.pods_to_delete == [f"{run.name}-{t}-1" for t in case.pods]


def test_marking_a_task_with_the_state_it_has_is_recorded_as_changing_nothing() -> None:
    run = run_with(
        {"a": S.SUCCESS},
        run_state=RunState.SUCCESS,
        request={"action": "markSuccess", "tasks": ["a"]},
    )
    outcome = apply_request(run, CHAIN, T0)
    assert outcome is not None
    assert outcome.status.requests[-1].tasks == []
    assert "changed nothing: every chosen task is success already" in outcome.events[0].message
    condition = next(c for c in outcome.status.conditions if c.type == "RequestApplied")
    assert (condition.status, condition.reason) == ("True", "Unchanged")


# Rule 17 (Airflow 3.3.2's mark_tasks): running tasks get the state, unfinished ones are
# skipped, finished ones keep theirs.
WHOLE_RUN = {
    "a": S.RUNNING,
    "b": S.QUEUED,
    "c": S.FAILED,
    "d": S.UP_FOR_RETRY,
    "e": S.NONE,
}


@pytest.mark.parametrize(
    ("action", "run_state", "expected"),
    [
        ("markSuccess", RunState.SUCCESS, "SKFKK"),
        ("markFailed", RunState.FAILED, "FKFKK"),
    ],
)
def test_marking_a_whole_run(action: str, run_state: RunState, expected: str) -> None:
    run = run_with(WHOLE_RUN, request={"action": action})
    outcome = apply_request(run, CHAIN, T0 + timedelta(minutes=5))
    assert outcome is not None
    assert "".join(LETTERS[r.state.value] for r in outcome.status.tasks) == expected
    assert outcome.status.state is run_state
    assert outcome.status.end_time == T0 + timedelta(minutes=5)
    assert outcome.status.duration == "5m"
    assert sorted(outcome.pods_to_delete) == [f"{run.name}-a-1", f"{run.name}-b-1"]
    succeeded = next(c for c in outcome.status.conditions if c.type == "Succeeded")
    assert succeeded.reason == (
        "MarkedSuccess" if run_state is RunState.SUCCESS else "MarkedFailed"
    )
    assert outcome.status.requests[-1].tasks == ["a", "b", "d", "e"]


def test_marking_a_run_with_its_own_state_changes_nothing() -> None:
    run = run_with({"a": S.FAILED}, run_state=RunState.FAILED, request={"action": "markFailed"})
    outcome = apply_request(run, CHAIN, T0)
    assert outcome is not None and outcome.status.requests[-1].tasks == []
    assert "the run is failed already" in outcome.events[0].message


def test_clearing_a_run_that_never_started_pins_it_again() -> None:
    run = run_with({}, run_state=RunState.FAILED, request={"action": "clear"})
    run.status.snapshot = None
    run.status.tasks = []
    outcome = apply_request(run, None, T0)
    assert outcome is not None
    assert outcome.status.state is None and outcome.status.start_time is None
    assert [r.id for r in outcome.status.requests] == ["r1"]
    named = run.model_copy(deep=True)
    named.spec.request = RunRequest(id="r2", action=RequestAction.CLEAR, tasks=["a"])
    refused = apply_request(named, None, T0)
    assert refused is not None and refused.status.requests[-1].refused


# Through the engine ------------------------------------------------------------------------


def step(run: DagRun, snapshot: Snapshot, pods: dict[str, Any], now: Any) -> DagRun:
    decision = advance(run, snapshot, pods=pods, now=now, task_slots=16)
    return run.model_copy(update={"status": decision.status})


def test_a_cleared_failed_task_runs_again_with_a_fresh_budget() -> None:
    snap = snapshot_of(task("a", retries=1, retryDelay="1m"), task("b", "a"))
    run = running_run(snap)
    now = T0
    run = step(run, snap, {}, now)
    for try_number in (1, 2):  # the try and its one retry both fail
        name = f"{run.name}-a-{try_number}"
        run = step(run, snap, {name: pod(name, "Failed", 1)}, now)
        now += timedelta(minutes=1)
        run = step(run, snap, {}, now)
    assert run.status.state is RunState.FAILED
    assert [(r.state, r.try_number) for r in run.status.tasks] == [
        (S.FAILED, 2),
        (S.UPSTREAM_FAILED, 0),
    ]
    run.spec.request = RunRequest(
        id="fix", action=RequestAction.CLEAR, downstream=True, tasks=["a"]
    )
    outcome = apply_request(run, snap, now)
    assert outcome is not None and outcome.status.state is RunState.QUEUED
    run = run.model_copy(update={"status": outcome.status})
    run.status.state = RunState.RUNNING  # the DAG scheduler starts it
    run = step(run, snap, {}, now)
    first = run.status.tasks[0]
    assert (first.state, first.try_number, first.pod) == (S.QUEUED, 3, f"{run.name}-a-3")
    failed = f"{run.name}-a-3"
    run = step(run, snap, {failed: pod(failed, "Failed", 1)}, now)
    assert run.status.tasks[0].state is S.UP_FOR_RETRY  # try 3 of a budget of 3 and 4
    now += timedelta(minutes=1)
    run = step(run, snap, {}, now)
    fixed = f"{run.name}-a-4"
    run = step(run, snap, {fixed: pod(fixed, "Succeeded", 0)}, now)
    downstream = f"{run.name}-b-1"
    run = step(run, snap, {downstream: pod(downstream, "Succeeded", 0)}, now)
    assert run.status.state is RunState.SUCCESS


def test_a_cleared_running_task_restarts_once_its_pod_is_gone() -> None:
    snap = snapshot_of(task("a"), task("b", "a"))
    run = step(running_run(snap), snap, {}, T0)
    first = f"{run.name}-a-1"
    run = step(run, snap, {first: pod(first, "Running", started=T0)}, T0)
    run.spec.request = RunRequest(id="again", action=RequestAction.CLEAR, tasks=["a"])
    outcome = apply_request(run, snap, T0)
    assert outcome is not None and outcome.pods_to_delete == [first]
    run = run.model_copy(update={"status": outcome.status})
    stopping = step(run, snap, {first: pod(first, "Running", started=T0)}, T0)
    assert stopping.status.tasks[0].state is S.RESTARTING  # waits for the pod to stop
    assert execution_plan(snap).order == ("a", "b")
    gone = step(stopping, snap, {first: pod(first, "Gone")}, T0)
    record = gone.status.tasks[0]
    assert (record.state, record.try_number, record.pod) == (S.QUEUED, 2, f"{run.name}-a-2")
    assert gone.status.tasks[1].state is S.NONE
