"""The side-by-side scenarios' sizes at each bench scale."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PeerScale:
    chain_steps: int
    chain_steps_defaults: int
    """Argo at its defaults hops in about 10 s (its requeue time): fewer steps, the same
    per-hop figure, minutes less of `make bench`."""
    fanout_tasks: int
    window_s: float
    """Single-step runs (Workflows, Jobs) created for this long, at most ``backlog`` open."""
    backlog: int
    cron_objects: int
    cron_minutes: int
    """Minutes measured after the objects exist: one, the burst of every object due at once
    (the issue's figure); steady minutely runs are the fleet scenario's (``make bench-scale``)."""
    timeout_s: float
    creators: int = 4
    """Single-step creates in flight at once (bench/throughput.py): kubedag's twin is
    ``Scale.single_task_creators``."""


PEER_SCALES = {
    "full": PeerScale(
        chain_steps=50,
        chain_steps_defaults=10,
        fanout_tasks=2000,
        window_s=60,
        backlog=200,
        cron_objects=500,
        cron_minutes=1,
        timeout_s=900,
    ),
    "reduced": PeerScale(
        chain_steps=20,
        chain_steps_defaults=10,
        fanout_tasks=500,
        window_s=30,
        backlog=100,
        cron_objects=200,
        cron_minutes=1,
        timeout_s=600,
    ),
    "smoke": PeerScale(
        chain_steps=4,
        chain_steps_defaults=3,
        fanout_tasks=10,
        window_s=10,
        backlog=20,
        cron_objects=5,
        cron_minutes=1,
        timeout_s=180,
    ),
}
