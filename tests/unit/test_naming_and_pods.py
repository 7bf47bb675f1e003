"""Deterministic names and the task pod manifest."""

from datetime import UTC, datetime

import pytest

from kubedag.core.naming import MAX_LABEL, dagrun_name, label_value, pod_name, snapshot_name
from kubedag.core.snapshot import Snapshot, build_snapshot, resolve_task
from kubedag.models.dagrun import RunType
from tests.unit.builders import dag_spec, task

JAN1 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("run_type", "moment", "expected"),
    [
        (RunType.SCHEDULED, JAN1, "sales-20260101-0000"),
        (RunType.SCHEDULED, datetime(2026, 1, 1, 6, 30, 15, tzinfo=UTC), "sales-20260101-063015"),
        (RunType.MANUAL, datetime(2026, 1, 1, 6, 30, tzinfo=UTC), "sales-manual-20260101-0630"),
        (RunType.BACKFILL, JAN1, "sales-backfill-20260101-0000"),
        (RunType.MANUAL, datetime(2026, 1, 1, 0, 0, 0, 5, tzinfo=UTC),
         "sales-manual-20260101-000000000005"),
    ],
)  # fmt: skip
def test_dagrun_names(run_type: RunType, moment: datetime, expected: str) -> None:
    assert dagrun_name("sales", run_type, moment) == expected


def test_long_names_are_shortened_deterministically_and_stay_distinct() -> None:
    long_run = "x" * 80
    a = pod_name(long_run, "extract", 1)
    b = pod_name(long_run, "extract", 2)
    c = pod_name(long_run + "y", "extract", 1)
    assert len(a) <= MAX_LABEL and a.endswith("-1") and b.endswith("-2")
    assert a == pod_name(long_run, "extract", 1)
    assert a[:-2] == b[:-2] and a != c
    assert len(label_value("y" * 100)) == MAX_LABEL
    assert label_value("short") == "short"
    assert len(dagrun_name("d" * 300, RunType.SCHEDULED, JAN1)) <= 253
    assert snapshot_name("sales", "abcdef0123456789") == "sales-vabcdef0123"


def test_defaults_apply_and_task_fields_win() -> None:
    spec = dag_spec(
        task("a", retries=3, env=[{"name": "B", "value": "task"}]),
        {"name": "b", "dependsOn": ["a"]},
        defaults={"image": "python:3", "retries": 1, "retryDelay": "30s",
                  "env": [{"name": "A", "value": "x"}, {"name": "B", "value": "defaults"}]},
    )  # fmt: skip
    a = resolve_task(spec.tasks[0], spec)
    b = resolve_task(spec.tasks[1], spec)
    assert (a.image, a.retries, a.retry_delay) == ("busybox", 3, "30s")
    assert [(e.name, e.value) for e in a.env or []] == [("A", "x"), ("B", "task")]
    assert (b.image, b.retries, b.trigger_rule.value) == ("python:3", 1, "all_success")
    assert b.retry_exponential_backoff is False


def test_snapshot_round_trips_and_is_content_addressed() -> None:
    one = build_snapshot(dag_spec(task("a"), task("b", "a")))
    same = build_snapshot(dag_spec(task("a"), task("b", "a")))
    other = build_snapshot(dag_spec(task("a"), task("b", "a", image="other")))
    assert one.digest() == same.digest() != other.digest()
    assert Snapshot.decode(one.encode()) == one


def test_a_large_snapshot_packs_small() -> None:
    spec = dag_spec(*(task(f"task-{i:04d}", args=["--date={{ ds }}"]) for i in range(5000)))
    packed = build_snapshot(spec).encode()
    assert len(packed) < 200 * 1024  # a ConfigMap holds 1 MiB
