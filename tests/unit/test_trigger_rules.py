"""Trigger rules against Apache Airflow 3 TriggerRuleDep semantics.

Expectations come from Airflow, not from kubedag's code: airflow/ti_deps/deps/trigger_rule_dep.py
(`_evaluate_direct_relatives` and `_evaluate_setup_constraint`, scheduler path with
flag_upstream_failed=True) and the "Trigger Rules" section of the Airflow DAG concepts docs. In
Airflow a task with no upstream, or with the `always` rule, passes outright; otherwise the rule
may first settle the task as skipped or upstream_failed from the *finished* upstream states
(success, failed, upstream_failed, skipped), and then the rule is either met (run) or not
(wait). Running, queued, scheduled, none and up_for_retry upstream tasks are not finished.
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
    TR.ALL_DONE_SETUP_SUCCESS,
    TR.ALL_DONE_MIN_ONE_SUCCESS,
)

_CODES = {"R": RUN, "W": WAIT, "S": SKIP, "U": UPF}

# Upstream states, then the expected verdict per rule in RULES order (R run, W wait, S skip,
# U upstream_failed):
#   all_success all_failed all_done all_skipped one_success one_failed one_done
#   none_failed none_failed_min_one_success none_skipped always
#   all_done_setup_success (no upstream setup here: as all_done) all_done_min_one_success
# Hand-derived from Airflow's TriggerRuleDep (see the module docstring).
TABLE: tuple[tuple[str, tuple[TaskState, ...], str], ...] = (
    ("all-success", (S, S, S), "R S R S R S R R R R R R R"),
    ("single-success", (S,), "R S R S R S R R R R R R R"),
    ("success+skipped", (S, SK), "S S R S R S R R R S R R S"),
    ("success+failed", (S, F), "U S R S R R R U U R R R R"),
    ("success+upstream_failed", (S, UF), "U S R S R R R U U R R R R"),
    ("success+running", (S, R), "W S W S R W R W W W R W W"),
    ("success+queued", (S, Q), "W S W S R W R W W W R W W"),
    ("success+scheduled", (S, SC), "W S W S R W R W W W R W W"),
    ("success+none", (S, N), "W S W S R W R W W W R W W"),
    ("success+up_for_retry", (S, UR), "W S W S R W R W W W R W W"),
    ("all-skipped", (SK, SK), "S S R R S S S R S S R R S"),
    ("single-skipped", (SK,), "S S R R S S S R S S R R S"),
    ("all-failed", (F, F), "U R R S U R R U U R R R U"),
    ("single-failed", (F,), "U R R S U R R U U R R R U"),
    ("failed+upstream_failed", (F, UF), "U R R S U R R U U R R R U"),
    ("all-upstream_failed", (UF, UF), "U R R S U R S U U R R R U"),
    ("failed+skipped", (F, SK), "U S R S U R R U U S R R S"),
    ("upstream_failed+skipped", (UF, SK), "U S R S U R S U U S R R S"),
    ("failed+running", (F, R), "U W W S W R R U U W R W W"),
    ("upstream_failed+running", (UF, R), "U W W S W R W U U W R W W"),
    ("skipped+running", (SK, R), "S S W W W W W W W S R W S"),
    ("skipped+up_for_retry", (SK, UR), "S S W W W W W W W S R W S"),
    ("all-running", (R, R), "W W W W W W W W W W R W W"),
    ("all-none", (N, N, N), "W W W W W W W W W W R W W"),
    ("single-up_for_retry", (UR,), "W W W W W W W W W W R W W"),
    ("mixed-queued+scheduled", (Q, SC), "W W W W W W W W W W R W W"),
    ("success+failed+skipped", (S, F, SK), "U S R S R R R U U S R R S"),
    ("success+skip+running", (S, SK, R), "S S W S R W R W W S R W S"),
    ("success+success+failed", (S, S, F), "U S R S R R R U U R R R R"),
    ("skip+skip+success", (SK, SK, S), "S S R S R S R R R S R R S"),
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


def _airflow_reference(
    rule: TriggerRule, states: Sequence[TaskState], setup_states: Sequence[TaskState] = ()
) -> Verdict:
    upstream = len(states)
    if not upstream or rule is TR.ALWAYS:
        return RUN
    success = sum(1 for s in states if s is S)
    skipped = sum(1 for s in states if s is SK)
    failed = sum(1 for s in states if s is F)
    upstream_failed = sum(1 for s in states if s is UF)
    done = sum(1 for s in states if s in _FINISHED)
    upstream_done = done >= upstream
    upstream_setup = len(setup_states)
    success_setup = sum(1 for s in setup_states if s is S)
    skipped_setup = sum(1 for s in setup_states if s is SK)

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
    elif rule is TR.ALL_SKIPPED:
        if success or failed or upstream_failed:
            new_state = SKIP
    elif rule is TR.ALL_DONE_MIN_ONE_SUCCESS:
        if skipped > 0:
            new_state = SKIP
        elif success + failed + upstream_failed >= upstream - skipped and success == 0:
            new_state = UPF
    elif rule is TR.ALL_DONE_SETUP_SUCCESS:
        if upstream_done and upstream_setup and skipped_setup >= upstream_setup:
            new_state = SKIP
        elif upstream_done and upstream_setup and success_setup == 0:
            new_state = UPF
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
        TR.ALL_DONE_SETUP_SUCCESS: upstream_done and not (upstream_setup and not success_setup),
        TR.ALL_DONE_MIN_ONE_SUCCESS: (
            skipped == 0 and success + failed + upstream_failed >= upstream and success > 0
        ),
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
    assert len(combos) == 11 + 66 + 286 + 1001  # 11 task states, restarting and deferred included
    mismatches = [
        (combo, got, want)
        for combo in combos
        if (got := evaluate(rule, combo)) is not (want := _airflow_reference(rule, combo))
    ]
    assert mismatches == []


def _setup_splits(max_size: int) -> list[tuple[tuple[TaskState, ...], tuple[TaskState, ...]]]:
    """Every upstream combination up to `max_size`, with every choice of which are setups."""
    splits = []
    for combo in _all_upstream_multisets(max_size):
        for mask in itertools.product((False, True), repeat=len(combo)):
            setups = tuple(s for s, is_setup in zip(combo, mask, strict=True) if is_setup)
            splits.append((combo, setups))
    return splits


def test_all_done_setup_success_against_the_reference_for_every_setup_split() -> None:
    mismatches = [
        (combo, setups)
        for combo, setups in _setup_splits(3)
        if evaluate(TR.ALL_DONE_SETUP_SUCCESS, combo, setup_states=setups)
        is not _airflow_reference(TR.ALL_DONE_SETUP_SUCCESS, combo, setups)
    ]
    assert mismatches == []


# A teardown (all_done_setup_success) after its setup and the work between them: upstream
# states, which of them are setups' states, the verdict (Airflow's rule 27).
SETUP_TABLE: tuple[tuple[str, tuple[TaskState, ...], tuple[TaskState, ...], Verdict], ...] = (
    ("setup-ok-work-failed", (S, F), (S,), RUN),
    ("setup-ok-work-upstream-failed", (S, UF), (S,), RUN),
    ("setup-ok-work-skipped", (S, SK), (S,), RUN),
    ("setup-failed", (F, UF), (F,), UPF),
    ("setup-skipped", (SK, SK), (SK,), SKIP),
    ("one-of-two-setups-ok", (S, F, UF), (S, F), RUN),
    ("setups-skipped-and-failed", (SK, F, UF), (SK, F), UPF),
    ("setup-ok-work-running", (S, R), (S,), WAIT),
    ("setup-running", (R, N), (R,), WAIT),
    ("no-setup-upstream", (F, SK), (), RUN),
)


@pytest.mark.parametrize(
    ("upstream", "setups", "expected"),
    [pytest.param(u, s, v, id=name) for name, u, s, v in SETUP_TABLE],
)
def test_teardown_rule_reads_its_setups(
    upstream: tuple[TaskState, ...], setups: tuple[TaskState, ...], expected: Verdict
) -> None:
    verdict = evaluate(TR.ALL_DONE_SETUP_SUCCESS, upstream, setup_states=setups)
    assert verdict is expected


# Airflow's setup constraint: a work task under a setup it does not depend on directly.
@pytest.mark.parametrize(
    ("rule", "upstream", "indirect", "expected"),
    [
        pytest.param(TR.ALL_DONE, (UF,), (F,), UPF, id="failed-setup-fails-all_done"),
        pytest.param(TR.ALL_DONE, (S,), (UF,), UPF, id="upstream-failed-setup"),
        pytest.param(TR.ALL_DONE, (S,), (SK,), SKIP, id="skipped-setup-skips"),
        pytest.param(TR.ALL_SUCCESS, (S,), (R,), WAIT, id="waits-for-the-setup"),
        pytest.param(TR.ALL_SUCCESS, (SK,), (R,), SKIP, id="own-rule-still-settles"),
        pytest.param(TR.ALL_DONE, (F,), (S,), RUN, id="setup-ok-rule-decides"),
        pytest.param(TR.ALL_SUCCESS, (F,), (S,), UPF, id="setup-ok-rule-fails"),
        pytest.param(TR.ONE_FAILED, (F, R), (S, S), RUN, id="every-setup-ok"),
        pytest.param(TR.ALWAYS, (F,), (F,), RUN, id="always-ignores-setups"),
    ],
)
def test_indirect_setups_constrain_a_task(
    rule: TriggerRule,
    upstream: tuple[TaskState, ...],
    indirect: tuple[TaskState, ...],
    expected: Verdict,
) -> None:
    assert evaluate(rule, upstream, indirect_setup_states=indirect) is expected


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
