"""Pools, priorities and limits as pure decisions: Airflow's weight rules, the order in which
waiting tasks get slots across runs, and the limit accounting (pools, pool slots,
maxActiveTasks, maxActiveTisPerDag, parallelism). No cluster."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from kubedag.core.cross_dag import CrossDagView, TargetDag
from kubedag.core.pools import (
    Arbiter,
    Candidate,
    SlotClaim,
    SlotLimits,
    SlotUsage,
    admit_in_order,
    why_waiting,
)
from kubedag.core.priority import effective_weights, in_priority_order
from kubedag.core.run_engine import RunDecision, advance
from kubedag.models.dag import MAX_PRIORITY
from kubedag.models.dagrun import DagRunStatus, TaskState
from kubedag.models.pool import UNLIMITED
from kubedag.reconcilers.settings import ControllerSettings
from kubedag.reconcilers.slots import SlotBook
from tests.unit.builders import T0, running_run, snapshot_of, task

# a -> b -> d, a -> c -> d, e alone
DIAMOND = [task("a"), task("b", "a"), task("c", "a"), task("d", "b", "c"), task("e")]


@dataclass(frozen=True)
class WeightCase:
    name: str
    fields: dict[str, dict[str, Any]]  # task -> extra fields
    expected: dict[str, int]


WEIGHT_CASES = [
    # Airflow's default: own weight plus every downstream task's.
    WeightCase("downstream", {}, {"a": 4, "b": 2, "c": 2, "d": 1, "e": 1}),
    WeightCase(
        "upstream",
        {n: {"weightRule": "upstream"} for n in "abcde"},
        {"a": 1, "b": 2, "c": 2, "d": 4, "e": 1},
    ),
    WeightCase(
        "absolute",
        {n: {"weightRule": "absolute", "priorityWeight": 3} for n in "abcde"},
        {n: 3 for n in "abcde"},
    ),
    # Sums read the other tasks' own weights, whatever their rules.
    WeightCase(
        "own weights summed",
        {"d": {"priorityWeight": 10}, "b": {"priorityWeight": 5, "weightRule": "absolute"}},
        {"a": 17, "b": 5, "c": 11, "d": 10, "e": 1},
    ),
    WeightCase(
        "negative weights",
        {"d": {"priorityWeight": -3}},
        {"a": 0, "b": -2, "c": -2, "d": -3, "e": 1},
    ),
    # Airflow clamps to a 32-bit integer.
    WeightCase(
        "clamped",
        {"b": {"priorityWeight": MAX_PRIORITY}, "c": {"priorityWeight": MAX_PRIORITY}},
        {"a": MAX_PRIORITY, "b": MAX_PRIORITY, "c": MAX_PRIORITY, "d": 1, "e": 1},
    ),
]


@pytest.mark.parametrize("case", WEIGHT_CASES, ids=lambda c: c.name)
def test_weight_rules(case: WeightCase) -> None:
    tasks = [{**t, **case.fields.get(t["name"], {})} for t in DIAMOND]
    assert effective_weights(snapshot_of(*tasks).tasks) == case.expected


def test_weights_of_a_long_chain_are_computed_at_once() -> None:
    chain = [task("t0")] + [task(f"t{i}", f"t{i - 1}") for i in range(1, 3000)]
    weights = effective_weights(snapshot_of(*chain).tasks)
    assert (weights["t0"], weights["t2999"]) == (3000, 1)


def test_tasks_of_a_run_start_by_weight_then_their_place_in_the_dag() -> None:
    snapshot = snapshot_of(task("x"), task("y", priorityWeight=7), task("z"), task("w", "z"))
    assert in_priority_order(snapshot, ["x", "y", "z"]) == ["y", "z", "x"]


JAN = datetime(2026, 1, 1, tzinfo=UTC)


def when(day: int) -> datetime:
    return JAN.replace(day=day)


def cand(
    run: str,
    task_name: str = "a",
    *,
    priority: int = 1,
    day: int = 1,
    pool: str = "p",
    slots: int = 1,
    dag: str = "etl",
    namespace: str = "ns",
    position: int = 0,
    per_dag: int | None = None,
) -> Candidate:
    return Candidate(
        claim=SlotClaim(namespace, dag, task_name, pool, slots),
        run=run,
        priority=priority,
        logical_date=when(day),
        position=position,
        max_active_tis_per_dag=per_dag,
    )


@dataclass(frozen=True)
class Limits:
    pools: dict[tuple[str, str], int] = field(default_factory=lambda: {("ns", "p"): 2})
    dag_limit: int = 16
    parallelism: int | None = None

    def build(self) -> SlotLimits:
        return SlotLimits(
            pool_size=lambda ns, pool: self.pools.get((ns, pool)),
            max_active_tasks=lambda ns, dag: self.dag_limit,
            parallelism=self.parallelism,
        )


def usage_of(*claims: SlotClaim) -> SlotUsage:
    usage = SlotUsage()
    for claim in claims:
        usage.add(claim)
    return usage


@dataclass(frozen=True)
class OrderCase:
    name: str
    candidates: list[Candidate]
    admitted: list[str]  # "run/task"
    limits: Limits = Limits()
    held: tuple[SlotClaim, ...] = ()


ORDER_CASES = [
    OrderCase(
        "priority first, across runs",
        [cand("r1", priority=1), cand("r2", priority=5), cand("r3", priority=3)],
        ["r2/a", "r3/a"],
    ),
    OrderCase(
        "then the oldest logical date",
        [cand("r1", day=3), cand("r2", day=1), cand("r3", day=2)],
        ["r2/a", "r3/a"],
    ),
    OrderCase(
        "then the run's name and the task's place, so the order is total",
        [cand("r2", "a"), cand("r1", "b", position=1), cand("r1", "a", position=0)],
        ["r1/a", "r1/b"],
    ),
    OrderCase(
        "held slots count",
        [cand("r1"), cand("r2")],
        ["r1/a"],
        held=(SlotClaim("ns", "etl", "z", "p", 1),),
    ),
    OrderCase(
        "a task needing more slots than are open lets smaller ones pass (Airflow)",
        [cand("big", priority=9, slots=2), cand("small", priority=1)],
        ["small/a"],
        held=(SlotClaim("ns", "etl", "z", "p", 1),),
    ),
    OrderCase(
        "pool slots add up",
        [cand("r1", slots=2), cand("r2")],
        ["r1/a"],
    ),
    OrderCase(
        "pools are per namespace",
        [cand("r1", namespace="ns"), cand("r2", namespace="other")],
        ["r1/a"],
    ),
    OrderCase(
        "an unlimited pool",
        [cand(f"r{i}") for i in range(5)],
        [f"r{i}/a" for i in range(5)],
        limits=Limits(pools={("ns", "p"): UNLIMITED}),
    ),
    OrderCase(
        "maxActiveTasks across runs of one DAG, not of another",
        [cand("r1"), cand("r2"), cand("r3", dag="other")],
        ["r1/a", "r3/a"],
        limits=Limits(pools={("ns", "p"): UNLIMITED}, dag_limit=1),
    ),
    OrderCase(
        "maxActiveTisPerDag counts the task across runs",
        [cand("r1", per_dag=1), cand("r2", per_dag=1), cand("r3", "b")],
        ["r1/a", "r3/b"],
        limits=Limits(pools={("ns", "p"): UNLIMITED}),
    ),
    OrderCase(
        "parallelism counts every pod",
        [cand("r1"), cand("r2", namespace="other", pool="q")],
        ["r1/a"],
        limits=Limits(pools={("ns", "p"): 5, ("other", "q"): 5}, parallelism=2),
        held=(SlotClaim("x", "d", "t", "p", 1),),
    ),
    OrderCase("a missing pool admits nothing", [cand("r1", pool="nope")], []),
]


@pytest.mark.parametrize("case", ORDER_CASES, ids=lambda c: c.name)
def test_admission_order_and_limits(case: OrderCase) -> None:
    admitted, waiting = admit_in_order(case.candidates, usage_of(*case.held), case.limits.build())
    assert [f"{c.run}/{c.claim.task}" for c in admitted] == case.admitted
    assert len(waiting) == len(case.candidates) - len(case.admitted)


@dataclass(frozen=True)
class WaitCase:
    name: str
    candidate: Candidate
    held: tuple[SlotClaim, ...]
    message: str | None
    limits: Limits = Limits()


WAIT_CASES = [
    WaitCase("free", cand("r"), (), None),
    WaitCase(
        "missing pool",
        cand("r", pool="gpu"),
        (),
        "pool 'gpu' does not exist in namespace ns: the task waits until a Pool of that name"
        " is created",
    ),
    WaitCase(
        "more slots than the pool has",
        cand("r", slots=3),
        (),
        "needs 3 slots of pool 'p', which has 2: the task waits until the pool grows",
    ),
    WaitCase(
        "pool full",
        cand("r", slots=2),
        (SlotClaim("ns", "x", "t", "p", 1),),
        "waiting for a free slot of pool 'p'",
    ),
    WaitCase(
        "DAG full",
        cand("r"),
        (SlotClaim("ns", "etl", "t", "q", 1),),
        "waiting for a free task slot of the DAG (maxActiveTasks 1)",
        Limits(dag_limit=1),
    ),
    WaitCase(
        "task full",
        cand("r", per_dag=1),
        (SlotClaim("ns", "etl", "a", "q", 1),),
        "waiting: maxActiveTisPerDag 1 of this task's tries are active",
    ),
    WaitCase(
        "controller full",
        cand("r"),
        (SlotClaim("other", "x", "t", "q", 1),),
        "waiting for a free slot of the controller (parallelism 1)",
        Limits(parallelism=1),
    ),
]


@pytest.mark.parametrize("case", WAIT_CASES, ids=lambda c: c.name)
def test_why_a_task_waits(case: WaitCase) -> None:
    assert why_waiting(case.candidate, usage_of(*case.held), case.limits.build()) == case.message


def test_usage_returns_to_empty() -> None:
    claim = SlotClaim("ns", "etl", "a", "p", 3)
    usage = usage_of(claim, claim)
    usage.remove(claim)
    assert (usage.pools[("ns", "p")], usage.total) == (3, 1)
    usage.remove(claim)
    assert usage == SlotUsage()


def test_the_arbiter_keeps_slots_for_higher_ranked_tasks_of_other_runs() -> None:
    """A run's own task ranked after another run's waiting one does not take its slot; the
    other run is a winner, to be woken."""
    others = [cand("old", day=1), cand("older", day=1, priority=0)]
    arbiter = Arbiter(usage_of(SlotClaim("ns", "etl", "z", "p", 1)), Limits().build(), others)
    assert arbiter.admit(cand("mine", day=2)) == "waiting for a free slot of pool 'p'"
    assert [c.run for c in arbiter.winners()] == ["old"]
    # ranked first, it goes first
    arbiter = Arbiter(usage_of(SlotClaim("ns", "etl", "z", "p", 1)), Limits().build(), others)
    assert arbiter.admit(cand("mine", priority=2)) is None
    assert arbiter.winners() == []


def test_a_template_error_gives_the_slot_back() -> None:
    snapshot = snapshot_of(task("bad", args=["{{ nope }}"], priorityWeight=9), task("good"))
    run = running_run(snapshot)
    decision = advance(run, snapshot, pods={}, now=T0, task_slots=1)
    states = {r.name: r.state for r in decision.status.tasks}
    assert states == {"bad": TaskState.FAILED, "good": TaskState.QUEUED}


def test_the_engine_starts_the_heaviest_task_first_and_says_why_the_rest_wait() -> None:
    snapshot = snapshot_of(task("light"), task("heavy", priorityWeight=3), task("after", "heavy"))
    run = running_run(snapshot)
    decision = advance(run, snapshot, pods={}, now=T0, task_slots=1)
    records = {r.name: r for r in decision.status.tasks}
    assert records["heavy"].state is TaskState.QUEUED
    assert (records["light"].state, records["light"].message) == (
        TaskState.SCHEDULED,
        "waiting for a free task slot of the DAG (maxActiveTasks 1)",
    )
    assert [c.claim.task for c in decision.waiting] == ["light"]
    pod = records["heavy"].pod
    assert decision.claims == {pod: SlotClaim("ns", "etl", "heavy", "default-pool", 1)}


@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), ("", None), ("-1", None), ("128", 128), ("1", 1)]
)
def test_slot_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: int | None
) -> None:
    for name in ("KUBEDAG_DEFAULT_POOL_SLOTS", "KUBEDAG_PARALLELISM"):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    settings = ControllerSettings()
    assert (settings.default_pool_slots, settings.parallelism) == (expected, expected)


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_bad_slot_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("KUBEDAG_PARALLELISM", value)
    with pytest.raises(ValueError, match="KUBEDAG_PARALLELISM"):
        ControllerSettings()


def test_tasks_run_in_the_controller_take_no_slot_and_never_wait_for_one() -> None:
    """With no slot free, a sensor and a trigger still start (deferred, no pod); only the pod
    task waits, and only it is a candidate for a freed slot."""
    tasks = [
        {"name": "wait", "externalTaskSensor": {"dagName": "upstream"}},
        {"name": "trigger", "triggerDagRun": {"dagName": "summary", "waitForCompletion": True}},
        task("pod"),
    ]
    snapshot = snapshot_of(*tasks)
    targets = CrossDagView(dags={("ns", "summary"): TargetDag(), ("ns", "upstream"): TargetDag()})
    run = running_run(snapshot)
    decision = advance(run, snapshot, pods={}, now=T0, task_slots=0, cross_dag=targets)
    states = {r.name: r.state for r in decision.status.tasks}
    assert states["wait"] is TaskState.DEFERRED
    assert states["trigger"] is TaskState.DEFERRED
    assert [t.dag for t in decision.cross_dag.runs_to_trigger] == ["summary"]
    assert states["pod"] is TaskState.SCHEDULED
    assert [c.claim.task for c in decision.waiting] == ["pod"]
    assert decision.claims == {}
    assert decision.pods_to_create == []


def test_a_pass_that_offered_no_candidate_wakes_no_one_unless_its_waiting_tasks_left() -> None:
    """Winners are looked for when a pass's own candidates changed the ranking: a pass that
    offered none and had none waiting changed nothing (most passes, so none pays for
    ranking every waiting task); one whose waiting tasks left frees their turn."""
    book = SlotBook(default_pool_slots=None, parallelism=None)
    book.put_pool(("ns", "p"), 1)
    book.set_waiting(("ns", "r1"), [cand("r1")])  # fits: its wake-up was sent when it freed
    idle = RunDecision(status=DagRunStatus())
    assert book.decided(("ns", "r2"), idle, book.arbiter(("ns", "r2"))) == set()
    book.set_waiting(("ns", "r3"), [cand("r3", priority=5)])
    assert book.decided(("ns", "r3"), idle, book.arbiter(("ns", "r3"))) == {("ns", "r1")}
    offered = book.arbiter(("ns", "r2"))
    assert offered.admit(cand("r2", day=2)) == "waiting for a free slot of pool 'p'"
    assert book.decided(("ns", "r2"), idle, offered) == {("ns", "r1")}
