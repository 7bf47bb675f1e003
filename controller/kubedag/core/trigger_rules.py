"""Airflow's trigger rules: whether a task may run, must wait, or is settled by its upstream.

Mirrors Airflow 3's TriggerRuleDep: a rule first decides whether the upstream states already
settle the task as skipped or upstream_failed, then whether the rule is met. A task under
setups it does not depend on directly (its "indirect" setups, see core/setup_teardown.py)
also waits for them to succeed, and fails or skips with them, before its own rule counts.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from kubedag.models.dag import TriggerRule
from kubedag.models.dagrun import TaskState


class Verdict(Enum):
    WAIT = "wait"
    RUN = "run"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"


_SETTLED = (Verdict.SKIP, Verdict.UPSTREAM_FAILED)
_COUNTED = frozenset(
    (TaskState.SUCCESS, TaskState.SKIPPED, TaskState.FAILED, TaskState.UPSTREAM_FAILED)
)
"""The upstream states the rules count; any other (none, scheduled, running...) has not ended."""


@dataclass(frozen=True)
class _Counts:
    total: int
    success: int
    skipped: int
    failed: int
    upstream_failed: int
    setups: int
    """How many upstream tasks are setups (counted in the fields above too)."""
    setup_success: int
    setup_skipped: int

    @property
    def all_done(self) -> bool:
        return self.success + self.skipped + self.failed + self.upstream_failed == self.total

    @property
    def any_failed(self) -> bool:
        return bool(self.failed or self.upstream_failed)


def evaluate(
    rule: TriggerRule,
    upstream_states: Iterable[TaskState],
    *,
    setup_states: Iterable[TaskState] = (),
    indirect_setup_states: Iterable[TaskState] = (),
) -> Verdict:
    """What the task should do now, given the current states of its upstream tasks.

    `setup_states` are the states of those upstream tasks that are setups (all_done_setup
    _success reads them); `indirect_setup_states` those of the task's relevant setups that
    are not among its upstream tasks (Airflow's setup constraint; empty for a teardown).
    """
    states = list(upstream_states)
    if rule is TriggerRule.ALWAYS or not states:
        return Verdict.RUN
    constraint = _setup_constraint(list(indirect_setup_states))
    if constraint in _SETTLED:
        return constraint
    if not any(state in _COUNTED for state in states):
        # Every rule but `always` settles or is met only once an upstream task has ended
        # (all counts 0): the common case of a long run's pass, decided without counting.
        return Verdict.WAIT
    setups = list(setup_states)
    # list.count rather than a Counter: every pass of a run evaluates each waiting task.
    counts = _Counts(
        total=len(states),
        success=states.count(TaskState.SUCCESS),
        skipped=states.count(TaskState.SKIPPED),
        failed=states.count(TaskState.FAILED),
        upstream_failed=states.count(TaskState.UPSTREAM_FAILED),
        setups=len(setups),
        setup_success=setups.count(TaskState.SUCCESS),
        setup_skipped=setups.count(TaskState.SKIPPED),
    )
    settled = _settled(rule, counts)
    if settled is not None:
        return settled
    if constraint is Verdict.WAIT or not _met(rule, counts):
        return Verdict.WAIT
    return Verdict.RUN


def _setup_constraint(states: list[TaskState]) -> Verdict:
    """Airflow's `_evaluate_setup_constraint`: a failed indirect setup fails the task, a
    skipped one skips it, and every one must have succeeded before it runs."""
    if any(s in (TaskState.FAILED, TaskState.UPSTREAM_FAILED) for s in states):
        return Verdict.UPSTREAM_FAILED
    if TaskState.SKIPPED in states:
        return Verdict.SKIP
    if any(s is not TaskState.SUCCESS for s in states):
        return Verdict.WAIT
    return Verdict.RUN


def _settled(rule: TriggerRule, c: _Counts) -> Verdict | None:
    """The state upstream already forces on the task, if any."""
    match rule:
        case TriggerRule.ALL_SUCCESS:
            if c.any_failed:
                return Verdict.UPSTREAM_FAILED
            if c.skipped:
                return Verdict.SKIP
        case TriggerRule.ALL_FAILED:
            if c.success or c.skipped:
                return Verdict.SKIP
        case TriggerRule.ALL_SKIPPED:
            if c.success or c.any_failed:
                return Verdict.SKIP
        case TriggerRule.ONE_SUCCESS:
            if c.all_done and c.skipped == c.total:
                return Verdict.SKIP
            if c.all_done and not c.success:
                return Verdict.UPSTREAM_FAILED
        case TriggerRule.ONE_FAILED:
            if c.all_done and not c.any_failed:
                return Verdict.SKIP
        case TriggerRule.ONE_DONE:
            if c.all_done and not (c.failed or c.success):
                return Verdict.SKIP
        case TriggerRule.NONE_FAILED:
            if c.any_failed:
                return Verdict.UPSTREAM_FAILED
        case TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
            if c.any_failed:
                return Verdict.UPSTREAM_FAILED
            if c.skipped == c.total:
                return Verdict.SKIP
        case TriggerRule.NONE_SKIPPED:
            if c.skipped:
                return Verdict.SKIP
        case TriggerRule.ALL_DONE_MIN_ONE_SUCCESS:
            # Skipped upstream tasks are not "done" for this rule: one skips the task.
            if c.skipped:
                return Verdict.SKIP
            if c.all_done and not c.success:
                return Verdict.UPSTREAM_FAILED
        case TriggerRule.ALL_DONE_SETUP_SUCCESS:
            if c.all_done and c.setups and c.setup_skipped >= c.setups:
                return Verdict.SKIP
            if c.all_done and c.setups and not c.setup_success:
                return Verdict.UPSTREAM_FAILED
        case TriggerRule.ALL_DONE | TriggerRule.ALWAYS:
            pass
    return None


def _met(rule: TriggerRule, c: _Counts) -> bool:
    match rule:
        case TriggerRule.ALL_SUCCESS:
            return c.success == c.total
        case TriggerRule.ALL_FAILED:
            return c.failed + c.upstream_failed == c.total
        case TriggerRule.ALL_DONE:
            return c.all_done
        case TriggerRule.ALL_SKIPPED:
            return c.skipped == c.total
        case TriggerRule.ONE_SUCCESS:
            return c.success > 0
        case TriggerRule.ONE_FAILED:
            return c.any_failed
        case TriggerRule.ONE_DONE:
            return c.success + c.failed > 0
        case TriggerRule.NONE_FAILED | TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
            return c.success + c.skipped == c.total
        case TriggerRule.NONE_SKIPPED:
            return c.all_done and c.skipped == 0
        case TriggerRule.ALL_DONE_MIN_ONE_SUCCESS:
            return c.all_done and c.skipped == 0 and c.success > 0
        case TriggerRule.ALL_DONE_SETUP_SUCCESS:
            return c.all_done and (not c.setups or c.setup_success > 0)
        case TriggerRule.ALWAYS:
            return True
