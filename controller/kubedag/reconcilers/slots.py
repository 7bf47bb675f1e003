"""The slot book: who holds slots and who waits for them, cluster-wide, for the arbiter
(`core.pools`).

Holders are the task pods the watch reports active (by their labels: DAG, task, pool, pool
slots) and the pods a run pass decided to create but the watch has not delivered yet:
those are reserved synchronously, between the engine's decision and the first await of the
pass, so two passes worked on at once never see the same free slots (the controller is
one asyncio thread: nothing runs between two awaits). Waiters are the scheduled tasks each
run's last pass could not start; a slot that frees goes to the first of them in rank order,
whose run is woken."""

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kubedag.core.pod_observation import PodObservation
from kubedag.core.pools import Arbiter, Candidate, PoolKey, SlotClaim, SlotLimits, SlotUsage
from kubedag.core.run_engine import RunDecision
from kubedag.models.dag import DEFAULT_MAX_ACTIVE_TASKS
from kubedag.models.pool import DEFAULT_POOL, UNLIMITED
from kubedag.reconcilers.caches import NamespacedName


@dataclass(frozen=True)
class PoolCounts:
    """What a Pool's status reports."""

    used: int
    running: int
    scheduled: int


def claim_of(namespace: str, pod: PodObservation) -> SlotClaim:
    return SlotClaim(
        namespace=namespace,
        dag=pod.dag,
        task=pod.task,
        pool=pod.pool or DEFAULT_POOL,
        pool_slots=pod.pool_slots,
    )


class SlotBook:
    def __init__(self, default_pool_slots: int | None, parallelism: int | None) -> None:
        self.default_pool_slots = UNLIMITED if default_pool_slots is None else default_pool_slots
        self.parallelism = parallelism
        self.usage = SlotUsage()
        self._held: dict[NamespacedName, tuple[SlotClaim, bool]] = {}  # pod -> claim, running
        self._running: Counter[PoolKey] = Counter()
        self._reserved: dict[NamespacedName, SlotClaim] = {}
        self._reserved_by_run: dict[NamespacedName, set[NamespacedName]] = {}
        self._waiting: dict[str, dict[NamespacedName, list[Candidate]]] = {}  # by namespace
        self._pools: dict[PoolKey, int] = {}
        self._dag_limits: dict[tuple[str, str], int] = {}
        self.on_pool_change: Callable[[PoolKey], None] | None = None

    # Limits ------------------------------------------------------------------------------

    def limits(self) -> SlotLimits:
        return SlotLimits(self.pool_size, self.max_active_tasks, self.parallelism)

    def pool_size(self, namespace: str, pool: str) -> int | None:
        size = self._pools.get((namespace, pool))
        if size is None and pool == DEFAULT_POOL:
            return self.default_pool_slots
        return size

    def max_active_tasks(self, namespace: str, dag_label: str) -> int:
        return self._dag_limits.get((namespace, dag_label), DEFAULT_MAX_ACTIVE_TASKS)

    def put_pool(self, key: PoolKey, slots: int) -> None:
        self._pools[key] = slots

    def forget_pool(self, key: PoolKey) -> None:
        self._pools.pop(key, None)

    def put_dag_limit(self, namespace: str, dag_label: str, limit: int | None) -> None:
        if limit is None:
            self._dag_limits.pop((namespace, dag_label), None)
        else:
            self._dag_limits[(namespace, dag_label)] = limit

    # Holders -----------------------------------------------------------------------------

    def pod_seen(self, namespace: str, pod: PodObservation) -> bool:
        """The watch (or a create's response) reports a pod; True if it freed slots."""
        key = (namespace, pod.name)
        self._unreserve(key)
        held = self._held.get(key)
        if pod.active:
            claim = held[0] if held else claim_of(namespace, pod)
            running = pod.phase == "Running"
            if held is None:
                self.usage.add(claim)
            elif held[1] == running:
                return False
            elif held[1]:
                self._not_running(claim)
            if running:
                self._running[(namespace, claim.pool)] += 1
            self._held[key] = (claim, running)
            self._changed(claim)
            return False
        return self.pod_gone(namespace, pod.name)

    def pod_gone(self, namespace: str, name: str) -> bool:
        self._unreserve((namespace, name))
        held = self._held.pop((namespace, name), None)
        if held is None:
            return False
        claim, running = held
        self.usage.remove(claim)
        if running:
            self._not_running(claim)
        self._changed(claim)
        return True

    def _not_running(self, claim: SlotClaim) -> None:
        key = (claim.namespace, claim.pool)
        self._running[key] -= 1
        if self._running[key] <= 0:
            del self._running[key]

    def reserve(self, run: NamespacedName, claims: dict[str, SlotClaim]) -> None:
        """Slots of pods a pass is about to create: counted until the pod is seen."""
        for pod, claim in claims.items():
            key = (run[0], pod)
            if key in self._held or key in self._reserved:
                continue
            self._reserved[key] = claim
            self._reserved_by_run.setdefault(run, set()).add(key)
            self.usage.add(claim)
            self._changed(claim)

    def unreserve_run(self, run: NamespacedName) -> None:
        """The run's pass is over (or starts again): pods it reserved and never created
        (refused, or the pass failed) hold nothing."""
        for key in list(self._reserved_by_run.pop(run, ())):
            self._unreserve(key)

    def _unreserve(self, key: NamespacedName) -> None:
        claim = self._reserved.pop(key, None)
        if claim is not None:
            self.usage.remove(claim)
            self._changed(claim)

    # Waiters -----------------------------------------------------------------------------

    def set_waiting(self, run: NamespacedName, candidates: list[Candidate]) -> None:
        """The run's scheduled tasks that wait for slots (none: it waits for nothing)."""
        of_namespace = self._waiting.setdefault(run[0], {})
        before = of_namespace.pop(run, [])
        if candidates:
            of_namespace[run] = candidates
        if not of_namespace:
            del self._waiting[run[0]]
        for pool in {c.claim.pool for c in (*before, *candidates)}:
            if self.on_pool_change is not None:
                self.on_pool_change((run[0], pool))

    def waiting_runs(self) -> set[NamespacedName]:
        return {run for runs in self._waiting.values() for run in runs}

    def others(self, run: NamespacedName) -> Iterable[Candidate]:
        """The candidates the run's tasks compete with: other runs' in its namespace, or in
        every namespace under a controller-wide parallelism."""
        namespaces = self._waiting if self.parallelism is not None else {run[0]: None}
        for namespace in namespaces:
            for waiting_run, candidates in self._waiting.get(namespace, {}).items():
                if waiting_run != run:
                    yield from candidates

    def arbiter(self, run: NamespacedName) -> Arbiter:
        """The arbiter of a run pass (which then decides with no await until `decided`)."""
        self.unreserve_run(run)  # a failed earlier pass's, if any
        return Arbiter(self.usage, self.limits(), self.others(run))

    def decided(
        self, run: NamespacedName, decision: RunDecision, arbiter: Arbiter
    ) -> set[NamespacedName]:
        """Take the slots of the pods the pass launches and record the tasks it left
        waiting (none for a finished or frozen run); returns the other runs to wake: those
        with a waiting task that fits."""
        self.reserve(run, decision.claims)
        waited = run in self._waiting.get(run[0], {})
        self.set_waiting(run, [] if decision.status.end_time else decision.waiting)
        if not arbiter.consulted and not waited:
            return set()  # the slots and the ranking are as the last pass left them
        return {(c.claim.namespace, c.run) for c in arbiter.winners()}

    def winners(self) -> set[NamespacedName]:
        """Runs with a waiting task that fits now (after slots were freed)."""
        everyone = (c for runs in self._waiting.values() for cs in runs.values() for c in cs)
        winners = Arbiter(self.usage, self.limits(), everyone).winners()
        return {(c.claim.namespace, c.run) for c in winners}

    # Pool status -------------------------------------------------------------------------

    def pool_counts(self, key: PoolKey) -> PoolCounts:
        scheduled = sum(
            c.claim.pool_slots
            for candidates in self._waiting.get(key[0], {}).values()
            for c in candidates
            if c.claim.pool == key[1]
        )
        return PoolCounts(self.usage.pools[key], self._running[key], scheduled)

    def _changed(self, claim: SlotClaim) -> None:
        if self.on_pool_change is not None:
            self.on_pool_change((claim.namespace, claim.pool))

    def sizes(self) -> dict[str, int]:
        return {
            "slot_holders": len(self._held),
            "slot_reservations": len(self._reserved),
            "slot_waiting_runs": sum(len(runs) for runs in self._waiting.values()),
            "pools": len(self._pools),
            "dag_task_limits": len(self._dag_limits),
        }
