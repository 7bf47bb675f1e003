"""`kubedag tasks RUN`: every record of a run, compacted or not, as a table or filtered."""

from datetime import timedelta

from kubedag.commands.tasks import chosen, format_table
from kubedag.models import compact_tasks
from kubedag.models.dagrun import DagRun, DagRunStatus, RunState, TaskRecord, TaskState
from tests.unit.builders import T0


def stored_run(records: list[TaskRecord]) -> DagRun:
    """The run as a reader gets it from the API server: through its wire form."""
    compact_tasks.set_threshold(2)
    try:
        status = {"state": RunState.RUNNING.value, "tasks": [r.to_wire() for r in records]}
        wire = DagRunStatus.model_validate(status).to_wire()
    finally:
        compact_tasks.set_threshold(compact_tasks.DEFAULT_THRESHOLD)
    assert "compressedTasks" in wire
    body = {"metadata": {"name": "r", "namespace": "ns"}, "spec": {"dagName": "d"}}
    return DagRun.model_validate({**body, "status": wire})


RECORDS = [
    TaskRecord(
        name="extract", state=TaskState.SUCCESS, try_number=1, pod="r-extract-1",
        started=T0, finished=T0 + timedelta(seconds=75), exit_code=0,
    ),
    TaskRecord(
        name="load", state=TaskState.FAILED, try_number=2, pod="r-load-2", started=T0,
        finished=T0 + timedelta(seconds=3), exit_code=2, message="exit code 2",
    ),
    TaskRecord(name="report", state=TaskState.RUNNING, try_number=1, pod="r-report-1", started=T0),
    TaskRecord(name="publish"),
]  # fmt: skip


def test_every_record_of_a_compacted_run_is_listed_in_order() -> None:
    run = stored_run(RECORDS)
    assert format_table(chosen(run, set()), len(run.status.tasks)).splitlines() == [
        "TASK     STATE    TRY  STARTED              DURATION  EXIT  POD / MESSAGE",
        "extract  success  1    2026-01-02 00:00:00  1m15s     0     r-extract-1",
        "load     failed   2    2026-01-02 00:00:00  3s        2     exit code 2",
        "report   running  1    2026-01-02 00:00:00  -         -     r-report-1",
        "publish  none     0    -                    -         -",
        "4 of 4 tasks",
    ]


def test_states_filter_the_records() -> None:
    run = stored_run(RECORDS)
    picked = chosen(run, {TaskState.FAILED, TaskState.NONE})
    assert [r.name for r in picked] == ["load", "publish"]
    assert format_table(picked, 4).splitlines()[-1] == "2 of 4 tasks"
