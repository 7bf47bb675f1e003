"""Task outputs: the termination message parsed, kept apart from the failure reason, and
recorded on the run whatever the try's outcome."""

import json
import re
from datetime import timedelta
from typing import Any

import pytest

from kubedag.core import outputs
from kubedag.core.naming import pod_name
from kubedag.core.output_references import referenced_outputs
from kubedag.core.outputs import (
    RUN_OUTPUTS_BUDGET,
    TASK_OUTPUT_LIMIT,
    OutputError,
    StoredOutputs,
    inline_budget,
    output_size,
    outputs_config_map_name,
    parse_output,
    place_outputs,
)
from kubedag.core.pod_observation import observe_pod
from kubedag.core.run_engine import advance, task_context
from kubedag.core.templating import RunContext, TemplateError, render
from kubedag.core.validation import validate_dag
from kubedag.models.dag import MAX_TASKS
from kubedag.models.dagrun import DagRunStatus, TaskRecord, TaskState
from tests.unit.builders import T0, dag_spec, pod, snapshot_of, task
from tests.unit.test_run_engine import Driver, manifests


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (None, None),
        ("", None),
        (" \n", None),
        ('{"rows": 42, "file": "s3://b/k"}', {"rows": 42, "file": "s3://b/k"}),
        ('{"rows": 42}\n', {"rows": 42}),
        ("{}", {}),
        ('{"branch": ["a", "b"]}', {"branch": ["a", "b"]}),
        # 4,095 bytes: the largest output.
        ('{"v": "' + "x" * (TASK_OUTPUT_LIMIT - 10) + '"}', {"v": "x" * (TASK_OUTPUT_LIMIT - 10)}),
    ],
)  # fmt: skip
def test_valid_outputs(message: str | None, expected: dict[str, Any] | None) -> None:
    assert parse_output(message) == expected


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("rows=42", "output is not JSON: 'rows=42'"),
        ('{"rows": 42', "output is not JSON: '{\"rows\": 42'"),
        ("42", "output is not a JSON object: '42'"),
        ('["a"]', "output is not a JSON object: '[\"a\"]'"),
        ("null", "output is not a JSON object: 'null'"),
        ('"done"', "output is not a JSON object: '\"done\"'"),
        ('{"v": "' + "x" * (TASK_OUTPUT_LIMIT - 9) + '"}',
         "output of 4096 bytes reaches the 4 KiB limit of a termination message"),
        # Bytes, not characters: 2,048 two-byte characters make 4,096 bytes.
        ("é" * 2048, "output of 4096 bytes reaches the 4 KiB limit"),
    ],
)  # fmt: skip
def test_invalid_outputs_are_refused_with_a_clear_message(message: str, error: str) -> None:
    with pytest.raises(OutputError, match="^" + re.escape(error)):
        parse_output(message)


def terminated(reason: str, message: str | None, exit_code: int = 0) -> dict[str, Any]:
    term: dict[str, Any] = {"exitCode": exit_code, "reason": reason}
    if message is not None:
        term["message"] = message
    return {
        "metadata": {"name": "p"},
        "status": {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "containerStatuses": [{"state": {"terminated": term}}],
        },
    }


@pytest.mark.parametrize(
    ("body", "reason", "output"),
    [
        (terminated("Completed", '{"rows": 42}'), "Completed", '{"rows": 42}'),
        (terminated("Error", '{"rows": 1}', 1), "Error", '{"rows": 1}'),
        (terminated("Error", None, 1), "Error", None),
        (terminated("OOMKilled", "", 137), "OOMKilled", ""),
        # A container that never ran: the message is the runtime's error, part of the reason.
        (terminated("StartError", 'exec: "etl": not found', 128),
         'StartError: exec: "etl": not found', None),
    ],
)  # fmt: skip
def test_the_termination_message_is_the_output_never_the_reason(
    body: dict[str, Any], reason: str, output: str | None
) -> None:
    observed = observe_pod(body)
    assert (observed.reason, observed.output) == (reason, output)


def finish(exit_code: int, output: str | None, **fields: Any) -> Any:
    """Extract's record after its first try ends with `exit_code` and `output`."""
    d = Driver(snapshot_of(task("extract", **fields), task("load", "extract")))
    d.step()
    name = d.pod_of("extract")
    phase = "Succeeded" if exit_code == 0 else "Failed"
    reason = {0: "Completed", 99: "Error"}.get(exit_code, "Error")
    decision = d.step({name: pod(name, phase, exit_code, reason=reason, output=output)})
    return decision.status.tasks[0], decision


@pytest.mark.parametrize(
    ("exit_code", "output", "state", "outputs", "message"),
    [
        (0, '{"rows": 42}', TaskState.SUCCESS, {"rows": 42}, None),
        (0, "", TaskState.SUCCESS, None, None),
        (99, '{"condition": false}', TaskState.SKIPPED, {"condition": False},
         "skipped: exit code 99"),
        (1, '{"rows": 0, "error": "no input"}', TaskState.FAILED,
         {"rows": 0, "error": "no input"}, "exit code 1 (Error)"),
        (0, "42", TaskState.FAILED, None, "output is not a JSON object: '42' (write an object, "
         'e.g. {"rows": 42}) (exit code 0)'),
        (99, "oops", TaskState.FAILED, None, "output is not JSON: 'oops' (exit code 99)"),
        (1, "oops", TaskState.FAILED, None, "exit code 1 (Error); output is not JSON: 'oops'"),
    ],
)  # fmt: skip
def test_the_engine_records_the_output_of_every_finished_try(
    exit_code: int, output: str, state: TaskState, outputs: Any, message: str | None
) -> None:
    record, _ = finish(exit_code, output)
    assert (record.state, record.outputs, record.message) == (state, outputs, message)


def test_an_invalid_output_is_a_failed_try_that_retries_as_a_failure() -> None:
    record, decision = finish(0, "[1, 2]", retries=1, retryDelay="10s")
    assert record.state is TaskState.UP_FOR_RETRY and record.exit_code is None
    assert [e.reason for e in decision.events] == ["TaskRetry"]
    assert "output is not a JSON object" in decision.events[0].message


# Budgets: where each output is kept ------------------------------------------------------

RUN = "etl-20260101-0000"


def output_of(size: int) -> dict[str, Any]:
    """An output of exactly `size` bytes as stored."""
    value = {"v": "x" * (size - len('{"v":""}'))}
    assert output_size(value) == size
    return value


@pytest.mark.parametrize(
    ("case", "count", "earlier", "fresh", "keep", "inline", "moved"),
    [
        ("a small output stays on the run", 4, {}, {"t01": 100}, (), ["t01"], {}),
        ("outputs stay while they fit, in order of finishing; the rest move", 4,
         {"t00": 120_000}, {"t02": 100_000, "t01": 45_000}, (), ["t00", "t02"],
         {"t01": f"{RUN}-outputs-0"}),
        ("a task's place in the DAG picks its ConfigMap: 64 tasks each", 200,
         {"t00": 250_000}, {"t64": 4_000, "t130": 4_000, "t01": 4_000}, (), ["t00"],
         {"t64": f"{RUN}-outputs-1", "t130": f"{RUN}-outputs-2", "t01": f"{RUN}-outputs-0"}),
        ("branch and short-circuit outputs always stay on the run", 4,
         {"t00": 259_000}, {"t01": 4_000, "t02": 4_000}, ("t02",), ["t00", "t02"],
         {"t01": f"{RUN}-outputs-0"}),
    ],
    ids=lambda value: value if isinstance(value, str) and " " in value else "",
)  # fmt: skip
def test_outputs_stay_on_the_run_within_its_budget_and_move_beyond(
    case: str,
    count: int,
    earlier: dict[str, int],
    fresh: dict[str, int],
    keep: tuple[str, ...],
    inline: list[str],
    moved: dict[str, str],
) -> None:
    def name(i: int) -> str:
        return f"t{i:02d}" if i < 100 else f"t{i}"

    records = [TaskRecord(name=name(i), state=TaskState.SUCCESS) for i in range(count)]
    by_name = {r.name: r for r in records}
    for task_name, size in {**earlier, **fresh}.items():
        by_name[task_name].outputs = output_of(size)
    for second, task_name in enumerate(fresh):  # they finished in the table's order
        by_name[task_name].finished = T0 + timedelta(seconds=second)
    written = place_outputs(RUN, records, sorted(fresh), keep)
    assert sorted(r.name for r in records if r.outputs is not None) == sorted(inline)
    assert {r.name: r.outputs_in for r in records if r.outputs_in} == moved
    # Each moved output is written, whole, to the ConfigMap its record names.
    assert {t: json.loads(o) for m in written.values() for t, o in m.items()} == {
        t: output_of(fresh[t]) for t in moved
    }
    assert {t: cm for cm, m in written.items() for t in m} == moved


def test_the_budget_reserves_a_reference_for_every_task() -> None:
    reference = len(f',"outputsIn":"{RUN}-outputs-0"')
    assert inline_budget(RUN, 10) == RUN_OUTPUTS_BUDGET - 10 * reference
    assert inline_budget(RUN, 10_000) == 0  # references only


def test_outputs_config_map_names_are_deterministic_and_fit() -> None:
    assert outputs_config_map_name("etl-20260101-0000", 3) == "etl-20260101-0000-outputs-3"
    long_run = "r" * 253
    name = outputs_config_map_name(long_run, 78)
    assert len(name) <= 253 and name.endswith("-outputs-78")
    assert name == outputs_config_map_name(long_run, 78) != outputs_config_map_name("r" * 252, 78)


def large_run_records(count: int) -> list[TaskRecord]:
    """Finished records as the engine writes them, each task with a 4,095-byte output."""
    records, output = [], output_of(TASK_OUTPUT_LIMIT - 1)
    for i in range(count):
        name = f"task-{i:05d}"
        records.append(
            TaskRecord(
                name=name, state=TaskState.SUCCESS, try_number=1,
                pod=pod_name(RUN, name, 1), queued_at=T0, started=T0, finished=T0,
                exit_code=0, outputs=output,
            )
        )  # fmt: skip
    return records


def test_the_outputs_of_a_10000_task_run_take_under_1_mib_of_its_dagrun() -> None:
    output = output_of(TASK_OUTPUT_LIMIT - 1)
    records = [
        TaskRecord.model_construct(name=f"task-{i:05d}", outputs=output, outputs_in=None)
        for i in range(10_000)
    ]
    moved = place_outputs(RUN, records, [r.name for r in records], ())
    on_run = sum(output_size(r.outputs) for r in records if r.outputs is not None) + sum(
        len(f',"outputsIn":"{r.outputs_in}"') for r in records if r.outputs_in
    )
    assert on_run < 1024 * 1024
    # 157 ConfigMaps of 64 outputs, each far below a ConfigMap's 1 MiB.
    assert len(moved) == 157
    assert max(sum(len(k) + len(v) for k, v in m.items()) for m in moved.values()) < 270_000


def test_a_max_size_run_with_max_size_outputs_stays_below_etcd_s_limit() -> None:
    records = large_run_records(MAX_TASKS)
    place_outputs(RUN, records, [r.name for r in records], ())
    status = DagRunStatus(tasks=records)
    assert len(json.dumps(status.to_wire(), separators=(",", ":"))) < 1.5 * 1024 * 1024


# The engine: outputs kept in ConfigMaps reach downstream templates -------------------------


def test_an_output_moved_to_a_config_map_still_reaches_its_downstream_templates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Room for 50 bytes of outputs on the run of 4 tasks.
    references = RUN_OUTPUTS_BUDGET - inline_budget(RUN, 4)
    monkeypatch.setattr(outputs, "RUN_OUTPUTS_BUDGET", references + 50)
    snap = snapshot_of(
        task("extract"),
        task("other"),
        task("load", "extract", args=["{{ tasks.extract.outputs.rows }}"]),
        task(
            "report", "load", "other",
            args=["{{ ti.xcom_pull(task_ids='extract', key='file') }}",
                  "{{ ti.xcom_pull(task_ids='other', key='n') }}"],
        ),
    )  # fmt: skip
    d = Driver(snap)
    d.step()
    extract, other = d.pod_of("extract"), d.pod_of("other")
    written = '{"rows": 42, "file": "' + "f" * 90 + '"}'
    first = d.step(
        {
            extract: pod(extract, "Succeeded", 0, output=written),
            other: pod(other, "Succeeded", 0, output='{"n": 7}'),
        }
    )
    records = {r.name: r for r in first.status.tasks}
    assert records["extract"].outputs is None
    assert records["extract"].outputs_in == f"{RUN}-outputs-0"
    assert records["other"].outputs == {"n": 7}
    assert list(first.outputs_to_store) == [f"{RUN}-outputs-0"]
    # Launched in the same pass, load reads the output the pass moved.
    assert manifests(first, d.run)[0]["spec"]["containers"][0]["args"] == ["42"]
    load = d.pod_of("load")
    stored = StoredOutputs(first.outputs_to_store[f"{RUN}-outputs-0"])
    decision = advance(
        d.run, snap, pods={load: pod(load, "Succeeded", 0)}, now=T0, task_slots=4,
        stored_outputs=stored,
    )  # fmt: skip
    assert manifests(decision, d.run)[0]["spec"]["containers"][0]["args"] == ["f" * 90, "7"]


def test_templates_see_only_the_outputs_of_upstream_tasks() -> None:
    snap = snapshot_of(
        task("a"), task("b", "a"), task("side"), task("c", "b", "side"), task("d", "b")
    )
    d = Driver(snap)
    d.step()
    run = d.run.model_copy(deep=True)
    for record in run.status.tasks:
        record.outputs = {"by": record.name}
    context = task_context(run, run.status, snap, snap.task("c"), 1)
    assert sorted(context.outputs) == ["a", "b", "side"]
    assert sorted(task_context(run, run.status, snap, snap.task("d"), 1).outputs) == ["a", "b"]
    assert task_context(run, run.status, snap, snap.task("a"), 1).outputs == {}


def test_a_new_try_starts_without_the_last_one_s_output() -> None:
    d = Driver(snapshot_of(task("extract", retries=1, retryDelay="10s")))
    d.step()
    name = d.pod_of("extract")
    failed = d.step({name: pod(name, "Failed", 1, output='{"rows": 1}')})
    assert failed.status.tasks[0].outputs == {"rows": 1}
    retried = d.step(after=timedelta(seconds=10))
    assert retried.status.tasks[0].try_number == 2 and retried.status.tasks[0].outputs is None


@pytest.mark.parametrize(
    ("message", "stored"),
    [
        ('{"file": null, "rows": [1, null], "meta": {"a": null}}', {"rows": [1, None], "meta": {}}),
    ],
)  # fmt: skip
def test_null_members_are_dropped_as_the_status_merge_patch_drops_them(
    message: str, stored: dict[str, Any]
) -> None:
    assert parse_output(message) == stored


# Templates: reading outputs, and validation of what they read -----------------------------


def context(outputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return RunContext(
        dag_name="etl", run_id=RUN, run_type="manual", task_name="load", try_number=1,
        logical_date=T0, data_interval_start=T0, data_interval_end=T0, params={}, conf={},
        outputs=outputs,
    ).variables()  # fmt: skip


EXTRACTED = {"extract": {"rows": 42, "file": "s3://b/sales.csv"}}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ tasks.extract.outputs.rows }}", "42"),
        ("{{ tasks['extract'].outputs['file'] }}", "s3://b/sales.csv"),
        ("{{ ti.xcom_pull(task_ids='extract', key='rows') + 1 }}", "43"),
        ("{{ ti.xcom_pull(task_ids='extract') | tojson }}",
         '{"file": "s3://b/sales.csv", "rows": 42}'),
        ("{{ ti.xcom_pull(task_ids=['extract', 'other'], key='rows') }}", "[42, None]"),
        # Airflow's xcom_pull: None for what is not there.
        ("{{ ti.xcom_pull(task_ids='extract', key='nope') }}", "None"),
        ("{{ tasks.extract.outputs.nope }}",
         "the output of task 'extract' has no key 'nope' (its keys: file, rows)"),
        ("{{ tasks.other.outputs.rows }}",
         "no output of task 'other': it wrote none, or it is not upstream of task 'load'"),
    ],
)  # fmt: skip
def test_templates_read_upstream_outputs(template: str, expected: str) -> None:
    try:
        assert render(template, context(EXTRACTED)) == expected
    except TemplateError as error:
        assert str(error) == expected


def test_task_and_key_names_are_never_shadowed_by_methods() -> None:
    variables = context({"update": {"task": "t1", "rows": 1}, "reader": {"x": 2}})
    text = "{{ tasks.update.outputs.task }} {{ tasks.reader.outputs.x }} {{ tasks | list }}"
    assert render(text, variables) == "t1 2 ['update', 'reader']"


@pytest.mark.parametrize(
    ("template", "reads"),
    [
        ("{{ tasks.extract.outputs.rows }}", ["extract"]),
        ("{{ tasks['extract'].outputs.rows }} {{ tasks.extract.outputs.file }}", ["extract"]),
        ("{{ ti.xcom_pull(task_ids='a', key='k') }}{{ ti.xcom_pull('b') }}", ["a", "b"]),
        ("{{ ti.xcom_pull(key='k', task_ids=['c', 'd']) }}", ["c", "d"]),
        ("{{ task_instance.xcom_pull(task_ids=('e',)) }}", ["e"]),
        # Not constant, or not an output: nothing to check before the run.
        ("{{ ti.xcom_pull(task_ids=params.source) }}", []),
        ("{{ params.tasks.x }} {{ ds }} {% set t = 'tasks.x' %}", []),
        ("no template", []),
        ("{{ tasks.x", []),
    ],
)  # fmt: skip
def test_the_outputs_a_template_reads_come_from_its_syntax_tree(
    template: str, reads: list[str]
) -> None:
    assert referenced_outputs(template) == reads


@pytest.mark.parametrize(
    ("tasks", "problems"),
    [
        ([task("extract"), task("load", "extract", args=["{{ tasks.extract.outputs.rows }}"])],
         []),
        # Upstream through another task, and any use of the stand-in output at validation.
        ([task("extract"), task("check", "extract"),
          task("load", "check", args=["{{ tasks.extract.outputs.rows * 2 > 3 }}",
                                      "{{ ti.xcom_pull(task_ids='extract', key='f').x | int }}"])],
         []),
        ([task("extract"), task("report"),
          task("load", "extract", args=["--n={{ ti.xcom_pull(task_ids='report', key='n') }}"])],
         ["tasks[load].args[0]: reads the output of task 'report', which is not upstream of "
          "'load'; add 'report' to its dependsOn (or to the dependsOn of a task it depends on)"]),
        ([task("extract"),
          task("load", "extract", env=[{"name": "N", "value": "{{ tasks.extrakt.outputs.n }}"}])],
         ["tasks[load].env[N]: reads the output of task 'extrakt', which is not a task of this "
          "DAG; did you mean 'extract'?"]),
        ([task("load", command=["{{ tasks.load.outputs.rows }}"])],
         ["tasks[load].command[0]: reads the output of task 'load', which is its own (a task's "
          "output exists only once it has finished)"]),
        ([task("extract", "load"), task("load", args=["{{ tasks.extract.outputs.rows }}"])],
         ["tasks[load].args[0]: reads the output of task 'extract', which is not upstream of "
          "'load'; add 'extract' to its dependsOn (or to the dependsOn of a task it depends on)"]),
    ],
    ids=["upstream", "transitively", "not upstream", "unknown", "own", "downstream"],
)  # fmt: skip
def test_validation_refuses_a_template_reading_an_output_that_is_not_upstream(
    tasks: list[dict[str, Any]], problems: list[str]
) -> None:
    found = validate_dag("etl", dag_spec(*tasks))
    assert [p.message for p in found] == problems
    assert all(p.reason == "InvalidTemplate" for p in found)
