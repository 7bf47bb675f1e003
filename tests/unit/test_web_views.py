"""The web view's page models (kubedag.views): pure functions of the resources' models."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from bench.web_sample import backfill_body, dag_body, run_body, runs_of
from kubedag.models.backfill import Backfill
from kubedag.models.dag import Dag
from kubedag.models.dagrun import DagRun
from kubedag.views.backfills import build_backfill_rows
from kubedag.views.dags import build_dag_rows
from kubedag.views.graph import build_graph_view
from kubedag.views.grid import DEFAULT_RUNS, MAX_RUNS, build_grid, parse_run_count
from kubedag.views.run_detail import build_run_detail
from kubedag.views.states import state_class
from kubedag.views.timing import duration_text

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def dag(tasks: int = 5, **spec: Any) -> Dag:
    body = dag_body("etl", tasks)
    body["spec"].update(spec)
    return Dag.model_validate(body)


def runs(count: int, tasks: int = 5) -> list[DagRun]:
    return [DagRun.model_validate(b) for b in runs_of("etl", count, tasks)]


@dataclass(frozen=True)
class CountCase:
    text: str | None
    expected: int


@pytest.mark.parametrize(
    "case",
    [
        CountCase(None, DEFAULT_RUNS),
        CountCase("10", 10),
        CountCase("0", 1),
        CountCase("-3", 1),
        CountCase("100000", MAX_RUNS),
        CountCase("ten", DEFAULT_RUNS),
    ],
    ids=lambda c: str(c.text),
)
def test_run_count_from_the_query(case: CountCase) -> None:
    assert parse_run_count(case.text) == case.expected


@dataclass(frozen=True)
class StateCase:
    state: str | None
    css: str


@pytest.mark.parametrize(
    "case",
    [
        StateCase("success", "state-success"),
        StateCase("upstream_failed", "state-upstream_failed"),
        StateCase("none", "state-none"),
        StateCase(None, "state-none"),
        StateCase('"><script>', "state-none"),  # never a class from an unknown string
    ],
    ids=lambda c: str(c.state),
)
def test_state_classes_are_airflows_states_only(case: StateCase) -> None:
    assert state_class(case.state) == case.css


@dataclass(frozen=True)
class DurationCase:
    start: datetime | None
    end: datetime | None
    expected: str


@pytest.mark.parametrize(
    "case",
    [
        DurationCase(None, None, ""),
        DurationCase(datetime(2026, 11, 30, 23, 59, 54, tzinfo=UTC), None, "6s"),
        DurationCase(datetime(2026, 11, 30, 23, 55, tzinfo=UTC), None, "5m 00s"),
        DurationCase(
            datetime(2026, 11, 30, 20, 0, tzinfo=UTC),
            datetime(2026, 11, 30, 21, 2, 3, tzinfo=UTC),
            "1h 02m 03s",
        ),
    ],
    ids=lambda c: c.expected or "unstarted",
)
def test_durations(case: DurationCase) -> None:
    assert duration_text(case.start, case.end, NOW) == case.expected


def test_the_grid_shows_the_newest_runs_oldest_left_tasks_upstream_first() -> None:
    every = runs(30)
    grid = build_grid("etl", "etl", dag(), list(reversed(every)), 25, NOW)
    assert [c.run for c in grid.columns] == [r.name for r in every[-25:]]
    assert grid.total_runs == 30
    assert [row.task for row in grid.rows] == [
        "extract-00", "clean-01", "transform-02", "load-03", "report-04"
    ]  # fmt: skip
    newest = grid.columns[-1]
    assert newest.state_class == "state-running"
    failed_run = next(c for c in grid.columns if c.state == "failed")
    index = grid.columns.index(failed_run)
    load = next(row for row in grid.rows if row.task == "load-03")
    assert load.cells[index].state_class == "state-failed"
    assert load.cells[index].try_number == 1
    assert "load-03: failed, try 1" in load.cells[index].title


def test_the_grid_keeps_tasks_the_dag_has_dropped_and_marks_missing_cells() -> None:
    old = DagRun.model_validate(run_body("etl", 0, 6))
    new = DagRun.model_validate(run_body("etl", 1, 5))
    grid = build_grid("etl", "etl", dag(5), [new, old], 25, NOW)
    assert grid.rows[-1].task == "extract-05"
    assert grid.rows[-1].cells[1].state == "not in this run"
    assert grid.rows[-1].cells[1].state_class == "state-none"


def test_the_grid_without_the_dag_still_shows_its_runs() -> None:
    grid = build_grid("etl", "etl", None, runs(3), 25, NOW)
    assert len(grid.columns) == 3 and len(grid.rows) == 5


def test_the_graph_lays_out_by_longest_upstream_chain_with_the_runs_states() -> None:
    the_dag = dag(5)
    failed = next(r for r in runs(5) if r.status.state == "failed")
    graph = build_graph_view("etl", the_dag, failed)
    x = {node.task: node.x for node in graph.nodes}
    assert x["extract-00"] < x["clean-01"] == x["transform-02"] < x["load-03"] == x["report-04"]
    states = {node.task: node.state for node in graph.nodes}
    assert states["load-03"] == "failed"
    assert {(e.upstream, e.downstream) for e in graph.edges} == {
        ("extract-00", "clean-01"),
        ("extract-00", "transform-02"),
        ("clean-01", "load-03"),
        ("clean-01", "report-04"),
    }
    assert graph.width >= max(n.x for n in graph.nodes) and graph.run == failed.name


def test_the_graph_without_a_run_has_no_states() -> None:
    graph = build_graph_view("etl", dag(3), None)
    assert {n.state_class for n in graph.nodes} == {"state-none"}


def test_dag_rows_show_schedule_owner_tags_and_health() -> None:
    invalid = dag_body("broken", 2)
    invalid["status"]["conditions"][0].update(
        status="False", reason="InvalidSchedule", message="bad cron"
    )
    every = runs(4)  # day 3 failed; the newest (day 3) is running, so day 2's success is last
    rows = build_dag_rows([dag(paused=True), Dag.model_validate(invalid)], every)
    broken, etl = rows
    assert (broken.health, broken.problem) == ("not ready", "InvalidSchedule: bad cron")
    assert etl.schedule == "@daily" and etl.owner == "data-team" and etl.tags == ("example", "etl")
    assert etl.paused and etl.health == "healthy" and etl.next_run == "2026-12-01 00:00:00"
    assert etl.last_run is not None and etl.last_run.state == "running"
    failing = build_dag_rows([dag()], runs(5)[:4])[0]
    assert failing.health == "failing"


def test_run_detail_lists_tries_newest_first_with_outputs_and_messages() -> None:
    body = run_body("etl", 3, 10)
    load = body["status"]["tasks"][3]
    load.update(
        {
            "try": 2,
            "tries": [
                {"try": 1, "state": "failed", "exitCode": 2, "pod": "p1"},
                {"try": 2, "state": "failed", "exitCode": 1, "pod": "p2"},
            ],
        }
    )
    body["status"]["tasks"][0]["outputs"] = {"rows": 12}
    body["spec"]["conf"] = {"table": "events"}
    detail = build_run_detail(DagRun.model_validate(body), dag(10), NOW)
    tasks = {t.task: t for t in detail.tasks}
    assert [t.try_number for t in tasks["load-03"].tries] == [2, 1]
    assert tasks["load-03"].tries[1].exit_code == "2"
    assert tasks["load-03"].message.startswith("exit code 1")
    assert tasks["extract-00"].outputs == '{\n  "rows": 12\n}'
    assert detail.conf == '{\n  "table": "events"\n}'
    assert tasks["transform-07"].state == "upstream_failed"
    assert tasks["transform-07"].tries == ()  # never started


def test_backfill_rows_show_progress() -> None:
    row = build_backfill_rows([Backfill.model_validate(backfill_body("etl"))])[0]
    assert (row.planned, row.running, row.succeeded, row.failed, row.percent) == (30, 4, 13, 1, 47)
    assert row.state == "Running" and row.state_class == "state-running"
