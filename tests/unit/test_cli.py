"""The offline `kubedag` commands, run through main() as a user runs them."""

import json
from pathlib import Path

import pytest
import yaml

from kubedag.cli import main

REPO = Path(__file__).resolve().parents[2]
HELLO = str(REPO / "examples/hello-dag.yaml")
BROKEN = str(REPO / "examples/invalid-dag.yaml")
TEMPLATES = str(REPO / "examples/templates-dag.yaml")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", HELLO)
    assert code == 0
    assert out.strip().endswith("DAG hello: valid")


def test_validate_names_every_problem_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", HELLO, BROKEN)
    assert code == 1
    assert "DAG hello: valid" in out
    assert "DAG broken: invalid" in out
    for problem in (
        "unknown timezone 'Mars/Olympus_Mons'",
        "task 'transform' depends on unknown task 'extract'",
        "dependency cycle: 'load' -> 'transform' -> 'load'",
        "task 'transform' args[0]:",
    ):
        assert problem in out


def test_validate_reports_schema_errors_with_paths(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kubedag.io/v1alpha1",
                "kind": "DAG",
                "metadata": {"name": "x"},
                "spec": {"tasks": [{"name": "a", "image": "i", "triggerRule": "often"}]},
            }
        )
    )
    code, out, _ = run(capsys, "validate", str(bad))
    assert code == 1
    assert "spec.tasks[0].triggerRule" in out


def test_validate_missing_file_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "validate", "/nonexistent.yaml")
    assert code == 1 and "no such file" in err


def test_plan_json_lists_due_then_upcoming_runs(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "plan", HELLO, "--now", "2026-11-21T00:00:00Z", "--upcoming", "1", "-o", "json"
    )
    assert code == 0
    rows = json.loads(out)
    assert rows == [
        {
            "name": "hello-20261119-0000",
            "logicalDate": "2026-11-19T00:00:00Z",
            "dataIntervalStart": "2026-11-19T00:00:00Z",
            "dataIntervalEnd": "2026-11-20T00:00:00Z",
            "runAfter": "2026-11-20T00:00:00Z",
            "due": True,
        },
        {
            "name": "hello-20261120-0000",
            "logicalDate": "2026-11-20T00:00:00Z",
            "dataIntervalStart": "2026-11-20T00:00:00Z",
            "dataIntervalEnd": "2026-11-21T00:00:00Z",
            "runAfter": "2026-11-21T00:00:00Z",
            "due": True,
        },
        {
            "name": "hello-20261121-0000",
            "logicalDate": "2026-11-21T00:00:00Z",
            "dataIntervalStart": "2026-11-21T00:00:00Z",
            "dataIntervalEnd": "2026-11-22T00:00:00Z",
            "runAfter": "2026-11-22T00:00:00Z",
            "due": False,
        },
    ]


def test_plan_continues_from_the_last_interval(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "plan", HELLO, "--now", "2026-11-21T00:00:00Z", "-o", "json",
        "--last-interval", "2026-11-19T00:00:00Z/2026-11-20T00:00:00Z",
    )  # fmt: skip
    assert code == 0
    assert [r["name"] for r in json.loads(out)] == ["hello-20261120-0000"]


def test_plan_catchup_default_false(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "plan", HELLO, "--now", "2026-11-25T03:00:00Z", "-o", "json",
        "--catchup-default", "false",
    )  # fmt: skip
    assert code == 0
    assert [r["logicalDate"] for r in json.loads(out)] == ["2026-11-24T00:00:00Z"]


def test_plan_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", HELLO, "--now", "2026-11-20T00:00:00Z")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["NAME", "LOGICAL"]
    assert lines[1].split()[0] == "hello-20261119-0000" and lines[1].split()[-1] == "yes"


def test_plan_rejects_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "plan", HELLO, "--now", "yesterday")
    assert code == 1 and "--now" in err
    code, _, err = run(capsys, "plan", BROKEN, "--now", "2026-01-01")
    assert code == 1 and "invalid DAG" in err
    code, _, err = run(capsys, "plan", HELLO, "--now", "2026-01-01", "--last-interval", "x")
    assert code == 1 and "--last-interval" in err


def test_render_prints_the_pod_of_a_task_try(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "render", HELLO, "--task", "transform", "--logical-date", "2026-11-20",
        "--try", "2", "--conf", '{"table": "other"}',
    )  # fmt: skip
    assert code == 0
    pod = yaml.safe_load(out)
    assert pod["metadata"]["name"] == "hello-20261120-0000-transform-2"
    container = pod["spec"]["containers"][0]
    assert container["args"] == ['print("transform other for 2026-11-20 (try 2)")']
    assert container["image"] == "kubedag/python-task:0.1.0"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["KUBEDAG_DATA_INTERVAL_END"] == "2026-11-21T00:00:00Z"


def test_render_with_upstream_outputs(capsys: pytest.CaptureFixture[str]) -> None:
    example = str(REPO / "examples/outputs-dag.yaml")
    assert run(capsys, "validate", example)[0] == 0
    outputs = '{"extract": {"rows": 42, "file": "s3://sales/2026-01-01.csv"}}'
    code, out, _ = run(
        capsys, "render", example, "--task", "load", "--logical-date", "2026-01-01",
        "--outputs", outputs,
    )  # fmt: skip
    assert code == 0
    assert yaml.safe_load(out)["spec"]["containers"][0]["args"] == [
        "42",
        "s3://sales/2026-01-01.csv",
    ]
    code, _, err = run(capsys, "render", example, "--task", "load", "--logical-date", "2026-01-01")
    assert code == 1
    assert "no output of task 'extract': it wrote none, or it is not upstream" in err
    code, _, err = run(
        capsys, "render", example, "--task", "load", "--logical-date", "2026-01-01",
        "--outputs", "[1]",
    )  # fmt: skip
    assert code == 1 and "--outputs: a JSON object of task to output" in err


def test_render_unknown_task(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "render", HELLO, "--task", "nope", "--logical-date", "2026-11-20")
    assert code == 1 and "no task 'nope'" in err and "extract" in err
    code, _, err = run(capsys, "render", HELLO, "--task", "extrct", "--logical-date", "2026-11-20")
    assert code == 1 and "no task 'extrct' (did you mean 'extract'?)" in err


def test_render_fills_airflow_2_variables_from_the_schedule(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The README's example: daily at 02:00 Amsterdam, the run of 28 March 2026 (02:00 CET =
    01:00 UTC); the next tick, 29 March "02:00", falls in the spring-forward gap and is
    03:00 CEST, again 01:00 UTC."""
    code, out, _ = run(
        capsys, "render", TEMPLATES, "--task", "load", "--logical-date", "2026-03-28T01:00:00Z"
    )
    assert code == 0
    assert yaml.safe_load(out)["spec"]["containers"][0]["args"] == [
        "sales for 2026-03-28 (execution_date 2026-03-28T01:00:00+00:00)",
        "previous tick 2026-03-27, next tick 2026-03-29 = 2026-03-29",
        "window 2026-03-28T01:00:00+00:00 to 2026-03-29T01:00:00+00:00",
        "last success covered None",
        "try 1, yesterday 20260327",
        "a week back 2026-03-21",
    ]


def test_crds_check(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(capsys, "crds", "--dir", str(REPO / "crds"), "--check")[0] == 0
    assert run(capsys, "crds", "--dir", str(tmp_path), "--check")[0] == 1
    assert run(capsys, "crds", "--dir", str(tmp_path))[0] == 0
    assert run(capsys, "crds", "--dir", str(tmp_path), "--check")[0] == 0


def test_backfill_progress_line_and_outcome() -> None:
    from kubedag.commands.backfill import outcome_lines, progress_line
    from kubedag.models.backfill import BackfillStatus

    status = BackfillStatus.model_validate(
        {
            "state": "Running",
            "planned": 10,
            "progress": "6/10",
            "running": {"count": 2},
            "succeeded": {"count": 3},
            "failed": {"count": 1, "dates": ["2026-01-03T00:00:00Z"]},
            "skipped": [{"reason": "already exists", "count": 2}],
        }
    )
    assert progress_line(status, width=10) == (
        "[######....] 6/10 created  running 2  succeeded 3  failed 1  skipped 2  Running"
    )
    assert outcome_lines(status) == [
        "skipped (already exists): 2",
        "failed: 2026-01-03T00:00:00Z",
    ]
    dry = BackfillStatus.model_validate(
        {"state": "Completed", "wouldCreate": {"count": 1, "dates": ["2026-01-01T00:00:00Z"]}}
    )
    assert outcome_lines(dry) == ["would create 1: 2026-01-01T00:00:00Z"]


def test_backfill_refuses_bad_flags_before_any_request(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "backfill", "sales", "--from", "yesterday", "--to", "2026-01-01")
    assert code == 1 and "--from: expected a date" in err
    code, _, err = run(
        capsys, "backfill", "sales", "--from", "2026-01-01", "--to", "2026-01-02", "--conf", "[]"
    )
    assert code == 1 and "--conf: must be a JSON object" in err


def test_plan_summarises_a_huge_backlog_instead_of_listing_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    dag = tmp_path / "minutely.yaml"
    dag.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kubedag.io/v1alpha1",
                "kind": "DAG",
                "metadata": {"name": "minutely"},
                "spec": {
                    "schedule": "* * * * *",
                    "startDate": "2016-11-29",
                    "tasks": [{"name": "a", "image": "busybox"}],
                },
            }
        )
    )
    code, out, _ = run(capsys, "plan", str(dag), "--now", "2026-11-29T12:00:00Z")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 1 + 100 + 1  # header, the default limit of rows, the summary
    # Ten years and twelve hours of minutes, less the 100 listed: evenly spaced, so exact.
    assert lines[-1].startswith("... and about 5,259,500 more due, from 2016-11-29T01:40:00Z")


def test_clear_and_mark_refuse_downstream_without_a_task(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv in (("clear", "r1", "--downstream"), ("mark", "r1", "success", "--upstream")):
        code, _, err = run(capsys, *argv)
        assert code == 1
        assert "--downstream and --upstream need --task" in err
