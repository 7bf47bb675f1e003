"""The same-minute scenario for a peer's cron objects (CronJobs, CronWorkflows): create
them, wait for the minutes of the window, suspend them, wait for the window's runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bench.peers.measure import cron_lag_metrics, next_ticks, parse_time
from bench.peers.peerrun import PeerResult, PeerRun
from bench.peers.scale import PeerScale
from bench.peers.watches import ObjectRecord
from bench.session import rfc3339

LATE_WAIT_S = 75
"""How long after the window's last minute a late run is still waited for."""


def same_minute(
    run: PeerRun,
    scale: PeerScale,
    path: str,
    prefix: str,
    body: Callable[[str], dict[str, Any]],
    scheduled_annotation: str,
    owner: Callable[[ObjectRecord], str],
) -> PeerResult:
    n = scale.cron_objects
    run.begin()
    ticks = next_ticks(datetime.now(UTC), 5 + 0.03 * n, scale.cron_minutes)
    window = set(ticks)
    names = [f"{prefix}-{i:04d}" for i in range(n)]
    for name in names:
        run.api.create(path, body(name))
    due_of: dict[str, datetime | None] = {}

    def due(record: ObjectRecord) -> datetime | None:
        if record.name not in due_of:
            text = record.annotations.get(scheduled_annotation)
            due_of[record.name] = parse_time(text) if text else None
        return due_of[record.name]

    def in_window(recorder: Any) -> list[ObjectRecord]:
        return [r for r in list(recorder.peer_runs.values()) if due(r) in window]

    run.wait(
        lambda r: len(in_window(r)) >= n * len(ticks),
        ticks[-1].timestamp() - time.time() + LATE_WAIT_S,
    )
    for name in names:  # no more runs (deleting would let a garbage collector take them)
        run.api.request(
            "PATCH",
            f"{path}/{name}",
            {"spec": {"suspend": True}},
            content_type="application/merge-patch+json",
        )
    run.wait(lambda r: all(x.finished is not None for x in in_window(r)), scale.timeout_s)
    run.end()
    created = []
    for record in in_window(run.recorder):
        moment = due(record)
        assert moment is not None
        created.append((owner(record), moment, record.added))
    metrics, lags = cron_lag_metrics(created, n, ticks)
    return run.result(metrics, {"ticks": [rfc3339(t) for t in ticks]}, {"scheduling_lag_ms": lags})
