"""Priority weights (Airflow's `priority_weight` with its weight rules): which task ready to
start gets a free slot first. Computed once per DAG version."""

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache

from kubedag.core.graph import TaskGraph, build_graph, topological_order
from kubedag.core.naming import label_value
from kubedag.core.pools import Candidate, SlotClaim
from kubedag.core.snapshot import ResolvedTask, Snapshot
from kubedag.models.dag import MAX_PRIORITY, MIN_PRIORITY, WeightRule
from kubedag.models.pool import DEFAULT_POOL

DEFAULT_PRIORITY_WEIGHT = 1


def own_weight(task: ResolvedTask) -> int:
    return DEFAULT_PRIORITY_WEIGHT if task.priority_weight is None else task.priority_weight


def _clamp(weight: int) -> int:
    # Airflow's db_safe_priority: weights are stored as 32-bit integers.
    return max(MIN_PRIORITY, min(MAX_PRIORITY, weight))


def _reach_masks(
    graph: TaskGraph, order: list[str], index: Mapping[str, int], up: bool
) -> list[int]:
    """For each task (by index), a bit mask of the tasks it reaches downstream (or upstream):
    one pass over the graph, however long its chains."""
    masks = [0] * len(order)
    edges = graph.upstream if up else graph.downstream
    for name in order if up else reversed(order):
        mask = 0
        for other in edges[name]:
            mask |= (1 << index[other]) | masks[index[other]]
        masks[index[name]] = mask
    return masks


def effective_weights(tasks: list[ResolvedTask]) -> dict[str, int]:
    """Each task's priority weight under its weight rule: its own weight, plus the sum of the
    own weights of every task downstream (`downstream`, the default) or upstream
    (`upstream`) of it; `absolute` is its own weight alone."""
    graph = build_graph((t.name, t.depends_on) for t in tasks)
    order = topological_order(graph)
    index = {name: i for i, name in enumerate(order)}
    own = {t.name: own_weight(t) for t in tasks}
    rules = {t.name: t.weight_rule or WeightRule.DOWNSTREAM for t in tasks}
    # Tasks grouped by own weight: a sum over a mask is then a few popcounts.
    by_weight: dict[int, int] = {}
    for name, weight in own.items():
        by_weight[weight] = by_weight.get(weight, 0) | (1 << index[name])
    masks: dict[WeightRule, list[int]] = {}
    for rule in (WeightRule.DOWNSTREAM, WeightRule.UPSTREAM):
        if rule in rules.values():
            masks[rule] = _reach_masks(graph, order, index, up=rule is WeightRule.UPSTREAM)
    weights: dict[str, int] = {}
    for task in tasks:
        rule = rules[task.name]
        total = own[task.name]
        if rule is not WeightRule.ABSOLUTE:
            reach = masks[rule][index[task.name]]
            total += sum(w * (reach & group).bit_count() for w, group in by_weight.items())
        weights[task.name] = _clamp(total)
    return weights


@lru_cache(maxsize=256)
def _weights_for(snapshot_json: str) -> dict[str, int]:
    return effective_weights(Snapshot.model_validate_json(snapshot_json).tasks)


def priority_weights(snapshot: Snapshot) -> Mapping[str, int]:
    """`effective_weights` of a DAG version, computed once (snapshots never change)."""
    return _weights_for(snapshot.canonical_json())


@lru_cache(maxsize=256)
def _positions_for(snapshot_json: str) -> dict[str, int]:
    tasks = Snapshot.model_validate_json(snapshot_json).tasks
    order = topological_order(build_graph((t.name, t.depends_on) for t in tasks))
    return {name: i for i, name in enumerate(order)}


def in_priority_order(snapshot: Snapshot, names: list[str]) -> list[str]:
    """`names` (in the DAG's topological order) by effective weight, highest first."""
    if len(names) < 2:
        return names
    weights = priority_weights(snapshot)
    return sorted(names, key=lambda name: -weights[name])


def task_candidate(
    snapshot: Snapshot,
    task: ResolvedTask,
    *,
    namespace: str,
    dag: str,
    run: str,
    logical_date: datetime,
) -> Candidate:
    """What a scheduled task of a run competes with, for its slots."""
    claim = SlotClaim(
        namespace=namespace,
        dag=label_value(dag),
        task=task.name,
        pool=task.pool or DEFAULT_POOL,
        pool_slots=task.pool_slots or 1,
    )
    return Candidate(
        claim=claim,
        run=run,
        priority=priority_weights(snapshot)[task.name],
        logical_date=logical_date,
        position=_positions_for(snapshot.canonical_json())[task.name],
        max_active_tis_per_dag=task.max_active_tis_per_dag,
    )
