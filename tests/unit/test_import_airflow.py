"""`kubedag import-airflow` on Airflow's own example DAGs (from the pinned Airflow wheels, see
tests/unit/airflow_examples.py) and on the cases they do not show. The files are never run."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedag.cli import main
from kubedag.sdk.airflow_import import ImportResult, import_airflow
from tests.unit.airflow_examples import airflow_examples


def converted(name: str) -> ImportResult:
    return import_airflow((airflow_examples() / name).read_text(), name)


def only_dag(result: ImportResult) -> dict[str, Any]:
    assert len(result.manifests) == 1
    spec: dict[str, Any] = result.manifests[0]["spec"]
    return spec


def graph(spec: dict[str, Any]) -> dict[str, list[str]]:
    return {t["name"]: sorted(t.get("dependsOn", [])) for t in spec["tasks"]}


def messages(result: ImportResult) -> list[str]:
    return [note.message for note in result.notes]


def test_the_tutorial() -> None:
    result = converted("tutorial.py")
    spec = only_dag(result)
    assert result.manifests[0]["metadata"] == {"name": "tutorial"}
    assert spec["schedule"] == "@daily"  # schedule=timedelta(days=1) from a midnight start
    assert spec["startDate"] == "2021-01-01" and spec["catchup"] is False
    assert spec["description"] == "A simple tutorial DAG" and spec["tags"] == ["example"]
    assert spec["defaults"] == {
        "image": "kubedag/python-task:0.1.0",
        "dependsOnPast": False,
        "retries": 1,
        "retryDelay": "5m",
    }
    assert graph(spec) == {"print-date": [], "sleep": ["print-date"], "templated": ["print-date"]}
    tasks = {t["name"]: t for t in spec["tasks"]}
    assert tasks["print-date"]["command"] == ["bash", "-c", "date"]
    assert tasks["sleep"]["retries"] == 3
    assert "{% for i in range(5) %}" in tasks["templated"]["command"][2]
    assert messages(result) == ["task ids as DNS labels: print_date -> print-date"]


def test_example_bash_operator() -> None:
    result = converted("example_bash_operator.py")
    spec = only_dag(result)
    assert result.manifests[0]["metadata"]["name"] == "example-bash-operator"
    assert spec["schedule"] == "0 0 * * *"
    assert (spec["startDate"], spec["timezone"]) == ("2021-01-01", "UTC")
    assert spec["catchup"] is False and spec["dagrunTimeout"] == "1h"
    assert spec["tags"] == ["example", "example2"]
    assert spec["params"] == {"example_key": "example_value"}
    assert graph(spec) == {
        "run-this-last": [
            "also-run-this",
            "run-after-loop",
            "show-dag-folder-stats",
            "this-will-skip",
        ],
        "describe-dag-folder": [],
        "show-dag-folder-stats": ["describe-dag-folder"],
        "run-after-loop": ["runme-0", "runme-1", "runme-2"],
        "runme-0": [],
        "runme-1": [],
        "runme-2": [],
        "also-run-this": [],
        "this-will-skip": [],  # made outside the `with`, with dag=dag
    }
    tasks = {t["name"]: t for t in spec["tasks"]}
    assert tasks["runme-1"]["command"] == [
        "bash",
        "-c",
        'echo "{{ task_instance_key_str }}" && sleep 1',
    ]
    assert tasks["run-this-last"]["command"] == ["true"]  # EmptyOperator
    # An upstream task's XCom, read by its Airflow id, reads the renamed task.
    assert tasks["show-dag-folder-stats"]["env"][0] == {
        "name": "DAG_FOLDER",
        "value": "{{ ti.xcom_pull(task_ids='describe-dag-folder', key='dag_folder') }}",
    }
    # Its dict of XComs from the last line of output has no equivalent (outputs are written to
    # /dev/termination-log): reported, never silently dropped.
    assert [m for m in messages(result) if m.startswith(("not converted", "invalid"))] == [
        "not converted: task 'describe_dag_folder' argument multiple_outputs=True",
        "not converted: task 'describe_dag_folder' argument output_processor=json.loads",
    ]


def test_example_branch_operator() -> None:
    result = converted("example_branch_operator.py")
    spec = only_dag(result)
    assert spec["schedule"] == "@daily" and spec["startDate"] == "2021-01-01"
    expected: dict[str, list[str]] = {"run-this-first": [], "branching": ["run-this-first"]}
    expected["join"] = [f"follow-{o}" for o in "abcd"]
    for option in "abcd":
        expected[f"branch-{option}"] = ["branching"]
        expected[f"follow-{option}"] = [f"branch-{option}"]
    expected["branching-ext-python"] = ["join"]
    expected["join-ext-python"] = [f"ext-py-{o}" for o in "abcd"]
    expected |= {f"ext-py-{o}": ["branching-ext-python"] for o in "abcd"}
    expected["branching-venv"] = ["join-ext-python"]
    expected["join-venv"] = [f"venv-{o}" for o in "abcd"]
    expected |= {f"venv-{o}": ["branching-venv"] for o in "abcd"}
    assert graph(spec) == expected
    tasks = {t["name"]: t for t in spec["tasks"]}
    for join in ("join", "join-ext-python", "join-venv"):
        assert tasks[join]["triggerRule"] == "none_failed_min_one_success"
    assert [n for n, t in tasks.items() if t.get("branch")] == [
        "branching",
        "branching-ext-python",
        "branching-venv",
    ]
    assert tasks["branch-a"]["command"][-1].endswith("exit 1")  # runs, and fails, saying why
    text = "\n".join(messages(result))
    for task_id, kind in [
        ("branching", "BranchPythonOperator"),
        ("branch_a", "PythonOperator"),
        ("ext_py_d", "ExternalPythonOperator"),
        ("venv_c", "PythonVirtualenvOperator"),
    ]:
        assert f"not converted: task {task_id!r} ({kind})" in text


AIRFLOW_FILE = """\
import pendulum
from airflow import DAG
from airflow.decorators import task
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator
from airflow.providers.slack.operators.slack import SlackAPIPostOperator

default_args = {"owner": "finance", "retries": 2, "email": ["ops@example.com"]}
raise_here = 1 / 0  # never run: only read

dag = DAG(
    "nightly_sales",
    schedule_interval="30 2 * * *",
    start_date=pendulum.datetime(2025, 3, 1, 2, 30, tz="Europe/Amsterdam"),
    end_date=pendulum.datetime(2025, 12, 31, tz="Europe/Amsterdam"),
    default_args=default_args,
    max_active_runs=1,
)

start = EmptyOperator(task_id="start", dag=dag)
pod = KubernetesPodOperator(
    task_id="crunch",
    name="crunch-pod",
    image="example/cruncher:1.2",
    cmds=["python", "-m", "crunch"],
    arguments=["--day", "{{ ds }}"],
    env_vars={"MODE": "full"},
    do_xcom_push=True,
    trigger_rule="all_done",
    dag=dag,
)
secret = BashOperator(task_id="secret", bash_command="echo {{ var.value.api_key }}", dag=dag)
notify = SlackAPIPostOperator(task_id="notify", channel="#data", dag=dag)
end = EmptyOperator(task_id="end", dag=dag, trigger_rule="none_failed_or_skipped")

start.set_downstream([pod, secret])
notify.set_upstream(pod)
end << [notify, secret]


@task
def summarise():
    return {"ok": True}
"""


def test_a_classic_file_with_what_cannot_be_converted_reported() -> None:
    result = import_airflow(AIRFLOW_FILE, "nightly.py")
    manifest = result.manifests[0]
    spec = manifest["spec"]
    assert manifest["metadata"]["name"] == "nightly-sales"
    assert spec["schedule"] == "30 2 * * *"
    assert spec["startDate"] == "2025-03-01T02:30:00" and spec["timezone"] == "Europe/Amsterdam"
    assert spec["endDate"] == "2025-12-31" and spec["maxActiveRuns"] == 1
    assert spec["owner"] == "finance" and spec["defaults"]["retries"] == 2
    assert graph(spec) == {
        "start": [],
        "crunch": ["start"],
        "secret": ["start"],
        "notify": ["crunch"],
        "end": ["notify", "secret"],
    }
    tasks = {t["name"]: t for t in spec["tasks"]}
    assert tasks["crunch"] == {
        "name": "crunch",
        "image": "example/cruncher:1.2",
        "command": ["python", "-m", "crunch"],
        "args": ["--day", "{{ ds }}"],
        "env": [{"name": "MODE", "value": "full"}],
        "triggerRule": "all_done",
        "dependsOn": ["start"],
    }
    assert tasks["end"]["triggerRule"] == "none_failed_min_one_success"  # Airflow 2's name
    text = "\n".join(f"{n.line}: {n.message}" for n in result.notes)
    assert "9: not converted: default_args argument email=['ops@example.com']" in text
    assert "raise_here" not in text  # a value no task uses is not reported
    assert "29: task 'crunch': do_xcom_push" in text
    assert "34: not converted: task 'notify' (SlackAPIPostOperator)" in text
    assert "43: not converted: TaskFlow function 'summarise' (@task)" in text
    assert "catchup not set: Airflow 3 defaults to false" in text
    assert "invalid: task 'secret' command[2]" in text and "var" in text


def test_the_cli_prints_manifests_that_validate_and_reports_on_stderr(
    tmp_path: Path, capsys: Any
) -> None:
    assert main(["import-airflow", str(airflow_examples() / "example_bash_operator.py")]) == 0
    captured = capsys.readouterr()
    documents = list(yaml.safe_load_all(captured.out))
    assert [d["metadata"]["name"] for d in documents] == ["example-bash-operator"]
    assert "example_bash_operator.py:31: task ids as DNS labels" in captured.err
    out = tmp_path / "manifests"
    assert main(["import-airflow", str(airflow_examples() / "tutorial.py"), "-o", str(out)]) == 0
    assert main(["validate", str(out / "tutorial.yaml")]) == 0
    (tmp_path / "empty.py").write_text("x = 1\n")
    assert main(["import-airflow", str(tmp_path / "empty.py")]) == 1


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ('"@hourly"', "@hourly"),
        ("timedelta(hours=1)", "@hourly"),
        ("timedelta(weeks=1)", "@weekly"),
        ("None", None),
    ],
)
def test_schedules(schedule: str, expected: str | None) -> None:
    source = (
        "from datetime import datetime, timedelta\nfrom airflow import DAG\n"
        f"from airflow.operators.empty import EmptyOperator\n"
        f"with DAG('d', schedule={schedule}, start_date=datetime(2026, 1, 1)):\n"
        "    EmptyOperator(task_id='t')\n"
    )
    assert only_dag(import_airflow(source)).get("schedule") == expected
