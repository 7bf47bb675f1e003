"""Manifests as kubedag.sdk Python source (`kubedag import-airflow --python`): the source,
run, makes the very same manifests."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedag.cli import main
from kubedag.sdk.build import build
from kubedag.sdk.dag import collect_dags
from kubedag.sdk.to_python import python_source
from tests.unit.airflow_examples import airflow_examples

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples").glob("*.yaml") if p.name != "invalid-dag.yaml")


def dags_in(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d and d.get("kind") == "DAG"]


def run_source(source: str) -> list[dict[str, Any]]:
    made = collect_dags()
    exec(compile(source, "<generated>", "exec"), {})
    return [dag.to_manifest() for dag in made]


@pytest.mark.parametrize("path", [p for p in EXAMPLES if dags_in(p)], ids=lambda p: p.name)
def test_every_example_as_python_makes_itself_again(path: Path) -> None:
    manifests = dags_in(path)
    assert run_source(python_source(manifests)) == manifests


def test_shell_commands_read_as_bash_tasks() -> None:
    manifest = {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "DAG",
        "metadata": {"name": "shell"},
        "spec": {
            "defaults": {"image": "busybox"},
            "tasks": [
                {"name": "first-step", "command": ["bash", "-c", "echo {{ ds }}"]},
                {"name": "second", "command": ["true"], "dependsOn": ["first-step"]},
            ],
        },
    }
    source = python_source([manifest])
    assert "from kubedag.sdk import BashTask, DAG, Task" in source
    assert 'first_step = BashTask(\n        "first-step",\n        "echo {{ ds }}",' in source
    assert "first_step >> second" in source
    assert run_source(source) == [manifest]


def test_airflow_files_become_python_that_builds_the_same_manifests(tmp_path: Path) -> None:
    python, from_python, direct = tmp_path / "dags", tmp_path / "built", tmp_path / "direct"
    files = [str(airflow_examples() / name) for name in ("tutorial.py", "example_bash_operator.py")]
    assert main(["import-airflow", "--python", *files, "-o", str(python)]) == 0
    assert sorted(p.name for p in python.iterdir()) == ["example_bash_operator.py", "tutorial.py"]
    assert main(["import-airflow", *files, "-o", str(direct)]) == 0
    assert build(python, from_python).errors == []
    for manifest in sorted(direct.iterdir()):
        assert yaml.safe_load((from_python / manifest.name).read_text()) == yaml.safe_load(
            manifest.read_text()
        )
