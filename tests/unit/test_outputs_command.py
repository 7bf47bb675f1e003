"""What `kubedag outputs` shows: outputs from the run's status and from its ConfigMaps."""

import json
from typing import Any

import pytest

from kubedag.commands.common import CliError
from kubedag.commands.outputs import (
    chosen_records,
    collect_outputs,
    config_maps_to_read,
    format_outputs,
)
from kubedag.models.dagrun import DagRun

RUN = DagRun.model_validate(
    {
        "metadata": {"name": "etl-20260101-0000", "namespace": "etl"},
        "spec": {"dagName": "etl"},
        "status": {
            "state": "success",
            "tasks": [
                {"name": "extract", "state": "success", "try": 1,
                 "outputs": {"rows": 42, "file": "s3://b/sales.csv"}},
                {"name": "transform", "state": "success", "try": 1},
                {"name": "load", "state": "success", "try": 1,
                 "outputsIn": "etl-20260101-0000-outputs-0"},
                {"name": "report", "state": "failed", "try": 1,
                 "outputsIn": "etl-20260101-0000-outputs-0"},
            ],
        },
    }
)  # fmt: skip
STORED = {"etl-20260101-0000-outputs-0": {"load": '{"loaded":42}'}}


def show(task: str | None, as_json: bool = False) -> tuple[str, list[str]]:
    records = chosen_records(RUN, task)
    found, notes = collect_outputs(records, STORED)
    return format_outputs(found, task, as_json), notes


def test_every_task_with_an_output_one_line_each_with_the_config_map_s_too() -> None:
    assert config_maps_to_read(chosen_records(RUN, None)) == ["etl-20260101-0000-outputs-0"]
    text, notes = show(None)
    assert text.splitlines() == [
        'extract  {"rows": 42, "file": "s3://b/sales.csv"}',
        'load     {"loaded": 42}',
    ]
    assert notes == [
        "the output of task report was kept in ConfigMap etl-20260101-0000-outputs-0,"
        " which no longer holds it"
    ]


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (None, {"extract": {"rows": 42, "file": "s3://b/sales.csv"}, "load": {"loaded": 42}}),
        ("extract", {"rows": 42, "file": "s3://b/sales.csv"}),
        ("load", {"loaded": 42}),
    ],
)
def test_json(task: str | None, expected: Any) -> None:
    text, _ = show(task, as_json=True)
    assert json.loads(text) == expected


@pytest.mark.parametrize(
    ("task", "error"),
    [
        ("nope", "run etl-20260101-0000 has no task 'nope' (tasks: extract, transform, load,"
                 " report)"),
        ("transform", "task transform of run etl-20260101-0000 has no output (state success)"),
    ],
)  # fmt: skip
def test_refusals_say_what_exists(task: str, error: str) -> None:
    with pytest.raises(CliError) as raised:
        chosen_records(RUN, task)
    assert str(raised.value) == error
