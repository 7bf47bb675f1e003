"""``python -m bench.engine_pass``: the CPU of one run-engine pass (`run_engine.advance`), no
cluster and no controller: what a run's width costs each pass the controller makes of it.

Two runs, each pinned and started with every task launched that may start: a chain of
``--chain`` tasks (one queued, the rest waiting for it) and a fan-out of ``--fanout``
independent tasks (all queued). Each pass sees no news from the pods, the common case of
a pass woken by another task's event. Prints the median of ``--passes`` passes per run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from kubedag.core.run_engine import advance, pin, start
from kubedag.core.schedule import DataInterval
from kubedag.core.snapshot import Snapshot, build_snapshot
from kubedag.models.dag import DagSpec
from kubedag.models.dagrun import DagRun

STARTED = datetime(2026, 1, 2, tzinfo=UTC)


def snapshot(width: int, *, chain: bool) -> Snapshot:
    names = [f"task-{i:05d}" for i in range(width)]
    tasks = [
        {"name": n, "image": "busybox", "dependsOn": [names[i - 1]] if chain and i else []}
        for i, n in enumerate(names)
    ]
    return build_snapshot(DagSpec.model_validate({"tasks": tasks}))


def started_run(snap: Snapshot) -> DagRun:
    """A run pinned to ``snap`` and started, before its first pass."""
    logical = datetime(2026, 1, 1, tzinfo=UTC)
    run = DagRun.model_validate(
        {
            "metadata": {"name": "bench-run", "namespace": "bench", "uid": "u", "generation": 1},
            "spec": {
                "dagName": "bench",
                "runType": "manual",
                "logicalDate": "2026-01-01T00:00:00Z",
            },
        }
    )
    interval = DataInterval(logical, logical + timedelta(days=1))
    status = pin(
        run,
        snapshot_name="bench-v1",
        snapshot=snap,
        interval=interval,
        logical_date=logical,
        now=STARTED,
    )
    return run.model_copy(update={"status": start(status, STARTED)})


def launched_run(snap: Snapshot) -> DagRun:
    """A run pinned to ``snap`` after its first pass launched every task that could start."""
    run = started_run(snap)
    first = advance(run, snap, pods={}, now=STARTED)
    return run.model_copy(update={"status": first.status})


def pass_ms(snap: Snapshot, passes: int) -> float:
    """The median CPU time of a pass with no news, in ms."""
    run = launched_run(snap)
    times = []
    for _ in range(passes):
        began = time.process_time()
        advance(run, snap, pods={}, now=STARTED)
        times.append((time.process_time() - began) * 1000)
    return statistics.median(times)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engine_pass", description=__doc__)
    parser.add_argument("--chain", type=int, default=50)
    parser.add_argument("--fanout", type=int, default=10_000)
    parser.add_argument("--passes", type=int, default=20)
    args = parser.parse_args(argv)
    for label, width, chain in (("chain", args.chain, True), ("fan-out", args.fanout, False)):
        ms = pass_ms(snapshot(width, chain=chain), args.passes)
        print(f"{label} of {width:,} tasks: {ms:.3f} ms a pass (median of {args.passes})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
