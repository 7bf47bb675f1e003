"""The task graph: dependency checks, cycles, leaves. Pure functions of task names and edges."""

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kubedag.core.suggestions import did_you_mean


@dataclass(frozen=True)
class TaskGraph:
    """Upstream and downstream adjacency of a DAG's tasks, in declaration order."""

    upstream: Mapping[str, tuple[str, ...]]
    downstream: Mapping[str, tuple[str, ...]]

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.upstream)

    @property
    def leaves(self) -> tuple[str, ...]:
        """Tasks nothing depends on: their states decide the run's outcome."""
        return tuple(name for name, down in self.downstream.items() if not down)

    @property
    def roots(self) -> tuple[str, ...]:
        return tuple(name for name, up in self.upstream.items() if not up)


def build_graph(edges: Iterable[tuple[str, Iterable[str]]]) -> TaskGraph:
    """Graph from (task, depends_on) pairs; assumes validate_graph found no problem."""
    upstream: dict[str, tuple[str, ...]] = {}
    downstream: dict[str, list[str]] = {}
    for name, deps in edges:
        upstream[name] = tuple(dict.fromkeys(deps))
        downstream.setdefault(name, [])
    for name, deps in upstream.items():
        for dep in deps:
            downstream.setdefault(dep, []).append(name)
    return TaskGraph(upstream=upstream, downstream={k: tuple(v) for k, v in downstream.items()})


def validate_graph(edges: Iterable[tuple[str, Iterable[str]]]) -> list[str]:
    """Every problem in the graph as a message naming the task: duplicates, unknown
    dependencies, self-dependencies and cycles (each cycle spelled out once)."""
    problems: list[str] = []
    upstream: dict[str, list[str]] = {}
    for name, deps in edges:
        if name in upstream:
            problems.append(f"task {name!r} is defined more than once")
            continue
        upstream[name] = list(dict.fromkeys(deps))
    for name, deps in upstream.items():
        for dep in deps:
            if dep == name:
                problems.append(f"task {name!r} depends on itself")
            elif dep not in upstream:
                problems.append(
                    f"task {name!r} depends on unknown task {dep!r}{did_you_mean(dep, upstream)}"
                )
    known = {n: [d for d in deps if d in upstream and d != n] for n, deps in upstream.items()}
    problems.extend(
        "dependency cycle: " + " -> ".join(repr(t) for t in cycle) for cycle in find_cycles(known)
    )
    return problems


def find_cycles(upstream: Mapping[str, list[str]]) -> list[list[str]]:
    """One representative cycle per strongly connected component that has one, each written
    as a closed path (first task repeated at the end), in a deterministic order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0

    # Iterative Tarjan: DAGs may have thousands of tasks, deeper than Python's recursion limit.
    for root in upstream:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child_i = work.pop()
            if child_i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = upstream[node]
            if child_i < len(children):
                work.append((node, child_i + 1))
                child = children[child_i]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])

    return [_cycle_in(component, upstream) for component in components]


def _cycle_in(component: list[str], upstream: Mapping[str, list[str]]) -> list[str]:
    """A simple cycle through the component, starting at its first task in declaration order,
    following dependencies downstream (a -> b means b depends on a)."""
    members = set(component)
    order = [n for n in upstream if n in members]
    start = order[0]
    downstream: dict[str, list[str]] = {n: [] for n in order}
    for n in order:
        for dep in upstream[n]:
            if dep in members:
                downstream[dep].append(n)
    # Breadth-first search from start back to start gives the shortest cycle through it.
    parents: dict[str, str] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        next_frontier = []
        for node in frontier:
            for child in downstream[node]:
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if child not in seen:
                    seen.add(child)
                    parents[child] = node
                    next_frontier.append(child)
        frontier = next_frontier
    raise AssertionError("a strongly connected component always holds a cycle")


def topological_order(graph: TaskGraph) -> list[str]:
    """Tasks so that each comes after its upstream tasks (Kahn's order: roots in declaration
    order, then each task as soon as its last upstream task is placed)."""
    remaining = {name: len(up) for name, up in graph.upstream.items()}
    ready = deque(name for name, count in remaining.items() if count == 0)
    order: list[str] = []
    while ready:
        name = ready.popleft()
        order.append(name)
        for child in graph.downstream[name]:
            remaining[child] -= 1
            if remaining[child] == 0:
                ready.append(child)
    return order


def descendants(graph: TaskGraph, names: Iterable[str]) -> set[str]:
    """Every task downstream of `names`, transitively (not the tasks themselves, unless one
    is downstream of another)."""
    return _reachable(graph.downstream, names)


def ancestors(graph: TaskGraph, names: Iterable[str]) -> set[str]:
    """Every task upstream of `names`, transitively."""
    return _reachable(graph.upstream, names)


def _reachable(edges: Mapping[str, tuple[str, ...]], names: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    stack = [child for name in names for child in edges[name]]
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(edges[name])
    return seen
