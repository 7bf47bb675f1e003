"""Branch and short-circuit decisions (Airflow's rules 18, 20 and 21), read from the deciding
task's recorded output.

A branch task's output names, under `branch`, the downstream tasks to follow (a name, a
list of names, or null for none); its direct downstream tasks that are not followed, nor
below a followed task, are skipped (SkipMixin.skip_all_except). A short-circuit task whose
output's `condition` is false (Python's truthiness; a missing output or key is null, so
false) skips every task below it, or only its direct downstream tasks with
ignoreDownstreamTriggerRules false; teardowns are never skipped. Other tasks then skip
through their trigger rules.

The decision is derived from the deciding task's record on every pass, never stored
elsewhere: a task it skipped that is cleared is skipped again (rule 21), and clearing the
deciding task itself withdraws its decision until it succeeds again.
"""

import difflib
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubedag.core.graph import TaskGraph, descendants
from kubedag.models.dagrun import TaskRecord, TaskState

BRANCH_KEY = "branch"
CONDITION_KEY = "condition"
_NAMES_SHOWN = 10


@dataclass(frozen=True)
class Decider:
    """A branch or short-circuit task, with the tasks its decision may skip."""

    name: str
    branch: bool
    candidates: frozenset[str]
    """Its direct downstream tasks (a branch, or a short-circuit that respects trigger
    rules), or every task below it; teardowns excluded for a short-circuit."""


@dataclass(frozen=True)
class Decision:
    skipped: frozenset[str]
    reason: str
    """Why, for the skipped tasks' records: "skipped by branch pick", ..."""
    summary: str
    """What the deciding task decided, for its own record."""

    @property
    def report(self) -> str:
        """The summary and the tasks skipped (the first 10), for an event."""
        skipped = ", ".join(sorted(self.skipped)[:10]) or "nothing"
        more = len(self.skipped) - 10
        return f"{self.summary}; skips {skipped}" + (f" and {more} more" if more > 0 else "")


NO_DECISION = Decision(frozenset(), "", "")


def decider(
    name: str,
    graph: TaskGraph,
    *,
    branch: bool,
    ignore_downstream_trigger_rules: bool,
    teardowns: Collection[str],
) -> Decider:
    if branch:
        return Decider(name, True, frozenset(graph.downstream[name]))
    below = (
        descendants(graph, [name])
        if ignore_downstream_trigger_rules
        else set(graph.downstream[name])
    )
    return Decider(name, False, frozenset(t for t in below if t not in teardowns))


def deciders_over(deciders: Iterable[Decider]) -> dict[str, tuple[str, ...]]:
    """For each task, the deciding tasks whose decision may skip it."""
    over: dict[str, list[str]] = {}
    for one in deciders:
        for name in one.candidates:
            over.setdefault(name, []).append(one.name)
    return {name: tuple(names) for name, names in over.items()}


def branch_problem(name: str, outputs: Mapping[str, Any] | None, graph: TaskGraph) -> str | None:
    """Why the branch task `name`'s output cannot be followed (it fails the try), or None.

    As Airflow's skip_all_except, any task of the DAG may be named: a task that is not
    directly downstream only keeps the tasks below it from being skipped."""
    try:
        chosen = branch_targets(outputs)
    except ValueError as error:
        return str(error)
    unknown = sorted(chosen - set(graph.tasks))
    if not unknown:
        return None
    downstream = graph.downstream[name]
    allowed = ", ".join(downstream[:_NAMES_SHOWN]) + ("…" if len(downstream) > _NAMES_SHOWN else "")
    hints = {
        bad: close[0]
        for bad in unknown
        if (close := difflib.get_close_matches(bad, graph.tasks, n=1, cutoff=0.6))
    }
    hint = "".join(f" (did you mean {good!r} for {bad!r}?)" for bad, good in hints.items())
    names = ", ".join(repr(bad) for bad in unknown)
    return (
        f"output branch names {names}, not a task of this DAG; its downstream tasks: "
        f"{allowed or 'none'}{hint}"
    )


def branch_targets(outputs: Mapping[str, Any] | None) -> frozenset[str]:
    """The task names a branch output follows; a missing output or key follows none, as
    a branch callable that returns None does in Airflow."""
    value = (outputs or {}).get(BRANCH_KEY)
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(value)
    shown = json.dumps(value)
    if len(shown) > 60:
        shown = shown[:59] + "…"
    raise ValueError(
        f"output branch must be a task name, a list of task names or null, not {shown}"
    )


def decide(one: Decider, record: TaskRecord, graph: TaskGraph) -> Decision:
    """What `one` decided, from its record. Only a try that succeeded by itself decides (its
    pod exited 0): a task marked success without running decides nothing, as in Airflow,
    where such a task pushed no skipmixin XCom."""
    if record.state is not TaskState.SUCCESS or record.exit_code != 0:
        return NO_DECISION
    if one.branch:
        return _branch_decision(one, record.outputs, graph)
    condition = (record.outputs or {}).get(CONDITION_KEY)
    if condition:
        return Decision(frozenset(), "", "condition true: downstream tasks run")
    return Decision(
        one.candidates,
        f"skipped by short-circuit {one.name}",
        f"condition {json.dumps(condition)}: downstream tasks skipped",
    )


def _branch_decision(one: Decider, outputs: Mapping[str, Any] | None, graph: TaskGraph) -> Decision:
    if branch_problem(one.name, outputs, graph) is not None:
        return NO_DECISION  # a try that failed on it, then marked success: decides nothing
    chosen = branch_targets(outputs)
    followed = set(chosen) | descendants(graph, chosen)
    skipped = frozenset(t for t in one.candidates if t not in followed)
    shown = ", ".join(sorted(chosen)) or "none"
    if BRANCH_KEY not in (outputs or {}):
        shown += f" (its output has no {BRANCH_KEY!r})"
    return Decision(skipped, f"skipped by branch {one.name}", f"followed {shown}")
