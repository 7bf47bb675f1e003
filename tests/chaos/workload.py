"""The chaos workload: two DAGs of five tasks (retries, a failing branch, notifications),
one scheduled with catchup over a fixed span of days, one run by a Backfill, and what the
stand-in kubelet makes of each task try (seeded, so a run can be repeated)."""

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

SCHEDULED_DAG = "chaos-daily"
BACKFILLED_DAG = "chaos-backfilled"
BACKFILL = "chaos-backfill"
HOOK_SECRET = "chaos-hooks"
FIRST_DAY = date(2025, 1, 1)


@dataclass(frozen=True)
class Shape:
    """How big and how fast: `scheduled` runs by catchup, `backfilled` by a Backfill;
    each task pod runs `task_seconds` (a range) before the kubelet ends it."""

    scheduled: int
    backfilled: int
    task_seconds: tuple[float, float]
    max_active_runs: int

    @property
    def runs(self) -> int:
        return self.scheduled + self.backfilled


FULL = Shape(scheduled=100, backfilled=30, task_seconds=(1.0, 4.0), max_active_runs=5)
SMOKE = Shape(scheduled=10, backfilled=2, task_seconds=(0.2, 0.5), max_active_runs=10)

# extract -> clean -> load -> report, and extract -> audit: report and audit are the leaves,
# so a failed audit (no retries) fails its run while report still runs.
LEAVES = {"report", "audit"}


def dag_spec(shape: Shape, *, scheduled: bool) -> dict[str, Any]:
    hook = {"secretKeyRef": {"name": HOOK_SECRET, "key": "url"}}
    last = FIRST_DAY + timedelta(days=shape.scheduled - 1)
    spec: dict[str, Any] = {
        "schedule": "@daily",
        "catchup": True,
        "maxActiveRuns": shape.max_active_runs,
        "maxActiveTasks": 64,
        # Pods stay, so the final listing completes the watch's record of creations.
        "podGC": "Never",
        "defaults": {
            "image": "busybox",
            "retries": 2,
            "retryDelay": "1s",
            "onRetry": [hook],
            "onFailure": [hook],
        },
        "onRunFailure": [hook],
        "onRunSuccess": [hook],
        "tasks": [
            {"name": "extract"},
            {"name": "clean", "dependsOn": ["extract"]},
            {"name": "load", "dependsOn": ["clean"], "retries": 1},
            {"name": "audit", "dependsOn": ["extract"], "retries": 0},
            {"name": "report", "dependsOn": ["load"], "retries": 1},
        ],
    }
    if scheduled:
        spec["startDate"] = FIRST_DAY.isoformat()
        spec["endDate"] = last.isoformat()
    else:
        spec["startDate"] = "2030-01-01"  # nothing scheduled: only the Backfill's runs
    return spec


def backfill_spec(shape: Shape) -> dict[str, Any]:
    last = FIRST_DAY + timedelta(days=shape.backfilled - 1)
    return {
        "dagName": BACKFILLED_DAG,
        "from": FIRST_DAY.isoformat(),
        "to": last.isoformat(),
        "maxActiveRuns": max(2, shape.max_active_runs // 2),
    }


@dataclass(frozen=True)
class Verdict:
    phase: str  # Succeeded or Failed
    seconds: float  # how long the pod runs first


# The chance that a try fails, by task and try number: extract and clean fail now and then
# on their first try (their retries succeed), audit fails for good in some runs.
FAILURE_ODDS = {("extract", 1): 0.25, ("clean", 1): 0.1, ("audit", 1): 0.15}


def verdict(seed: int, shape: Shape, run: str, task: str, try_number: int) -> Verdict:
    """What the kubelet makes of a try: the same for the same seed, whenever it is asked."""
    rng = random.Random(f"{seed}/{run}/{task}/{try_number}")
    failed = rng.random() < FAILURE_ODDS.get((task, try_number), 0.0)
    return Verdict("Failed" if failed else "Succeeded", rng.uniform(*shape.task_seconds))
