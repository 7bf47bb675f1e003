"""What one run may know of its DAG's other runs: the previous run (Airflow's rule 22, which
dependsOnPast reads) and the latest earlier successful run (which the prev_*_success
template variables read). The run reconciler finds them; the engine only reads them."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from kubedag.models.dagrun import RunState, RunType, TaskState


@dataclass(frozen=True)
class PastRun:
    name: str
    run_type: RunType
    logical_date: datetime
    state: RunState | None
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    """When it finished (the prev_end_date_success template variable)."""
    tasks: Mapping[str, TaskState] = field(default_factory=dict)
    """Its tasks' recorded states (empty when the reader needs none)."""


@dataclass(frozen=True)
class EarlierRuns:
    previous: PastRun | None = None
    """The previous run as rule 22 defines it; None when there is none."""
    previous_success: PastRun | None = None
    """The latest successful run with an earlier logical date."""
    first_of_backfill: bool = False
    """The run is its Backfill's first date (rule 24: dependsOnPast does not hold it)."""
    tasks_run_before: frozenset[str] = frozenset()
    """Tasks that any earlier run of the DAG has (ignoreFirstDependsOnPast reads it; filled
    only when the previous run lacks a dependsOnPast task)."""


NO_EARLIER_RUNS = EarlierRuns()
