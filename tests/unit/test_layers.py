"""The package's folders are its layers, and imports only go down them: the resources'
models, the pure core, the rendering of manifests, the Python SDK, the Kubernetes I/O layer, the
reconcilers, the cluster commands, the CLI. The pure layers never reach the network, the
clock or the API."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "controller" / "kubedag"
LAYERS = [
    "models", "core", "manifests", "views", "sdk", "kube", "reconcilers", "commands", "web", "cli"
]  # fmt: skip
PURE = {"models", "core", "manifests", "views"}
# The task toolkit runs in task pods, not in the controller: it imports no other layer and no
# layer imports it, so the python-task image carries it without the controller's dependencies.
SEPARATE = {"toolkit"}
# What a pure module may not import: clients, servers, sockets, processes, event loops.
IO_MODULES = {
    "aiohttp",
    "asyncio",
    "http",
    "kopf",
    "kubernetes",
    "os",
    "prometheus_client",
    "requests",
    "socket",
    "subprocess",
    "urllib",
}


def layer_of(module: str) -> str | None:
    """'kubedag.core.schedule' -> 'core'; the package root (GROUP, VERSION) is below all."""
    parts = module.split(".")
    if parts[0] != "kubedag" or len(parts) == 1:
        return None
    return parts[1]


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def module_layer(path: Path) -> str | None:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py") if relative.parts[0] != "__init__.py" else None


def test_every_module_sits_in_a_layer() -> None:
    outside = [p for p in MODULES if module_layer(p) not in (*LAYERS, *SEPARATE, None)]
    assert outside == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_down_the_layers(path: Path) -> None:
    own = module_layer(path)
    if own is None or own in SEPARATE:
        return
    upward = [
        name
        for name in imports(path)
        if (target := layer_of(name)) in LAYERS and LAYERS.index(target) > LAYERS.index(own)
    ]
    assert upward == [], f"{path.name} ({own}) imports from a higher layer"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_toolkit_stands_apart(path: Path) -> None:
    own = module_layer(path)
    crossing = [
        name
        for name in imports(path)
        if (target := layer_of(name)) is not None
        and target != own
        and (own in SEPARATE or target in SEPARATE)
    ]
    assert crossing == [], f"{path.name} ({own}) crosses the toolkit's boundary"


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if module_layer(p) in PURE],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_the_pure_layers_do_no_io(path: Path) -> None:
    io = [name for name in imports(path) if name.split(".")[0] in IO_MODULES]
    assert io == [], f"{path.name} imports I/O modules"


def test_the_check_sees_an_upward_and_an_io_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("from kubedag.reconcilers.informer import Informer\nimport kubernetes\n")
    found = imports(module)
    assert "kubedag.reconcilers.informer" in found and layer_of(found[0]) == "reconcilers"
    assert [n for n in found if n.split(".")[0] in IO_MODULES] == ["kubernetes"]


MAX_CLASS_LINES = 250


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_no_class_is_over_250_lines(path: Path) -> None:
    """Small classes, as the house rule says: one that grows past this splits its concerns."""
    too_long = [
        f"{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES
    ]
    assert not too_long
