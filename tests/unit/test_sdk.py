"""The Python SDK: DAGs and tasks into manifests the controller accepts, round trips with the
YAML examples, and `kubedag build`."""

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from kubedag.cli import main
from kubedag.sdk import DAG, BashTask, SdkError, Task, TriggerRule, chain
from kubedag.sdk.build import build
from kubedag.sdk.dag import collect_dags
from kubedag.sdk.from_manifest import dag_from_manifest
from kubedag.sdk.values import go_duration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def example_dags() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        if path.name == "invalid-dag.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            if document and document.get("kind") == "DAG":
                found.append((f"{path.name}:{document['metadata']['name']}", document))
    return found


@pytest.mark.parametrize(
    "document", [d for _, d in example_dags()], ids=[n for n, _ in example_dags()]
)
def test_every_yaml_example_round_trips_through_the_sdk(document: dict[str, Any]) -> None:
    assert dag_from_manifest(document).to_manifest() == document


def test_the_invalid_example_is_refused_naming_the_problem() -> None:
    document = yaml.safe_load((EXAMPLES / "invalid-dag.yaml").read_text())
    with pytest.raises(SdkError, match="depends on unknown tasks"):
        dag_from_manifest(document).to_manifest()


def test_the_python_examples_emit_exactly_the_yaml_examples(tmp_path: Path) -> None:
    result = build(EXAMPLES / "python", tmp_path)
    assert result.errors == []
    pairs = {"hello.yaml": "hello-dag.yaml", "sales.yaml": "outputs-dag.yaml"}
    assert sorted(p.name for p in result.written) == sorted(pairs)
    for built, example in pairs.items():
        emitted = yaml.safe_load((tmp_path / built).read_text())
        assert emitted == yaml.safe_load((EXAMPLES / example).read_text())
    assert main(["validate", *(str(p) for p in result.written)]) == 0


def etl(**extra: Any) -> DAG:
    with DAG(
        "etl",
        schedule="@daily",
        start_date=date(2026, 1, 1),
        catchup=False,
        default_args={"image": "busybox:1.36", "retries": 2, "retry_delay": timedelta(minutes=5)},
        **extra,
    ) as dag:
        extract = Task("extract", command=["sh", "-c", "echo extract {{ ds }}"])
        transform = BashTask("transform", "echo transform")
        load = Task("load", command=["true"], trigger_rule=TriggerRule.ALL_DONE, retries=0)
        report = Task("report", command=["true"], execution_timeout=timedelta(seconds=90))
        extract >> transform >> [load, report]
    return dag


def test_a_dag_in_python_becomes_the_manifest() -> None:
    manifest = etl(owner="data-team").to_manifest()
    assert manifest["apiVersion"] == "kubedag.io/v1alpha1" and manifest["kind"] == "DAG"
    assert manifest["metadata"] == {"name": "etl"}
    spec = manifest["spec"]
    assert spec["schedule"] == "@daily" and spec["startDate"] == "2026-01-01"
    assert spec["catchup"] is False and spec["owner"] == "data-team"
    assert spec["defaults"] == {"image": "busybox:1.36", "retries": 2, "retryDelay": "5m"}
    tasks = {t["name"]: t for t in spec["tasks"]}
    assert list(tasks) == ["extract", "transform", "load", "report"]
    assert tasks["transform"]["command"] == ["bash", "-c", "echo transform"]
    assert tasks["transform"]["dependsOn"] == ["extract"]
    assert tasks["load"] == {
        "name": "load",
        "command": ["true"],
        "dependsOn": ["transform"],
        "triggerRule": "all_done",
        "retries": 0,
    }
    assert tasks["report"]["executionTimeout"] == "1m30s"
    # Nothing the user did not set: the controller's defaults stay the controller's.
    assert "timezone" not in spec and "maxActiveRuns" not in spec and "paused" not in spec


def test_to_yaml_is_the_manifest_and_always_the_same_text() -> None:
    text = etl().to_yaml()
    assert yaml.safe_load(text) == etl().to_manifest()
    assert text == etl().to_yaml()


def edges(dag: DAG) -> set[tuple[str, str]]:
    return {(up.name, t.name) for t in dag.tasks for up in t.upstream}


def test_dependencies_in_every_spelling() -> None:
    with DAG("deps", default_args={"image": "busybox"}) as dag:
        a, b, c, d, e, f = (Task(n, command=["true"]) for n in "abcdef")
        result = a >> [b, c]
        assert result == [b, c]
        [b, c] >> d
        e << d
        [f] << e
        a.set_downstream(f)
        f.set_upstream(a)  # twice is once
    assert edges(dag) == {
        ("a", "b"),
        ("a", "c"),
        ("b", "d"),
        ("c", "d"),
        ("d", "e"),
        ("e", "f"),
        ("a", "f"),
    }
    assert dag.task("f").spec()["depends_on"] == ["e", "a"]


def test_chain_as_airflow_has_it() -> None:
    with DAG("chained", default_args={"image": "busybox"}) as dag:
        a, b, c, d, e, f = (Task(n, command=["true"]) for n in "abcdef")
        chain(a, [b, c], [d, e], f)
    assert edges(dag) == {("a", "b"), ("a", "c"), ("b", "d"), ("c", "e"), ("d", "f"), ("e", "f")}


def test_defaults_params_and_every_crd_field_are_reachable() -> None:
    with DAG(
        "full",
        schedule="0 6 * * 1-5",
        start_date=datetime(2026, 3, 1, 6, 30, tzinfo=ZoneInfo("Europe/Amsterdam")),
        end_date=datetime(2026, 12, 31, tzinfo=UTC),
        params={"table": "name_gender"},
        max_active_runs=1,
        max_active_tasks=4,
        dagrun_timeout=timedelta(hours=2),
        tags=["finance"],
        pod_gc="Never",
        run_ttl_after_finished=timedelta(days=30),
        defaults={"image": "busybox", "pool": "warehouse", "depends_on_past": True},
        labels={"team": "finance"},
        namespace="pipelines",
    ) as dag:
        setup = Task("create", command=["true"], setup=True)
        work = Task(
            "work",
            command=["sh", "-c", "echo {{ params.table }}"],
            env=[{"name": "TABLE", "value": "{{ params.table }}"}],
            resources={"limits": {"memory": "256Mi"}},
            priority_weight=10,
            weight_rule="absolute",
            retry_exponential_backoff=True,
            max_retry_delay=timedelta(minutes=10),
        )
        teardown = Task("drop", command=["true"], teardown=True)
        sensor = Task(
            "wait", external_task_sensor={"dagName": "upstream", "sameDataInterval": True}
        )
        sensor >> setup >> work >> teardown
        setup >> teardown
    manifest = dag.to_manifest()
    spec = manifest["spec"]
    assert manifest["metadata"] == {
        "name": "full",
        "namespace": "pipelines",
        "labels": {"team": "finance"},
    }
    assert spec["timezone"] == "Europe/Amsterdam"  # from start_date's zone, as Airflow does
    assert spec["startDate"] == "2026-03-01T06:30:00+01:00"
    assert spec["endDate"] == "2026-12-31T00:00:00Z"
    assert spec["dagrunTimeout"] == "2h" and spec["runTTLAfterFinished"] == "720h"
    assert spec["podGC"] == "Never"
    assert spec["defaults"] == {"image": "busybox", "pool": "warehouse", "dependsOnPast": True}
    work_spec = next(t for t in spec["tasks"] if t["name"] == "work")
    assert work_spec["maxRetryDelay"] == "10m" and work_spec["weightRule"] == "absolute"
    assert work_spec["env"] == [{"name": "TABLE", "value": "{{ params.table }}"}]
    assert next(t for t in spec["tasks"] if t["name"] == "wait")["externalTaskSensor"] == {
        "dagName": "upstream",
        "sameDataInterval": True,
    }


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (timedelta(0), "0"),
        (timedelta(seconds=10), "10s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(days=1, seconds=1), "24h1s"),
        (timedelta(milliseconds=250), "250ms"),
        (timedelta(seconds=1, milliseconds=500), "1.5s"),
    ],
)
def test_timedeltas_become_go_durations(span: timedelta, text: str) -> None:
    assert go_duration(span) == text


def this_line() -> int:
    import inspect

    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno


def test_mistakes_are_refused_at_the_line_that_made_them() -> None:
    with pytest.raises(TypeError, match="'retires' \\(did you mean 'retries'\\?\\)"):
        DAG("x", default_args={"retires": 2})
    with pytest.raises(TypeError, match="'schedule_intervl'"):
        DAG("x", schedule_intervl="@daily")
    with pytest.raises(SdkError, match=r"'my_dag' is not a Kubernetes object name.*'my-dag'"):
        DAG("my_dag")
    with DAG("x", default_args={"image": "busybox"}):
        line = this_line() + 2
        with pytest.raises(SdkError, match="trigger_rule") as refused:
            Task("a", command=["true"], trigger_rule="all_sucess")
        assert refused.value.location is not None and refused.value.location.line == line
        Task("b", command=["true"])
        with pytest.raises(SdkError, match="already has a task 'b'"):
            Task("b", command=["true"])
    with pytest.raises(SdkError, match="belongs to no DAG"):
        Task("orphan", image="busybox")


def test_a_dag_the_controller_would_refuse_is_not_emitted() -> None:
    with DAG("cyclic", default_args={"image": "busybox"}) as dag:
        a, b = Task("a", command=["true"]), Task("b", command=["true"])
        a >> b >> a
    with pytest.raises(SdkError, match="cycle"):
        dag.to_manifest()
    with DAG("imageless", schedule="@daily", start_date=date(2026, 1, 1)) as dag:
        Task("a", command=["true"])
    with pytest.raises(SdkError, match="no image"):
        dag.to_yaml()
    with DAG("badtemplate", default_args={"image": "busybox"}) as dag:
        Task("a", command=["echo", "{{ dss }}"])
    with pytest.raises(SdkError, match="dss"):
        dag.to_manifest()


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


DAG_FILE = """\
from kubedag.sdk import DAG, Task
for name in {names!r}:
    with DAG(name, default_args={{"image": "busybox"}}):
        Task("only", command=["echo", name])
"""


def test_build_writes_every_dag_of_every_file_and_only_what_changed(tmp_path: Path) -> None:
    dags, out = tmp_path / "dags", tmp_path / "manifests"
    write(dags, "two.py", DAG_FILE.format(names=["b-dag", "a-dag"]))
    write(dags, "team/one.py", DAG_FILE.format(names=["c-dag"]))
    write(dags, "_helpers.py", "raise RuntimeError('a helper is not run')\n")
    write(dags, "nothing.py", "VALUE = 1\n")
    first = build(dags, out)
    assert first.errors == []
    assert sorted(p.name for p in first.written) == ["a-dag.yaml", "b-dag.yaml", "c-dag.yaml"]
    text = (out / "c-dag.yaml").read_text()
    assert text.startswith(f"# Generated by kubedag build from {dags.as_posix()}/team/one.py")
    assert main(["validate", *(str(p) for p in first.written)]) == 0
    again = build(dags, out)
    assert again.written == [] and len(again.unchanged) == 3
    assert (out / "c-dag.yaml").read_text() == text
    (dags / "team" / "one.py").unlink()
    write(out, "hand-written.yaml", "kind: DAG\n")
    third = build(dags, out)
    assert [p.name for p in third.removed] == ["c-dag.yaml"]
    assert (out / "hand-written.yaml").exists()


def test_build_runs_each_file_alone(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    write(dags, "a.py", "import json\njson.SHARED = 1\n" + DAG_FILE.format(names=["a"]))
    write(
        dags,
        "b.py",
        "import json\nassert not hasattr(json, 'SHARED')\n" + DAG_FILE.format(names=["b"]),
    )
    assert build(dags, tmp_path / "out").errors == []


def test_build_names_the_file_and_line_of_a_failure_and_writes_nothing(tmp_path: Path) -> None:
    dags, out = tmp_path / "dags", tmp_path / "out"
    write(dags, "good.py", DAG_FILE.format(names=["good"]))
    bad = write(dags, "bad.py", "from kubedag.sdk import DAG\n\nrows = 1 / 0\n")
    typo = write(
        dags,
        "typo.py",
        "from kubedag.sdk import DAG, Task\nwith DAG('t', default_args={'image': 'x'}):\n"
        "    Task('a', command=['true'], trigger_rule='all_sucess')\n",
    )
    broken = write(dags, "broken.py", "def f(:\n")
    twice = write(dags, "twice.py", DAG_FILE.format(names=["good"]))
    result = build(dags, out)
    assert result.written == []
    assert not out.exists()
    errors = "\n".join(result.errors)
    assert f"{bad}:3: ZeroDivisionError: division by zero" in errors
    assert f"{typo}:3: SdkError: task 'a': trigger_rule: Input should be" in errors
    assert f"{broken}:1: SyntaxError" in errors
    assert f"{twice}:3: DAG 'good' is also made at" in errors
    assert main(["build", str(dags), "-o", str(out)]) == 1


def readme_pairs() -> list[tuple[int, str, str]]:
    """(line, YAML, Python) for each README DAG shown in both forms: a ```yaml block followed
    by a ```python block, directly or inside a <details>."""
    readme = (ROOT / "README.md").read_text()
    pattern = re.compile(
        r"```yaml\n((?:(?!```).)*)```\n\s*(?:<details><summary>[^\n]*</summary>\s*)?"
        r"```python\n((?:(?!```).)*)```",
        re.S,
    )
    return [
        (readme[: m.start()].count("\n") + 1, m.group(1), m.group(2))
        for m in pattern.finditer(readme)
    ]


def test_the_readme_shows_dags_in_yaml_and_python_that_agree() -> None:
    pairs = readme_pairs()
    assert len(pairs) >= 7
    for line, yaml_text, python_text in pairs:
        expected = [d for d in yaml.safe_load_all(yaml_text) if d and d.get("kind") == "DAG"]
        made = collect_dags()
        exec(compile(python_text, f"README.md:{line}", "exec"), {})
        assert [dag.to_manifest() for dag in made] == expected, f"README.md line {line}"
