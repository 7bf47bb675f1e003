"""Whether a waiting task of a run may start, during one engine pass: skipped when a branch
or short-circuit above it decided so (Airflow's rules 18-21), else as its trigger rule says
over its upstream tasks and setups (rules 19 and 27); a task the rule lets start still waits
while dependsOnPast holds it (rules 22-25)."""

from collections.abc import Mapping
from dataclasses import dataclass

from kubedag.core.earlier_runs import NO_EARLIER_RUNS, EarlierRuns
from kubedag.core.execution_plan import ExecutionPlan
from kubedag.core.past import past_blocker
from kubedag.core.skips import Decision, decide
from kubedag.core.snapshot import Snapshot
from kubedag.core.trigger_rules import Verdict, evaluate
from kubedag.models.dagrun import TaskRecord, TaskState


@dataclass(frozen=True)
class Readiness:
    state: TaskState | None
    """SCHEDULED, SKIPPED or UPSTREAM_FAILED; None: the task waits."""
    message: str | None = None
    """Why it was settled, or why it waits on the previous run."""


WAIT = Readiness(None)
_READY = Readiness(TaskState.SCHEDULED)


class ReadinessCheck:
    """Reads the run's records as they are during the pass; each branch or short-circuit
    decision is worked out once a pass (a deciding task does not change state after the
    pods are observed)."""

    def __init__(
        self,
        plan: ExecutionPlan,
        snapshot: Snapshot,
        records: Mapping[str, TaskRecord],
        earlier: EarlierRuns = NO_EARLIER_RUNS,
    ) -> None:
        self.plan = plan
        self.snapshot = snapshot
        self.records = records
        self.earlier = earlier
        self._decisions: dict[str, Decision] = {}

    def decision(self, decider: str) -> Decision:
        if decider not in self._decisions:
            self._decisions[decider] = decide(
                self.plan.deciders[decider], self.records[decider], self.plan.graph
            )
        return self._decisions[decider]

    def of(self, name: str) -> Readiness:
        for decider in self.plan.decided_by.get(name, ()):
            decision = self.decision(decider)
            if name in decision.skipped:
                return Readiness(TaskState.SKIPPED, decision.reason)
        task = self.snapshot.task(name)
        rule = task.trigger_rule
        verdict = evaluate(
            rule,
            self._states(self.plan.graph.upstream[name]),
            setup_states=self._states(self.plan.upstream_setups.get(name, ())),
            indirect_setup_states=self._states(self.plan.indirect_setups.get(name, ())),
        )
        match verdict:
            case Verdict.RUN:
                # Airflow's default wait_for_past_depends_before_skipping=False: the past
                # holds only a task that would run, never a skip.
                held = past_blocker(task, self.plan.graph.downstream[name], self.earlier)
                return _READY if held is None else Readiness(None, held)
            case Verdict.SKIP:
                return Readiness(TaskState.SKIPPED, f"skipped by trigger rule {rule.value}")
            case Verdict.UPSTREAM_FAILED:
                return Readiness(TaskState.UPSTREAM_FAILED, f"upstream failed ({rule.value})")
        return WAIT

    def _states(self, names: tuple[str, ...]) -> list[TaskState]:
        return [self.records[n].state for n in names]
