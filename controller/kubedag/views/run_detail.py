"""A run's detail (Airflow's task instance details of one run): its tasks in dependency order
with their tries, durations, exit codes, messages and outputs, each try linking to its log."""

import json
from dataclasses import dataclass
from datetime import datetime

from kubedag.models.dag import Dag
from kubedag.models.dagrun import DagRun, TaskRecord
from kubedag.views.grid import run_logical_date, task_order
from kubedag.views.states import state_class, state_label
from kubedag.views.timing import duration_text, time_text


@dataclass(frozen=True)
class TryRow:
    try_number: int
    state_class: str
    state: str
    started: str
    finished: str
    duration: str
    exit_code: str
    pod: str


@dataclass(frozen=True)
class TaskDetail:
    task: str
    state_class: str
    state: str
    try_number: int
    message: str
    outputs: str
    """The task's output as indented JSON; a note when it is kept in a ConfigMap."""
    tries: tuple[TryRow, ...]
    """Newest first."""


@dataclass(frozen=True)
class RunDetail:
    namespace: str
    name: str
    dag: str
    state_class: str
    state: str
    run_type: str
    logical_date: str
    data_interval: str
    started: str
    finished: str
    duration: str
    progress: str
    conf: str
    backfill: str
    conditions: tuple[tuple[str, str, str, str], ...]
    """(type, status, reason, message) of each condition."""
    tasks: tuple[TaskDetail, ...]


def build_run_detail(run: DagRun, dag: Dag | None, now: datetime) -> RunDetail:
    status = run.status
    records = {r.name: r for r in status.tasks}
    interval = ""
    start = status.data_interval_start or run.spec.data_interval_start
    end = status.data_interval_end or run.spec.data_interval_end
    if start and end:
        interval = f"{time_text(start)} to {time_text(end)}"
    return RunDetail(
        namespace=run.namespace,
        name=run.name,
        dag=run.spec.dag_name,
        state_class=state_class(status.state),
        state=state_label(status.state),
        run_type=str(run.spec.run_type),
        logical_date=time_text(run_logical_date(run)),
        data_interval=interval,
        started=time_text(status.start_time),
        finished=time_text(status.end_time),
        duration=duration_text(status.start_time, status.end_time, now),
        progress=status.progress or "",
        conf=json.dumps(run.spec.conf, indent=2, sort_keys=True) if run.spec.conf else "",
        backfill=run.spec.backfill or "",
        conditions=tuple((c.type, c.status, c.reason, c.message) for c in status.conditions),
        tasks=tuple(
            _task(records[name], now) for name in task_order(dag, [run]) if name in records
        ),
    )


def _task(record: TaskRecord, now: datetime) -> TaskDetail:
    current = TryRow(
        try_number=record.try_number,
        state_class=state_class(record.state),
        state=state_label(record.state),
        started=time_text(record.started),
        finished=time_text(record.finished),
        duration=duration_text(record.started, record.finished, now),
        exit_code="" if record.exit_code is None else str(record.exit_code),
        pod=record.pod or "",
    )
    earlier = tuple(
        TryRow(
            try_number=t.try_number,
            state_class=state_class(t.state),
            state=state_label(t.state),
            started=time_text(t.started),
            finished=time_text(t.finished),
            duration=duration_text(t.started, t.finished, t.finished or now),
            exit_code="" if t.exit_code is None else str(t.exit_code),
            pod=t.pod or "",
        )
        for t in reversed(record.tries or [])
        if t.try_number != record.try_number
    )
    if record.outputs is not None:
        outputs = json.dumps(record.outputs, indent=2, sort_keys=True)
    elif record.outputs_in:
        outputs = f"(kept in ConfigMap {record.outputs_in}: kubedag outputs shows it)"
    else:
        outputs = ""
    return TaskDetail(
        task=record.name,
        state_class=state_class(record.state),
        state=state_label(record.state),
        try_number=record.try_number,
        message=record.message or "",
        outputs=outputs,
        tries=((current,) if record.try_number else ()) + earlier,
    )
