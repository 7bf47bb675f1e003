"""Setup and teardown tasks as facts of a DAG version's graph (Airflow's rules 14, 26, 27).

A setup creates something (a cluster, a scratch table) that a teardown downstream of it
releases. A teardown runs once its upstream tasks are done if one of its setups succeeded
(its default trigger rule, all_done_setup_success), and does not decide the run's state
unless it has onFailureFailDagrun. A work task's *relevant* setups are the setups upstream
of it whose teardown is downstream of it (or that have no teardown): it needs them to have
succeeded, and clearing it clears them and their teardowns too.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from kubedag.core.graph import TaskGraph, ancestors, descendants
from kubedag.models.dag import DagSpec, TriggerRule


@dataclass(frozen=True)
class TaskRole:
    name: str
    setup: bool = False
    teardown: bool = False
    on_failure_fail_dagrun: bool = False


@dataclass(frozen=True)
class SetupTeardown:
    """The setup and teardown facts of one graph, computed once per DAG version."""

    setups: frozenset[str] = frozenset()
    teardowns: frozenset[str] = frozenset()
    leaves: frozenset[str] = frozenset()
    """The effective leaves, whose states decide the run's (rule 26)."""
    relevant_setups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """For each task that has any, its relevant setups (Airflow's get_upstreams_only_setups)."""
    teardowns_of: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """For each setup, the teardowns directly downstream of it."""

    def is_work(self, name: str) -> bool:
        return name not in self.setups and name not in self.teardowns

    def setups_and_teardowns_of(self, name: str) -> set[str]:
        """A work task's relevant setups and their teardowns: what clearing it also clears
        (Airflow's get_upstreams_only_setups_and_teardowns)."""
        chosen: set[str] = set()
        for setup in self.relevant_setups.get(name, ()):
            chosen.add(setup)
            chosen.update(t for t in self.teardowns_of.get(setup, ()) if t != name)
        return chosen


NO_SETUP_TEARDOWN = SetupTeardown()


def setup_teardown_facts(graph: TaskGraph, roles: Iterable[TaskRole]) -> SetupTeardown:
    by_name = {role.name: role for role in roles}
    setups = frozenset(n for n in graph.tasks if by_name[n].setup)
    teardowns = frozenset(n for n in graph.tasks if by_name[n].teardown)
    ignorable = {n for n in teardowns if not by_name[n].on_failure_fail_dagrun}
    teardowns_of = {s: tuple(d for d in graph.downstream[s] if d in teardowns) for s in setups}
    return SetupTeardown(
        setups=setups,
        teardowns=teardowns,
        leaves=_effective_leaves(graph, ignorable),
        relevant_setups=_relevant_setups(graph, setups, teardowns_of),
        teardowns_of=teardowns_of,
    )


def _effective_leaves(graph: TaskGraph, ignorable: set[str]) -> frozenset[str]:
    """Airflow's `_tis_for_dagrun_state`: tasks whose downstream tasks are all ignorable
    teardowns and that are not ignorable teardowns themselves; the plain leaves when no
    task qualifies (a DAG of teardowns only)."""
    leaves = frozenset(
        name
        for name in graph.tasks
        if name not in ignorable and all(d in ignorable for d in graph.downstream[name])
    )
    return leaves or frozenset(graph.leaves)


def _relevant_setups(
    graph: TaskGraph, setups: frozenset[str], teardowns_of: Mapping[str, Sequence[str]]
) -> dict[str, tuple[str, ...]]:
    """Each setup is relevant to the tasks below it that have one of its teardowns below
    them (to every task below it when it has no teardown). Per setup rather than per task:
    a DAG has few setups and may have thousands of tasks."""
    relevant: dict[str, list[str]] = {}
    for setup in (n for n in graph.tasks if n in setups):
        scope = descendants(graph, [setup])
        if teardowns_of[setup]:
            scope &= ancestors(graph, teardowns_of[setup])
        for name in scope:
            relevant.setdefault(name, []).append(setup)
    return {name: tuple(found) for name, found in relevant.items()}


def setup_teardown_problems(spec: DagSpec) -> list[str]:
    """What Airflow refuses in a DAG with setups (DAG.validate_setup_teardown): a setup's
    direct downstream tasks, other than teardowns, must use all_success, so that clearing a
    setup gives the same run as the first time."""
    default_rule = (spec.defaults.trigger_rule if spec.defaults else None) or (
        TriggerRule.ALL_SUCCESS
    )
    by_name = {task.name: task for task in spec.tasks}
    problems = []
    for task in spec.tasks:
        rule = task.trigger_rule or default_rule
        if task.teardown or rule is TriggerRule.ALL_SUCCESS:
            continue
        for upstream in task.depends_on or []:
            if (setup := by_name.get(upstream)) is not None and setup.setup:
                problems.append(
                    f"task {task.name!r} has triggerRule {rule.value!r} but follows setup task"
                    f" {upstream!r}; a setup's downstream tasks other than teardowns must use"
                    " all_success"
                )
                break
    return problems
