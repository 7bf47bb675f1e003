"""Branch and short-circuit tasks (Airflow's rules 18-21): what their outputs decide, how the
skips travel through every trigger rule, and that a cleared task they skipped is skipped
again. Expectations come from Airflow: providers/standard utils/skipmixin.py
(skip_all_except), operators/python.py (ShortCircuitOperator.execute) and
ti_deps/deps/trigger_rule_dep.py."""

from typing import Any

import pytest

from kubedag.core.execution_plan import execution_plan
from kubedag.core.skips import branch_problem, decide
from kubedag.models.dag import TriggerRule
from kubedag.models.dagrun import RunState, TaskRecord, TaskState
from tests.unit.builders import snapshot_of, task
from tests.unit.run_driver import record_of, requested, run_through, task_states

TR = TriggerRule

# pick -> a, b, join; a -> join: Airflow's own example of a join that is also directly
# downstream of the branch (skipmixin's comment).
PICK = snapshot_of(
    task("pick", branch=True),
    task("a", "pick"),
    task("b", "pick"),
    task("join", "pick", "a", triggerRule="none_failed_min_one_success"),
)


def _skipped_by_branch(value: Any, *, outputs: dict[str, Any] | None = None) -> list[str]:
    plan = execution_plan(PICK)
    record = TaskRecord(name="pick", state=TaskState.SUCCESS, exit_code=0)
    record.outputs = outputs if outputs is not None else {"branch": value}
    return sorted(decide(plan.deciders["pick"], record, plan.graph).skipped)


@pytest.mark.parametrize(
    ("value", "skipped"),
    [
        pytest.param("a", ["b"], id="a-and-the-join-below-it"),
        pytest.param("b", ["a", "join"], id="b-alone"),
        pytest.param(["a", "b"], [], id="both"),
        pytest.param([], ["a", "b", "join"], id="empty-list"),
        pytest.param(None, ["a", "b", "join"], id="null-follows-none"),
        pytest.param("join", ["a", "b"], id="the-join-only"),
        # Any task of the DAG is accepted, as in Airflow: what is below it is followed.
        pytest.param("pick", [], id="not-a-downstream-task"),
    ],
)
def test_a_branch_skips_the_direct_downstream_tasks_it_does_not_follow(
    value: Any, skipped: list[str]
) -> None:
    assert _skipped_by_branch(value) == skipped


def test_a_branch_without_output_or_key_follows_none() -> None:
    assert _skipped_by_branch(None, outputs={}) == ["a", "b", "join"]
    plan = execution_plan(PICK)
    record = TaskRecord(name="pick", state=TaskState.SUCCESS, exit_code=0)
    decision = decide(plan.deciders["pick"], record, plan.graph)
    assert sorted(decision.skipped) == ["a", "b", "join"]
    assert decision.summary == "followed none (its output has no 'branch')"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(
            "c",
            "output branch names 'c', not a task of this DAG; its downstream tasks: a, b, join",
            id="unknown",
        ),
        pytest.param(
            ["a", "jion"],
            "output branch names 'jion', not a task of this DAG; its downstream tasks: a, b,"
            " join (did you mean 'join' for 'jion'?)",
            id="misspelt",
        ),
        pytest.param(
            3,
            "output branch must be a task name, a list of task names or null, not 3",
            id="number",
        ),
        pytest.param(
            ["a", 1],
            'output branch must be a task name, a list of task names or null, not ["a", 1]',
            id="list-with-a-number",
        ),
        pytest.param({"a": 1}, "output branch must be", id="object"),
    ],
)
def test_a_bad_branch_output_is_named_with_what_is_allowed(value: Any, message: str) -> None:
    problem = branch_problem("pick", {"branch": value}, execution_plan(PICK).graph)
    assert problem is not None and problem.startswith(message)


@pytest.mark.parametrize(
    ("outputs", "skips"),
    [
        pytest.param({"condition": False}, True, id="false"),
        pytest.param({"condition": None}, True, id="null"),
        pytest.param({"condition": 0}, True, id="zero"),
        pytest.param({"condition": 0.0}, True, id="zero-float"),
        pytest.param({"condition": ""}, True, id="empty-string"),
        pytest.param({"condition": []}, True, id="empty-list"),
        pytest.param({"condition": {}}, True, id="empty-object"),
        pytest.param({}, True, id="no-key"),
        pytest.param(None, True, id="no-output"),
        pytest.param({"condition": True}, False, id="true"),
        pytest.param({"condition": 1}, False, id="one"),
        pytest.param({"condition": "false"}, False, id="the-string-false-is-true"),
        pytest.param({"condition": [0]}, False, id="non-empty-list"),
        pytest.param({"condition": {"a": None}}, False, id="non-empty-object"),
    ],
)
def test_a_short_circuit_condition_is_pythons_truthiness(
    outputs: dict[str, Any] | None, skips: bool
) -> None:
    snapshot = snapshot_of(task("check", shortCircuit=True), task("x", "check"))
    plan = execution_plan(snapshot)
    record = TaskRecord(name="check", state=TaskState.SUCCESS, exit_code=0, outputs=outputs)
    assert decide(plan.deciders["check"], record, plan.graph).skipped == (
        frozenset({"x"}) if skips else frozenset()
    )


@pytest.mark.parametrize(
    ("state", "exit_code"),
    [
        pytest.param(TaskState.RUNNING, None, id="running"),
        pytest.param(TaskState.FAILED, 0, id="failed-on-its-output"),
        pytest.param(TaskState.SUCCESS, None, id="marked-success-while-running"),
        pytest.param(TaskState.SUCCESS, 1, id="marked-success-after-failing"),
        pytest.param(TaskState.NONE, 0, id="cleared"),
    ],
)
def test_only_a_try_that_succeeded_by_itself_decides(state: TaskState, exit_code: int) -> None:
    plan = execution_plan(PICK)
    record = TaskRecord(name="pick", state=state, exit_code=exit_code, outputs={"branch": None})
    assert decide(plan.deciders["pick"], record, plan.graph).skipped == frozenset()


# After a branch that followed `a` and skipped `b`: the final state of `join` (after a and
# b) and of `after-b` (after b only), for each trigger rule (rule 19). Every run succeeds:
# its leaves end success or skipped.
BRANCH_PROPAGATION: dict[TriggerRule, tuple[str, str]] = {
    TR.ALL_SUCCESS: ("skipped", "skipped"),
    TR.ALL_FAILED: ("skipped", "skipped"),
    TR.ALL_DONE: ("success", "success"),
    TR.ALL_SKIPPED: ("skipped", "success"),
    TR.ONE_SUCCESS: ("success", "skipped"),
    TR.ONE_FAILED: ("skipped", "skipped"),
    TR.ONE_DONE: ("success", "skipped"),
    TR.NONE_FAILED: ("success", "success"),
    TR.NONE_FAILED_MIN_ONE_SUCCESS: ("success", "skipped"),
    TR.NONE_SKIPPED: ("skipped", "skipped"),
    TR.ALWAYS: ("success", "success"),
    TR.ALL_DONE_SETUP_SUCCESS: ("success", "success"),
    TR.ALL_DONE_MIN_ONE_SUCCESS: ("skipped", "skipped"),
}


def test_the_propagation_tables_cover_every_rule() -> None:
    assert set(BRANCH_PROPAGATION) == set(TriggerRule)
    assert set(SHORT_CIRCUIT_PROPAGATION) == set(TriggerRule)


@pytest.mark.parametrize("rule", list(TriggerRule), ids=lambda r: r.value)
def test_branch_skips_travel_through_each_trigger_rule(rule: TriggerRule) -> None:
    snapshot = snapshot_of(
        task("pick", branch=True),
        task("a", "pick"),
        task("b", "pick"),
        task("join", "a", "b", triggerRule=rule.value),
        task("after-b", "b", triggerRule=rule.value),
    )
    run = run_through(snapshot, outputs={"pick": {"branch": "a"}})
    states = task_states(run)
    assert (states["pick"], states["a"], states["b"]) == ("success", "success", "skipped")
    assert (states["join"], states["after-b"]) == BRANCH_PROPAGATION[rule]
    assert run.status.state is RunState.SUCCESS
    assert record_of(run, "b").message == "skipped by branch pick"
    assert record_of(run, "pick").message == "followed a"


# check (short-circuit, condition false) -> x -> y, and w -> y: y's final state with
# ignoreDownstreamTriggerRules true, then false (rule 20). With true every task below is
# skipped whatever its rule; `always` had started before the check decided (it waits for
# nothing), so it runs. With false only x is skipped and y's rule decides.
SHORT_CIRCUIT_PROPAGATION: dict[TriggerRule, tuple[str, str]] = {
    TR.ALL_SUCCESS: ("skipped", "skipped"),
    TR.ALL_FAILED: ("skipped", "skipped"),
    TR.ALL_DONE: ("skipped", "success"),
    TR.ALL_SKIPPED: ("skipped", "skipped"),
    TR.ONE_SUCCESS: ("skipped", "success"),
    TR.ONE_FAILED: ("skipped", "skipped"),
    TR.ONE_DONE: ("skipped", "success"),
    TR.NONE_FAILED: ("skipped", "success"),
    TR.NONE_FAILED_MIN_ONE_SUCCESS: ("skipped", "success"),
    TR.NONE_SKIPPED: ("skipped", "skipped"),
    TR.ALWAYS: ("success", "success"),
    TR.ALL_DONE_SETUP_SUCCESS: ("skipped", "success"),
    TR.ALL_DONE_MIN_ONE_SUCCESS: ("skipped", "skipped"),
}


@pytest.mark.parametrize("ignore", [True, False], ids=["ignore-rules", "respect-rules"])
@pytest.mark.parametrize("rule", list(TriggerRule), ids=lambda r: r.value)
def test_short_circuit_skips_through_each_trigger_rule(rule: TriggerRule, ignore: bool) -> None:
    snapshot = snapshot_of(
        task("check", shortCircuit=True, ignoreDownstreamTriggerRules=ignore),
        task("w"),
        task("x", "check"),
        task("y", "x", "w", triggerRule=rule.value),
    )
    run = run_through(snapshot, outputs={"check": {"condition": False}})
    states = task_states(run)
    assert (states["check"], states["w"], states["x"]) == ("success", "success", "skipped")
    assert states["y"] == SHORT_CIRCUIT_PROPAGATION[rule][0 if ignore else 1]
    assert record_of(run, "x").message == "skipped by short-circuit check"
    assert run.status.state is RunState.SUCCESS


def test_a_true_condition_lets_everything_run() -> None:
    snapshot = snapshot_of(task("check", shortCircuit=True), task("x", "check"), task("y", "x"))
    run = run_through(snapshot, outputs={"check": {"condition": "yes"}})
    assert task_states(run) == {"check": "success", "x": "success", "y": "success"}


def test_a_short_circuit_never_skips_a_teardown() -> None:
    snapshot = snapshot_of(
        task("check", shortCircuit=True),
        task("x", "check"),
        task("cleanup", "x", teardown=True),
    )
    run = run_through(snapshot, outputs={"check": {"condition": 0}})
    assert task_states(run) == {"check": "success", "x": "skipped", "cleanup": "success"}


def test_exit_code_99_skips_the_deciding_task_itself_and_decides_nothing() -> None:
    run = run_through(PICK, exits={"pick": 99}, outputs={"pick": {"branch": "a"}})
    assert task_states(run) == {
        "pick": "skipped",
        "a": "skipped",
        "b": "skipped",
        "join": "skipped",
    }
    assert record_of(run, "a").message == "skipped by trigger rule all_success"


def test_a_branch_naming_an_unknown_task_fails_with_the_message() -> None:
    run = run_through(PICK, outputs={"pick": {"branch": "lod"}})
    pick = record_of(run, "pick")
    assert pick.state is TaskState.FAILED and pick.exit_code == 0
    assert pick.message is not None and "names 'lod', not a task of this DAG" in pick.message
    assert task_states(run)["a"] == "upstream_failed"
    assert run.status.state is RunState.FAILED


def test_a_bad_branch_output_is_a_failed_try_that_is_retried() -> None:
    snapshot = snapshot_of(task("pick", branch=True, retries=1), task("a", "pick"))
    run = run_through(snapshot, outputs={"pick": {"branch": 7}}, passes=2)
    assert record_of(run, "pick").state is TaskState.UP_FOR_RETRY


# Rule 21: the decision is read again from the deciding task's record, so a task it skipped
# that is cleared is skipped again; a deciding task cleared and run again decides anew.
def test_a_cleared_task_that_a_branch_skipped_is_skipped_again() -> None:
    done = run_through(PICK, outputs={"pick": {"branch": "a"}})
    assert task_states(done)["b"] == "skipped"
    cleared = requested(done, PICK, action="clear", tasks=["b"])
    assert cleared.status.state is RunState.QUEUED and task_states(cleared)["b"] == "none"
    again = run_through(PICK, run=cleared, passes=2)
    assert task_states(again)["b"] == "skipped"
    assert record_of(again, "b").try_number == 0  # no pod was started for it
    assert again.status.state is RunState.SUCCESS


def test_a_cleared_branch_decides_again() -> None:
    done = run_through(PICK, outputs={"pick": {"branch": "a"}})
    cleared = requested(done, PICK, action="clear", tasks=["pick"], downstream=True)
    again = run_through(PICK, run=cleared, outputs={"pick": {"branch": "b"}})
    assert task_states(again) == {
        "pick": "success",
        "a": "skipped",
        "b": "success",
        "join": "skipped",
    }


def test_a_cleared_task_below_a_short_circuit_is_skipped_again() -> None:
    snapshot = snapshot_of(
        task("check", shortCircuit=True), task("x", "check"), task("y", "x", triggerRule="all_done")
    )
    done = run_through(snapshot, outputs={"check": {"condition": False}})
    assert task_states(done) == {"check": "success", "x": "skipped", "y": "skipped"}
    again = run_through(snapshot, run=requested(done, snapshot, action="clear", tasks=["y"]))
    assert task_states(again)["y"] == "skipped"


def test_a_branch_marked_success_without_running_decides_nothing() -> None:
    failed = run_through(PICK, exits={"pick": 1})
    assert task_states(failed)["a"] == "upstream_failed"
    marked = requested(failed, PICK, action="markSuccess", tasks=["pick"])
    again = run_through(PICK, run=marked)
    assert task_states(again) == {
        "pick": "success",
        "a": "success",
        "b": "success",
        "join": "success",
    }
