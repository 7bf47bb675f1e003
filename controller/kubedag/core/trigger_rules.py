"""Airflow's trigger rules: whether a task may run, must wait, or is settled by its upstream.

Mirrors Airflow 2's TriggerRuleDep: a rule first decides whether the upstream states already
settle the task as skipped or upstream_failed, then whether the rule is met.
"""

from collections import Counter
from collections.abc import Iterable
from enum import Enum

from kubedag.models.dag import TriggerRule
from kubedag.models.dagrun import TaskState


class Verdict(Enum):
    WAIT = "wait"
    RUN = "run"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"


def evaluate(rule: TriggerRule, upstream_states: Iterable[TaskState]) -> Verdict:
    """What the task should do now, given the current states of its upstream tasks."""
    states = list(upstream_states)
    if rule is TriggerRule.ALWAYS or not states:
        return Verdict.RUN
    count = Counter(states)
    total = len(states)
    success = count[TaskState.SUCCESS]
    skipped = count[TaskState.SKIPPED]
    failed = count[TaskState.FAILED]
    upstream_failed = count[TaskState.UPSTREAM_FAILED]
    done = success + skipped + failed + upstream_failed
    all_done = done == total

    settled = _settled(rule, total, success, skipped, failed, upstream_failed, all_done)
    if settled is not None:
        return settled
    return (
        Verdict.RUN
        if _met(rule, total, success, skipped, failed, upstream_failed, all_done)
        else Verdict.WAIT
    )


def _settled(
    rule: TriggerRule,
    total: int,
    success: int,
    skipped: int,
    failed: int,
    upstream_failed: int,
    all_done: bool,
) -> Verdict | None:
    """The state upstream already forces on the task, if any."""
    any_failed = failed or upstream_failed
    match rule:
        case TriggerRule.ALL_SUCCESS:
            if any_failed:
                return Verdict.UPSTREAM_FAILED
            if skipped:
                return Verdict.SKIP
        case TriggerRule.ALL_FAILED:
            if success or skipped:
                return Verdict.SKIP
        case TriggerRule.ALL_SKIPPED:
            if success or any_failed:
                return Verdict.SKIP
        case TriggerRule.ONE_SUCCESS:
            if all_done and skipped == total:
                return Verdict.SKIP
            if all_done and not success:
                return Verdict.UPSTREAM_FAILED
        case TriggerRule.ONE_FAILED:
            if all_done and not any_failed:
                return Verdict.SKIP
        case TriggerRule.ONE_DONE:
            if all_done and not (failed or success):
                return Verdict.SKIP
        case TriggerRule.NONE_FAILED:
            if any_failed:
                return Verdict.UPSTREAM_FAILED
        case TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
            if any_failed:
                return Verdict.UPSTREAM_FAILED
            if skipped == total:
                return Verdict.SKIP
        case TriggerRule.NONE_SKIPPED:
            if skipped:
                return Verdict.SKIP
        case TriggerRule.ALL_DONE | TriggerRule.ALWAYS:
            pass
    return None


def _met(
    rule: TriggerRule,
    total: int,
    success: int,
    skipped: int,
    failed: int,
    upstream_failed: int,
    all_done: bool,
) -> bool:
    match rule:
        case TriggerRule.ALL_SUCCESS:
            return success == total
        case TriggerRule.ALL_FAILED:
            return failed + upstream_failed == total
        case TriggerRule.ALL_DONE:
            return all_done
        case TriggerRule.ALL_SKIPPED:
            return skipped == total
        case TriggerRule.ONE_SUCCESS:
            return success > 0
        case TriggerRule.ONE_FAILED:
            return failed + upstream_failed > 0
        case TriggerRule.ONE_DONE:
            return success + failed > 0
        case TriggerRule.NONE_FAILED | TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
            return success + skipped == total
        case TriggerRule.NONE_SKIPPED:
            return all_done and skipped == 0
        case TriggerRule.ALWAYS:
            return True
