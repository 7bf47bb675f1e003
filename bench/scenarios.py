"""The scenarios (the soak in soak.py). Each runs against a fresh controller (see
session.py) and returns its figures; nothing here asserts a time: a missed target is a
finding, not a failure."""

from __future__ import annotations

import bisect
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from bench.api import custom_path
from bench.cluster import TaskOutcome
from bench.phases import one_task_run_phases
from bench.results import ScenarioResult
from bench.session import ScenarioRun, Session, dag_spec, rfc3339, task
from bench.soak import soak
from bench.stats import percentile, rate_per_second, summarize
from bench.throughput import throughput_window
from bench.watch import PodRecord, Recorder
from bench.wide import wide

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scale:
    name: str
    chain_tasks: int
    fanout_tasks: int
    many_dags: int
    many_dags_minutes: int
    catchup_years: int
    catchup_days: int
    """Used when ``catchup_years`` is 0 (the smoke scale's short catchup)."""
    catchup_max_active_runs: int
    backfill_years: int
    backfill_days: int
    """Used when ``backfill_years`` is 0 (the smoke scale's short backfill)."""
    backfill_max_active_runs: int
    single_task_window_s: float
    single_task_backlog: int
    api_cost_runs: int
    soak_cycles: int
    soak_dags: int
    soak_versions: int
    """Each soak DAG is created and then updated ``soak_versions - 1`` times."""
    soak_runs: int
    """Manual runs per soak cycle, spread evenly over the DAGs and their versions."""
    timeout_s: float
    """Upper bound on waiting for any one scenario's runs to finish."""
    single_task_creators: int = 4
    """Runs the single_task loop creates at once (bench/throughput.py)."""
    pool_runs: int = 500
    """Runs of a one-task DAG competing for one pool (the pool scenario)."""
    fleet_hourly_dags: int = 5000
    """Hourly DAGs beside the many_dags minute DAGs (the fleet scenario)."""
    fleet_minutes: int = 5
    """The fleet's window: longer than many_dags's, so that more of the hourly DAGs' spread
    minutes fall in it."""
    pool_slots: int = 10
    wide_tasks: int = 10_000
    """Tasks of the wide scenario's one run (the largest DAG kubedag accepts)."""
    wide_compact_tasks_over: int | None = None
    """The wide scenario's controller compacts the records of runs over this many tasks;
    None: the controller's default (1,000)."""


SCALES = {
    "full": Scale(
        name="full",
        chain_tasks=50,
        fanout_tasks=2000,
        many_dags=500,
        many_dags_minutes=1,
        catchup_years=3,
        catchup_days=0,
        # As the backfill's: at Airflow's default of 16 (and 16 tasks at once), runs of 1 s
        # tasks cannot pass 960 a minute (runs_per_min_bound), whatever the scheduler does.
        catchup_max_active_runs=32,
        backfill_years=3,
        backfill_days=0,
        backfill_max_active_runs=32,
        single_task_window_s=60,
        single_task_backlog=200,
        api_cost_runs=5,
        soak_cycles=3,
        soak_dags=500,
        soak_versions=4,
        soak_runs=5000,
        timeout_s=1800,
    ),
    # The side-by-side runs' middle size (bench/peers/scale.py has the peers' twin): the
    # shared scenarios large enough to compare, in about 20 minutes with every peer.
    "reduced": Scale(
        name="reduced",
        chain_tasks=20,
        fanout_tasks=500,
        many_dags=200,
        many_dags_minutes=1,
        catchup_years=0,
        catchup_days=100,
        catchup_max_active_runs=16,
        backfill_years=0,
        backfill_days=100,
        backfill_max_active_runs=32,
        single_task_window_s=30,
        single_task_backlog=100,
        api_cost_runs=1,
        soak_cycles=2,
        soak_dags=20,
        soak_versions=4,
        soak_runs=200,
        timeout_s=600,
        pool_runs=100,
        wide_tasks=2000,
        fleet_hourly_dags=1000,
        fleet_minutes=1,
    ),
    "smoke": Scale(
        name="smoke",
        chain_tasks=5,
        fanout_tasks=20,
        many_dags=3,
        many_dags_minutes=1,
        catchup_years=0,
        catchup_days=10,
        catchup_max_active_runs=16,
        backfill_years=0,
        backfill_days=10,
        backfill_max_active_runs=4,
        single_task_window_s=15,
        single_task_backlog=20,
        api_cost_runs=1,
        soak_cycles=2,
        soak_dags=5,
        soak_versions=4,
        soak_runs=20,
        timeout_s=180,
        pool_runs=30,
        wide_tasks=30,
        wide_compact_tasks_over=10,
        fleet_hourly_dags=20,
        fleet_minutes=1,
    ),
}


def _ms(seconds: float) -> float:
    return seconds * 1000


def _finish(
    run: ScenarioRun,
    name: str,
    parameters: dict[str, Any],
    metrics: dict[str, Any],
    details: dict[str, Any],
    samples: dict[str, list[float]],
) -> ScenarioResult:
    common, common_details = run.common_metrics()
    return ScenarioResult(
        name, parameters, {**metrics, **common}, {**details, **common_details}, samples
    )


# -- 1. chain ---------------------------------------------------------------------------------


def chain(session: Session, scale: Scale) -> ScenarioResult:
    """N sequential tasks: the latency from a task's pod finishing to the next one's pod
    being created, and the run's overhead beyond its tasks' own time."""
    n = scale.chain_tasks
    names = [f"t{i:03d}" for i in range(n)]
    with session.scenario("chain") as run:
        spec = dag_spec([task(t, [names[i - 1]] if i else []) for i, t in enumerate(names)])
        if session.notify_url:
            spec = run.notifying(spec, session.notify_url)
        dag = run.apply_dag("chain", spec)
        run.begin()
        run_name = "chain-manual-1"
        run.create_run(dag, run_name, datetime(2001, 1, 1, tzinfo=UTC))
        finished = run.wait_runs_finished([run_name], scale.timeout_s)
        run.end()
        record = run.recorder.runs[run_name]
        pods = {p.task: p for p in run.pods("chain")}
        hops = [
            _ms(pods[b].added - done)
            for a, b in pairwise(names)
            if a in pods and b in pods and (done := pods[a].finished) is not None
        ]
        own = [p.finished - p.running for p in pods.values() if p.finished and p.running]
        wall = (record.finished - record.added) if record.finished else math.nan
        task_time = sum(own)
        first = min((p.added for p in pods.values()), default=math.nan)
        starts = [_ms(p.running - p.bound) for p in pods.values() if p.running and p.bound]
        metrics = {
            "tasks": n,
            "completed_tasks": sum(1 for p in pods.values() if p.phase == "Succeeded"),
            **summarize(hops, "hop_latency"),
            "first_pod_latency_ms": _ms(first - record.added),
            "run_wall_s": wall,
            "task_time_s": task_time,
            "run_overhead_s": wall - task_time,
            "overhead_per_task_ms": _ms((wall - task_time) / n),
        }
        details = {
            "run_state": record.state,
            "finished_in_time": finished,
            "pod_start_p50_ms": percentile(starts, 50),
            "notify_url": session.notify_url or "",
        }
        return _finish(
            run,
            "chain",
            {"tasks": n},
            metrics,
            details,
            {"hop_latency_ms": hops},
        )


# -- 2. fan-out -------------------------------------------------------------------------------


def fanout(session: Session, scale: Scale) -> ScenarioResult:
    """One run of N independent tasks with the task limit raised: pod creation rate, time
    to finish, and the size of the DagRun object at the end."""
    n = scale.fanout_tasks
    with session.scenario("fanout") as run:
        dag = run.apply_dag(
            "fanout",
            dag_spec([task(f"t{i:04d}") for i in range(n)], maxActiveTasks=min(n, 10000)),
        )
        run.begin()
        run_name = "fanout-manual-1"
        run.create_run(dag, run_name, datetime(2001, 1, 1, tzinfo=UTC))
        finished = run.wait_runs_finished([run_name], scale.timeout_s)
        run.end()
        record = run.recorder.runs[run_name]
        pods = run.pods("fanout")
        created = [p.added for p in pods]
        body = run.api.get_bytes(custom_path("dagruns", run.namespace, run_name))
        status = json.loads(body).get("status") or {}
        origin = record.added
        metrics = {
            "tasks": n,
            "completed_tasks": sum(1 for p in pods if p.phase == "Succeeded"),
            "pods_created_per_s": rate_per_second(created),
            "pod_creation_span_s": (max(created) - min(created)) if created else math.nan,
            "run_duration_s": (record.finished - record.added) if record.finished else math.nan,
            "dagrun_bytes": len(body),
            "dagrun_status_bytes": len(json.dumps(status, separators=(",", ":"))),
        }
        details = {"run_state": record.state, "finished_in_time": finished}
        samples = {
            "pod_created_s": [p.added - origin for p in pods],
            "pod_running_s": [p.running - origin for p in pods if p.running],
            "pod_finished_s": [p.finished - origin for p in pods if p.finished],
            "run_recorded_finished_s": _expand(record.finished_tasks, origin),
        }
        return _finish(run, "fanout", {"tasks": n, "maxActiveTasks": n}, metrics, details, samples)


def _expand(steps: list[tuple[float, int]], origin: float) -> list[float]:
    """Event times from (time, cumulative count) steps: one time per counted item."""
    times: list[float] = []
    previous = 0
    for moment, count in steps:
        times += [moment - origin] * max(0, count - previous)
        previous = max(previous, count)
    return times


# -- 3. many DAGs -----------------------------------------------------------------------------


def _minute_floor(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def many_dags(session: Session, scale: Scale) -> ScenarioResult:
    """D DAGs on ``* * * * *`` for M minutes: how late each run is created after its
    interval ends, and what the controller costs meanwhile."""
    return _scheduled(session, scale, "many_dags", hourly=0, minutes=scale.many_dags_minutes)


def fleet(session: Session, scale: Scale) -> ScenarioResult:
    """The many_dags minute DAGs beside H hourly DAGs whose minutes are spread over the hour
    (a fleet at rest, most of it idle in any minute): the same lag, and what holding the
    whole fleet costs the controller (its peak RSS, its CPU per scheduled run)."""
    return _scheduled(
        session, scale, "fleet", hourly=scale.fleet_hourly_dags, minutes=scale.fleet_minutes
    )


def hourly_start(minute: int, after: datetime) -> datetime:
    """The startDate (and endDate) of an hourly DAG on ``{minute} * * * *``: an hour before
    its first tick at or after `after`, so that it runs once, at that tick, and never again
    (its next interval starts after its endDate). The fleet's hourly DAGs are created before
    the window is chosen, so a tick may fall before the window (that run is not counted),
    in it (counted) or after it (the scenario is over by then)."""
    tick = after.replace(second=0, microsecond=0, minute=minute)
    if tick < after:
        tick += timedelta(hours=1)
    return tick - timedelta(hours=1)


def _scheduled(
    session: Session, scale: Scale, name: str, *, hourly: int, minutes: int
) -> ScenarioResult:
    d = scale.many_dags
    names = [f"md-{i:04d}" for i in range(d)]
    with session.scenario(name) as run:
        applying = time.time()
        before_apply = run.request_totals()
        # The hourly DAGs first, each due once at its minute's next tick (from a minute on):
        # the window is chosen once they exist, so their number does not set how long the
        # scenario waits for it.
        after = datetime.now(UTC) + timedelta(minutes=1)
        hourly_begins = [hourly_start(i % 60, after) for i in range(hourly)]
        for i, begins in enumerate(hourly_begins):
            run.apply_dag(
                f"hourly-{i:05d}",
                dag_spec(
                    [task("only")],
                    schedule=f"{i % 60} * * * *",
                    startDate=rfc3339(begins),
                    endDate=rfc3339(begins),
                ),
            )
        # The first interval ends at the first minute boundary after the minute DAGs exist:
        # it starts a minute earlier, so no interval before it is due (startDate is its start).
        margin = timedelta(seconds=5 + 0.02 * d)
        first_end = _minute_floor(datetime.now(UTC) + margin) + timedelta(minutes=1)
        start_date = first_end - timedelta(minutes=1)
        ticks = [first_end + timedelta(minutes=k) for k in range(minutes)]
        tick_texts = {rfc3339(t) for t in ticks}
        hourly_due = sum(1 for b in hourly_begins if rfc3339(b + timedelta(hours=1)) in tick_texts)
        # The schedules stop after the window (a pause would also hold back the window's
        # runs still queued).
        end_date = rfc3339(ticks[-1] - timedelta(minutes=1))
        for dag_name in names:
            run.apply_dag(
                dag_name,
                dag_spec(
                    [task("only")],
                    schedule="* * * * *",
                    startDate=rfc3339(start_date),
                    endDate=end_date,
                ),
            )
        created_by = time.time()
        # As in every other scenario, the window opens on DAGs applied and answered: what
        # applying them cost (each one's validity and version snapshot, once per version) is
        # reported apart from what their runs cost.
        settled = run.wait_dags_observed(
            d + hourly, (first_end - datetime.now(UTC)).total_seconds() - 2
        )
        settled_by = time.time()
        apply_writes = run.controller_writes_since(before_apply)
        run.begin()
        log.info(
            "%s: %d DAGs created in %.1fs, answered in %.1fs%s; ticks %s..%s",
            name,
            d + hourly,
            created_by - applying,
            settled_by - applying,
            "" if settled else " (not all before the window)",
            rfc3339(ticks[0]),
            rfc3339(ticks[-1]),
        )

        def in_window(recorder: Recorder) -> list[Any]:
            return [r for r in recorder.runs.values() if r.interval_end in tick_texts]

        expected = d * minutes + hourly_due
        deadline_created = (ticks[-1] - datetime.now(UTC)).total_seconds() + 120

        def all_created(recorder: Recorder) -> bool:
            run.check_alive()
            return len(in_window(recorder)) >= expected

        run.recorder.wait_for(all_created, max(1.0, deadline_created))
        run.recorder.wait_for(
            lambda r: all(x.finished is not None for x in in_window(r)), scale.timeout_s
        )
        run.end()
        runs = in_window(run.recorder)
        lags = [
            _ms(r.added - datetime.fromisoformat(r.interval_end.replace("Z", "+00:00")).timestamp())
            for r in runs
        ]
        metrics = {
            "dags": d + hourly,
            "minutes": minutes,
            "runs_expected": expected,
            "runs_created": len(runs),
            "runs_completed": sum(1 for r in runs if r.state == "success"),
            **summarize(lags, "scheduling_lag"),
        }
        per_tick = {
            rfc3339(t): sorted(
                _ms(r.added - t.timestamp()) for r in runs if r.interval_end == rfc3339(t)
            )
            for t in ticks
        }
        details = {
            "dag_creation_s": round(created_by - applying, 3),
            "dags_answered_s": round(settled_by - applying, 3),
            "dags_answered_before_window": settled,
            "api_writes_per_dag_applied": round(apply_writes / (d + hourly), 3),
            "first_interval_end": rfc3339(ticks[0]),
            "lag_p99_ms_by_tick": {k: percentile(v, 99) for k, v in per_tick.items()},
        }
        result = _finish(
            run,
            name,
            {
                "dags": d,
                "hourly_dags": hourly,
                "minutes": minutes,
                "schedule": "* * * * *" + (", and M * * * * for M over the hour" if hourly else ""),
            },
            metrics,
            details,
            {"scheduling_lag_ms": lags},
        )
        cpu = float(result.metrics["controller_cpu_s"])
        result.metrics["controller_cpu_ms_per_run"] = 1000 * cpu / len(runs) if runs else math.nan
        return result


# -- 4. catchup -------------------------------------------------------------------------------


def catchup_max_active_tasks(scale: Scale) -> int:
    """As the backfill's DAG: room for every run's task (Airflow's default of 16 running
    tasks a DAG would hold 32 one-task runs to 16 at once)."""
    return max(scale.catchup_max_active_runs * 2, 16)


def runs_per_min_bound(max_active_runs: int, max_active_tasks: int, task_duration_ms: int) -> float:
    """The most one-task runs a minute can finish with ``max_active_runs`` runs and
    ``max_active_tasks`` tasks at once, each task running ``task_duration_ms``: the catchup's
    ceiling for any scheduler."""
    return min(max_active_runs, max_active_tasks) * 60_000 / task_duration_ms


def catchup(session: Session, scale: Scale) -> ScenarioResult:
    """A daily DAG whose startDate lies years back: how fast the missed runs are created
    and worked off under maxActiveRuns."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if scale.catchup_years:
        start = today.replace(year=today.year - scale.catchup_years)
    else:
        start = today - timedelta(days=scale.catchup_days)
    expected = (today - start).days  # intervals [day, day + 1) that have ended
    with session.scenario("catchup") as run:
        run.begin()
        origin = time.time()
        run.apply_dag(
            "catchup",
            dag_spec(
                [task("only")],
                schedule="@daily",
                startDate=start.date().isoformat(),
                maxActiveRuns=scale.catchup_max_active_runs,
                maxActiveTasks=catchup_max_active_tasks(scale),
            ),
        )

        def scheduled(recorder: Recorder) -> list[Any]:
            return [r for r in recorder.runs.values() if r.dag == "catchup"]

        def all_done(recorder: Recorder) -> bool:
            run.check_alive()
            return recorder.finished_count["catchup"] >= expected

        run.recorder.wait_for(all_done, scale.timeout_s)
        run.end()
        runs = scheduled(run.recorder)
        done = [r.finished for r in runs if r.finished is not None]
        completed = sum(1 for r in runs if r.state == "success")
        to_complete = (max(done) - origin) if done else math.nan
        metrics = {
            "runs_expected": expected,
            "runs_created": len(runs),
            "runs_completed": completed,
            "time_to_create_all_s": (max(r.added for r in runs) - origin) if runs else math.nan,
            "time_to_complete_all_s": to_complete,
            "runs_completed_per_min": completed / to_complete * 60 if done else math.nan,
            "runs_per_min_bound": runs_per_min_bound(
                scale.catchup_max_active_runs,
                catchup_max_active_tasks(scale),
                session.cluster.settings.task_duration_ms,
            ),
        }
        samples = {
            "run_created_s": [r.added - origin for r in runs],
            "run_finished_s": [t - origin for t in done],
        }
        pods = [p for p in run.recorder.pods.values() if p.dag == "catchup"]
        phases = one_task_run_phases(runs, pods, _pod_run, scale.catchup_max_active_runs)
        return _finish(
            run,
            "catchup",
            {
                "startDate": start.date().isoformat(),
                "schedule": "@daily",
                "maxActiveRuns": scale.catchup_max_active_runs,
                "maxActiveTasks": catchup_max_active_tasks(scale),
            },
            metrics,
            phases,
            samples,
        )


# -- 4b. backfill ------------------------------------------------------------------------------


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    """The most spans open at one moment (a span ending as another starts: not both)."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


def _pod_run(pod: PodRecord) -> str:
    return pod.run


def backfill(session: Session, scale: Scale) -> ScenarioResult:
    """A Backfill of a daily DAG over years of past dates with its own maxActiveRuns: every
    date exactly once, never more of its runs at once than its limit, runs per minute."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if scale.backfill_years:
        first = today.replace(year=today.year - scale.backfill_years)
    else:
        first = today - timedelta(days=scale.backfill_days)
    last = today - timedelta(days=1)  # the last interval that has ended
    expected = {rfc3339(first + timedelta(days=i + 1)) for i in range((today - first).days)}
    limit = scale.backfill_max_active_runs
    with session.scenario("backfill") as run:
        # startDate ahead: the schedule itself creates nothing; a backfill ignores startDate.
        run.apply_dag(
            "backfilled",
            dag_spec(
                [task("only")],
                schedule="@daily",
                startDate="2100-01-01",
                maxActiveTasks=max(limit * 2, 16),
            ),
        )
        run.begin()
        origin = time.time()
        backfill_path = custom_path("backfills", run.namespace)
        run.api.create(
            backfill_path,
            {
                "apiVersion": "kubedag.io/v1alpha1",
                "kind": "Backfill",
                "metadata": {"name": "years"},
                "spec": {
                    "dagName": "backfilled",
                    "from": first.date().isoformat(),
                    "to": last.date().isoformat(),
                    "maxActiveRuns": limit,
                },
            },
        )

        def runs_of(recorder: Recorder) -> list[Any]:
            return [r for r in recorder.runs.values() if r.dag == "backfilled"]

        def all_done(recorder: Recorder) -> bool:
            run.check_alive()
            return recorder.finished_count["backfilled"] >= len(expected)

        run.recorder.wait_for(all_done, scale.timeout_s)
        run.end()
        status = (run.api.get(f"{backfill_path}/years") or {}).get("status") or {}
        runs = runs_of(run.recorder)
        ends = [r.interval_end for r in runs]
        done = [r.finished for r in runs if r.finished is not None]
        completed = sum(1 for r in runs if r.state == "success")
        to_complete = (max(done) - origin) if done else math.nan
        spans = [(r.added, r.finished) for r in runs if r.finished is not None]
        metrics = {
            "runs_expected": len(expected),
            "runs_created": len(runs),
            "runs_completed": completed,
            "dates_missing": len(expected - set(ends)),
            "dates_doubled": len(ends) - len(set(ends)),
            "max_runs_at_once": _most_at_once(spans),
            "time_to_complete_all_s": to_complete,
            "runs_completed_per_min": completed / to_complete * 60 if done else math.nan,
        }
        pods = [p for p in run.recorder.pods.values() if p.dag == "backfilled"]
        details = {
            **one_task_run_phases(runs, pods, _pod_run, limit),
            "backfill_state": status.get("state"),
            "backfill_progress": status.get("progress"),
            "backfill_succeeded": (status.get("succeeded") or {}).get("count"),
        }
        samples = {
            "run_created_s": [r.added - origin for r in runs],
            "run_finished_s": [t - origin for t in done],
        }
        return _finish(
            run,
            "backfill",
            {
                "from": first.date().isoformat(),
                "to": last.date().isoformat(),
                "schedule": "@daily",
                "maxActiveRuns": limit,
            },
            metrics,
            details,
            samples,
        )


# -- 5. single-task runs ----------------------------------------------------------------------


def single_task(session: Session, scale: Scale, *, pod_gc: str | None = None) -> ScenarioResult:
    """Manual runs of a one-task DAG created as fast as the controller works them off
    (at most ``backlog`` unfinished at once), for a fixed window: completed runs per minute.
    ``pod_gc``: the DAG's podGC (default: the controller's, OnRunSuccess)."""
    window, backlog = scale.single_task_window_s, scale.single_task_backlog
    limits: dict[str, Any] = {"maxActiveRuns": 10000, "maxActiveTasks": 10000}
    with session.scenario("single_task") as run:
        spec = dag_spec([task("only")], **limits, **({"podGC": pod_gc} if pod_gc else {}))
        dag = run.apply_dag("single", spec)
        run.begin()
        base = datetime(2001, 1, 1, tzinfo=UTC)

        def create(i: int) -> str:
            name = f"single-manual-{i:06d}"
            run.create_run(dag, name, base + timedelta(seconds=i))
            return name

        def finished() -> int:
            return len(run.recorder.finished_runs("single"))

        def wait_change(condition: Callable[[], bool], timeout: float) -> None:
            run.recorder.wait_for(lambda _r: condition(), timeout)
            run.check_alive()

        def finished_between(start: float, stop: float) -> int:
            return sum(
                1
                for r in run.recorder.finished_runs("single")
                if r.finished is not None and start <= r.finished <= stop
            )

        outcome = throughput_window(
            create,
            finished,
            wait_change,
            window,
            backlog,
            finished_between,
            scale.single_task_creators,
        )
        names = outcome.created
        run.wait_runs_finished(names, scale.timeout_s)
        run.end()
        runs = [run.recorder.runs[n] for n in names if n in run.recorder.runs]
        latencies = [_ms(r.finished - r.added) for r in runs if r.finished is not None]
        metrics = {
            "window_s": outcome.window_s,
            "runs_created": len(names),
            "runs_completed": sum(1 for r in runs if r.state == "success"),
            "completed_runs_per_min": outcome.completed_in_window / outcome.window_s * 60,
            "run_latency_p50_ms": percentile(latencies, 50),
            "run_latency_p99_ms": percentile(latencies, 99),
        }
        return _finish(
            run,
            "single_task",
            {
                "window_s": window,
                "backlog": backlog,
                "creators": scale.single_task_creators,
                **({"pod_gc": pod_gc} if pod_gc else {}),
            },
            metrics,
            {
                "created_per_min": len(names) / outcome.window_s * 60,
                **one_task_run_phases(runs, run.pods("single"), _pod_run, backlog),
            },
            {"run_latency_ms": latencies},
        )


# -- 6. API cost ------------------------------------------------------------------------------


def api_cost(session: Session, scale: Scale) -> ScenarioResult:
    """A ten-task DAG (fan-out, fan-in, one task that fails its first try and is retried):
    the controller's API requests per task try, by the API server's own counters."""
    middle = [f"w{i}" for i in range(1, 8)]
    tasks = [
        task("start"),
        *[task(m, ["start"]) for m in middle],
        task(
            "flaky-w8", ["start"], outcome=TaskOutcome.FAILS_FIRST_TRY, retries=1, retryDelay="1s"
        ),
        task("end", [*middle, "flaky-w8"]),
    ]
    with session.scenario("api_cost") as run:
        dag = run.apply_dag("apicost", dag_spec(tasks))
        run.begin()
        names = [f"apicost-manual-{i}" for i in range(scale.api_cost_runs)]
        for i, name in enumerate(names):
            run.create_run(dag, name, datetime(2001, 1, 1, tzinfo=UTC) + timedelta(days=i))
        finished = run.wait_runs_finished(names, scale.timeout_s)
        run.end()
        states = [run.recorder.runs[n].state for n in names]
        metrics = {
            "runs": len(names),
            "tasks_per_run": len(tasks),
            "api_streams": 0,
        }
        result = _finish(
            run,
            "api_cost",
            {"runs": len(names), "tasks_per_run": len(tasks), "retried_tasks_per_run": 1},
            metrics,
            {"run_states": states, "finished_in_time": finished},
            {},
        )
        result.metrics["api_streams"] = result.details["api_streams"]
        return result


# -- 7. pool ----------------------------------------------------------------------------------


def pool(session: Session, scale: Scale) -> ScenarioResult:
    """R runs of a one-task DAG whose task takes a slot of one Pool of S slots: the most pods
    of the pool the harness's watch saw at once (never more than S), and how soon a freed
    slot is taken again (a pod finished to the next pod of the pool created)."""
    runs, slots = scale.pool_runs, scale.pool_slots
    with session.scenario("pool") as run:
        run.api.create(
            custom_path("pools", run.namespace),
            {
                "apiVersion": "kubedag.io/v1alpha1",
                "kind": "Pool",
                "metadata": {"name": "shared"},
                "spec": {"slots": slots},
            },
        )
        dag = run.apply_dag(
            "pooled",
            dag_spec([task("only", pool="shared")], maxActiveRuns=10000, maxActiveTasks=10000),
        )
        run.begin()
        base = datetime(2001, 1, 1, tzinfo=UTC)
        names = [f"pooled-manual-{i:05d}" for i in range(runs)]
        for i, name in enumerate(names):
            run.create_run(dag, name, base + timedelta(minutes=i))
        finished = run.wait_runs_finished(names, scale.timeout_s)
        run.end()
        pods = run.pods("pooled")
        reuse = slot_reuse_ms(pods, [run.recorder.runs[n].added for n in names])
        metrics = {
            "runs": runs,
            "pool_slots": slots,
            "runs_completed": sum(1 for n in names if run.recorder.runs[n].state == "success"),
            "max_pool_pods_at_once": most_at_once(pods),
            **summarize(reuse, "slot_reuse"),
        }
        details = {"finished_in_time": finished}
        return _finish(
            run,
            "pool",
            {"runs": runs, "pool_slots": slots},
            metrics,
            details,
            {
                "slot_reuse_ms": reuse,
                "pod_created_s": [p.added - run.window.started for p in pods],
                "pod_finished_s": [
                    p.finished - run.window.started for p in pods if p.finished is not None
                ],
            },
        )


def most_at_once(pods: list[Any]) -> int:
    """The most pods active (seen created, not yet seen finished) at one time; a finish and
    a creation seen at the same moment count the finish first."""
    changes = sorted(
        [(p.added, 1) for p in pods] + [(p.finished, -1) for p in pods if p.finished is not None]
    )
    most = active = 0
    for _, change in changes:
        active += change
        most = max(most, active)
    return most


def slot_reuse_ms(pods: list[Any], runs_added: list[float]) -> list[float]:
    """For each pod that finished while another run's task waited (its run created, its pod
    not yet), the time to the next pod of the pool created after it."""
    created = sorted(p.added for p in pods)
    finished = sorted(p.finished for p in pods if p.finished is not None)
    added = sorted(runs_added)
    latencies: list[float] = []
    j = 0
    for done in finished:
        waiting = bisect.bisect_right(added, done) - bisect.bisect_right(created, done)
        if waiting <= 0:
            continue
        j = max(j, bisect.bisect_right(created, done))
        if j == len(created):
            break
        latencies.append(_ms(created[j] - done))
        j += 1
    return latencies


SCENARIO_FUNCTIONS: dict[str, Callable[[Session, Scale], ScenarioResult]] = {
    "chain": chain,
    "fanout": fanout,
    "many_dags": many_dags,
    "fleet": fleet,
    "catchup": catchup,
    "backfill": backfill,
    "single_task": single_task,
    "api_cost": api_cost,
    "pool": pool,
    "soak": soak,
    "wide": wide,
}


def scale_parameters(scale: Scale) -> dict[str, Any]:
    return asdict(scale)
