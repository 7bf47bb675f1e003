"""A DAG's budget of routine run Events (core/event_budget.py): client-go's spam filter
numbers (25 at once, one more every 5 minutes), keyed by the DAG; and the run reconciler
posting within it against the API double."""

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from kubedag.core.event_budget import BURST, REFILL_EVERY, EventBudget, admit, refilled
from kubedag.core.run_engine import RunEvent
from kubedag.reconcilers.metrics import process_registry
from tests.unit.builders import T0
from tests.unit.test_metrics import Delta
from tests.unit.test_reconcilers import NS, World, dag_path, run_async

SUCCEEDED = RunEvent("Normal", "RunSucceeded", "all leaf tasks succeeded or skipped")
SKIPPED = RunEvent("Normal", "TaskSkipped", "task b skipped itself")
FAILED = RunEvent("Warning", "RunFailed", "task a failed")
CLEARED = RunEvent("Normal", "Cleared", "tasks a cleared")


@dataclass
class Case:
    name: str
    events: list[RunEvent]
    budget: EventBudget | None
    posted: list[str]
    held_back: list[str] = field(default_factory=list)
    tokens_after: float | None = None
    """None: the budget is left as it was (no routine event came)."""


CASES = [
    Case("a DAG's first success is posted", [SUCCEEDED], None, ["RunSucceeded"],
         tokens_after=BURST - 1),
    Case("a spent budget holds a success back", [SUCCEEDED], EventBudget(0.5, T0), [],
         ["RunSucceeded"], tokens_after=0.5),
    Case("a warning goes whatever the budget", [FAILED], EventBudget(0, T0), ["RunFailed"]),
    Case("an answer to a request goes whatever the budget", [CLEARED], EventBudget(0, T0),
         ["Cleared"]),
    Case("the last token goes to the first routine event, in order",
         [SKIPPED, FAILED, SUCCEEDED], EventBudget(1, T0), ["TaskSkipped", "RunFailed"],
         ["RunSucceeded"], tokens_after=0),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_which_events_are_posted(case: Case) -> None:
    admitted = admit(case.events, case.budget, T0)
    assert [e.reason for e in admitted.post] == case.posted
    assert [e.reason for e in admitted.held_back] == case.held_back
    if case.tokens_after is None:
        assert admitted.budget == case.budget
    else:
        assert admitted.budget == EventBudget(case.tokens_after, T0)


def test_the_budget_refills_one_token_every_five_minutes_up_to_the_burst() -> None:
    spent = EventBudget(0, T0)
    assert refilled(spent, T0 + REFILL_EVERY / 2) == 0.5
    assert refilled(spent, T0 + REFILL_EVERY * 3) == 3
    assert refilled(spent, T0 + timedelta(days=1)) == BURST
    assert refilled(spent, T0 - timedelta(minutes=1)) == 0  # a clock that steps back
    assert refilled(None, T0) == BURST


def test_an_hourly_dag_never_runs_short_and_a_backfill_posts_its_first_25() -> None:
    budget = None
    for hour in range(48):
        admitted = admit([SUCCEEDED], budget, T0 + timedelta(hours=hour))
        assert admitted.post == [SUCCEEDED]
        budget = admitted.budget
    posted = 0
    budget = None
    for second in range(1_096):  # a backfill's runs, a run finishing every 60 ms
        admitted = admit([SUCCEEDED], budget, T0 + timedelta(milliseconds=60 * second))
        posted += len(admitted.post)
        budget = admitted.budget
    assert posted == BURST


def test_the_run_reconciler_posts_within_the_dags_budget_and_counts_the_rest() -> None:
    delta = Delta(process_registry()[0])

    async def scenario() -> None:
        world = World()
        world.controller.start()
        world.apply_dag()
        dag = (NS, "etl")
        world.controller.runs.events.budgets[dag] = EventBudget(1, world.now)
        for name in ("r1", "r2"):
            world.create_run(name)
            await world.settle()
            world.finish_pod(f"{name}-a-1")
            await world.settle()
            assert world.state(name) == "success"
        reasons = [e["reason"] for e in await world.api.posted_events()]
        assert reasons == ["RunSucceeded"]
        world.controller.on_dag_event("DELETED", world.api.objects[dag_path()])
        assert dag not in world.controller.runs.events.budgets
        await world.controller.stop()

    run_async(scenario)
    held_back = delta("kubedag_events_held_back_total", namespace=NS, reason="RunSucceeded")
    assert held_back == 1
