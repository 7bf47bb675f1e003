"""The measurements the peers' scenarios share, as pure functions of the harness's records:
chain hops, a throughput window's figures, and the lag of runs due on the same minute.
Each matches how bench/scenarios.py measures kubedag's counterpart."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from bench.peers.watches import ObjectRecord
from bench.stats import percentile, rate_per_second, summarize
from bench.throughput import Throughput

COMPLETE_LABEL = "bench.kubedag.io/peer-task"
"""On every peer task pod: kwok's pod-complete-peer stage finishes the pods that carry it
(every container terminated with exit code 0, after the task duration)."""
TASK_IMAGE = "kubedag.io/bench-noop:0"  # never pulled: kwok runs no containers


def chain_hops_ms(pods: Iterable[ObjectRecord]) -> list[float]:
    """In a chain one pod runs at a time, so creation order is step order: each hop is the
    next pod's creation minus the previous pod's finish."""
    ordered = sorted(pods, key=lambda p: p.added)
    return [(b.added - a.finished) * 1000 for a, b in pairwise(ordered) if a.finished is not None]


def chain_metrics(pods: list[ObjectRecord], steps: int) -> dict[str, float | int]:
    hops = chain_hops_ms(pods)
    return {
        "tasks": steps,
        "completed_tasks": sum(1 for p in pods if p.phase == "Succeeded"),
        **summarize(hops, "hop_latency"),
    }


def fanout_metrics(
    pods: list[ObjectRecord], run: ObjectRecord | None, steps: int
) -> dict[str, float | int]:
    created = [p.added for p in pods]
    return {
        "tasks": steps,
        "completed_tasks": sum(1 for p in pods if p.phase == "Succeeded"),
        "pods_created_per_s": rate_per_second(created),
        "pod_creation_span_s": (max(created) - min(created)) if created else math.nan,
        "run_duration_s": (
            run.finished - run.added if run is not None and run.finished else math.nan
        ),
    }


def throughput_metrics(result: Throughput, runs: list[ObjectRecord]) -> dict[str, float | int]:
    latencies = [(r.finished - r.added) * 1000 for r in runs if r.finished is not None]
    return {
        "window_s": result.window_s,
        "runs_created": len(result.created),
        "runs_completed": sum(1 for r in runs if r.phase == "Succeeded"),
        "completed_runs_per_min": result.completed_in_window / result.window_s * 60,
        "run_latency_p50_ms": percentile(latencies, 50),
        "run_latency_p99_ms": percentile(latencies, 99),
    }


def next_ticks(now: datetime, margin_s: float, minutes: int) -> list[datetime]:
    """The first ``minutes`` minute boundaries at least ``margin_s`` after ``now``."""
    first = (now + timedelta(seconds=margin_s)).replace(second=0, microsecond=0)
    first += timedelta(minutes=1)
    return [first + timedelta(minutes=k) for k in range(minutes)]


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def cron_lag_metrics(
    runs: list[tuple[str, datetime, float]], owners: int, ticks: list[datetime]
) -> tuple[dict[str, float | int], list[float]]:
    """``runs``: (owner, scheduled time, creation seen) of each run created. The lag is the
    creation minus the scheduled minute; a (owner, minute) of the window without a run is a
    minute skipped."""
    window = set(ticks)
    seen = {(owner, due) for owner, due, _ in runs if due in window}
    lags = [(added - due.timestamp()) * 1000 for _, due, added in runs if due in window]
    expected = owners * len(ticks)
    metrics = {
        "dags": owners,
        "minutes": len(ticks),
        "runs_expected": expected,
        "runs_created": len(lags),
        "minutes_skipped": expected - len(seen),
        **summarize(lags, "scheduling_lag"),
    }
    return metrics, lags
