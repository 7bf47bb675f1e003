"""Single-step runs per minute for a peer (Workflows, Jobs): created as fast as the system
works them off, at most a backlog open and a few creates in flight, for a window (kubedag's
single_task loop, bench/throughput.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.peers.measure import throughput_metrics
from bench.peers.peerrun import PeerResult, PeerRun
from bench.peers.scale import PeerScale
from bench.phases import one_task_run_phases
from bench.throughput import throughput_window


def single_runs(
    run: PeerRun,
    scale: PeerScale,
    path: str,
    body: Callable[[str], dict[str, Any]],
    run_label: str,
) -> PeerResult:
    """``run_label``: the label that names a pod's run (its Job, its Workflow)."""
    recorder = run.recorder
    run.begin()

    def create(i: int) -> str:
        name = f"single-{i:06d}"
        run.api.create(path, body(name))
        return name

    def wait_change(condition: Callable[[], bool], timeout: float) -> None:
        run.wait(lambda _r: condition(), timeout)

    def finished_between(start: float, stop: float) -> int:
        return sum(
            1
            for r in list(recorder.peer_runs.values())
            if r.finished is not None and start <= r.finished <= stop
        )

    outcome = throughput_window(
        create,
        lambda: recorder.finished_peer_runs,
        wait_change,
        scale.window_s,
        scale.backlog,
        finished_between,
        scale.creators,
    )
    run.wait(lambda r: r.finished_peer_runs >= len(outcome.created), scale.timeout_s)
    run.end()
    runs = list(recorder.peer_runs.values())
    latencies = [(r.finished - r.added) * 1000 for r in runs if r.finished]
    phases = one_task_run_phases(
        runs,
        list(recorder.peer_pods.values()),
        lambda pod: pod.labels.get(run_label, ""),
        scale.backlog,
    )
    return run.result(
        throughput_metrics(outcome, runs), phases, samples={"run_latency_ms": latencies}
    )
