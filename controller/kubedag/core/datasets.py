"""Dataset scheduling (Airflow's data-aware scheduling), as pure functions: the updates a
run's change records, a Dataset's status after one more update, and whether a DAG scheduled
on datasets is due, with which data interval and which triggering updates.

Airflow keeps dataset events in its database and queues them per consumer DAG
(DatasetDagRunQueue); kubedag keeps each dataset's newest events in its Dataset's status, with
a sequence number, and each consumer DAG's position (the sequence it has consumed up to) in
the DAG's status, so a restart loses nothing and a consumer's next run is a function of the
two."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from kubedag.core.dates import rfc3339
from kubedag.core.schedule import DataInterval
from kubedag.models.dagrun import DagRunStatus, RunState, TaskState
from kubedag.models.dataset import (
    MAX_TRIGGERING_EVENTS,
    DatasetConsumption,
    DatasetEvent,
    DatasetStatus,
    EventSource,
    TriggeredBy,
    TriggeringEvent,
    UnrecordedUpdate,
)

MAX_EVENTS = 50
"""Events a Dataset keeps (the newest); its `sequence` counts them all."""


@dataclass(frozen=True)
class DatasetUpdate:
    """An update of one dataset, to be recorded in its Dataset's status."""

    dataset: str
    id: str
    source: EventSource
    dag: str | None = None
    run: str | None = None
    task: str | None = None
    interval: DataInterval | None = None
    note: str | None = None


def run_updates(
    *,
    dag: str,
    run: str,
    run_uid: str,
    outputs: Sequence[str],
    outlets: Mapping[str, Sequence[str]],
    before: DagRunStatus,
    after: DagRunStatus,
) -> list[DatasetUpdate]:
    """The updates a run's status change records: each outlet of a task whose try just
    succeeded, and each of the DAG's outputs when the run just succeeded (a run cleared and
    successful again updates them again, as Airflow's re-run task emits a new event)."""
    interval = (
        DataInterval(after.data_interval_start, after.data_interval_end)
        if after.data_interval_start and after.data_interval_end
        else None
    )
    earlier = {r.name: (r.state, r.try_number) for r in before.tasks}
    updates: list[DatasetUpdate] = []
    for record in after.tasks:
        if record.state is not TaskState.SUCCESS or not outlets.get(record.name):
            continue
        if earlier.get(record.name) == (TaskState.SUCCESS, record.try_number):
            continue
        updates.extend(
            DatasetUpdate(
                dataset=uri,
                id=f"{run_uid}/{record.name}/{record.try_number}",
                source="task",
                dag=dag,
                run=run,
                task=record.name,
                interval=interval,
            )
            for uri in outlets[record.name]
        )
    if after.state is RunState.SUCCESS and before.state is not RunState.SUCCESS and outputs:
        ended = rfc3339(after.end_time) if after.end_time else ""
        updates.extend(
            DatasetUpdate(
                dataset=uri,
                id=f"{run_uid}@{ended}",
                source="run",
                dag=dag,
                run=run,
                interval=interval,
            )
            for uri in outputs
        )
    return updates


def unrecorded(update: DatasetUpdate) -> UnrecordedUpdate:
    """A run's update as its status keeps it until its Dataset holds it."""
    assert update.source in ("run", "task")
    return UnrecordedUpdate(
        id=update.id,
        dataset=update.dataset,
        source=update.source,
        task=update.task,
        data_interval_start=update.interval.start if update.interval else None,
        data_interval_end=update.interval.end if update.interval else None,
    )


def to_record(entry: UnrecordedUpdate, dag: str, run: str) -> DatasetUpdate:
    """The update a run's status keeps, to be recorded in its Dataset."""
    start, end = entry.data_interval_start, entry.data_interval_end
    return DatasetUpdate(
        dataset=entry.dataset,
        id=entry.id,
        source=entry.source,
        dag=dag,
        run=run,
        task=entry.task,
        interval=DataInterval(start, end) if start and end else None,
    )


def with_updates(status: DagRunStatus, updates: Sequence[DatasetUpdate]) -> DagRunStatus:
    """The status to write with the updates its change made added to those not recorded
    yet: they are stored with the change, before any Dataset is written."""
    if not updates:
        return status
    kept = status.dataset_updates or []
    known = {entry.id for entry in kept}
    added = [unrecorded(u) for u in updates if u.id not in known]
    return status.model_copy(update={"dataset_updates": [*kept, *added]})


def record(
    status: DatasetStatus | None, update: DatasetUpdate, at: datetime
) -> DatasetStatus | None:
    """The Dataset's status with `update` added as its newest event; None if an event of
    that id is recorded already (so recording again is harmless)."""
    status = status or DatasetStatus()
    if any(e.id == update.id for e in status.events):
        return None
    sequence = status.sequence + 1
    event = DatasetEvent(
        sequence=sequence,
        id=update.id,
        at=at,
        source=update.source,
        dag=update.dag,
        run=update.run,
        task=update.task,
        data_interval_start=update.interval.start if update.interval else None,
        data_interval_end=update.interval.end if update.interval else None,
        note=update.note,
    )
    return DatasetStatus(
        sequence=sequence, last_update=at, events=[*status.events, event][-MAX_EVENTS:]
    )


@dataclass(frozen=True)
class TriggeredRun:
    """The dataset-triggered run to create."""

    logical_date: datetime
    interval: DataInterval
    triggered_by: TriggeredBy


@dataclass(frozen=True)
class DatasetTrigger:
    consumed: list[DatasetConsumption]
    """The DAG's position after this decision (the run, if any, consumed up to there)."""
    run: TriggeredRun | None
    waiting_for: list[str]
    """The datasets not updated since the previous run (empty when `run` is set)."""


def _starting_point(status: DatasetStatus | None, dag_created: datetime | None) -> int:
    """Where a DAG starts consuming a dataset it has no position for yet: after the updates
    recorded before the DAG was created (Airflow queues only events that come after a DAG
    is scheduled on the dataset)."""
    if status is None:
        return 0
    if dag_created is None:
        return status.sequence
    before = [e.sequence for e in status.events if e.at <= dag_created]
    if before:
        return max(before)
    return status.events[0].sequence - 1 if status.events else status.sequence


def dataset_trigger(
    *,
    datasets: Sequence[str],
    statuses: Mapping[str, DatasetStatus | None],
    consumed: Sequence[DatasetConsumption] | None,
    dag_created: datetime | None,
) -> DatasetTrigger:
    """Whether a DAG scheduled on `datasets` is due: once every one has an update its runs
    have not consumed. The run's data interval spans the triggering updates' (a producing
    run's data interval, an external update's time), and its logical date is the newest
    triggering update's time, as Airflow's DatasetTriggeredTimetable makes them."""
    position = {c.dataset: c.consumed for c in consumed or []}
    for uri, status in statuses.items():
        if status is not None and status.sequence < position.get(uri, 0):
            position[uri] = 0  # the Dataset was deleted and made again: its count restarted
    marks = {
        uri: position[uri] if uri in position else _starting_point(statuses.get(uri), dag_created)
        for uri in datasets
    }
    newest = {uri: (statuses.get(uri) or DatasetStatus()).sequence for uri in datasets}
    waiting = [uri for uri in datasets if newest[uri] <= marks[uri]]
    if waiting:
        # A position is kept only once the dataset is known: until the watch delivers a
        # Dataset (or it is made), the DAG's creation time decides where it starts.
        known = [u for u in datasets if u in position or statuses.get(u) is not None]
        return DatasetTrigger(
            consumed=[DatasetConsumption(dataset=u, consumed=marks[u]) for u in known],
            run=None,
            waiting_for=waiting,
        )
    events = sorted(
        (
            (uri, e)
            for uri in datasets
            for e in (statuses.get(uri) or DatasetStatus()).events
            if e.sequence > marks[uri]
        ),
        key=lambda pair: (pair[1].at, pair[0], pair[1].sequence),
    )
    starts = [e.data_interval_start or e.at for _, e in events]
    ends = [e.data_interval_end or e.at for _, e in events]
    logical = max(e.at for _, e in events)
    listed = _listed(events)
    run = TriggeredRun(
        logical_date=logical,
        interval=DataInterval(min(starts), max(ends)),
        triggered_by=TriggeredBy(
            events=[
                TriggeringEvent(
                    dataset=uri, sequence=e.sequence, at=e.at, dag=e.dag, run=e.run, task=e.task
                )
                for uri, e in listed
            ],
            count=sum(newest[uri] - marks[uri] for uri in datasets),
        ),
    )
    return DatasetTrigger(
        consumed=[DatasetConsumption(dataset=u, consumed=newest[u]) for u in datasets],
        run=run,
        waiting_for=[],
    )


def _listed(
    events: list[tuple[str, DatasetEvent]],
) -> list[tuple[str, DatasetEvent]]:
    """The events a run lists: the newest, with each dataset's newest always among them."""
    if len(events) <= MAX_TRIGGERING_EVENTS:
        return events
    newest_each: dict[str, int] = {}
    for uri, event in events:
        newest_each[uri] = max(newest_each.get(uri, 0), event.sequence)
    keep = set(newest_each.items())
    rest = [p for p in events if (p[0], p[1].sequence) not in keep]
    room = MAX_TRIGGERING_EVENTS - len(keep)
    chosen = {(u, e.sequence) for u, e in rest[-room:]} | keep
    return [p for p in events if (p[0], p[1].sequence) in chosen]
