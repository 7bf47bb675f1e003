"""Task outputs: the termination message parsed, kept apart from the failure reason, and
recorded on the run whatever the try's outcome."""

import re
from typing import Any

import pytest

from kubedag.core.outputs import TASK_OUTPUT_LIMIT, OutputError, parse_output
from kubedag.core.pod_observation import observe_pod
from kubedag.models.dagrun import TaskState
from tests.unit.builders import pod, snapshot_of, task
from tests.unit.test_run_engine import Driver


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
