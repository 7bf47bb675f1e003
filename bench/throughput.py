"""Runs created as fast as a system works them off: the single-step throughput loop that
kubedag's single_task scenario and the peers' share.

At most ``backlog`` runs are open (created and not finished) and ``creators`` creates are
in flight at once, each on its own thread and connection, so that the harness's round trip
to a busy API server is not what bounds the figure (docs/performance.md, "`make bench` with
pod sweeps, held launches and four creators")."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass


@dataclass
class Throughput:
    window_s: float
    created: list[str]
    completed_in_window: int


def throughput_window(
    create: Callable[[int], str],
    finished: Callable[[], int],
    wait_change: Callable[[Callable[[], bool], float], None],
    window_s: float,
    backlog: int,
    finished_between: Callable[[float, float], int],
    creators: int,
) -> Throughput:
    """Create runs (``create(i)`` makes the i-th and returns its name) for ``window_s``, at
    most ``backlog`` unfinished (``finished()``: how many of them finished) and ``creators``
    creates in flight; ``wait_change(condition, timeout)`` waits for news of the runs. A
    create that fails ends the window with its error. The creates in flight when the window
    ends still count as created."""
    names: list[str] = []
    submitted = 0
    in_flight: set[Future[str]] = set()

    def open_runs() -> int:
        return submitted - finished()

    started = time.time()
    with ThreadPoolExecutor(creators, thread_name_prefix="bench-create") as pool:
        while time.time() < started + window_s:
            done = {f for f in in_flight if f.done()}
            names.extend(f.result() for f in done)
            in_flight -= done
            if open_runs() >= backlog:
                wait_change(lambda: open_runs() < backlog, 1.0)
            elif len(in_flight) >= creators:
                wait(
                    in_flight, timeout=started + window_s - time.time(), return_when=FIRST_COMPLETED
                )
            else:
                in_flight.add(pool.submit(create, submitted))
                submitted += 1
        stopped = time.time()
        names.extend(f.result() for f in in_flight)
    return Throughput(stopped - started, names, finished_between(started, stopped))
