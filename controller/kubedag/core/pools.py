"""Slots and who gets them: pools, `maxActiveTasks`, `maxActiveTisPerDag` and the
controller's `parallelism`, as Airflow's scheduler applies them in
`_executable_task_instances_to_queued`.

Slots are held by task pods (queued or running). Tasks ready to start (`scheduled`) compete
for them in one order across all runs: highest priority weight first, then oldest logical
date (then run and the task's place in its DAG, so the order is total). The `Arbiter` walks
the candidates of every run in that order and admits each one that fits, as Airflow's loop
does: a task that does not fit waits, and tasks after it that fit may still start (a task
needing 3 slots of a pool with 2 open lets a task needing 1 go first).
"""

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubedag.models.common import Condition, set_condition
from kubedag.models.pool import DEFAULT_POOL, UNLIMITED, Pool, PoolStatus

NO_LIMIT: int | None = None

PoolKey = tuple[str, str]  # (namespace, pool name)
DagKey = tuple[str, str]  # (namespace, DAG label)
TaskKey = tuple[str, str, str]  # (namespace, DAG label, task)


@dataclass(frozen=True)
class SlotClaim:
    """What one task pod holds while it is queued or running."""

    namespace: str
    dag: str  # the DAG's label value
    task: str
    pool: str = DEFAULT_POOL
    pool_slots: int = 1


@dataclass(frozen=True)
class Candidate:
    """A task ready to start, waiting for its slots."""

    claim: SlotClaim
    run: str
    priority: int
    logical_date: datetime
    position: int
    """The task's place in its DAG's topological order (breaks ties within a run)."""
    max_active_tis_per_dag: int | None = None

    @property
    def rank(self) -> tuple[int, datetime, str, str, int]:
        """Sort key: Airflow's `-priority_weight, logical_date`, then a total order."""
        return (-self.priority, self.logical_date, self.claim.namespace, self.run, self.position)


@dataclass
class SlotUsage:
    """Slots held, by what limits them."""

    pools: Counter[PoolKey] = field(default_factory=Counter)
    dags: Counter[DagKey] = field(default_factory=Counter)
    tasks: Counter[TaskKey] = field(default_factory=Counter)
    total: int = 0

    def add(self, claim: SlotClaim, sign: int = 1) -> None:
        self.pools[(claim.namespace, claim.pool)] += sign * claim.pool_slots
        self.dags[(claim.namespace, claim.dag)] += sign
        self.tasks[(claim.namespace, claim.dag, claim.task)] += sign
        self.total += sign

    def remove(self, claim: SlotClaim) -> None:
        self.add(claim, -1)
        _drop_zero(self.pools, (claim.namespace, claim.pool))
        _drop_zero(self.dags, (claim.namespace, claim.dag))
        _drop_zero(self.tasks, (claim.namespace, claim.dag, claim.task))

    def copy(self) -> "SlotUsage":
        return SlotUsage(Counter(self.pools), Counter(self.dags), Counter(self.tasks), self.total)


def _drop_zero(counter: "Counter[Any]", key: Any) -> None:
    if counter[key] <= 0:
        del counter[key]


@dataclass(frozen=True)
class SlotLimits:
    """The limits in force. `pool_size` answers None for a pool that does not exist and
    UNLIMITED (-1) for one without a limit."""

    pool_size: Callable[[str, str], int | None]
    max_active_tasks: Callable[[str, str], int]
    parallelism: int | None = NO_LIMIT


def why_waiting(candidate: Candidate, usage: SlotUsage, limits: SlotLimits) -> str | None:
    """None if the candidate's pod may start now, else why it waits (a task's message).
    The checks and their order are Airflow's; each message stays the same while the reason
    does, so a waiting task costs no status write per pass."""
    claim = candidate.claim
    size = limits.pool_size(claim.namespace, claim.pool)
    if size is None:
        return (
            f"pool {claim.pool!r} does not exist in namespace {claim.namespace}: the task"
            " waits until a Pool of that name is created"
        )
    if size != UNLIMITED:
        if claim.pool_slots > size:
            return (
                f"needs {claim.pool_slots} slots of pool {claim.pool!r}, which has {size}:"
                " the task waits until the pool grows"
            )
        if usage.pools[(claim.namespace, claim.pool)] + claim.pool_slots > size:
            return f"waiting for a free slot of pool {claim.pool!r}"
    dag_limit = limits.max_active_tasks(claim.namespace, claim.dag)
    if usage.dags[(claim.namespace, claim.dag)] >= dag_limit:
        return f"waiting for a free task slot of the DAG (maxActiveTasks {dag_limit})"
    task_limit = candidate.max_active_tis_per_dag
    if task_limit is not None and usage.tasks[(claim.namespace, claim.dag, claim.task)] >= (
        task_limit
    ):
        return f"waiting: maxActiveTisPerDag {task_limit} of this task's tries are active"
    if limits.parallelism is not None and usage.total >= limits.parallelism:
        return f"waiting for a free slot of the controller (parallelism {limits.parallelism})"
    return None


class Arbiter:
    """Admits the candidates of one run while honouring those of every other run: `others`
    (their waiting candidates) rank with the run's own, and the slots of each other
    candidate ranked before an own one are kept for it. Own candidates must be offered in
    rank order. `winners()` are the other candidates that fit: their runs are woken to
    start them."""

    def __init__(self, usage: SlotUsage, limits: SlotLimits, others: Iterable[Candidate]) -> None:
        self.usage = usage.copy()
        self.limits = limits
        self._unsorted: Iterable[Candidate] | None = others
        self._others: list[Candidate] = []
        self._next = 0
        self._winners: list[Candidate] = []

    @property
    def consulted(self) -> bool:
        """Whether anything was asked of it: a pass that offered no candidate of its own
        changed no one's chances, and need not look for winners."""
        return self._unsorted is None

    def admit(self, candidate: Candidate) -> str | None:
        """None if the candidate starts now (its slots are taken), else why it waits."""
        self._admit_others(until=candidate.rank)
        waits = why_waiting(candidate, self.usage, self.limits)
        if waits is None:
            self.usage.add(candidate.claim)
        return waits

    def release(self, candidate: Candidate) -> None:
        """An admitted candidate did not start after all (its templates failed)."""
        self.usage.remove(candidate.claim)

    def winners(self) -> list[Candidate]:
        """The other runs' candidates that fit, all of them considered."""
        self._admit_others(until=None)
        return list(self._winners)

    def _admit_others(self, until: tuple[int, datetime, str, str, int] | None) -> None:
        if self._unsorted is not None:  # ranked on first use: most passes offer no candidate
            self._others = sorted(self._unsorted, key=lambda c: c.rank)
            self._unsorted = None
        while self._next < len(self._others):
            other = self._others[self._next]
            if until is not None and other.rank >= until:
                return
            self._next += 1
            if why_waiting(other, self.usage, self.limits) is None:
                self.usage.add(other.claim)
                self._winners.append(other)


def counting_gate(task_slots: int) -> Arbiter:
    """An arbiter for one run alone with `task_slots` free task slots and nothing else
    limited (the engine's tests, and runs that compete with no one)."""
    limits = SlotLimits(pool_size=lambda *_: UNLIMITED, max_active_tasks=lambda *_: task_slots)
    return Arbiter(SlotUsage(), limits, ())


def admit_in_order(
    candidates: Iterable[Candidate], usage: SlotUsage, limits: SlotLimits
) -> tuple[list[Candidate], dict[Candidate, str]]:
    """Every candidate in rank order: those that start now, and why each other one waits."""
    arbiter = Arbiter(usage, limits, ())
    admitted: list[Candidate] = []
    waiting: dict[Candidate, str] = {}
    for candidate in sorted(candidates, key=lambda c: c.rank):
        reason = arbiter.admit(candidate)
        if reason is None:
            admitted.append(candidate)
        else:
            waiting[candidate] = reason
    return admitted, waiting


def pool_status(
    pool: Pool, *, used: int, running: int, scheduled: int, now: datetime
) -> PoolStatus:
    """A Pool's status from the slots its pods hold and its waiting tasks ask for."""
    old = pool.status or PoolStatus()
    ready = Condition(
        type="Ready",
        status="True",
        reason="Counted",
        message="the controller counts the slots of this pool's task pods",
        last_transition_time=now,
        observed_generation=pool.generation,
    )
    limited = pool.spec.slots != UNLIMITED
    return PoolStatus(
        observed_generation=pool.generation,
        conditions=set_condition(old.conditions, ready),
        used_slots=used,
        running_slots=running,
        queued_slots=used - running,
        scheduled_slots=scheduled,
        open_slots=max(0, pool.spec.slots - used) if limited else None,
    )
