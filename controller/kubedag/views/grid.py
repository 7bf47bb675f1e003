"""The grid (Airflow's grid view): the last N runs of a DAG as columns, oldest on the left and
newest on the right, its tasks as rows in dependency order, each cell the task's state in that
run."""

from dataclasses import dataclass
from datetime import datetime

from kubedag.core.graph import build_graph, topological_order
from kubedag.models.dag import Dag
from kubedag.models.dagrun import DagRun, TaskRecord
from kubedag.views.states import state_class, state_label
from kubedag.views.timing import duration_text, time_text

DEFAULT_RUNS = 25
MAX_RUNS = 365


@dataclass(frozen=True)
class GridColumn:
    run: str
    logical_date: str
    run_type: str
    state_class: str
    state: str
    duration: str


@dataclass(frozen=True)
class GridCell:
    run: str
    task: str
    state_class: str
    state: str
    try_number: int
    """0: the task has not started in this run (or the run does not have the task)."""
    title: str


@dataclass(frozen=True)
class GridRow:
    task: str
    cells: tuple[GridCell, ...]


@dataclass(frozen=True)
class Grid:
    namespace: str
    dag: str
    columns: tuple[GridColumn, ...]
    rows: tuple[GridRow, ...]
    total_runs: int
    """Runs of the DAG the caches hold (the grid shows the newest `len(columns)`)."""


def run_logical_date(run: DagRun) -> datetime | None:
    return run.status.logical_date or run.spec.logical_date


def runs_oldest_first(runs: list[DagRun]) -> list[DagRun]:
    """By logical date, then name; runs without one yet (just created) count as newest."""
    return sorted(
        runs,
        key=lambda r: (
            run_logical_date(r) is None,
            run_logical_date(r) or datetime.min,
            str(r.metadata.get("creationTimestamp", "")),
            r.name,
        ),
    )


def parse_run_count(text: str | None) -> int:
    """`?runs=N`: 1 to MAX_RUNS, DEFAULT_RUNS when absent or not a number."""
    try:
        count = int(text) if text else DEFAULT_RUNS
    except ValueError:
        return DEFAULT_RUNS
    return min(max(count, 1), MAX_RUNS)


def task_order(dag: Dag | None, runs: list[DagRun]) -> list[str]:
    """The DAG's tasks upstream first (declaration order among equals), then tasks only
    earlier runs have (the DAG has dropped them since)."""
    order: list[str] = []
    if dag is not None:
        graph = build_graph((t.name, t.depends_on or []) for t in dag.spec.tasks)
        order = topological_order(graph)
    known = set(order)
    for run in runs:
        for record in run.status.tasks:
            if record.name not in known:
                known.add(record.name)
                order.append(record.name)
    return order


def build_grid(
    namespace: str, dag_name: str, dag: Dag | None, runs: list[DagRun], count: int, now: datetime
) -> Grid:
    shown = runs_oldest_first(runs)[-count:] if count > 0 else []
    columns = tuple(
        GridColumn(
            run=run.name,
            logical_date=time_text(run_logical_date(run)),
            run_type=str(run.spec.run_type),
            state_class=state_class(run.status.state),
            state=state_label(run.status.state),
            duration=duration_text(run.status.start_time, run.status.end_time, now),
        )
        for run in shown
    )
    records = [{r.name: r for r in run.status.tasks} for run in shown]
    rows = tuple(
        GridRow(
            task=task,
            cells=tuple(
                _cell(run, task, by_name.get(task), now)
                for run, by_name in zip(shown, records, strict=True)
            ),
        )
        for task in task_order(dag, shown)
    )
    return Grid(namespace, dag_name, columns, rows, total_runs=len(runs))


def _cell(run: DagRun, task: str, record: TaskRecord | None, now: datetime) -> GridCell:
    if record is None:
        return GridCell(run.name, task, state_class(None), "not in this run", 0, f"{task}: -")
    state = state_label(record.state)
    title = f"{task}: {state}"
    if record.try_number:
        title += f", try {record.try_number}"
    took = duration_text(record.started, record.finished, now)
    if took:
        title += f", {took}"
    return GridCell(run.name, task, state_class(record.state), state, record.try_number, title)
