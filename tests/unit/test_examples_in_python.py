"""Every example DAG in both forms: `examples/in-python/<example>.py` is the Python form of
`examples/<example>.yaml`, as `kubedag.sdk.to_python` writes it, and building it gives the
YAML's DAGs back exactly. After a deliberate change of an example, regenerate the Python
forms with KUBEDAG_UPDATE_GOLDEN=1 (as the other golden files)."""

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedag.sdk.dag import collect_dags
from kubedag.sdk.to_python import python_source

ROOT = Path(__file__).resolve().parents[2]
IN_PYTHON = ROOT / "examples/in-python"


def dags_in(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "DAG"]


EXAMPLES = sorted(
    p for p in (ROOT / "examples").glob("*.yaml") if p.name != "invalid-dag.yaml" and dags_in(p)
)


def python_form(example: Path) -> Path:
    return IN_PYTHON / f"{example.stem.replace('-', '_')}.py"


def header(example: Path) -> str:
    return (
        f"# The Python form of examples/{example.name}: `kubedag build` of it gives that"
        " file's DAGs.\n"
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_each_example_has_a_python_form_that_builds_it(example: Path) -> None:
    expected = python_source(dags_in(example), header=header(example))
    path = python_form(example)
    if os.environ.get("KUBEDAG_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(expected)
    assert path.read_text() == expected, f"regenerate with KUBEDAG_UPDATE_GOLDEN=1: {path}"
    made = collect_dags()
    exec(compile(path.read_text(), str(path), "exec"), {})
    assert [dag.to_manifest() for dag in made] == dags_in(example)


def test_no_python_form_without_its_example() -> None:
    assert sorted(IN_PYTHON.glob("*.py")) == sorted(python_form(p) for p in EXAMPLES)
