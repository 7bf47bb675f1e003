"""The task graph: validation messages, cycles, adjacency, roots/leaves and topological order.

Edges are (task, depends_on) pairs; "a -> b" in a cycle message means b depends on a.
"""

import itertools
import sys

import pytest

from kubedag.core.graph import (
    TaskGraph,
    build_graph,
    find_cycles,
    topological_order,
    validate_graph,
)

Edges = list[tuple[str, list[str]]]

CHAIN_LENGTH = 5_000


def _chain(n: int) -> Edges:
    return [(f"t{i:04d}", [f"t{i - 1:04d}"] if i else []) for i in range(n)]


def _ring(n: int) -> Edges:
    return [(f"t{i:04d}", [f"t{(i - 1) % n:04d}"]) for i in range(n)]


DIAMOND: Edges = [("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"])]


def _assert_is_closed_cycle(names: list[str], upstream: dict[str, list[str]]) -> None:
    """Each step x -> y must be a real edge: y depends on x; first == last; no repeats inside."""
    assert len(names) >= 3
    assert names[0] == names[-1]
    assert len(set(names[:-1])) == len(names) - 1
    for before, after in itertools.pairwise(names):
        assert before in upstream[after], (before, after)


# ---------------------------------------------------------------------------------------------
# validate_graph
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        pytest.param([], [], id="empty"),
        pytest.param([("a", [])], [], id="single"),
        pytest.param(DIAMOND, [], id="diamond"),
        pytest.param([("b", ["a"]), ("a", [])], [], id="dependency-declared-later"),
        pytest.param([("a", []), ("b", ["a", "a"])], [], id="repeated-dependency"),
        pytest.param(
            [("a", []), ("a", [])],
            ["task 'a' is defined more than once"],
            id="duplicate",
        ),
        pytest.param(
            [("a", []), ("b", ["ghost"])],
            ["task 'b' depends on unknown task 'ghost'"],
            id="unknown-dependency",
        ),
        pytest.param(
            [("a", ["a"])],
            ["task 'a' depends on itself"],
            id="self-dependency-is-not-also-a-cycle",
        ),
        pytest.param(
            [("a", ["b"]), ("b", ["a"])],
            ["dependency cycle: 'a' -> 'b' -> 'a'"],
            id="two-cycle",
        ),
        pytest.param(
            [("b", ["a"]), ("a", ["b"])],
            ["dependency cycle: 'b' -> 'a' -> 'b'"],
            id="two-cycle-starts-at-first-declared",
        ),
        pytest.param(
            [("a", ["c"]), ("b", ["a"]), ("c", ["b"])],
            ["dependency cycle: 'a' -> 'b' -> 'c' -> 'a'"],
            id="three-cycle-follows-downstream",
        ),
        pytest.param(
            [("root", []), ("x", ["root", "z"]), ("y", ["x"]), ("z", ["y"]), ("leaf", ["z"])],
            ["dependency cycle: 'x' -> 'y' -> 'z' -> 'x'"],
            id="cycle-inside-larger-graph",
        ),
        pytest.param(
            [("a", ["b"]), ("b", ["a"]), ("c", ["d"]), ("d", ["c"])],
            [
                "dependency cycle: 'a' -> 'b' -> 'a'",
                "dependency cycle: 'c' -> 'd' -> 'c'",
            ],
            id="two-disjoint-cycles",
        ),
        pytest.param(
            [("a", ["b", "ghost"]), ("b", ["a"])],
            [
                "task 'a' depends on unknown task 'ghost'",
                "dependency cycle: 'a' -> 'b' -> 'a'",
            ],
            id="cycle-plus-unknown-dependency",
        ),
        pytest.param(
            [("a", ["a", "b"]), ("b", ["a"])],
            ["task 'a' depends on itself", "dependency cycle: 'a' -> 'b' -> 'a'"],
            id="self-dependency-plus-cycle",
        ),
    ],
)
def test_validate_graph_messages(edges: Edges, expected: list[str]) -> None:
    assert validate_graph(edges) == expected


def test_validate_graph_reports_every_problem_kind_together() -> None:
    edges: Edges = [
        ("a", ["b"]),
        ("b", ["a"]),
        ("a", []),
        ("c", ["c", "nowhere"]),
    ]
    problems = validate_graph(edges)
    assert sorted(problems) == sorted(
        [
            "task 'a' is defined more than once",
            "task 'c' depends on itself",
            "task 'c' depends on unknown task 'nowhere'",
            "dependency cycle: 'a' -> 'b' -> 'a'",
        ]
    )


def test_two_disjoint_cycles_are_reported_once_each_even_when_reached_from_elsewhere() -> None:
    # "entry" reaches the second cycle before the first one is declared.
    edges: Edges = [
        ("entry", ["p"]),
        ("m", ["n"]),
        ("n", ["m"]),
        ("p", ["q"]),
        ("q", ["p"]),
    ]
    problems = validate_graph(edges)
    assert sorted(problems) == [
        "dependency cycle: 'm' -> 'n' -> 'm'",
        "dependency cycle: 'p' -> 'q' -> 'p'",
    ]
    assert validate_graph(edges) == problems  # deterministic


def test_overlapping_cycles_form_one_component_reported_once() -> None:
    # a <-> b and a <-> c share 'a': one strongly connected component.
    edges: Edges = [("a", ["b", "c"]), ("b", ["a"]), ("c", ["a"])]
    problems = validate_graph(edges)
    assert len(problems) == 1
    assert problems[0].startswith("dependency cycle: 'a' -> ")
    names = [
        part.strip("'") for part in problems[0].removeprefix("dependency cycle: ").split(" -> ")
    ]
    _assert_is_closed_cycle(names, {n: list(d) for n, d in edges})


def test_validate_graph_accepts_iterators() -> None:
    edges = ((name, iter(deps)) for name, deps in [("a", ["b"]), ("b", ["a"])])
    assert validate_graph(edges) == ["dependency cycle: 'a' -> 'b' -> 'a'"]


def test_long_chain_validates_without_recursion() -> None:
    assert sys.getrecursionlimit() < CHAIN_LENGTH
    assert validate_graph(_chain(CHAIN_LENGTH)) == []


def test_long_ring_is_one_cycle_spelled_in_full() -> None:
    problems = validate_graph(_ring(CHAIN_LENGTH))
    assert len(problems) == 1
    names = [f"'t{i:04d}'" for i in range(CHAIN_LENGTH)]
    assert problems[0] == "dependency cycle: " + " -> ".join([*names, "'t0000'"])


# ---------------------------------------------------------------------------------------------
# find_cycles
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("upstream", "expected"),
    [
        pytest.param({}, [], id="empty"),
        pytest.param({"a": [], "b": ["a"]}, [], id="acyclic"),
        pytest.param({"a": ["b"], "b": ["a"]}, [["a", "b", "a"]], id="two-cycle"),
        pytest.param(
            {"a": ["c"], "b": ["a"], "c": ["b"], "d": ["c"]},
            [["a", "b", "c", "a"]],
            id="three-cycle-with-tail",
        ),
        pytest.param(
            # 'a' -> 'b' -> 'a' is shorter than 'a' -> 'b' -> 'c' -> 'a'.
            {"a": ["b", "c"], "b": ["a"], "c": ["b"]},
            [["a", "b", "a"]],
            id="shortest-cycle-through-first-task",
        ),
    ],
)
def test_find_cycles(upstream: dict[str, list[str]], expected: list[list[str]]) -> None:
    assert find_cycles(upstream) == expected


def test_find_cycles_long_chain_has_none() -> None:
    upstream = {name: deps for name, deps in _chain(CHAIN_LENGTH)}
    assert find_cycles(upstream) == []


# ---------------------------------------------------------------------------------------------
# build_graph, roots and leaves
# ---------------------------------------------------------------------------------------------


def test_build_graph_diamond() -> None:
    graph = build_graph(DIAMOND)
    assert graph.tasks == ("a", "b", "c", "d")
    assert dict(graph.upstream) == {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c")}
    assert dict(graph.downstream) == {"a": ("b", "c"), "b": ("d",), "c": ("d",), "d": ()}
    assert graph.roots == ("a",)
    assert graph.leaves == ("d",)


@pytest.mark.parametrize(
    ("edges", "roots", "leaves"),
    [
        pytest.param([("solo", [])], ("solo",), ("solo",), id="single-task"),
        pytest.param(
            [("x", []), ("y", []), ("z", [])], ("x", "y", "z"), ("x", "y", "z"), id="independent"
        ),
        pytest.param(DIAMOND, ("a",), ("d",), id="diamond"),
        pytest.param(
            [("c", ["a"]), ("a", []), ("d", ["a"]), ("b", [])],
            ("a", "b"),
            ("c", "d", "b"),
            id="declaration-order",
        ),
        pytest.param(
            [("extract", []), ("load", ["extract"]), ("notify", ["extract"])],
            ("extract",),
            ("load", "notify"),
            id="fan-out",
        ),
    ],
)
def test_roots_and_leaves(edges: Edges, roots: tuple[str, ...], leaves: tuple[str, ...]) -> None:
    graph = build_graph(edges)
    assert graph.roots == roots
    assert graph.leaves == leaves


def test_build_graph_drops_repeated_dependencies() -> None:
    graph = build_graph([("a", []), ("b", ["a", "a"])])
    assert graph.upstream["b"] == ("a",)
    assert graph.downstream["a"] == ("b",)


def test_downstream_lists_dependents_in_declaration_order() -> None:
    graph = build_graph([("src", []), ("z", ["src"]), ("m", ["src"]), ("a", ["src"])])
    assert graph.downstream["src"] == ("z", "m", "a")


def test_long_chain_graph() -> None:
    graph = build_graph(_chain(CHAIN_LENGTH))
    assert len(graph.tasks) == CHAIN_LENGTH
    assert graph.roots == ("t0000",)
    assert graph.leaves == (f"t{CHAIN_LENGTH - 1:04d}",)


# ---------------------------------------------------------------------------------------------
# topological_order
# ---------------------------------------------------------------------------------------------


def _assert_topological(graph: TaskGraph, order: list[str]) -> None:
    assert sorted(order) == sorted(graph.tasks)
    position = {name: i for i, name in enumerate(order)}
    for name, deps in graph.upstream.items():
        for dep in deps:
            assert position[dep] < position[name], (dep, name)


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        pytest.param([], [], id="empty"),
        pytest.param(DIAMOND, ["a", "b", "c", "d"], id="diamond"),
        pytest.param(
            [("d", ["b", "c"]), ("c", ["a"]), ("b", ["a"]), ("a", [])],
            ["a", "c", "b", "d"],
            id="diamond-declared-backwards",
        ),
        pytest.param([("x", []), ("y", []), ("z", [])], ["x", "y", "z"], id="independent"),
        pytest.param([("z", []), ("y", []), ("x", [])], ["z", "y", "x"], id="not-alphabetical"),
        pytest.param(
            [("c", ["b"]), ("b", ["a"]), ("a", [])], ["a", "b", "c"], id="chain-declared-backwards"
        ),
        pytest.param(
            [("a", []), ("z", ["a"]), ("y", ["a"]), ("x", ["a"])],
            ["a", "z", "y", "x"],
            id="fan-out-keeps-declaration-order",
        ),
        pytest.param(
            [("late", ["early"]), ("solo", []), ("early", [])],
            ["solo", "early", "late"],
            id="roots-first-in-declaration-order",
        ),
    ],
)
def test_topological_order(edges: Edges, expected: list[str]) -> None:
    graph = build_graph(edges)
    order = topological_order(graph)
    _assert_topological(graph, order)
    assert order == expected


@pytest.mark.parametrize(
    "edges",
    [
        pytest.param(DIAMOND, id="diamond"),
        pytest.param(
            [
                ("load", ["transform_a", "transform_b"]),
                ("transform_a", ["extract"]),
                ("report", ["load", "audit"]),
                ("transform_b", ["extract", "lookup"]),
                ("audit", []),
                ("extract", []),
                ("lookup", []),
            ],
            id="etl",
        ),
        pytest.param(list(reversed(_chain(CHAIN_LENGTH))), id="long-chain-reversed"),
    ],
)
def test_topological_order_respects_every_edge(edges: Edges) -> None:
    graph = build_graph(edges)
    _assert_topological(graph, topological_order(graph))


def test_topological_order_long_chain_declared_backwards() -> None:
    graph = build_graph(list(reversed(_chain(CHAIN_LENGTH))))
    assert topological_order(graph) == [f"t{i:04d}" for i in range(CHAIN_LENGTH)]
