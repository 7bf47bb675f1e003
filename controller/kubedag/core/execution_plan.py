"""The per-snapshot facts the run engine needs every pass, computed once per DAG version."""

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from kubedag.core.graph import TaskGraph, build_graph, topological_order
from kubedag.core.setup_teardown import SetupTeardown, TaskRole, setup_teardown_facts
from kubedag.core.skips import Decider, decider, deciders_over
from kubedag.core.snapshot import Snapshot


@dataclass(frozen=True)
class ExecutionPlan:
    graph: TaskGraph
    order: tuple[str, ...]
    setup_teardown: SetupTeardown
    upstream_setups: Mapping[str, tuple[str, ...]]
    """A task's upstream tasks that are setups (all_done_setup_success reads them)."""
    indirect_setups: Mapping[str, tuple[str, ...]]
    """A task's relevant setups that are not its upstream tasks (none for a teardown)."""
    deciders: Mapping[str, Decider]
    """The branch and short-circuit tasks."""
    decided_by: Mapping[str, tuple[str, ...]]
    """For each task, the branch and short-circuit tasks whose decision may skip it."""

    @property
    def leaves(self) -> frozenset[str]:
        """The effective leaves: their states decide the run's."""
        return self.setup_teardown.leaves


@lru_cache(maxsize=256)
def _plan_for(snapshot_json: str) -> ExecutionPlan:
    snapshot = Snapshot.model_validate_json(snapshot_json)
    graph = build_graph((t.name, t.depends_on) for t in snapshot.tasks)
    facts = setup_teardown_facts(
        graph,
        (TaskRole(t.name, t.setup, t.teardown, t.on_failure_fail_dagrun) for t in snapshot.tasks),
    )
    deciders = {
        t.name: decider(
            t.name,
            graph,
            branch=t.branch,
            ignore_downstream_trigger_rules=t.ignore_downstream_trigger_rules,
            teardowns=facts.teardowns,
        )
        for t in snapshot.tasks
        if t.branch or t.short_circuit
    }
    upstream_setups = {
        name: setups
        for name, upstream in graph.upstream.items()
        if (setups := tuple(u for u in upstream if u in facts.setups))
    }
    indirect_setups = {
        name: indirect
        for name, relevant in facts.relevant_setups.items()
        if name not in facts.teardowns
        and (indirect := tuple(s for s in relevant if s not in graph.upstream[name]))
    }
    return ExecutionPlan(
        graph=graph,
        order=tuple(topological_order(graph)),
        setup_teardown=facts,
        upstream_setups=upstream_setups,
        indirect_setups=indirect_setups,
        deciders=deciders,
        decided_by=deciders_over(deciders.values()),
    )


def execution_plan(snapshot: Snapshot) -> ExecutionPlan:
    # canonical_json is memoised on the snapshot and a str caches its hash: a cheap key.
    return _plan_for(snapshot.canonical_json())
