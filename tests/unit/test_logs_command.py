"""Which task tries `kubedag logs` reads, and what it says when a pod is gone."""

from typing import Any

import pytest

from kubedag.commands.common import CliError
from kubedag.commands.logs import gone_message, log_targets
from kubedag.models.dagrun import DagRun


def run(*tasks: dict[str, Any]) -> DagRun:
    return DagRun.model_validate(
        {
            "metadata": {"name": "etl-20260101-0000", "namespace": "etl"},
            "spec": {"dagName": "etl"},
            "status": {"state": "running", "tasks": list(tasks)},
        }
    )


RUN = run(
    {"name": "extract", "state": "success", "try": 1, "pod": "etl-20260101-0000-extract-1"},
    {"name": "load", "state": "failed", "try": 3, "pod": "etl-20260101-0000-load-3",
     "exitCode": 2, "message": "container exited with code 2",
     "tries": [{"try": 2, "state": "failed", "exitCode": 137, "pod": "etl-20260101-0000-load-2"}]},
    {"name": "report", "state": "none"},
)  # fmt: skip


@pytest.mark.parametrize(
    ("task", "try_number", "expected"),
    [
        (None, None, [("extract", 1, "etl-20260101-0000-extract-1"),
                      ("load", 3, "etl-20260101-0000-load-3")]),
        ("load", None, [("load", 3, "etl-20260101-0000-load-3")]),
        ("load", 1, [("load", 1, "etl-20260101-0000-load-1")]),  # an earlier try, by name
    ],
)  # fmt: skip
def test_targets(task: str | None, try_number: int | None, expected: list[Any]) -> None:
    targets = log_targets(RUN, task, try_number)
    assert [(t.task, t.try_number, t.pod) for t in targets] == expected


@pytest.mark.parametrize(
    ("task", "try_number", "error"),
    [
        ("nope", None, "run etl-20260101-0000 has no task 'nope' (tasks: extract, load, report)"),
        (
            "lod",
            None,
            "run etl-20260101-0000 has no task 'lod' (did you mean 'load'?)"
            " (tasks: extract, load, report)",
        ),
        ("report", None, "task report of run etl-20260101-0000 has not started (state none)"),
        ("load", 4, "task load of run etl-20260101-0000 has tries 1 to 3, not 4"),
        (None, 2, "--try needs --task"),
    ],
)
def test_refusals_say_what_exists(task: str | None, try_number: int | None, error: str) -> None:
    with pytest.raises(CliError) as raised:
        log_targets(RUN, task, try_number)
    assert str(raised.value) == error


def test_a_gone_pod_is_explained_with_the_recorded_outcome() -> None:
    (newest,) = log_targets(RUN, "load", None)
    assert gone_message(newest) == (
        "pod etl-20260101-0000-load-3 of task load try 3 is gone; the run's status records:"
        " state failed, container exited with code 2"
    )
    (earlier,) = log_targets(RUN, "load", 2)
    assert gone_message(earlier) == (
        "pod etl-20260101-0000-load-2 of task load try 2 is gone; the run's status records:"
        " state failed, exit code 137"
    )
    (oldest,) = log_targets(RUN, "load", 1)  # beyond the earlier tries the status keeps
    assert gone_message(oldest) == (
        "pod etl-20260101-0000-load-1 of task load try 1 is gone;"
        " the run's status no longer records this try"
    )
