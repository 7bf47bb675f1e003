"""Airflow's figures from its metadata database: pure functions of the rows the harness reads
(bench/peers/airflow.py), matched to how the other systems' figures are measured.

- Chain: a hop is the next task's ``start_date`` minus the previous task's ``end_date`` (both
  written through the Execution API by the task's own supervisor); the hop to ``queued_dttm``
  (the scheduler's decision, before a worker process picks the task up) is given beside it.
- Runs due on the same minute: a run's creation is the commit of the transaction that
  inserted its ``dag_run`` row (PostgreSQL's commit timestamp, ``track_commit_timestamp``),
  the moment any other client can see it, as the harness's watch sees a DagRun, Job or
  Workflow; the run is due at its ``run_after`` (the minute's end: the trigger time of the
  cron timetable). ``queued_at`` is set when the scheduler builds the row, before the insert
  is flushed and the loop's transaction commits, so it reads early; ``start_date`` is when
  the run is moved to running, a later step. The lag by ``queued_at`` is given too."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from bench.peers.measure import cron_lag_metrics
from bench.stats import percentile, summarize


@dataclass(frozen=True)
class TaskRow:
    task_id: str
    state: str | None
    queued: datetime | None
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True)
class RunRow:
    dag_id: str
    run_after: datetime
    committed: datetime | None
    queued_at: datetime | None
    state: str | None


def _ms(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() * 1000


def chain_hops(rows: Sequence[TaskRow]) -> tuple[list[float], list[float]]:
    """(to the next task's start, to its queueing) in ms for each hop whose both ends ran;
    the task ids sort in step order (``step_000``...)."""
    ordered = sorted(rows, key=lambda r: r.task_id)
    to_start, to_queued = [], []
    for before, after in pairwise(ordered):
        if before.end is None:
            continue
        if after.start is not None:
            to_start.append(_ms(after.start, before.end))
        if after.queued is not None:
            to_queued.append(_ms(after.queued, before.end))
    return to_start, to_queued


def chain_figures(
    rows: Sequence[TaskRow], steps: int, run_start: datetime | None, run_end: datetime | None
) -> tuple[dict[str, float | int], list[float]]:
    hops, queued = chain_hops(rows)
    metrics: dict[str, float | int] = {
        "tasks": steps,
        "completed_tasks": sum(1 for r in rows if r.state == "success"),
        **summarize(hops, "hop_latency"),
        "hop_latency_p90_ms": percentile(hops, 90),
        "hop_to_queued_p50_ms": percentile(queued, 50),
        "hop_to_queued_p99_ms": percentile(queued, 99),
        "run_duration_s": (
            (run_end - run_start).total_seconds() if run_start and run_end else math.nan
        ),
    }
    return metrics, hops


def same_minute_figures(
    rows: Sequence[RunRow], dags: int, ticks: Sequence[datetime]
) -> tuple[dict[str, float | int], list[float]]:
    """The lag of the window's runs by commit time (the samples), the minutes skipped, and
    the lag by ``queued_at`` beside it."""
    committed = [(r.dag_id, r.run_after, r.committed.timestamp()) for r in rows if r.committed]
    metrics, lags = cron_lag_metrics(committed, dags, list(ticks))
    window = set(ticks)
    by_queued = [
        _ms(r.queued_at, r.run_after) for r in rows if r.queued_at and r.run_after in window
    ]
    metrics["lag_by_queued_at_p50_ms"] = percentile(by_queued, 50)
    metrics["lag_by_queued_at_p99_ms"] = percentile(by_queued, 99)
    metrics["runs_completed"] = sum(
        1 for r in rows if r.run_after in window and r.state == "success"
    )
    return metrics, lags


def stat_cpu_ticks(stat: str) -> tuple[int, int]:
    """(process group, CPU clock ticks of the process and of its reaped children) from
    ``/proc/<pid>/stat``: Airflow's work is spread over processes that come and go (executor
    workers, task supervisors, parsers), and a finished child's time lands in its parent's
    ``cutime``/``cstime`` when reaped."""
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces
    pgrp = int(fields[2])  # field 5 of proc(5)
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])  # fields 14 to 17
    return pgrp, utime + stime + cutime + cstime


def group_cpu_seconds(stats: Sequence[str], groups: set[int], ticks_per_second: int) -> float:
    """The CPU time of every live process in ``groups`` and of the children they reaped."""
    total = 0
    for stat in stats:
        pgrp, ticks = stat_cpu_ticks(stat)
        if pgrp in groups:
            total += ticks
    return total / ticks_per_second


DB_COUNTERS = ("xact_commit", "tup_inserted", "tup_updated", "tup_deleted")


def database_writes(
    before: Mapping[str, int], after: Mapping[str, int], tries: int
) -> dict[str, float | int]:
    """PostgreSQL's counters for Airflow's database over the window (``pg_stat_database``):
    Airflow's counterpart of the API writes the audit log counts for the others."""
    delta = {k: after[k] - before[k] for k in DB_COUNTERS}
    rows = delta["tup_inserted"] + delta["tup_updated"] + delta["tup_deleted"]
    return {
        "db_commits": delta["xact_commit"],
        "db_rows_written": rows,
        "db_commits_per_try": delta["xact_commit"] / tries if tries else math.nan,
        "db_rows_written_per_try": rows / tries if tries else math.nan,
    }
