"""The Backfill resource: runs of a DAG for a range of past logical dates, created as its own
limit allows (Airflow 3's `airflow backfill create`)."""

from enum import StrEnum

from pydantic import ConfigDict, Field

from kubedag.models.common import (
    Condition,
    FreeForm,
    KubeModel,
    KubeObject,
    StatusTime,
    Timestamp,
    unchanged_rule,
)

MAX_LISTED_DATES = 100  # per class in the status: a year of minutes must still fit in etcd
DEFAULT_MAX_ACTIVE_RUNS = 10  # Airflow's API default


class ReprocessBehavior(StrEnum):
    """What a backfill does with a date that already has a finished run (a queued or running
    run is never touched)."""

    NONE = "none"
    FAILED = "failed"
    COMPLETED = "completed"


class BackfillState(StrEnum):
    RUNNING = "Running"
    COMPLETED = "Completed"
    CANCELLED = "Cancelled"
    REFUSED = "Refused"

    @property
    def finished(self) -> bool:
        return self is not BackfillState.RUNNING


# What the backfill is (its DAG, range and how it treats existing runs) is fixed once
# applied, as Airflow's backfill rows are; pausing, cancelling and the limit may change.
_FIXED_FIELDS = ("from", "to", "reprocessBehavior", "runBackwards", "conf", "dryRun")
_FIXED_RULE = unchanged_rule("dagName", _FIXED_FIELDS)


class BackfillSpec(KubeModel):
    """Which DAG, which logical dates, and how."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": _FIXED_RULE,
                    "message": "a Backfill's dagName, from, to, reprocessBehavior, runBackwards,"
                    " conf and dryRun are immutable: create another Backfill",
                },
                {
                    "rule": "!has(oldSelf.cancel) || !oldSelf.cancel"
                    " || (has(self.cancel) && self.cancel)",
                    "message": "a cancelled Backfill cannot be resumed: create another Backfill",
                },
            ]
        }
    )

    dag_name: str = Field(min_length=1, max_length=253)
    """The DAG (in the same namespace) to backfill."""
    from_: Timestamp = Field(alias="from")
    """The first logical date (inclusive), aligned up to the DAG's next schedule tick. A date
    or a time without offset is read in the DAG's timezone."""
    to: Timestamp
    """The last logical date (inclusive)."""
    reprocess_behavior: ReprocessBehavior = ReprocessBehavior.NONE
    """A date whose run finished: `none` leaves it, `failed` re-runs it if it failed,
    `completed` re-runs it whether it failed or succeeded. Default none (Airflow's API)."""
    max_active_runs: int = Field(default=DEFAULT_MAX_ACTIVE_RUNS, ge=1, le=10000)
    """This backfill's queued and running runs at once, independent of the DAG's own limit."""
    run_backwards: bool = False
    """Newest date first."""
    conf: FreeForm | None = None
    """The runs' conf (it replaces a re-run run's conf; absent keeps it)."""
    dry_run: bool = False
    """Only list in the status the dates it would create or re-run."""
    paused: bool = False
    """Start no more runs until unpaused (runs already started go on)."""
    cancel: bool = False
    """Stop for good: no more runs, queued ones fail, running ones finish."""


class DateList(KubeModel):
    """A class of dates: how many, and the first of them (at most 100)."""

    count: int = 0
    dates: list[StatusTime] = Field(
        default_factory=list,
        max_length=MAX_LISTED_DATES,
        json_schema_extra={"x-kubernetes-list-type": "atomic"},
    )


class SkippedDates(DateList):
    reason: str
    """`already exists`, `in flight` (Airflow's reasons) or `run deleted`."""


class BackfillPlan(KubeModel):
    """What the dates were computed from, fixed when the backfill was accepted, so a restart
    or an edit of the DAG's schedule does not move them."""

    schedule: str
    timezone: str
    cutoff: StatusTime
    """Only intervals that had ended by then (Airflow: `data_interval.end < now`)."""


class BackfillStatus(KubeModel):
    """Progress, written by the controller."""

    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    state: BackfillState | None = None
    plan: BackfillPlan | None = None
    next_date: int = 0
    """How many dates (in the backfill's order) have been decided: created, re-run or skipped."""
    planned: int = 0
    progress: str | None = None
    """Runs created or re-run / dates planned, e.g. "12/30"."""
    created: DateList | None = None
    """Dates with a run created or re-run by this backfill (running, succeeded or failed)."""
    running: DateList | None = None
    succeeded: DateList | None = None
    failed: DateList | None = None
    skipped: list[SkippedDates] = Field(
        default_factory=list, json_schema_extra={"x-kubernetes-list-type": "atomic"}
    )
    would_create: DateList | None = None
    """Dry run: dates a real backfill would create a run for."""
    would_rerun: DateList | None = None
    """Dry run: dates whose existing run a real backfill would clear and run again."""
    start_time: StatusTime | None = None
    completion_time: StatusTime | None = None


class Backfill(KubeObject):
    spec: BackfillSpec
    status: BackfillStatus = Field(default_factory=BackfillStatus)
