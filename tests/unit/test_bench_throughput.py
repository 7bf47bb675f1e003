"""The single-step throughput loop (bench/throughput.py) against a simulated system: its
creates take a while, its runs finish a while after their create."""

import threading
import time
from collections.abc import Callable

import pytest

from bench.peers.scale import PEER_SCALES
from bench.scenarios import SCALES
from bench.throughput import Throughput, throughput_window


class SlowSystem:
    """Creates take `create_s`; a run finishes `run_s` after its create returned."""

    def __init__(self, create_s: float, run_s: float) -> None:
        self.create_s, self.run_s = create_s, run_s
        self.lock = threading.Lock()
        self.created_at: list[float] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.most_open = 0

    def create(self, i: int) -> str:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(self.create_s)
        with self.lock:
            self.in_flight -= 1
            self.created_at.append(time.time())
            self.most_open = max(self.most_open, len(self.created_at) - self.finished())
        return f"run-{i:04d}"

    def finished(self) -> int:
        now = time.time()
        return sum(1 for t in self.created_at if t + self.run_s <= now)

    def finished_between(self, start: float, stop: float) -> int:
        return sum(1 for t in self.created_at if start <= t + self.run_s <= stop)

    def wait_change(self, condition: Callable[[], bool], timeout: float) -> None:
        time.sleep(min(timeout, 0.005))


def measure(
    system: SlowSystem, creators: int, backlog: int = 1000, window_s: float = 0.5
) -> Throughput:
    return throughput_window(
        system.create,
        system.finished,
        system.wait_change,
        window_s,
        backlog,
        system.finished_between,
        creators,
    )


def test_four_creators_keep_four_creates_in_flight() -> None:
    one, four = SlowSystem(0.02, 0.01), SlowSystem(0.02, 0.01)
    sequential = measure(one, creators=1)
    concurrent = measure(four, creators=4)
    assert one.most_in_flight == 1
    assert four.most_in_flight == 4
    assert len(sequential.created) >= 1
    assert len(set(concurrent.created)) == len(concurrent.created)  # each name once


def test_the_backlog_bounds_the_runs_open_with_creates_in_flight_counted() -> None:
    system = SlowSystem(0.001, 0.2)
    result = measure(system, creators=4, backlog=10, window_s=0.5)
    assert system.most_open <= 10
    assert len(result.created) >= 10  # the backlog filled at least once
    assert result.completed_in_window <= len(result.created)


def test_a_failing_create_ends_the_window_with_its_error() -> None:
    def create(i: int) -> str:
        if i == 3:
            raise RuntimeError("HTTP 500")
        return f"run-{i}"

    with pytest.raises(RuntimeError, match="HTTP 500"):
        throughput_window(create, lambda: 0, lambda c, t: None, 5.0, 100, lambda a, b: 0, 2)


def test_kubedag_and_the_peers_create_with_the_same_number_of_creators() -> None:
    for scale in ("full", "reduced", "smoke"):
        assert SCALES[scale].single_task_creators == PEER_SCALES[scale].creators
