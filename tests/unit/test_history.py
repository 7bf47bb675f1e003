"""History and cleanup decisions (core/history.py, core/tries.py, the DAG's last outcomes):
table tests."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from kubedag.core.dag_scheduler import RunSummary, last_outcome
from kubedag.core.history import (
    HistoryPolicy,
    pods_to_delete,
    runs_to_delete,
    snapshots_to_delete,
)
from kubedag.core.pod_observation import PodObservation
from kubedag.core.schedule import DataInterval
from kubedag.core.tries import MAX_EARLIER_TRIES, archive_try, earlier_tries_limit
from kubedag.models.dag import PodGC, RunOutcome
from kubedag.models.dagrun import RunState, RunType, TaskRecord, TaskState
from kubedag.reconcilers.settings import history_from_env
from tests.unit.builders import dag_spec, task

NOW = datetime(2026, 3, 1, tzinfo=UTC)
S, F, R, Q = RunState.SUCCESS, RunState.FAILED, RunState.RUNNING, RunState.QUEUED


def day(n: int) -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=n)


def run(
    n: int,
    state: RunState | None,
    *,
    kind: RunType = RunType.SCHEDULED,
    finished: datetime | None = None,
    backfill: str | None = None,
    snapshot: str | None = "etl-v1",
) -> RunSummary:
    """The run of day n, finished a day after its interval ends unless said otherwise."""
    infix = "" if kind is RunType.SCHEDULED else f"-{kind.value}"
    done = state is not None and state.finished
    return RunSummary(
        name=f"etl{infix}-{n:02d}",
        run_type=kind,
        logical_date=day(n),
        interval=DataInterval(day(n), day(n + 1)),
        state=state,
        snapshot=snapshot,
        finished_at=(finished or day(n + 1)) if done else None,
        backfill=backfill,
    )


@dataclass(frozen=True)
class Case:
    name: str
    runs: list[RunSummary]
    policy: HistoryPolicy
    deleted: list[str]
    look_again_at: datetime | None = None
    protected: frozenset[str] = field(default_factory=frozenset)
    batch: int = 50


CASES = [
    Case("no limits keep everything", [run(i, S) for i in range(5)], HistoryPolicy(), []),
    Case(
        "the oldest successful runs past the limit go, oldest first",
        [run(i, S) for i in range(5)],
        HistoryPolicy(successful_limit=2),
        ["etl-00", "etl-01", "etl-02"],
    ),
    Case(
        "limits count per state",
        [run(0, F), run(1, S), run(2, F), run(3, S), run(4, F), run(5, S)],
        HistoryPolicy(successful_limit=1, failed_limit=2),
        ["etl-00", "etl-01", "etl-03"],
    ),
    Case(
        "unfinished runs are never selected nor counted",
        [run(0, S), run(1, S), run(2, R), run(3, Q), run(4, None)],
        HistoryPolicy(successful_limit=0, failed_limit=0, ttl=timedelta(0)),
        ["etl-00", "etl-01"],
    ),
    Case(
        "the newest scheduled run stays, even at limit 0",
        [run(0, S), run(1, S), run(2, S)],
        HistoryPolicy(successful_limit=0),
        ["etl-00", "etl-01"],
    ),
    Case(
        "a newer manual run does not stand in for the newest scheduled one",
        [run(0, S), run(1, S), run(5, S, kind=RunType.MANUAL)],
        HistoryPolicy(successful_limit=1),
        ["etl-00"],
    ),
    Case(
        "runs kept newest logical date first, not newest finish",
        [run(0, S, finished=day(40)), run(1, S), run(2, S)],
        HistoryPolicy(successful_limit=2),
        ["etl-00"],
    ),
    Case(
        "protected runs (an unfinished backfill's) stay beyond the limit",
        [run(i, S, kind=RunType.BACKFILL, backfill="bf") for i in range(3)] + [run(9, S)],
        HistoryPolicy(successful_limit=1),
        ["etl-backfill-00"],
        protected=frozenset({"etl-backfill-01", "etl-backfill-02"}),
    ),
    Case(
        "TTL: runs finished that long ago go, the next to expire says when to look again",
        [
            run(0, S, finished=NOW - timedelta(hours=2)),
            run(1, F, finished=NOW - timedelta(hours=1)),
            run(2, S, finished=NOW - timedelta(minutes=10)),
            run(3, S, finished=NOW),
        ],
        HistoryPolicy(ttl=timedelta(hours=1)),
        ["etl-00", "etl-01"],
        look_again_at=NOW + timedelta(minutes=50),
    ),
    Case(
        "TTL never takes the newest scheduled run",
        [run(0, S, finished=NOW - timedelta(days=9)), run(1, S, finished=NOW - timedelta(days=8))],
        HistoryPolicy(ttl=timedelta(days=1)),
        ["etl-00"],
    ),
    Case(
        "limit and TTL together; a run the limit takes sets no wake-up",
        [run(0, S, finished=NOW), run(1, S, finished=NOW), run(2, S, finished=NOW)],
        HistoryPolicy(successful_limit=2, ttl=timedelta(hours=3)),
        ["etl-00"],
        look_again_at=NOW + timedelta(hours=3),
    ),
    Case(
        "more than a batch: the oldest batch now, and look again at once",
        [run(i, S) for i in range(6)],
        HistoryPolicy(successful_limit=1),
        ["etl-00", "etl-01"],
        look_again_at=NOW,
        batch=2,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_runs_to_delete(case: Case) -> None:
    cleanup = runs_to_delete(
        case.runs, case.policy, protected=case.protected, now=NOW, batch=case.batch
    )
    assert cleanup.runs_to_delete == case.deleted
    assert cleanup.look_again_at == case.look_again_at


def test_a_dag_s_own_settings_win_over_the_controller_s() -> None:
    defaults = HistoryPolicy(successful_limit=100, failed_limit=100, pod_gc=PodGC.ON_RUN_SUCCESS)
    own = dag_spec(
        task("a"), successfulRunsHistoryLimit=0, runTTLAfterFinished="1h30m", podGC="Never"
    )
    assert defaults.for_dag(own) == HistoryPolicy(0, 100, timedelta(minutes=90), PodGC.NEVER)
    assert defaults.for_dag(dag_spec(task("a"))) == defaults


def pod(name: str, task: str, phase: str = "Succeeded", deleting: bool = False) -> PodObservation:
    return PodObservation(name=name, phase=phase, task=task, deleting=deleting)


PODS = [
    pod("a-1", "a", "Failed"),
    pod("a-2", "a"),
    pod("b-1", "b", "Failed"),
    pod("c-1", "c", "Running"),
    pod("d-1", "d", deleting=True),
]
EVERY = ["a-1", "a-2", "b-1", "c-1"]


@pytest.mark.parametrize(
    ("policy", "state", "deleted"),
    [
        (PodGC.ON_RUN_SUCCESS, R, []),
        (PodGC.ON_RUN_SUCCESS, S, EVERY),
        (PodGC.ON_RUN_SUCCESS, F, []),
        (PodGC.ON_RUN_COMPLETION, R, []),
        (PodGC.ON_RUN_COMPLETION, S, EVERY),
        (PodGC.ON_RUN_COMPLETION, F, EVERY),
        (PodGC.ON_TASK_SUCCESS, R, ["a-1", "a-2"]),  # every try of a succeeded task
        (PodGC.ON_TASK_SUCCESS, F, ["a-1", "a-2"]),
        (PodGC.ON_TASK_SUCCESS, S, EVERY),
        (PodGC.NEVER, S, []),
        (PodGC.NEVER, F, []),
    ],
)
def test_pods_to_delete(policy: PodGC, state: RunState, deleted: list[str]) -> None:
    # Task a succeeded (on its second try); c is recorded as succeeded but its pod still
    # runs (a mark), so it stays until the run ends.
    assert pods_to_delete(policy, state, PODS, {"a", "c"}) == deleted


def test_snapshots_nothing_needs_are_deleted_but_not_while_a_run_is_being_pinned() -> None:
    runs = [run(0, S, snapshot="etl-v1"), run(1, F, snapshot="etl-v2")]
    stored = ["etl-v1", "etl-v2", "etl-v3", "etl-v4"]
    assert snapshots_to_delete(stored, runs, "etl-v4") == ["etl-v3"]
    assert snapshots_to_delete(stored, runs, None) == ["etl-v3", "etl-v4"]
    pinning = [*runs, run(2, None, snapshot=None)]
    assert snapshots_to_delete(stored, pinning, "etl-v4") == []
    failed_unpinned = [*runs, run(2, F, snapshot=None)]  # its DAG was invalid: never pinned
    assert snapshots_to_delete(stored, failed_unpinned, "etl-v4") == ["etl-v3"]


def test_the_last_outcomes_outlive_the_runs() -> None:
    runs = [run(0, S), run(1, F), run(2, S, finished=day(30)), run(3, R)]
    newest = last_outcome(runs, S, None)
    assert newest == RunOutcome(run="etl-02", logical_date=day(2), finished_at=day(30))
    assert last_outcome(runs, F, None) == RunOutcome(
        run="etl-01", logical_date=day(1), finished_at=day(2)
    )
    # History cleanup deleted them all: the status remembers.
    assert last_outcome([run(3, R)], S, newest) == newest
    # A newer success replaces the remembered one.
    later = run(4, S, finished=day(31))
    assert last_outcome([later], S, newest) == RunOutcome(
        run="etl-04", logical_date=day(4), finished_at=day(31)
    )
    assert last_outcome([], F, None) is None


def test_archiving_a_try_keeps_its_outcome_once_and_at_most_ten() -> None:
    record = TaskRecord(name="a", state=TaskState.SCHEDULED, try_number=1, pod="p-1")
    record.exit_code, record.started, record.finished = 3, day(0), day(1)
    archive_try(record)
    archive_try(record)  # once per try
    assert [t.to_wire() for t in record.tries or []] == [
        {
            "try": 1,
            "state": "failed",
            "exitCode": 3,
            "started": "2026-01-01T00:00:00Z",
            "finished": "2026-01-02T00:00:00Z",
            "pod": "p-1",
        }
    ]
    cleared = TaskRecord(name="b", state=TaskState.SUCCESS, try_number=2, exit_code=0)
    archive_try(cleared)
    assert cleared.tries and cleared.tries[0].state is TaskState.SUCCESS
    before_any = TaskRecord(name="c")
    archive_try(before_any)
    assert before_any.tries is None
    many = TaskRecord(name="d")
    for number in range(1, 15):
        many.try_number = number
        archive_try(many)
    assert [t.try_number for t in many.tries or []] == list(range(5, 15))
    assert len(many.tries or []) == MAX_EARLIER_TRIES
    archive_try(many, keep=2)
    assert len(many.tries or []) == 10  # try 14 is archived already
    many.try_number = 15
    archive_try(many, keep=2)
    assert [t.try_number for t in many.tries or []] == [14, 15]
    assert [earlier_tries_limit(n) for n in (1, 400, 401, 2000, 5000)] == [10, 10, 9, 2, 1]


def test_the_controller_defaults_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("SUCCESSFUL_RUNS_HISTORY_LIMIT", "FAILED_RUNS_HISTORY_LIMIT"):
        monkeypatch.delenv(f"KUBEDAG_{name}", raising=False)
    monkeypatch.delenv("KUBEDAG_RUN_TTL_AFTER_FINISHED", raising=False)
    monkeypatch.delenv("KUBEDAG_POD_GC", raising=False)
    assert history_from_env() == HistoryPolicy()  # keep every run, OnRunSuccess
    monkeypatch.setenv("KUBEDAG_SUCCESSFUL_RUNS_HISTORY_LIMIT", "100")
    monkeypatch.setenv("KUBEDAG_FAILED_RUNS_HISTORY_LIMIT", "0")
    monkeypatch.setenv("KUBEDAG_RUN_TTL_AFTER_FINISHED", "720h")
    monkeypatch.setenv("KUBEDAG_POD_GC", "Never")
    assert history_from_env() == HistoryPolicy(100, 0, timedelta(hours=720), PodGC.NEVER)
    monkeypatch.setenv("KUBEDAG_POD_GC", "Sometimes")
    with pytest.raises(ValueError, match="KUBEDAG_POD_GC='Sometimes': use one of OnRunSuccess"):
        history_from_env()
    monkeypatch.setenv("KUBEDAG_POD_GC", "")
    monkeypatch.setenv("KUBEDAG_FAILED_RUNS_HISTORY_LIMIT", "-1")
    with pytest.raises(ValueError, match="KUBEDAG_FAILED_RUNS_HISTORY_LIMIT='-1'"):
        history_from_env()
