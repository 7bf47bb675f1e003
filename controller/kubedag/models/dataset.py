"""Datasets (Airflow's data-aware scheduling; Airflow 3's assets): what a DAG or task updates,
what a DAG may be scheduled on, the Dataset resource that keeps a dataset's recent update
events, and what a dataset-triggered run records of the events that started it."""

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from kubedag.models.common import KubeModel, KubeObject, StatusTime

MAX_DATASET_URI = 1000
DATASET_URI_PATTERN = r"^\S+$"
MAX_SCHEDULE_DATASETS = 64
MAX_TRIGGERING_EVENTS = 100
"""Events a dataset-triggered run lists in `spec.triggeredBy` (the newest; the count says
how many there were)."""

DatasetUri = Annotated[
    str, Field(min_length=1, max_length=MAX_DATASET_URI, pattern=DATASET_URI_PATTERN)
]
"""A dataset's identity: any string without whitespace, compared exactly, such as
`postgres://warehouse/raw_data.events` (Airflow's dataset URI)."""

DatasetList = Annotated[
    list[DatasetUri],
    Field(
        min_length=1,
        max_length=MAX_SCHEDULE_DATASETS,
        json_schema_extra={"x-kubernetes-list-type": "set"},
    ),
]


class DatasetSchedule(KubeModel):
    """Run when datasets were updated, instead of on a cron (Airflow's schedule=[Dataset(...)])."""

    datasets: DatasetList
    """A run starts once every one of these has been updated since the DAG's previous
    dataset-triggered run (by a successful run or task declaring it in `outputs`/`outlets`,
    or by `kubedag datasets touch`)."""


EventSource = Literal["run", "task", "external"]


class UnrecordedUpdate(KubeModel):
    """A dataset update a run's change made, kept in the run's status (written in the same
    write as the change) until its Dataset holds it: a controller that stops in between
    records it after its restart (as Airflow records a dataset event in the transaction
    that marks the task successful)."""

    id: str
    """The update's id (see DatasetEvent.id)."""
    dataset: DatasetUri
    source: Literal["run", "task"]
    task: str | None = None
    data_interval_start: StatusTime | None = None
    data_interval_end: StatusTime | None = None


class DatasetEvent(KubeModel):
    """One update of a dataset."""

    model_config = ConfigDict(frozen=True)

    sequence: int = Field(ge=1)
    """1 for the dataset's first update, then one more for each."""
    id: str
    """Unique per update: `<run uid>` (a run's outputs), `<run uid>/<task>/<try>` (a task's
    outlets), `touch/<time>` (kubedag datasets touch); recording the same id twice records it
    once."""
    at: StatusTime
    """When the update was recorded."""
    source: EventSource
    dag: str | None = None
    run: str | None = None
    task: str | None = None
    data_interval_start: StatusTime | None = None
    """The producing run's data interval (absent for an external update)."""
    data_interval_end: StatusTime | None = None
    note: str | None = Field(default=None, max_length=1024)
    """What an external update says about itself (`kubedag datasets touch --note`)."""


class DatasetSpec(KubeModel):
    """Which dataset this object records events of."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": "self.uri == oldSelf.uri", "message": "a Dataset's uri is immutable"}
            ]
        }
    )

    uri: DatasetUri


class DatasetStatus(KubeModel):
    """A dataset's recent updates, written by the controller and `kubedag datasets touch`."""

    sequence: int = 0
    """How many updates were ever recorded (the newest event's sequence)."""
    last_update: StatusTime | None = None
    events: list[DatasetEvent] = Field(default_factory=list)
    """The newest updates, oldest first (at most 50)."""


class Dataset(KubeObject):
    spec: DatasetSpec
    status: DatasetStatus | None = None


class TriggeringEvent(KubeModel):
    """A dataset update that a dataset-triggered run consumed."""

    model_config = ConfigDict(frozen=True)

    dataset: str
    sequence: int
    at: StatusTime
    dag: str | None = None
    run: str | None = None
    task: str | None = None


class TriggeredBy(KubeModel):
    """The dataset updates that started a dataset-triggered run."""

    events: list[TriggeringEvent] = Field(max_length=MAX_TRIGGERING_EVENTS)
    """The newest of them (each dataset's newest among them always listed)."""
    count: int
    """How many there were."""


class DatasetConsumption(KubeModel):
    """How far a dataset-scheduled DAG has consumed one of its datasets' updates."""

    dataset: str
    consumed: int = Field(ge=0)
    """The sequence of the newest update its runs have consumed."""
