"""A large run's task records compacted into status.compressedTasks: the split, the round
trip through the model and the raw-body readers, and the size of a 10,000-task run."""

import json
import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubedag.core.naming import pod_name
from kubedag.core.outputs import outputs_config_map_name
from kubedag.core.run_observations import changed_tasks
from kubedag.models import compact_tasks
from kubedag.models.compact_tasks import PLAIN_ACTIVE_LIMIT, compact, expand, task_records
from kubedag.models.dag import MAX_TASKS
from kubedag.models.dagrun import DagRun, DagRunStatus, RunState, TaskRecord, TaskState, TryRecord
from tests.unit.builders import T0

RUN = "orders-etl-manual-2026-01-02t00-00-00"
MIB = 1024 * 1024


@pytest.fixture
def threshold() -> Iterator[None]:
    """Compaction beyond 3 tasks, so small tables show it."""
    compact_tasks.set_threshold(3)
    yield
    compact_tasks.set_threshold(compact_tasks.DEFAULT_THRESHOLD)


def forget_encoded() -> None:
    """Drop what this process encoded, so reading decodes the string as another would."""
    compact_tasks._unpacked.clear()


def wire(*states: str) -> list[dict[str, Any]]:
    return [{"name": f"t{i}", "state": s, "try": 1} for i, s in enumerate(states)]


@pytest.mark.parametrize(
    ("states", "plain"),
    [
        pytest.param(("success",) * 3, ["t0", "t1", "t2"], id="at the threshold: all plain"),
        pytest.param(("success",) * 4, [], id="beyond it, all finished: none plain"),
        pytest.param(
            ("success", "running", "none", "up_for_retry", "failed"),
            ["t1", "t3"],
            id="active ones stay plain, waiting and finished are packed",
        ),
        pytest.param(
            ("queued", "scheduled", "restarting", "deferred", "skipped"),
            ["t0", "t1", "t2", "t3"],
            id="every active state",
        ),
    ],
)
@pytest.mark.usefixtures("threshold")
def test_which_records_stay_plain(states: tuple[str, ...], plain: list[str]) -> None:
    records = wire(*states)
    kept, packed = compact(records)
    assert [r["name"] for r in kept] == plain
    assert (packed is None) == (len(states) <= 3)
    forget_encoded()
    assert expand(kept, packed) == records


def test_at_most_a_hundred_active_records_stay_plain() -> None:
    records = wire(*(["running"] * 1500))
    kept, packed = compact(records)
    assert [r["name"] for r in kept] == [f"t{i}" for i in range(PLAIN_ACTIVE_LIMIT)]
    assert expand(kept, packed) == records


def test_the_same_records_compact_to_the_same_string() -> None:
    """A pass that changed nothing writes nothing: its status equals the stored one."""
    records = wire(*(["success"] * 2000))
    assert compact(records)[1] == compact(json.loads(json.dumps(records)))[1]


def test_parts_that_do_not_fit_are_refused() -> None:
    kept, packed = compact(wire(*(["running"] * 1001)))
    with pytest.raises(ValueError, match="100 places for the 99 records"):
        expand(kept[1:], packed)


record_states = st.sampled_from([s.value for s in TaskState])


@given(
    states=st.lists(record_states, max_size=40),
    over=st.integers(min_value=0, max_value=40),
)
@settings(max_examples=200, deadline=None)
def test_any_records_round_trip_through_the_model(states: list[str], over: int) -> None:
    records = [
        TaskRecord(name=f"task-{i}", state=TaskState(state), try_number=i % 3)
        for i, state in enumerate(states)
    ]
    status = DagRunStatus(state=RunState.RUNNING, tasks=records)
    compact_tasks.set_threshold(over)
    try:
        stored = json.loads(json.dumps(status.to_wire()))
    finally:
        compact_tasks.set_threshold(compact_tasks.DEFAULT_THRESHOLD)
    forget_encoded()
    assert ("compressedTasks" in stored) == (len(states) > over)
    assert len(stored["tasks"]) <= max(over, PLAIN_ACTIVE_LIMIT) or len(states) <= over
    assert DagRunStatus.model_validate(stored) == status
    assert [r["name"] for r in task_records(stored)] == [r.name for r in records]


# A finished 10,000-task run as the engine writes it --------------------------------------

NAMES = ("extract", "transform", "load", "validate", "publish", "report", "aggregate")


def finished_records(count: int, seed: int = 7) -> list[TaskRecord]:
    """Realistic records: ~20-character names, 150 queued a second (the controller's clock,
    in microseconds), pod times in whole seconds, 5% of the tasks retried
    once (the earlier try archived), every output in an outputs ConfigMap (as the engine
    places them in a run this wide), a failure message on some."""
    rnd = random.Random(seed)
    records = []
    for i in range(count):
        name = f"{NAMES[i % len(NAMES)]}-orders-{i:05d}"
        queued = T0 + timedelta(seconds=i // 150, microseconds=rnd.randrange(10**6))
        # A pod's container times (started, finished) are whole seconds.
        started = queued.replace(microsecond=0) + timedelta(seconds=rnd.randrange(1, 3))
        finished = started + timedelta(seconds=rnd.randrange(1, 60))
        tries = None
        try_number = 1
        if rnd.random() < 0.05:
            try_number = 2
            tries = [
                TryRecord(
                    try_number=1, state=TaskState.FAILED, exit_code=1, started=queued,
                    finished=started, pod=pod_name(RUN, name, 1),
                )
            ]  # fmt: skip
        failed = rnd.random() < 0.01
        records.append(
            TaskRecord(
                name=name,
                state=TaskState.FAILED if failed else TaskState.SUCCESS,
                try_number=try_number,
                pod=pod_name(RUN, name, try_number),
                queued_at=queued,
                started=started,
                finished=finished,
                exit_code=2 if failed else 0,
                message='exit code 2: relation "orders" does not exist' if failed else None,
                outputs_in=outputs_config_map_name(RUN, i // 64),
                tries=tries,
            )
        )
    return records


def stored_object(status: DagRunStatus) -> dict[str, Any]:
    """The DagRun as the API server stores it: metadata with its managedFields (the
    creator's spec and the controller's status writes), spec and status."""
    wire = status.to_wire()
    api = "kubedag.io/v1alpha1"
    owner = {"apiVersion": api, "kind": "DAG", "name": "orders-etl", "controller": True}
    manager = {"manager": "kubedag", "operation": "Update", "apiVersion": api}
    return {
        "apiVersion": api,
        "kind": "DagRun",
        "metadata": {
            "name": RUN,
            "namespace": "analytics",
            "uid": "0b6f1d2e-9a49-4f3e-8a59-3f1c2b7d9e10",
            "resourceVersion": "123456789",
            "generation": 1,
            "creationTimestamp": "2026-01-02T00:00:00Z",
            "labels": {"kubedag.io/dag": "orders-etl"},
            "ownerReferences": [
                {**owner, "uid": "5d7e0c1a-2b3c-4d5e-8f90-a1b2c3d4e5f6", "blockOwnerDeletion": True}
            ],
            "managedFields": [
                {
                    **manager,
                    "time": "2026-01-02T00:00:00Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {".": {}, "f:dagName": {}, "f:runType": {}}},
                },
                {
                    **manager,
                    "time": "2026-01-02T01:00:00Z",
                    "fieldsType": "FieldsV1",
                    "subresource": "status",
                    "fieldsV1": {"f:status": {".": {}, **{f"f:{k}": {} for k in wire}}},
                },
            ],
        },
        "spec": {"dagName": "orders-etl", "runType": "manual"},
        "status": wire,
    }


def test_a_finished_10000_task_run_is_stored_in_well_under_1_mib() -> None:
    records = finished_records(MAX_TASKS)
    status = DagRunStatus(
        state=RunState.SUCCESS, start_time=T0, end_time=T0 + timedelta(hours=1),
        progress=f"{MAX_TASKS}/{MAX_TASKS}", tasks=records,
    )  # fmt: skip
    plain = len(json.dumps([r.to_wire() for r in records], separators=(",", ":")))
    stored = json.dumps(stored_object(status), separators=(",", ":"))
    print(f"\n10,000 finished records: {plain} bytes plain, object stored in {len(stored)} bytes")
    assert plain > 1.5 * MIB  # what it would take uncompacted: over etcd's limit
    assert len(stored) < MIB / 4  # a quarter of the limit: room for conf, requests, tries
    forget_encoded()
    back = DagRun.model_validate(json.loads(stored))
    assert back.status.tasks == records


def test_raw_body_readers_see_every_record_of_a_compacted_run() -> None:
    records = finished_records(1500)
    records[3] = records[3].model_copy(update={"state": TaskState.RUNNING, "finished": None})
    old = DagRunStatus(state=RunState.RUNNING, tasks=records).to_wire()
    assert [r["name"] for r in old["tasks"]] == [records[3].name]
    assert len(task_records(old)) == 1500
    records[3] = records[3].model_copy(update={"state": TaskState.SUCCESS, "finished": T0})
    new = DagRunStatus(state=RunState.RUNNING, tasks=records).to_wire()
    assert new["tasks"] == []
    forget_encoded()
    changed = [(r["name"], before.get("state")) for r, before in changed_tasks(old, new)]
    assert changed == [(records[3].name, "running")]
