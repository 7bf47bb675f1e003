"""The graph of a DAG, laid out left to right as Airflow draws it: each task in the column of
its longest chain of upstream tasks, edges from a task's right side to its downstream tasks'
left sides; with a run, each task coloured by its state in that run."""

from dataclasses import dataclass

from kubedag.core.graph import build_graph, topological_order
from kubedag.models.dag import Dag
from kubedag.models.dagrun import DagRun
from kubedag.views.states import state_class, state_label

NODE_WIDTH = 180
NODE_HEIGHT = 36
COLUMN_GAP = 60
ROW_GAP = 16
MARGIN = 10


@dataclass(frozen=True)
class GraphNode:
    task: str
    x: int
    y: int
    state_class: str
    state: str
    label: str
    """The task's name, shortened to fit its box (the full name is its title)."""


@dataclass(frozen=True)
class GraphEdge:
    upstream: str
    downstream: str
    path: str
    """An SVG path: a curve from the upstream box's right side to the downstream's left."""


@dataclass(frozen=True)
class GraphView:
    namespace: str
    dag: str
    run: str | None
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]
    width: int
    height: int


def build_graph_view(namespace: str, dag: Dag, run: DagRun | None) -> GraphView:
    graph = build_graph((t.name, t.depends_on or []) for t in dag.spec.tasks)
    column: dict[str, int] = {}
    for task in topological_order(graph):
        column[task] = 1 + max((column[u] for u in graph.upstream[task]), default=-1)
    rows: dict[int, int] = {}
    position: dict[str, tuple[int, int]] = {}
    for task in graph.tasks:  # declaration order within a column
        row = rows.get(column[task], 0)
        rows[column[task]] = row + 1
        position[task] = (
            MARGIN + column[task] * (NODE_WIDTH + COLUMN_GAP),
            MARGIN + row * (NODE_HEIGHT + ROW_GAP),
        )
    states = {r.name: r.state for r in run.status.tasks} if run else {}
    nodes = tuple(
        GraphNode(
            task=task,
            x=position[task][0],
            y=position[task][1],
            state_class=state_class(states.get(task)),
            state=state_label(states.get(task)),
            label=task if len(task) <= 22 else task[:21] + "…",
        )
        for task in graph.tasks
    )
    edges = tuple(
        GraphEdge(up, task, _curve(position[up], position[task]))
        for task in graph.tasks
        for up in graph.upstream[task]
    )
    columns = max(column.values(), default=0) + 1
    height = max(rows.values(), default=1)
    return GraphView(
        namespace=namespace,
        dag=dag.name,
        run=run.name if run else None,
        nodes=nodes,
        edges=edges,
        width=2 * MARGIN + columns * NODE_WIDTH + (columns - 1) * COLUMN_GAP,
        height=2 * MARGIN + height * NODE_HEIGHT + (height - 1) * ROW_GAP,
    )


def _curve(start: tuple[int, int], end: tuple[int, int]) -> str:
    x1, y1 = start[0] + NODE_WIDTH, start[1] + NODE_HEIGHT // 2
    x2, y2 = end[0], end[1] + NODE_HEIGHT // 2
    middle = (x1 + x2) // 2
    return f"M{x1},{y1} C{middle},{y1} {middle},{y2} {x2},{y2}"
