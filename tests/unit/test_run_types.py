"""What each run type takes part in (core/run_types.py), and each rule where the core applies
it: a test run (`kubedag test`) runs its tasks and takes part in nothing else."""

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from kubedag.core import past, run_types
from kubedag.core.backfill import advance as advance_backfill
from kubedag.core.backfill import planned_dates
from kubedag.core.dag_scheduler import (
    RunChange,
    RunSummary,
    last_outcome,
    moves_the_schedule,
    newest_scheduled_interval,
    room_for_scheduled_runs,
    runs_to_start,
    starts_at_pin,
)
from kubedag.core.history import HistoryPolicy, runs_to_delete
from kubedag.core.run_engine import task_context
from kubedag.core.schedule import DataInterval
from kubedag.models.dagrun import DagRun, DagRunStatus, RunState, RunType, TaskState
from kubedag.reconcilers.datasets import DatasetLinks
from kubedag.reconcilers.outbox import OutboxKeeper
from tests.unit.builders import running_run, snapshot_of, task
from tests.unit.test_backfill import NOW as BACKFILL_NOW
from tests.unit.test_backfill import accepted, backfill

S, F, R, Q = RunState.SUCCESS, RunState.FAILED, RunState.RUNNING, RunState.QUEUED
SCHEDULED, MANUAL, BACKFILL, DATASET, TEST = (
    RunType.SCHEDULED,
    RunType.MANUAL,
    RunType.BACKFILL,
    RunType.DATASET_TRIGGERED,
    RunType.TEST,
)


def day(n: int) -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=n)


def run(
    n: int, state: RunState | None = S, kind: RunType = SCHEDULED, name: str | None = None
) -> RunSummary:
    return RunSummary(
        name=name or f"etl-{kind.value}-{n}",
        run_type=kind,
        logical_date=day(n),
        interval=DataInterval(day(n), day(n + 1)),
        state=state,
        finished_at=day(n + 1) if state in (S, F) else None,
        created=day(n + 1),
    )


# -- The rules, per run type --------------------------------------------------------------

Rule = Callable[[RunType], object]

# rule, then its answer for: scheduled, manual, backfill, dataset_triggered, test
RULES: list[tuple[str, Rule, tuple[object, ...]]] = [
    ("schedule position", run_types.is_schedule_position, (True, False, False, False, False)),
    ("takes a DAG slot", run_types.takes_dag_slot, (True, True, False, True, False)),
    ("runs while paused", run_types.runs_while_paused, (False, False, True, False, True)),
    ("can be previous", run_types.can_be_previous, (True, True, True, True, False)),
    ("reads the past", run_types.reads_the_past, (True, True, True, True, False)),
    ("dataset updates", run_types.records_dataset_updates, (True, True, True, True, False)),
    ("notifies", run_types.notifies, (True, True, True, True, False)),
    ("DAG's last outcomes", run_types.counts_in_dag_outcomes, (True, True, True, True, False)),
    ("history limits", run_types.counts_in_history, (True, True, True, True, False)),
    ("seen by others", run_types.seen_by_other_runs, (True, True, True, True, False)),
    (
        "template run type",
        run_types.template_run_type,
        (SCHEDULED, MANUAL, BACKFILL, DATASET, MANUAL),
    ),
]


@pytest.mark.parametrize(
    ("kind", "rule", "expected"),
    [
        pytest.param(kind, rule, answers[i], id=f"{name}-{kind.value}")
        for name, rule, answers in RULES
        for i, kind in enumerate((SCHEDULED, MANUAL, BACKFILL, DATASET, TEST))
    ],
)
def test_rule(kind: RunType, rule: Rule, expected: object) -> None:
    assert rule(kind) == expected


def test_every_run_type_has_an_answer_in_the_table() -> None:
    assert len(RunType) == 5, "a new run type: add its column to RULES"


# -- Where the core applies them ------------------------------------------------------------


def test_a_test_run_never_is_the_previous_run_nor_the_previous_success() -> None:
    runs = [run(1, S), run(2, F, TEST)]
    for catchup in (True, False):
        previous = past.previous_run(runs, day(3), catchup=catchup)
        assert previous is not None and previous.name == "etl-scheduled-1"
    success = past.previous_success([run(1, S), run(2, S, TEST)], day(3))
    assert success is not None and success.name == "etl-scheduled-1"


def test_history_cleanup_keeps_no_run_for_a_test_run_to_read_nor_a_test_run() -> None:
    runs = [run(1, F), run(2, R, TEST)]
    assert past.runs_kept_for_past(runs, read={"a"}, catchup=False) == set()
    failed_test = replace(run(1, F, TEST), unsuccessful=(("a", TaskState.FAILED),))
    assert past.runs_kept_for_past([failed_test], read={"a"}, catchup=False) == set()
    runs = [run(1, F), run(2, R)]
    assert past.runs_kept_for_past(runs, read={"a"}, catchup=False) == {"etl-scheduled-1"}


def test_a_test_run_does_not_move_the_schedule() -> None:
    runs = [run(1, S), run(5, S, TEST)]
    assert newest_scheduled_interval(runs) == DataInterval(day(1), day(2))


@pytest.mark.parametrize(
    ("runs", "room"),
    [
        ([run(1, R)], 1),
        ([run(1, R), run(2, R, TEST)], 1),  # a test run takes no slot
        ([run(1, R), run(2, None, TEST), run(3, Q, TEST)], 1),
        ([run(1, R), run(2, R, MANUAL)], 0),
    ],
)
def test_a_test_run_leaves_room_for_scheduled_runs(runs: list[RunSummary], room: int) -> None:
    assert room_for_scheduled_runs(runs, max_active_runs=2) == room


@pytest.mark.parametrize(
    ("paused", "started"),
    [
        (False, ["etl-test-3", "etl-scheduled-2"]),
        (True, ["etl-test-3"]),  # asked for by hand: it starts while the DAG is paused
    ],
)
def test_a_test_run_starts_at_once_without_a_slot(paused: bool, started: list[str]) -> None:
    runs = [run(1, R), run(2, Q), run(3, Q, TEST), run(4, Q)]
    assert runs_to_start(runs, max_active_runs=2, paused=paused) == started


def test_a_test_run_starts_when_pinned_with_every_slot_taken() -> None:
    runs = [run(1, R), run(2, Q)]
    assert starts_at_pin(runs, run(3, Q, TEST), max_active_runs=1, paused=True)
    assert not starts_at_pin(runs, run(3, Q, MANUAL), max_active_runs=1)


@pytest.mark.parametrize(
    ("before", "after", "moves"),
    [
        (None, run(1, None, TEST), False),  # created: it starts when pinned
        (run(1, Q, TEST), run(1, R, TEST), False),
        (run(1, R, TEST), None, False),  # deleted: it held no slot
        (run(1, S, TEST), run(1, Q, TEST), True),  # cleared: the DAG's pass starts it
        (None, run(1, None, MANUAL), True),
    ],
)
def test_a_test_run_wakes_the_dag_only_when_queued_again(
    before: RunSummary | None, after: RunSummary | None, moves: bool
) -> None:
    assert moves_the_schedule(RunChange(before, after)) is moves


def test_a_test_run_is_never_the_dags_last_outcome() -> None:
    runs = [run(1, S), run(2, S, TEST)]
    outcome = last_outcome(runs, S, None)
    assert outcome is not None and outcome.run == "etl-scheduled-1"
    assert last_outcome([run(2, F, TEST)], F, None) is None


def test_test_runs_count_in_no_history_limit_and_go_after_their_ttl() -> None:
    now = day(3) + run_types.TEST_RUN_TTL
    runs = [run(1, S), run(2, S, TEST), run(2, S, name="etl-test-late")]
    runs[2] = replace(runs[2], run_type=TEST, finished_at=now - timedelta(minutes=1))
    cleanup = runs_to_delete(runs, HistoryPolicy(successful_limit=1), protected=(), now=now)
    # The limit of 1 keeps the scheduled run; the expired test run goes, the newer one waits.
    assert cleanup.runs_to_delete == ["etl-test-2"]
    assert cleanup.look_again_at == now - timedelta(minutes=1) + run_types.TEST_RUN_TTL
    shorter = HistoryPolicy(ttl=timedelta(seconds=30))
    cleanup = runs_to_delete(runs, shorter, protected=(), now=now)
    assert set(cleanup.runs_to_delete) == {"etl-test-2", "etl-test-late"}


def test_a_backfill_does_not_see_a_test_run_of_its_date() -> None:
    bf = accepted(backfill(to="2026-01-02", reprocessBehavior="completed"))
    test_run = replace(
        run(0, S, TEST),
        logical_date=datetime(2026, 1, 1, tzinfo=UTC),
        created=BACKFILL_NOW,
    )
    plan = planned_dates(bf, bf.status.plan)  # type: ignore[arg-type]
    decision = advance_backfill(bf, plan, [test_run], now=BACKFILL_NOW)
    assert decision.to_rerun == []
    assert datetime(2026, 1, 1, tzinfo=UTC) in [p.logical_date for p in decision.to_create]


def test_templates_see_a_test_run_as_a_manual_one() -> None:
    snapshot = snapshot_of(task("a"))
    test_run = running_run(snapshot, name="etl-test-20260101-0000")
    test_run.spec.run_type = TEST
    context = task_context(
        test_run, test_run.status, snapshot, snapshot.task("a"), try_number=1
    ).variables()
    assert context["dag_run"]["run_type"] == "manual"
    assert context["dag_run"]["external_trigger"] is True


# -- Where the controller applies them --------------------------------------------------------


def finished(run: DagRun) -> DagRunStatus:
    """The run's status once its every task succeeded."""
    tasks = [
        r.model_copy(update={"state": TaskState.SUCCESS, "try_number": 1}) for r in run.status.tasks
    ]
    return run.status.model_copy(update={"state": S, "end_time": day(1), "tasks": tasks})


@pytest.mark.parametrize(("kind", "updates"), [(SCHEDULED, 2), (MANUAL, 2), (TEST, 0)])
def test_a_test_run_records_no_dataset_updates(kind: RunType, updates: int) -> None:
    snapshot = snapshot_of(task("a", outlets=["s3://lake/a"]), outputs=["s3://lake/etl"])
    run = running_run(snapshot)
    run.spec.run_type = kind
    noted = DatasetLinks(kube=None).note(run, finished(run), snapshot)  # type: ignore[arg-type]
    assert len(noted.dataset_updates or []) == updates


@pytest.mark.parametrize(("kind", "sent"), [(SCHEDULED, 1), (TEST, 0)])
def test_a_test_run_notifies_nobody(kind: RunType, sent: int) -> None:
    hook = {"secretKeyRef": {"name": "hooks", "key": "url"}}
    snapshot = snapshot_of(task("a"), onRunSuccess=[hook])
    run = running_run(snapshot)
    run.spec.run_type = kind
    body = {"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}}
    keeper = OutboxKeeper(None, None, None)  # type: ignore[arg-type]
    decision = keeper.decide(run, body, snapshot, finished(run), day(1))
    assert len(decision.status.notifications) == sent
