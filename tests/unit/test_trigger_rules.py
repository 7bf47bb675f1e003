"""Trigger rules against Apache Airflow 2.x TriggerRuleDep semantics.

Expectations come from Airflow, not from kubedag's code: airflow/ti_deps/deps/trigger_rule_dep.py
(`_evaluate_direct_relatives`, scheduler path with flag_upstream_failed=True) and the "Trigger
Rules" section of the Airflow DAG concepts docs. In Airflow a task with no upstream, or with the
`always` rule, passes outright; otherwise the rule may first settle the task as skipped or
upstream_failed from the *finished* upstream states (success, failed, upstream_failed, skipped),
and then the rule is either met (run) or not (wait). Running, queued, scheduled, none and
up_for_retry upstream tasks are not finished.
"""

import itertools
from collections.abc import Sequence

import pytest

from kubedag.core.trigger_rules import Verdict, evaluate
from kubedag.models.dag import TriggerRule
from kubedag.models.dagrun import TaskState

S = TaskState.SUCCESS
F = TaskState.FAILED
UF = TaskState.UPSTREAM_FAILED
SK = TaskState.SKIPPED
R = TaskState.RUNNING
Q = TaskState.QUEUED
SC = TaskState.SCHEDULED
N = TaskState.NONE
UR = TaskState.UP_FOR_RETRY

TR = TriggerRule
RUN = Verdict.RUN
WAIT = Verdict.WAIT
SKIP = Verdict.SKIP
UPF = Verdict.UPSTREAM_FAILED

# Column order of the table below.
RULES: tuple[TriggerRule, ...] = (
    TR.ALL_SUCCESS,
    TR.ALL_FAILED,
    TR.ALL_DONE,
    TR.ALL_SKIPPED,
    TR.ONE_SUCCESS,
    TR.ONE_FAILED,
    TR.ONE_DONE,
    TR.NONE_FAILED,
    TR.NONE_FAILED_MIN_ONE_SUCCESS,
    TR.NONE_SKIPPED,
    TR.ALWAYS,
)

_CODES = {"run": RUN, "wait": WAIT, "skip": SKIP, "upf": UPF}

# Upstream states, then the expected verdict per rule in RULES order:
#   all_success all_failed all_done all_skipped one_success one_failed one_done
#   none_failed none_failed_min_one_success none_skipped always
# Hand-derived from Airflow's TriggerRuleDep (see the module docstring).
TABLE: tuple[tuple[str, tuple[TaskState, ...], str], ...] = (
    ("all-success", (S, S, S), "run  skip run  skip run  skip run  run  run  run  run"),
    ("single-success", (S,), "run  skip run  skip run  skip run  run  run  run  run"),
    ("success+skipped", (S, SK), "skip skip run  skip run  skip run  run  run  skip run"),
    ("success+failed", (S, F), "upf  skip run  skip run  run  run  upf  upf  run  run"),
    ("success+upstream_failed", (S, UF), "upf  skip run  skip run  run  run  upf  upf  run  run"),
    ("success+running", (S, R), "wait skip wait skip run  wait run  wait wait wait run"),
    ("success+queued", (S, Q), "wait skip wait skip run  wait run  wait wait wait run"),
    ("success+scheduled", (S, SC), "wait skip wait skip run  wait run  wait wait wait run"),
    ("success+none", (S, N), "wait skip wait skip run  wait run  wait wait wait run"),
    ("success+up_for_retry", (S, UR), "wait skip wait skip run  wait run  wait wait wait run"),
    ("all-skipped", (SK, SK), "skip skip run  run  skip skip skip run  skip skip run"),
    ("single-skipped", (SK,), "skip skip run  run  skip skip skip run  skip skip run"),
    ("all-failed", (F, F), "upf  run  run  skip upf  run  run  upf  upf  run  run"),
    ("single-failed", (F,), "upf  run  run  skip upf  run  run  upf  upf  run  run"),
    ("failed+upstream_failed", (F, UF), "upf  run  run  skip upf  run  run  upf  upf  run  run"),
    ("all-upstream_failed", (UF, UF), "upf  run  run  skip upf  run  skip upf  upf  run  run"),
    ("failed+skipped", (F, SK), "upf  skip run  skip upf  run  run  upf  upf  skip run"),
    ("upstream_failed+skipped", (UF, SK), "upf  skip run  skip upf  run  skip upf  upf  skip run"),
    ("failed+running", (F, R), "upf  wait wait skip wait run  run  upf  upf  wait run"),
    ("upstream_failed+running", (UF, R), "upf  wait wait skip wait run  wait upf  upf  wait run"),
    ("skipped+running", (SK, R), "skip skip wait wait wait wait wait wait wait skip run"),
    ("skipped+up_for_retry", (SK, UR), "skip skip wait wait wait wait wait wait wait skip run"),
    ("all-running", (R, R), "wait wait wait wait wait wait wait wait wait wait run"),
    ("all-none", (N, N, N), "wait wait wait wait wait wait wait wait wait wait run"),
    ("single-up_for_retry", (UR,), "wait wait wait wait wait wait wait wait wait wait run"),
    ("mixed-queued+scheduled", (Q, SC), "wait wait wait wait wait wait wait wait wait wait run"),
    ("success+failed+skipped", (S, F, SK), "upf  skip run  skip run  run  run  upf  upf  skip run"),
    ("success+skip+running", (S, SK, R), "skip skip wait skip run  wait run  wait wait skip run"),
    ("success+success+failed", (S, S, F), "upf  skip run  skip run  run  run  upf  upf  run  run"),
    ("skip+skip+success", (SK, SK, S), "skip skip run  skip run  skip run  run  run  skip run"),
)


def _table_cases() -> list[object]:
    cases: list[object] = []
    for name, states, codes in TABLE:
        verdicts = [_CODES[code] for code in codes.split()]
        assert len(verdicts) == len(RULES), name
        for rule, verdict in zip(RULES, verdicts, strict=True):
            cases.append(pytest.param(rule, states, verdict, id=f"{rule.value}-{name}"))
    return cases


@pytest.mark.parametrize(("rule", "states", "expected"), _table_cases())
def test_rule_table(rule: TriggerRule, states: tuple[TaskState, ...], expected: Verdict) -> None:
    assert evaluate(rule, states) is expected


@pytest.mark.parametrize("rule", list(TriggerRule), ids=lambda r: r.value)
def test_no_upstream_always_runs(rule: TriggerRule) -> None:
    # Airflow: "The task instance did not have any upstream tasks." -> passing status.
    assert evaluate(rule, []) is RUN


def test_table_covers_every_rule() -> None:
    assert set(RULES) == set(TriggerRule)


# ---------------------------------------------------------------------------------------------
# Exhaustive cross-check against a reference model transcribed from Airflow's
# `_evaluate_direct_relatives` (the new_state block, then the "is the rule met" block).
# ---------------------------------------------------------------------------------------------

_FINISHED = {S, F, UF, SK}


def _airflow_reference(rule: TriggerRule, states: Sequence[TaskState]) -> Verdict:
    upstream = len(states)
    if not upstream or rule is TR.ALWAYS:
        return RUN
    success = sum(1 for s in states if s is S)
    skipped = sum(1 for s in states if s is SK)
    failed = sum(1 for s in states if s is F)
    upstream_failed = sum(1 for s in states if s is UF)
    done = sum(1 for s in states if s in _FINISHED)
    upstream_done = done >= upstream

    new_state: Verdict | None = None
    if rule is TR.ALL_SUCCESS:
        if upstream_failed or failed:
            new_state = UPF
        elif skipped:
            new_state = SKIP
    elif rule is TR.ALL_FAILED:
        if success or skipped:
            new_state = SKIP
    elif rule is TR.ONE_SUCCESS:
        if upstream_done and done == skipped:
            new_state = SKIP
        elif upstream_done and success <= 0:
            new_state = UPF
    elif rule is TR.ONE_FAILED:
        if upstream_done and not (failed or upstream_failed):
            new_state = SKIP
    elif rule is TR.ONE_DONE:
        if upstream_done and not (failed or success):
            new_state = SKIP
    elif rule is TR.NONE_FAILED:
        if upstream_failed or failed:
            new_state = UPF
    elif rule is TR.NONE_FAILED_MIN_ONE_SUCCESS:
        if upstream_failed or failed:
            new_state = UPF
        elif skipped == upstream:
            new_state = SKIP
    elif rule is TR.NONE_SKIPPED:
        if skipped:
            new_state = SKIP
    elif rule is TR.ALL_SKIPPED and (success or failed or upstream_failed):
        new_state = SKIP
    if new_state is not None:
        return new_state

    met = {
        TR.ONE_SUCCESS: success > 0,
        TR.ONE_FAILED: bool(failed or upstream_failed),
        TR.ONE_DONE: success + failed > 0,
        TR.ALL_SUCCESS: upstream - success <= 0,
        TR.ALL_FAILED: upstream - failed - upstream_failed <= 0,
        TR.ALL_DONE: upstream_done,
        TR.NONE_FAILED: upstream - success - skipped <= 0,
        TR.NONE_FAILED_MIN_ONE_SUCCESS: upstream - success - skipped <= 0,
        TR.NONE_SKIPPED: upstream_done and skipped <= 0,
        TR.ALL_SKIPPED: upstream - skipped <= 0,
    }[rule]
    return RUN if met else WAIT


def _all_upstream_multisets(max_size: int) -> list[tuple[TaskState, ...]]:
    return [
        combo
        for size in range(1, max_size + 1)
        for combo in itertools.combinations_with_replacement(list(TaskState), size)
    ]


def test_reference_model_agrees_with_hand_table() -> None:
    # Guards the reference model itself: it must reproduce every hand-derived row.
    for name, states, codes in TABLE:
        for rule, code in zip(RULES, codes.split(), strict=True):
            assert _airflow_reference(rule, states) is _CODES[code], (rule, name)


@pytest.mark.parametrize("rule", list(TriggerRule), ids=lambda r: r.value)
def test_every_upstream_combination_up_to_four(rule: TriggerRule) -> None:
    combos = _all_upstream_multisets(4)
    assert len(combos) == 10 + 55 + 220 + 715  # 10 task states, restarting included
    mismatches = [
        (combo, got, want)
        for combo in combos
        if (got := evaluate(rule, combo)) is not (want := _airflow_reference(rule, combo))
    ]
    assert mismatches == []


@pytest.mark.parametrize(
    ("rule", "states"),
    [
        pytest.param(TR.ONE_SUCCESS, (R, F, S), id="one_success"),
        pytest.param(TR.ALL_SUCCESS, (S, SK, R), id="all_success"),
        pytest.param(TR.NONE_FAILED_MIN_ONE_SUCCESS, (SK, S, Q), id="nfmos"),
        pytest.param(TR.ONE_DONE, (UF, SK, N), id="one_done"),
    ],
)
def test_order_of_upstream_states_does_not_matter(
    rule: TriggerRule, states: tuple[TaskState, ...]
) -> None:
    verdicts = {evaluate(rule, list(p)) for p in itertools.permutations(states)}
    assert len(verdicts) == 1


@pytest.mark.parametrize(
    ("rule", "states", "expected"),
    [
        pytest.param(TR.ALL_SUCCESS, (S, S), RUN, id="all_success"),
        pytest.param(TR.ONE_FAILED, (R, F), RUN, id="one_failed"),
        pytest.param(TR.ALL_DONE, (SK, R), WAIT, id="all_done"),
    ],
)
def test_accepts_a_one_shot_iterator(
    rule: TriggerRule, states: tuple[TaskState, ...], expected: Verdict
) -> None:
    assert evaluate(rule, iter(states)) is expected


@pytest.mark.parametrize(
    ("rule", "states", "expected"),
    [
        # "one_failed: ... (does not wait for all upstream tasks to be done)"
        pytest.param(TR.ONE_FAILED, (F, R, R, Q), RUN, id="one_failed-no-wait"),
        # "one_success: ... (does not wait for all upstream tasks to be done)"
        pytest.param(TR.ONE_SUCCESS, (S, R, N, UR), RUN, id="one_success-no-wait"),
        # "all_done: All upstream tasks are done with their execution" - a retrying one is not.
        pytest.param(TR.ALL_DONE, (S, F, UR), WAIT, id="all_done-waits-for-retry"),
        # "none_failed_min_one_success" - all skipped has no success: skipped, not run.
        pytest.param(TR.NONE_FAILED_MIN_ONE_SUCCESS, (SK, SK, SK), SKIP, id="nfmos-all-skipped"),
        # "none_failed" - all skipped is still "none failed".
        pytest.param(TR.NONE_FAILED, (SK, SK, SK), RUN, id="none_failed-all-skipped"),
        # "all_skipped" - a single success anywhere settles it as skipped early.
        pytest.param(TR.ALL_SKIPPED, (SK, S, R), SKIP, id="all_skipped-early-skip"),
        # "always" - never waits.
        pytest.param(TR.ALWAYS, (R, F, N), RUN, id="always-ignores-upstream"),
    ],
)
def test_documented_examples(
    rule: TriggerRule, states: tuple[TaskState, ...], expected: Verdict
) -> None:
    assert evaluate(rule, states) is expected


def test_large_fan_in() -> None:
    many = [S] * 2_000
    assert evaluate(TR.ALL_SUCCESS, many) is RUN
    assert evaluate(TR.ALL_SUCCESS, [*many, R]) is WAIT
    assert evaluate(TR.ALL_SUCCESS, [*many, SK]) is SKIP
    assert evaluate(TR.ONE_FAILED, [*many, UF]) is RUN
