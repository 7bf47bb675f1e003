"""The chaos run's checks (tests/chaos/checks.py) on hand-made records: each violation kind
is found, and a clean record has none."""

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.chaos import checks
from tests.chaos.checks import PodCreation

LEAVES = {"d": {"a", "b"}}


def pod(uid: str, task: str = "a", try_number: int = 1, run: str = "r") -> PodCreation:
    return PodCreation(
        uid=uid, name=f"{run}-{task}-{try_number}", run=run, task=task, try_number=try_number
    )


def run(state: str | None, tasks: dict[str, tuple[str, int]], name: str = "r") -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"dagName": "d"},
        "status": {
            "state": state,
            "logicalDate": "2025-01-01T00:00:00Z",
            "tasks": [{"name": t, "state": s, "try": n} for t, (s, n) in tasks.items()],
        },
    }


@dataclass(frozen=True)
class Case:
    name: str
    runs: list[dict[str, Any]]
    creations: list[PodCreation]
    verdicts: dict[str, str] = field(default_factory=dict)
    found: list[str] = field(default_factory=list)


CASES = [
    Case(
        "a success and a retried failure",
        [run("failed", {"a": ("success", 2), "b": ("failed", 1)})],
        [pod("1"), pod("2", try_number=2), pod("3", "b")],
        {"1": "Failed", "2": "Succeeded", "3": "Deleted"},
    ),
    Case(
        "a stuck run",
        [run("running", {"a": ("running", 1), "b": ("none", 0)})],
        [pod("1")],
        found=["run r is stuck in 'running' (tasks a=running, b=none)"],
    ),
    Case(
        "a run whose leaves say otherwise",
        [run("success", {"a": ("success", 1), "b": ("upstream_failed", 0)})],
        [pod("1")],
        {"1": "Succeeded"},
        ["run r is success but its leaves say failed"],
    ),
    Case(
        "a try without its pod",
        [run("success", {"a": ("success", 2), "b": ("skipped", 0)})],
        [pod("1")],
        {"1": "Succeeded"},
        ["task r/a is at try 2 but had 1 pods"],
    ),
    Case(
        "a task that disagrees with its pod",
        [run("success", {"a": ("success", 1), "b": ("success", 1)})],
        [pod("1"), pod("2", "b")],
        {"1": "Succeeded", "2": "Deleted"},
        ["task r/b is success but its last pod was Deleted"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_runs_consistent(case: Case) -> None:
    assert checks.runs_consistent(case.runs, LEAVES, case.creations, case.verdicts) == case.found


def test_one_pod_per_try_finds_a_pod_made_twice_and_a_missing_try() -> None:
    assert checks.one_pod_per_try([pod("1"), pod("2", try_number=2)]) == ([], [])
    assert checks.one_pod_per_try([pod("1"), pod("1b"), pod("3", try_number=3)]) == (
        ["r/a try 1 had 2 pods", "r/a has pods for tries [1, 3]"],
        [],
    )
    # Made again after its first pod was deleted: told apart.
    assert checks.one_pod_per_try([pod("1"), pod("1b")], deleted={"1"}) == (
        [],
        ["r/a try 1 had 2 pods"],
    )


def test_one_run_per_date() -> None:
    first, second = run("success", {}, "x"), run("success", {}, "y")
    assert checks.one_run_per_date([first]) == []
    assert checks.one_run_per_date([first, second]) == ["DAG d has 2 runs for 2025-01-01T00:00:00Z"]


def test_notifications_one_id_per_event_and_all_delivered() -> None:
    failure = {"event": "taskFailure", "run": "r", "task": "a", "try": 1}
    retry = {"event": "taskRetry", "run": "r", "task": "a", "try": 1}
    assert checks.one_id_per_notification([("i1", failure), ("i1", failure), ("i2", retry)]) == []
    assert checks.one_id_per_notification([("i1", failure), ("i2", failure)]) == [
        "('taskFailure', 'r', 'a', 1) was delivered under 2 ids"
    ]
    assert checks.one_id_per_notification([("i1", failure), ("i1", retry)]) == [
        "id i1 was used for 2 events"
    ]
    body = run("failed", {})
    body["status"]["notifications"] = [
        {"id": "i1", "event": "taskFailure", "delivered": "t"},
        {"id": "i2", "event": "runFailure"},
    ]
    assert checks.notifications_delivered([body], {"i1"}) == [
        "run r notification runFailure i2 not delivered"
    ]
