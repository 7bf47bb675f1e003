"""Whole-DAG validation: every problem named, with the reason the Ready condition carries."""

from typing import Any

import pytest

from kubedag.core.validation import (
    missing_account_problems,
    named_service_accounts,
    validate_dag,
)
from kubedag.models.dag import DagSpec
from tests.unit.builders import dag_spec, task

CASES: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    ("valid", {"schedule": "@daily", "startDate": "2026-01-01"}, []),
    ("unknown-timezone", {"timezone": "Nowhere/City"},
     [("InvalidTimezone", "unknown timezone 'Nowhere/City'")]),
    ("schedule-without-start", {"schedule": "@daily"},
     [("InvalidSchedule", "startDate is required when schedule is set")]),
    ("end-before-start", {"schedule": "@daily", "startDate": "2026-02-01", "endDate": "2026-01-01"},
     [("InvalidSchedule", "endDate is before startDate")]),
    ("impossible-date", {"schedule": "0 0 31 2 *", "startDate": "2026-01-01"},
     [("InvalidSchedule", "invalid cron expression '0 0 31 2 *': no date matches both its "
                          "day-of-month and month fields")]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "fields", "expected"), CASES, ids=[c[0] for c in CASES])
def test_dag_level_checks(
    name: str, fields: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    problems = validate_dag("d", dag_spec(task("a"), **fields))
    assert [(p.reason, p.message) for p in problems] == expected


def test_graph_problems_name_the_tasks() -> None:
    problems = validate_dag("d", dag_spec(task("a", "b"), task("b", "a"), task("c", "zzz")))
    assert [(p.reason, p.message) for p in problems] == [
        ("InvalidGraph", "task 'c' depends on unknown task 'zzz'"),
        ("InvalidGraph", "dependency cycle: 'a' -> 'b' -> 'a'"),
    ]


def test_template_problems_name_task_and_field() -> None:
    spec = dag_spec(
        task("a", command=["{{ nope }}"]),
        task("b", args=["ok {{ ds }}", "{% if %}"]),
        task("c", env=[{"name": "X", "value": "{{ params.table }}"}]),
        params={"table": "t"},
    )
    messages = [p.message for p in validate_dag("d", spec)]
    assert len(messages) == 2
    assert messages[0].startswith("task 'a' command[0]:") and "nope" in messages[0]
    assert messages[1].startswith("task 'b' args[1]: syntax error")


def test_env_in_defaults_is_validated_for_every_task() -> None:
    spec = dag_spec(task("a"), task("b"), defaults={"env": [{"name": "X", "value": "{{ oops }}"}]})
    assert [p.message.split(":")[0] for p in validate_dag("d", spec)] == [
        "task 'a' env X",
        "task 'b' env X",
    ]


def test_named_accounts_come_from_tasks_then_defaults_each_with_its_first_field() -> None:
    spec = DagSpec.model_validate(
        {
            "defaults": {"image": "busybox", "serviceAccountName": "etl"},
            "tasks": [
                {"name": "a"},
                {"name": "b", "serviceAccountName": "loader"},
                {"name": "c", "serviceAccountName": "loader"},
            ],
        }
    )
    named = named_service_accounts(spec)
    assert named == {
        "etl": "spec.defaults.serviceAccountName",
        "loader": "spec.tasks[1].serviceAccountName",
    }
    problems = missing_account_problems("team-a", named, {"loader"})
    assert [p.reason for p in problems] == ["ServiceAccountNotFound"]
    assert problems[0].message.startswith(
        'spec.tasks[1].serviceAccountName: serviceaccount "loader" not found in namespace team-a'
    )
    # Every task overriding the default account: the default is never used, never required.
    overridden = spec.model_copy(update={"tasks": spec.tasks[1:]})
    assert named_service_accounts(overridden) == {"loader": "spec.tasks[0].serviceAccountName"}
