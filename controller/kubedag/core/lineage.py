"""Lineage, as a pure function of DAG objects: which DAGs read and write which datasets, with
each DAG's owner and last run state, rendered as text, Mermaid, Graphviz dot or JSON
(`kubedag lineage`). A dataset is its URI across namespaces: two DAGs in two namespaces
that name the same URI touch the same data."""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from kubedag.core.dates import rfc3339
from kubedag.models.dag import Dag

EdgeKind = Literal["writes", "reads", "triggers"]


@dataclass(frozen=True)
class DagNode:
    namespace: str
    name: str
    owner: str | None
    description: str | None
    paused: bool
    last_state: str | None
    """running, success or failed (the newest run that finished), or None: never ran."""
    last_finished: datetime | None

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Edge:
    source: str  # a DAG's namespace/name or a dataset URI
    target: str
    kind: EdgeKind
    """writes: DAG -> dataset (outputs, a task's outlets); reads: dataset -> DAG (inputs);
    triggers: dataset -> DAG (scheduleOn)."""


@dataclass
class Lineage:
    dags: list[DagNode] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)


def dag_node(dag: Dag) -> DagNode:
    status = dag.status
    success = status.last_successful_run if status else None
    failure = status.last_failed_run if status else None
    finished = [
        (outcome.finished_at, state)
        for outcome, state in ((success, "success"), (failure, "failed"))
        if outcome is not None and outcome.finished_at is not None
    ]
    last_finished, last_state = max(finished) if finished else (None, None)
    if status is not None and status.active_runs:
        last_state = "running"
    return DagNode(
        namespace=dag.namespace,
        name=dag.name,
        owner=dag.spec.owner,
        description=dag.spec.description,
        paused=dag.spec.paused,
        last_state=last_state,
        last_finished=last_finished,
    )


def lineage(dags: Sequence[Dag], dataset: str | None = None) -> Lineage:
    """The graph of `dags` and the datasets they name; with `dataset`, only what feeds it
    and what it feeds, transitively."""
    graph = Lineage()
    edges: set[Edge] = set()
    for dag in sorted(dags, key=lambda d: (d.namespace, d.name)):
        node = dag_node(dag)
        graph.dags.append(node)
        spec = dag.spec
        scheduled = set(spec.schedule_on.datasets) if spec.schedule_on else set()
        edges.update(Edge(node.id, uri, "writes") for uri in spec.outputs or [])
        edges.update(
            Edge(node.id, uri, "writes") for task in spec.tasks for uri in task.outlets or []
        )
        edges.update(Edge(uri, node.id, "triggers") for uri in scheduled)
        edges.update(
            Edge(uri, node.id, "reads") for uri in spec.inputs or [] if uri not in scheduled
        )
    graph.edges = sorted(edges, key=lambda e: (e.source, e.target, e.kind))
    ids = {n.id for n in graph.dags}
    graph.datasets = sorted({end for e in edges for end in (e.source, e.target)} - ids)
    if dataset is not None:
        graph = _around(graph, dataset)
    return graph


def _reach(edges: Sequence[Edge], start: str, forward: bool) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        here = todo.pop()
        for edge in edges:
            this, other = (edge.source, edge.target) if forward else (edge.target, edge.source)
            if this == here and other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


def _around(graph: Lineage, dataset: str) -> Lineage:
    keep = _reach(graph.edges, dataset, True) | _reach(graph.edges, dataset, False)
    return Lineage(
        dags=[n for n in graph.dags if n.id in keep],
        datasets=[d for d in graph.datasets if d in keep],
        edges=[e for e in graph.edges if e.source in keep and e.target in keep],
    )


def _facts(node: DagNode) -> str:
    last = node.last_state or "never ran"
    if node.last_finished and node.last_state != "running":
        last += f" {rfc3339(node.last_finished)}"
    parts = [f"owner {node.owner or '-'}", f"last run {last}"]
    if node.paused:
        parts.append("paused")
    return ", ".join(parts)


def upstream_first(graph: Lineage) -> list[DagNode]:
    """The DAGs, each after the DAGs that write what it reads (by name among equals; a
    cycle through datasets is broken at the first name)."""
    writers: dict[str, set[str]] = {}
    for edge in graph.edges:
        if edge.kind == "writes":
            writers.setdefault(edge.target, set()).add(edge.source)
    needs = {
        node.id: {w for e in graph.edges if e.target == node.id for w in writers.get(e.source, ())}
        - {node.id}
        for node in graph.dags
    }
    ordered: list[DagNode] = []
    done: set[str] = set()
    waiting = list(graph.dags)
    while waiting:
        ready = next((n for n in waiting if needs[n.id] <= done), waiting[0])
        waiting.remove(ready)
        ordered.append(ready)
        done.add(ready.id)
    return ordered


def render_text(graph: Lineage) -> str:
    """One block per DAG, upstream first: what it reads (or is triggered by) and writes."""
    lines: list[str] = []
    for node in upstream_first(graph):
        lines.append(f"{node.id} ({_facts(node)})")
        for edge in graph.edges:
            if edge.target == node.id:
                lines.append(
                    f"  {'triggered by' if edge.kind == 'triggers' else 'reads'} {edge.source}"
                )
        for edge in graph.edges:
            if edge.source == node.id:
                lines.append(f"  writes {edge.target}")
    return "\n".join(lines)


def _ids(graph: Lineage) -> dict[str, str]:
    ids = {node.id: f"dag{i}" for i, node in enumerate(graph.dags)}
    ids.update({uri: f"ds{i}" for i, uri in enumerate(graph.datasets)})
    return ids


def _quote(text: str) -> str:
    return text.replace('"', "#quot;")


def render_mermaid(graph: Lineage) -> str:
    """A Mermaid flowchart: DAGs as boxes, datasets as cylinders; a dashed arrow reads, a
    thick one triggers."""
    ids = _ids(graph)
    lines = ["flowchart LR"]
    for node in graph.dags:
        label = f"{node.id}<br/>{_facts(node)}"
        lines.append(f'  {ids[node.id]}["{_quote(label)}"]')
    for uri in graph.datasets:
        lines.append(f'  {ids[uri]}[("{_quote(uri)}")]')
    arrows = {"writes": "-->", "reads": "-.->", "triggers": "==>"}
    lines.extend(f"  {ids[e.source]} {arrows[e.kind]} {ids[e.target]}" for e in graph.edges)
    return "\n".join(lines)


def _dot_string(*lines: str) -> str:
    """A dot string of `lines`, joined by dot's line break."""
    escaped = (line.replace("\\", "\\\\").replace('"', '\\"') for line in lines)
    return '"' + "\\n".join(escaped) + '"'


def render_dot(graph: Lineage) -> str:
    """Graphviz: DAGs as boxes, datasets as cylinders; dashed reads, bold triggers."""
    lines = ["digraph lineage {", "  rankdir=LR;"]
    for node in graph.dags:
        label = _dot_string(node.id, _facts(node))
        lines.append(f"  {_dot_string(node.id)} [shape=box, label={label}];")
    lines.extend(f"  {_dot_string(uri)} [shape=cylinder];" for uri in graph.datasets)
    style = {"writes": "", "reads": " [style=dashed]", "triggers": " [style=bold]"}
    lines.extend(
        f"  {_dot_string(e.source)} -> {_dot_string(e.target)}{style[e.kind]};" for e in graph.edges
    )
    lines.append("}")
    return "\n".join(lines)


def render_json(graph: Lineage) -> str:
    document: dict[str, Any] = {
        "dags": [
            {
                "namespace": n.namespace,
                "name": n.name,
                "owner": n.owner,
                "description": n.description,
                "paused": n.paused,
                "lastRun": {
                    "state": n.last_state,
                    "finishedAt": rfc3339(n.last_finished) if n.last_finished else None,
                },
            }
            for n in graph.dags
        ],
        "datasets": graph.datasets,
        "edges": [{"from": e.source, "to": e.target, "kind": e.kind} for e in graph.edges],
    }
    return json.dumps(document, indent=2)


RENDERERS = {"text": render_text, "mermaid": render_mermaid, "dot": render_dot, "json": render_json}
