"""Setup and teardown tasks (Airflow's rules 14, 16, 17, 26, 27): which tasks decide a run,
when a teardown runs, what a clear or a mark takes with it. Expectations come from Airflow:
models/dagrun.py (_tis_for_dagrun_state, test_tis_considered_for_state),
serialization/definitions/dag.py (partial_subset), SDK abstractoperator.py
(get_upstreams_only_setups_and_teardowns) and their tests."""

import itertools
from typing import Any

import pytest

from kubedag.core.clearing import select_tasks, select_to_mark
from kubedag.core.execution_plan import execution_plan
from kubedag.core.run_engine import advance
from kubedag.core.run_outcome import run_outcome
from kubedag.core.setup_teardown import setup_teardown_problems
from kubedag.core.snapshot import Snapshot, resolve_task
from kubedag.core.validation import validate_dag
from kubedag.models.dag import TaskSpec, TriggerRule
from kubedag.models.dagrun import RunState, TaskRecord, TaskState
from tests.unit.builders import T0, dag_spec, pod, running_run, snapshot_of, task
from tests.unit.run_driver import record_of, requested, run_through, task_states


def wired(*lines: str) -> Snapshot:
    """A DAG in Airflow's test notation: "s1 >> w1 >> t1" per line; s<n> is a setup, w<n> a
    work task, t<n> a teardown and t<n>_ one with onFailureFailDagrun (named t<n>-f here)."""
    upstream: dict[str, list[str]] = {}
    for line in lines:
        names = [_name(part.strip()) for part in line.split(">>")]
        for name in names:
            upstream.setdefault(name, [])
        for before, after in itertools.pairwise(names):
            upstream[after].append(before)
    return snapshot_of(*(task(name, *deps, **_role(name)) for name, deps in upstream.items()))


def _name(token: str) -> str:
    return token[:-1] + "-f" if token.endswith("_") else token


def _role(name: str) -> dict[str, Any]:
    if name.startswith("s"):
        return {"setup": True}
    if name.startswith("t"):
        return {"teardown": True, **({"onFailureFailDagrun": True} if name.endswith("-f") else {})}
    return {}


# Airflow's test_tis_considered_for_state, case by case.
@pytest.mark.parametrize(
    ("lines", "leaves"),
    [
        (["s1 >> w1 >> t1"], {"w1"}),
        (["s1 >> w1 >> t1", "s1 >> t1"], {"w1"}),
        (["s1 >> w1"], {"w1"}),
        (["s1 >> w1 >> t1_"], {"t1-f"}),
        (["s1 >> w1 >> t1_", "s1 >> t1_"], {"t1-f"}),
        (["s1 >> w1 >> t1_ >> w2", "s1 >> t1_"], {"w2"}),
        (["t1 >> t2"], {"t2"}),
        (["w1 >> t1_ >> t2"], {"t1-f"}),
        (["w1 >> w2", "w1 >> w3"], {"w2", "w3"}),
    ],
)
def test_effective_leaves_decide_the_run(lines: list[str], leaves: set[str]) -> None:
    assert execution_plan(wired(*lines)).leaves == leaves


def _records(**states: TaskState) -> dict[str, TaskRecord]:
    return {name: TaskRecord(name=name, state=state) for name, state in states.items()}


S, F, UF, SK, R = (
    TaskState.SUCCESS,
    TaskState.FAILED,
    TaskState.UPSTREAM_FAILED,
    TaskState.SKIPPED,
    TaskState.RUNNING,
)


@pytest.mark.parametrize(
    ("states", "outcome"),
    [
        pytest.param({"w1": S, "t1": F}, RunState.SUCCESS, id="failed-teardown-ignored"),
        pytest.param({"w1": F, "t1": S}, RunState.FAILED, id="failed-leaf"),
        pytest.param({"w1": UF, "t1": UF}, RunState.FAILED, id="upstream-failed-leaf"),
        pytest.param({"w1": SK, "t1": S}, RunState.SUCCESS, id="skipped-leaf"),
        pytest.param({"w0": F, "w1": S, "t1": S}, RunState.SUCCESS, id="failed-inner-task"),
        pytest.param({"w1": F, "t1": R}, None, id="teardown-still-running"),
    ],
)
def test_run_outcome_from_the_leaves(
    states: dict[str, TaskState], outcome: RunState | None
) -> None:
    result = run_outcome({"w1"}, _records(**states))
    assert (result.state if result else None) is outcome


# extract -> transform -> load, and a cleanup teardown after load (the course notes'
# pipeline; with a setup that creates the scratch space, in the second form).
PIPELINES = {
    "teardown-only": snapshot_of(
        task("extract"),
        task("transform", "extract"),
        task("load", "transform"),
        task("cleanup", "load", teardown=True),
    ),
    "setup-and-teardown": snapshot_of(
        task("scratch", setup=True),
        task("extract", "scratch"),
        task("transform", "extract"),
        task("load", "transform"),
        task("cleanup", "load", "scratch", teardown=True),
    ),
}


@pytest.mark.parametrize("shape", list(PIPELINES))
def test_a_failed_load_fails_the_run_and_the_cleanup_runs(shape: str) -> None:
    run = run_through(PIPELINES[shape], exits={"load": 1})
    assert task_states(run)["load"] == "failed"
    assert task_states(run)["cleanup"] == "success"
    assert run.status.state is RunState.FAILED
    assert [c.message for c in run.status.conditions if c.type == "Succeeded"] == [
        "task load failed: exit code 1"
    ]


@pytest.mark.parametrize("shape", list(PIPELINES))
def test_a_failed_cleanup_does_not_fail_the_run(shape: str) -> None:
    run = run_through(PIPELINES[shape], exits={"cleanup": 1})
    assert task_states(run)["cleanup"] == "failed"
    assert run.status.state is RunState.SUCCESS


def test_on_failure_fail_dagrun_makes_a_failed_teardown_count() -> None:
    snapshot = snapshot_of(
        task("load"), task("cleanup", "load", teardown=True, onFailureFailDagrun=True)
    )
    run = run_through(snapshot, exits={"cleanup": 1})
    assert run.status.state is RunState.FAILED


def test_a_run_waits_for_its_teardown() -> None:
    snapshot = PIPELINES["teardown-only"]
    run = run_through(snapshot, exits={"load": 1}, passes=4)
    assert task_states(run)["load"] == "failed"
    assert task_states(run)["cleanup"] == "queued"
    assert run.status.state is RunState.RUNNING


def test_a_failed_setup_fails_its_work_and_its_teardown() -> None:
    run = run_through(PIPELINES["setup-and-teardown"], exits={"scratch": 1})
    states = task_states(run)
    assert (states["extract"], states["cleanup"]) == ("upstream_failed", "upstream_failed")
    assert run.status.state is RunState.FAILED


def test_a_skipped_setup_skips_its_teardown() -> None:
    run = run_through(PIPELINES["setup-and-teardown"], exits={"scratch": 99})
    assert set(task_states(run).values()) == {"skipped"}
    assert run.status.state is RunState.SUCCESS


def test_a_task_under_a_failed_indirect_setup_does_not_run_even_with_all_done() -> None:
    # Airflow's setup constraint: w2 needs s1 (whose teardown is below it) to have
    # succeeded, whatever its own rule says.
    snapshot = snapshot_of(
        task("s1", setup=True),
        task("w1", "s1"),
        task("w2", "w1", triggerRule="all_done"),
        task("t1", "w2", "s1", teardown=True),
    )
    run = run_through(snapshot, exits={"s1": 1})
    assert task_states(run) == {
        "s1": "failed",
        "w1": "upstream_failed",
        "w2": "upstream_failed",
        "t1": "upstream_failed",
    }


def test_a_task_waits_for_its_indirect_setup() -> None:
    snapshot = snapshot_of(
        task("s1", setup=True),
        task("m", "s1"),
        task("w0"),
        task("w1", "w0", "m", triggerRule="one_success"),
        task("t1", "w1", "s1", teardown=True),
    )
    run = running_run(snapshot)
    # w0 done, s1 still running: w1's own rule is met, but s1 is relevant to it (t1 is below).
    decision = advance(run, snapshot, pods={}, now=T0, task_slots=16)
    run.status = decision.status
    pods = {record_of(run, "w0").pod or "": pod(record_of(run, "w0").pod or "", "Succeeded", 0)}
    decision = advance(run, snapshot, pods=pods, now=T0, task_slots=16)
    assert task_states(run.model_copy(update={"status": decision.status}))["w1"] == "none"


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        pytest.param({"teardown": True}, TriggerRule.ALL_DONE_SETUP_SUCCESS, id="teardown"),
        pytest.param(
            {"teardown": True, "triggerRule": "all_done"}, TriggerRule.ALL_DONE, id="own-rule"
        ),
        pytest.param({}, TriggerRule.ONE_SUCCESS, id="work-task-takes-the-defaults"),
    ],
)
def test_a_teardowns_default_rule_wins_over_the_dags_defaults(
    fields: dict[str, Any], rule: TriggerRule
) -> None:
    spec = dag_spec(task("t", **fields), defaults={"triggerRule": "one_success"})
    assert resolve_task(TaskSpec.model_validate(task("t", **fields)), spec).trigger_rule is rule


def test_a_setups_work_tasks_must_use_all_success() -> None:
    spec = dag_spec(
        task("s1", setup=True),
        task("w1", "s1", triggerRule="all_done"),
        task("w2", "w1", triggerRule="all_done"),
        task("t1", "w2", "s1", teardown=True),
    )
    message = (
        "task 'w1' has triggerRule 'all_done' but follows setup task 's1'; a setup's downstream"
        " tasks other than teardowns must use all_success"
    )
    assert setup_teardown_problems(spec) == [message]
    assert [(p.reason, p.message) for p in validate_dag("etl", spec)] == [("InvalidSetup", message)]


# s1 >> w1 >> w2 >> t1, s1 >> t1, w0 >> w1; s2 >> w5, s2 >> t2 (t2 not below w5).
CLEARING = wired("s1 >> w1 >> w2 >> t1", "s1 >> t1", "w0 >> w1", "s2 >> w5", "s2 >> t2")


@pytest.mark.parametrize(
    ("names", "downstream", "upstream", "expected"),
    [
        (["w1"], False, False, {"w1", "s1", "t1"}),
        (["w2"], False, False, {"w2", "s1", "t1"}),
        (["t1"], False, False, {"t1"}),  # a teardown does not bring its setup
        (["s1"], False, False, {"s1", "t1"}),
        (["s1"], True, False, {"s1", "w1", "w2", "t1"}),
        (["w1"], True, False, {"w1", "w2", "t1", "s1"}),
        (["w2"], False, True, {"w2", "w1", "w0", "s1", "t1"}),
        (["w0"], True, False, {"w0", "w1", "w2", "t1", "s1"}),
        (["w0"], False, False, {"w0"}),
        (["w5"], False, False, {"w5"}),  # s2's teardown is not below w5: not relevant
        (["t2"], False, True, {"t2", "s2"}),
    ],
)
def test_clearing_brings_relevant_setups_and_their_teardowns(
    names: list[str], downstream: bool, upstream: bool, expected: set[str]
) -> None:
    plan = execution_plan(CLEARING)
    chosen = select_tasks(
        plan.graph, names, downstream=downstream, upstream=upstream, roles=plan.setup_teardown
    )
    assert chosen == expected


# Airflow's test_as_teardown_oneline: s1 >> w1 >> t1.as_teardown(setups=s1).
@pytest.mark.parametrize(
    ("name", "cleared"), [("s1", "s1 t1 w1"), ("w1", "s1 t1 w1"), ("t1", "t1")]
)
def test_airflows_cleared_tasks_downstream(name: str, cleared: str) -> None:
    plan = execution_plan(wired("s1 >> w1 >> t1", "s1 >> t1"))
    chosen = select_tasks(
        plan.graph, [name], downstream=True, upstream=False, roles=plan.setup_teardown
    )
    assert " ".join(sorted(chosen)) == cleared


def test_marking_downstream_leaves_teardowns_out() -> None:
    plan = execution_plan(CLEARING)
    roles = plan.setup_teardown
    assert select_to_mark(plan.graph, ["w1"], downstream=True, upstream=False, roles=roles) == {
        "w1",
        "w2",
    }
    assert select_to_mark(plan.graph, ["w2"], downstream=False, upstream=True, roles=roles) == {
        "w2",
        "w1",
        "w0",
        "s1",
    }


def test_clearing_a_failed_load_reruns_its_setup_and_teardown() -> None:
    snapshot = PIPELINES["setup-and-teardown"]
    failed = run_through(snapshot, exits={"load": 1})
    cleared = requested(failed, snapshot, action="clear", tasks=["load"])
    assert {n for n, s in task_states(cleared).items() if s == "none"} == {
        "load",
        "scratch",
        "cleanup",
    }
    again = run_through(snapshot, run=cleared)
    assert again.status.state is RunState.SUCCESS
    assert record_of(again, "scratch").try_number == 2


def test_marking_a_run_leaves_its_teardown_to_run_and_the_leaves_decide() -> None:
    snapshot = PIPELINES["teardown-only"]
    running = run_through(snapshot, passes=1)
    assert task_states(running)["extract"] == "queued"
    running.status.tasks[0].state = TaskState.RUNNING
    marked = requested(running, snapshot, action="markFailed")
    assert task_states(marked) == {
        "extract": "failed",
        "transform": "skipped",
        "load": "skipped",
        "cleanup": "none",
    }
    assert marked.status.state is RunState.RUNNING
    done = run_through(snapshot, run=marked)
    assert task_states(done)["cleanup"] == "success"
    # As in Airflow, the leaves decide once the teardown is done: load was skipped.
    assert done.status.state is RunState.SUCCESS


def test_marking_a_run_without_pending_teardowns_sets_its_state() -> None:
    snapshot = PIPELINES["teardown-only"]
    finished = run_through(snapshot, exits={"load": 1})
    marked = requested(finished, snapshot, action="markSuccess")
    assert marked.status.state is RunState.SUCCESS
    assert task_states(marked)["load"] == "failed"


def test_marking_a_task_success_clears_its_failed_setup_too() -> None:
    # Rule 16's second step clears the marked task's partial subset downstream, which holds
    # its relevant setups and their teardowns: the failed setup runs again.
    snapshot = PIPELINES["setup-and-teardown"]
    failed = run_through(snapshot, exits={"scratch": 1})
    marked = requested(failed, snapshot, action="markSuccess", tasks=["load"])
    states = task_states(marked)
    assert (states["load"], states["scratch"], states["cleanup"]) == ("success", "none", "none")
    assert (states["extract"], states["transform"]) == ("upstream_failed", "upstream_failed")
    again = run_through(snapshot, run=marked)
    assert task_states(again)["cleanup"] == "success"
    assert again.status.state is RunState.SUCCESS
