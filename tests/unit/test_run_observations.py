"""What one DagRun status write tells the metrics (core/run_observations.py)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from kubedag.core.run_observations import (
    EndedTry,
    StatusObservations,
    changed_tasks,
    observe,
    scheduling_lag,
)

T = "2026-01-01T00:00:"


def task(name: str, state: str = "none", number: int = 0, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"name": name, **fields}
    if state != "none":
        record["state"] = state  # the wire form leaves the default out
    if number:
        record["try"] = number
    return record


def ran(seconds: int, state: str, number: int = 1, **fields: Any) -> dict[str, Any]:
    """A try of `a` that ran from :00 to :`seconds`."""
    times = {"started": T + "00Z", "finished": f"{T}{seconds:02d}Z"}
    return task("a", state, number, **times, **fields)


@dataclass(frozen=True)
class Case:
    name: str
    old: dict[str, Any]
    new: dict[str, Any]
    expected: StatusObservations = field(default_factory=StatusObservations)


CASES = [
    Case(
        "pinned and started: the run enters running, a task queued (b is still none)",
        {},
        {"state": "running", "tasks": [task("a", "queued", 1), task("b")]},
        StatusObservations("running", None, {"queued": 1}),
    ),
    Case(
        "nothing changed: nothing counted",
        {"state": "running", "tasks": [task("a", "running", 1)]},
        {"state": "running", "tasks": [task("a", "running", 1)]},
    ),
    Case(
        "a try succeeds: its duration, under success",
        {"state": "running", "tasks": [task("a", "running", 1, started=T + "00Z")]},
        {"state": "running", "tasks": [ran(7, "success")]},
        StatusObservations(None, None, {"success": 1}, (EndedTry("success", 7.0),)),
    ),
    Case(
        "the run finishes: its duration from startTime to endTime",
        {"state": "running", "startTime": T + "00Z", "tasks": [ran(7, "success")]},
        {
            "state": "failed",
            "startTime": T + "00Z",
            "endTime": T + "30Z",
            "tasks": [ran(7, "success")],
        },
        StatusObservations("failed", 30.0),
    ),
    Case(
        "a short run written once, finished (its start was held): running and success",
        {},
        {
            "state": "success",
            "startTime": T + "00Z",
            "endTime": T + "02Z",
            "tasks": [ran(2, "success", queued=T + "00Z")],
        },
        StatusObservations(
            "success", 2.0, {"success": 1, "queued": 1}, (EndedTry("success", 2.0),), True
        ),
    ),
    Case(
        "a try fails and is retried in the same write: the archived try is observed",
        {"tasks": [task("a", "running", 1, started=T + "00Z")]},
        {"tasks": [task("a", "queued", 2, tries=[ran(4, "up_for_retry")])]},
        StatusObservations(None, None, {"queued": 1}, (EndedTry("up_for_retry", 4.0),)),
    ),
    Case(
        "an ended try archived later is not observed twice",
        {"tasks": [ran(4, "up_for_retry")]},
        {"tasks": [task("a", "queued", 2, tries=[ran(4, "up_for_retry")])]},
        StatusObservations(None, None, {"queued": 1}),
    ),
    Case(
        "upstream_failed and skipped never ran: counted, no duration",
        {"tasks": [task("a"), task("b")]},
        {"tasks": [task("a", "upstream_failed"), task("b", "skipped")]},
        StatusObservations(None, None, {"upstream_failed": 1, "skipped": 1}),
    ),
    Case(
        "a try without a start time has no duration",
        {"tasks": [task("a", "queued", 1)]},
        {"tasks": [task("a", "failed", 1, finished=T + "09Z")]},
        StatusObservations(None, None, {"failed": 1}),
    ),
    Case(
        "a cleared task enters none again",
        {"state": "success", "tasks": [ran(3, "success")]},
        {"state": "queued", "tasks": [task("a", "none", 1)]},
        StatusObservations("queued", None, {"none": 1}),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_observe(case: Case) -> None:
    assert observe(case.old, case.new) == case.expected


def test_changed_tasks_pairs_each_changed_record_with_its_old_one() -> None:
    old = {"tasks": [task("a", "running", 1), task("b", "running", 1)]}
    new = {"tasks": [task("a", "running", 1), task("b", "success", 1), task("c", "queued", 1)]}
    assert [(n["name"], o.get("state")) for n, o in changed_tasks(old, new)] == [
        ("b", "running"),
        ("c", None),
    ]


def test_scheduling_lag_is_never_negative() -> None:
    due = datetime(2026, 1, 1, tzinfo=UTC)
    assert scheduling_lag(due.replace(second=2), due) == 2.0
    assert scheduling_lag(due, due.replace(second=1)) == 0.0
