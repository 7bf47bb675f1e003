"""Dataset scheduling's pure core: which updates a run's change records, recording them, and
whether a DAG scheduled on datasets is due, with which interval and triggering updates."""

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from kubedag.core.datasets import (
    MAX_EVENTS,
    DatasetTrigger,
    DatasetUpdate,
    dataset_trigger,
    record,
    run_updates,
)
from kubedag.core.naming import dagrun_name, dataset_name
from kubedag.core.schedule import DataInterval
from kubedag.models.dagrun import DagRunStatus, RunState, RunType, TaskRecord, TaskState
from kubedag.models.dataset import DatasetConsumption, DatasetStatus

NAMES = "postgres://warehouse/raw_data.name_gender"
EVENTS = "postgres://warehouse/raw_data.events"


def t(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)


def by_run(status: DatasetStatus | None, day: int, run: str, at: datetime) -> DatasetStatus:
    """`status` after a successful run of `day`'s interval, recorded at `at`."""
    update = DatasetUpdate(
        dataset="x",
        id=f"uid-{run}@{at}",
        source="run",
        dag="producer",
        run=run,
        interval=DataInterval(t(day), t(day + 1)),
    )
    new = record(status, update, at)
    assert new is not None
    return new


def touched(status: DatasetStatus | None, at: datetime) -> DatasetStatus:
    new = record(status, DatasetUpdate(dataset="x", id=f"touch/{at}", source="external"), at)
    assert new is not None
    return new


NAMES_1 = by_run(None, 1, "etl-1", t(2, 1))
NAMES_2 = by_run(NAMES_1, 2, "etl-2", t(3, 1))
EVENTS_1 = by_run(None, 1, "ev-1", t(2, 2))
EVENTS_3 = by_run(by_run(EVENTS_1, 2, "ev-2", t(3, 2)), 3, "ev-3", t(4, 2))


@dataclass
class Case:
    name: str
    statuses: dict[str, DatasetStatus | None]
    consumed: list[DatasetConsumption] | None = None
    dag_created: datetime | None = datetime(2026, 1, 1, tzinfo=UTC)
    datasets: list[str] = field(default_factory=lambda: [NAMES, EVENTS])
    # Expectations.
    due: bool = False
    interval: DataInterval | None = None
    logical_date: datetime | None = None
    triggered_by: list[tuple[str, int]] = field(default_factory=list)
    count: int = 0
    consumed_after: dict[str, int] = field(default_factory=dict)
    waiting_for: list[str] = field(default_factory=list)


def pos(names: int, events: int) -> list[DatasetConsumption]:
    return [
        DatasetConsumption(dataset=NAMES, consumed=names),
        DatasetConsumption(dataset=EVENTS, consumed=events),
    ]


CASES = [
    Case(
        "nothing recorded yet: waits for both",
        {NAMES: None, EVENTS: None},
        consumed_after={},
        waiting_for=[NAMES, EVENTS],
    ),
    Case(
        "one of two updated: not due before all are",
        {NAMES: NAMES_1, EVENTS: None},
        consumed_after={NAMES: 0},
        waiting_for=[EVENTS],
    ),
    Case(
        "both updated: due; the interval spans the producing runs' intervals",
        {NAMES: NAMES_1, EVENTS: EVENTS_1},
        due=True,
        interval=DataInterval(t(1), t(2)),
        logical_date=t(2, 2),
        triggered_by=[(NAMES, 1), (EVENTS, 1)],
        count=2,
        consumed_after={NAMES: 1, EVENTS: 1},
    ),
    Case(
        "after a run: due again only when both have news",
        {NAMES: NAMES_1, EVENTS: EVENTS_3},
        consumed=pos(1, 1),
        consumed_after={NAMES: 1, EVENTS: 1},
        waiting_for=[NAMES],
    ),
    Case(
        "several updates of one since the last run: all consumed by one run",
        {NAMES: NAMES_2, EVENTS: EVENTS_3},
        consumed=pos(1, 1),
        due=True,
        interval=DataInterval(t(2), t(4)),
        logical_date=t(4, 2),
        triggered_by=[(NAMES, 2), (EVENTS, 2), (EVENTS, 3)],
        count=3,
        consumed_after={NAMES: 2, EVENTS: 3},
    ),
    Case(
        "updates recorded before the DAG existed do not count",
        {NAMES: NAMES_2, EVENTS: EVENTS_3},
        dag_created=t(3, 12),
        consumed_after={NAMES: 2, EVENTS: 2},
        waiting_for=[NAMES],
    ),
    Case(
        "an external update (touch) spans only its own time",
        {NAMES: touched(NAMES_1, t(5, 6)), EVENTS: EVENTS_3},
        consumed=pos(1, 2),
        due=True,
        interval=DataInterval(t(3), t(5, 6)),
        logical_date=t(5, 6),
        triggered_by=[(EVENTS, 3), (NAMES, 2)],
        count=2,
        consumed_after={NAMES: 2, EVENTS: 3},
    ),
    Case(
        "a single dataset",
        {EVENTS: EVENTS_3},
        datasets=[EVENTS],
        consumed=[DatasetConsumption(dataset=EVENTS, consumed=2)],
        due=True,
        interval=DataInterval(t(3), t(4)),
        logical_date=t(4, 2),
        triggered_by=[(EVENTS, 3)],
        count=1,
        consumed_after={EVENTS: 3},
    ),
    Case(
        "a Dataset deleted and made again: its restarted count is news",
        {NAMES: NAMES_1, EVENTS: EVENTS_1},
        consumed=pos(7, 1),
        consumed_after={NAMES: 0, EVENTS: 1},
        waiting_for=[EVENTS],
    ),
    Case(
        "a Dataset not seen yet (after a restart) keeps the position",
        {NAMES: None, EVENTS: EVENTS_1},
        consumed=pos(7, 0),
        due=False,
        consumed_after={NAMES: 7, EVENTS: 0},
        waiting_for=[NAMES],
    ),
    Case(
        "a dataset dropped from scheduleOn is forgotten",
        {EVENTS: EVENTS_1},
        datasets=[EVENTS],
        consumed=pos(1, 1),
        consumed_after={EVENTS: 1},
        waiting_for=[EVENTS],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_dataset_trigger(case: Case) -> None:
    decision: DatasetTrigger = dataset_trigger(
        datasets=case.datasets,
        statuses=case.statuses,
        consumed=case.consumed,
        dag_created=case.dag_created,
    )
    assert {c.dataset: c.consumed for c in decision.consumed} == case.consumed_after
    assert decision.waiting_for == case.waiting_for
    if not case.due:
        assert decision.run is None
        return
    assert decision.run is not None
    assert decision.run.interval == case.interval
    assert decision.run.logical_date == case.logical_date
    listed = [(e.dataset, e.sequence) for e in decision.run.triggered_by.events]
    assert listed == case.triggered_by
    assert decision.run.triggered_by.count == case.count


def test_triggering_runs_are_named():
    decision = dataset_trigger(
        datasets=[NAMES, EVENTS],
        statuses={NAMES: NAMES_1, EVENTS: EVENTS_1},
        consumed=None,
        dag_created=t(1),
    )
    assert decision.run is not None
    runs = {(e.dag, e.run) for e in decision.run.triggered_by.events}
    assert runs == {("producer", "etl-1"), ("producer", "ev-1")}


def test_a_run_lists_at_most_100_events_with_each_datasets_newest():
    status: DatasetStatus | None = None
    for hour in range(MAX_EVENTS):
        status = touched(status, datetime(2026, 2, 1, tzinfo=UTC).replace(minute=hour))
    names = touched(None, t(1))
    decision = dataset_trigger(
        datasets=[NAMES, EVENTS],
        statuses={NAMES: names, EVENTS: status},
        consumed=pos(0, 0),
        dag_created=None,
    )
    assert decision.run is not None
    assert decision.run.triggered_by.count == MAX_EVENTS + 1
    assert len(decision.run.triggered_by.events) == MAX_EVENTS + 1
    assert (NAMES, 1) in [(e.dataset, e.sequence) for e in decision.run.triggered_by.events]


def test_record_keeps_the_newest_events_and_counts_all():
    status: DatasetStatus | None = None
    for minute in range(MAX_EVENTS + 5):
        status = touched(status, datetime(2026, 2, 1, 0, minute, tzinfo=UTC))
    assert status is not None
    assert status.sequence == MAX_EVENTS + 5
    assert len(status.events) == MAX_EVENTS
    assert status.events[0].sequence == 6
    assert status.last_update == datetime(2026, 2, 1, 0, MAX_EVENTS + 4, tzinfo=UTC)


def test_record_the_same_update_twice_records_it_once():
    update = DatasetUpdate(dataset=NAMES, id="uid-1@x", source="run")
    once = record(None, update, t(2))
    assert once is not None
    assert record(once, update, t(3)) is None


def _status(state: RunState | None, *tasks: tuple[str, TaskState, int]) -> DagRunStatus:
    return DagRunStatus(
        state=state,
        data_interval_start=t(1),
        data_interval_end=t(2),
        end_time=t(2, 1) if state is RunState.SUCCESS else None,
        tasks=[TaskRecord(name=n, state=s, try_number=k) for n, s, k in tasks],
    )


@dataclass
class UpdateCase:
    name: str
    before: DagRunStatus
    after: DagRunStatus
    expected: list[tuple[str, str, str | None]]  # dataset, id, task


UPDATE_CASES = [
    UpdateCase(
        "a task with outlets succeeds: its outlets are updated",
        _status(RunState.RUNNING, ("load", TaskState.RUNNING, 1), ("check", TaskState.NONE, 0)),
        _status(RunState.RUNNING, ("load", TaskState.SUCCESS, 1), ("check", TaskState.NONE, 0)),
        [("table-a", "uid/load/1", "load")],
    ),
    UpdateCase(
        "the run succeeds: the DAG's outputs are updated",
        _status(RunState.RUNNING, ("load", TaskState.SUCCESS, 1), ("check", TaskState.RUNNING, 1)),
        _status(RunState.SUCCESS, ("load", TaskState.SUCCESS, 1), ("check", TaskState.SUCCESS, 1)),
        [("out-1", "uid@2026-01-02T01:00:00Z", None), ("out-2", "uid@2026-01-02T01:00:00Z", None)],
    ),
    UpdateCase(
        "a task that failed updates nothing; a failed run neither",
        _status(RunState.RUNNING, ("load", TaskState.RUNNING, 1), ("check", TaskState.NONE, 0)),
        _status(
            RunState.FAILED, ("load", TaskState.FAILED, 1), ("check", TaskState.UPSTREAM_FAILED, 0)
        ),
        [],
    ),
    UpdateCase(
        "a task cleared and successful again: a new update",
        _status(RunState.RUNNING, ("load", TaskState.RUNNING, 2), ("check", TaskState.NONE, 0)),
        _status(RunState.RUNNING, ("load", TaskState.SUCCESS, 2), ("check", TaskState.NONE, 0)),
        [("table-a", "uid/load/2", "load")],
    ),
    UpdateCase(
        "no change: nothing again",
        _status(RunState.RUNNING, ("load", TaskState.SUCCESS, 1), ("check", TaskState.RUNNING, 1)),
        _status(RunState.RUNNING, ("load", TaskState.SUCCESS, 1), ("check", TaskState.RUNNING, 1)),
        [],
    ),
]


@pytest.mark.parametrize("case", UPDATE_CASES, ids=lambda c: c.name)
def test_run_updates(case: UpdateCase) -> None:
    updates = run_updates(
        dag="etl",
        run="etl-20260101-0000",
        run_uid="uid",
        outputs=["out-1", "out-2"],
        outlets={"load": ["table-a"]},
        before=case.before,
        after=case.after,
    )
    assert [(u.dataset, u.id, u.task) for u in updates] == case.expected
    for update in updates:
        assert update.interval == DataInterval(t(1), t(2))
        assert update.run == "etl-20260101-0000"


def test_names():
    assert dataset_name(EVENTS).startswith("postgres-warehouse-raw-data-events-")
    assert dataset_name(EVENTS) != dataset_name(EVENTS.upper())
    assert len(dataset_name("x" * 1000)) <= 253
    assert dagrun_name("summary", RunType.DATASET_TRIGGERED, t(2, 2)) == (
        "summary-dataset-20260102-0200"
    )
