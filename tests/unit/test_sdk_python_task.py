"""`@task`: a Python function as a task, rendered by the controller's own template engine
and run with a plain python, as its pod would run it."""

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedag.cli import main
from kubedag.sdk import DAG, SdkError, Task, output, task
from kubedag.sdk.build import build
from kubedag.sdk.python_task import PYTHON_TASK_IMAGE


@task
def extract(ds: str) -> dict[str, Any]:
    rows = 42  # the real work goes here
    return {"rows": rows, "file": f"s3://sales/{ds}.csv", "meta": {"parts": [1, 2]}}


@task(retries=2, name="load-table")
def load(rows: int, file: str, table: str = "sales", params: dict[str, Any] | None = None) -> Any:
    print("loading", rows, "rows from", file)
    return {"loaded": rows, "table": (params or {}).get("table", table), "from": file}


@task
def summarise(summary: dict[str, Any], note: str) -> None:
    print("summary:", summary, note)


@task
def wrong() -> list[int]:
    return [1, 2]


def taskflow_dag() -> DAG:
    with DAG(
        "taskflow", schedule="@daily", start_date=date(2026, 1, 1), params={"table": "t"}
    ) as dag:
        shell = Task(
            "count",
            image="busybox",
            command=["sh", "-c", "echo '{\"n\": 3}' > /dev/termination-log"],
        )
        data = extract()
        loaded = load(data["rows"], file=data["file"])
        summarise(loaded, note=output(shell, "n"))
        summarise(loaded, note="for {{ ds }}")
        wrong()
    return dag


def specs(dag: DAG) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in dag.to_manifest()["spec"]["tasks"]}


def test_a_task_function_renders_as_its_source_run_by_an_entrypoint() -> None:
    tasks = specs(taskflow_dag())
    assert list(tasks) == ["count", "extract", "load-table", "summarise", "summarise-2", "wrong"]
    spec = tasks["load-table"]
    assert spec["image"] == PYTHON_TASK_IMAGE and spec["retries"] == 2
    assert spec["command"][:2] == ["python3", "-c"]
    source, name, arguments = spec["args"]
    assert source.startswith("{% raw %}def load(rows: int") and source.endswith("{% endraw %}")
    assert "@task" not in source and name == "load"
    assert arguments == (
        "{\"rows\": {{ tasks['extract'].outputs['rows'] | tojson }},"
        " \"file\": {{ tasks['extract'].outputs['file'] | tojson }},"
        ' "params": {{ params | tojson }}}'
    )
    assert spec["dependsOn"] == ["extract"]  # passing an output makes the dependency
    assert tasks["extract"]["args"][2] == '{"ds": "{{ ds }}"}'
    assert tasks["summarise"]["args"][2] == (
        "{\"summary\": {{ ti.xcom_pull(task_ids='load-table') | tojson }},"
        " \"note\": {{ tasks['count'].outputs['n'] | tojson }}}"
    )
    assert tasks["summarise"]["dependsOn"] == ["load-table", "count"]
    assert tasks["summarise-2"]["args"][2].endswith('"note": "for {{ ds }}"}')


def test_a_call_that_cannot_become_a_task_is_refused() -> None:
    with DAG("bad", default_args={"image": "busybox"}):
        with pytest.raises(SdkError, match="needs argument 'rows'"):
            load(file="x")
        with pytest.raises(SdkError, match="unexpected keyword argument 'nope'"):
            extract(nope=1)
        with pytest.raises(TypeError, match="is not JSON"):
            load(rows=object(), file="x")


def rendered_pod(manifest: Path, task_name: str, outputs: dict[str, Any], capsys: Any) -> Any:
    capsys.readouterr()
    arguments = ["render", str(manifest), "--task", task_name, "--logical-date", "2026-01-05"]
    assert main([*arguments, "--outputs", json.dumps(outputs)]) == 0
    return yaml.safe_load(capsys.readouterr().out)["spec"]["containers"][0]


def run_container(container: Any, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The container's command and args, with this machine's python for `python3`."""
    assert container["command"][0] == "python3"
    result = tmp_path / "termination-log"
    process = subprocess.run(
        [sys.executable, *container["command"][1:], *container["args"]],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBEDAG_OUTPUTS_FILE": str(result)},
        check=False,
        timeout=30,
    )
    return process, result


def test_the_rendered_entrypoint_runs_the_function_and_writes_its_output(
    tmp_path: Path, capsys: Any
) -> None:
    manifest = tmp_path / "taskflow.yaml"
    manifest.write_text(taskflow_dag().to_yaml())

    container = rendered_pod(manifest, "extract", {}, capsys)
    process, result = run_container(container, tmp_path)
    assert process.returncode == 0, process.stderr
    extracted = json.loads(result.read_text())
    assert extracted == {"rows": 42, "file": "s3://sales/2026-01-05.csv", "meta": {"parts": [1, 2]}}

    container = rendered_pod(manifest, "load-table", {"extract": extracted}, capsys)
    process, result = run_container(container, tmp_path)
    assert process.returncode == 0, process.stderr
    assert "loading 42 rows from s3://sales/2026-01-05.csv" in process.stdout
    assert json.loads(result.read_text()) == {
        "loaded": 42,
        "table": "t",
        "from": "s3://sales/2026-01-05.csv",
    }

    result.unlink()
    loaded = {"loaded": 42}
    container = rendered_pod(
        manifest, "summarise", {"load-table": loaded, "count": {"n": 3}}, capsys
    )
    process, result = run_container(container, tmp_path)
    assert process.returncode == 0, process.stderr
    assert "summary: {'loaded': 42} 3" in process.stdout
    assert not result.exists()  # None: no output

    process, _ = run_container(rendered_pod(manifest, "wrong", {}, capsys), tmp_path)
    assert process.returncode == 1
    assert "wrong returned a list: a task function returns a dict" in process.stderr


def test_the_readme_taskflow_example_builds(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = [b.split("```")[0] for b in readme.split("```python\n")[1:] if "@task\n" in b]
    assert blocks, "the README shows a @task example"
    dags = tmp_path / "dags"
    dags.mkdir()
    for number, block in enumerate(blocks):
        (dags / f"readme_{number}.py").write_text(block)
    result = build(dags, tmp_path / "manifests")
    assert result.errors == [] and result.written
    assert main(["validate", *(str(p) for p in result.written)]) == 0
