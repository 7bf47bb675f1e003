"""The keyed work queue: one worker per key at a time, re-runs after adds, timed wake-ups."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from kubedag.reconcilers.workqueue import WorkQueue


def now() -> datetime:
    return datetime.now(UTC)


async def until(condition: Callable[[], bool], limit: float = 10.0) -> None:
    """Wait for a condition instead of guessing a duration (a slow machine just waits longer)."""
    async with asyncio.timeout(limit):
        while not condition():
            await asyncio.sleep(0.005)


def test_a_key_is_never_processed_concurrently_and_adds_during_work_rerun_once() -> None:
    async def scenario() -> tuple[int, int, list[str]]:
        active: set[str] = set()
        overlaps = 0
        runs: list[str] = []
        gate = asyncio.Event()

        async def process(key: str) -> None:
            nonlocal overlaps
            if key in active:
                overlaps += 1
            active.add(key)
            runs.append(key)
            if len(runs) == 1:
                await gate.wait()
            active.discard(key)

        queue: WorkQueue[str] = WorkQueue("t", process, workers=4, now=now)
        queue.start()
        queue.add("run-a")
        await asyncio.sleep(0.01)
        for _ in range(5):
            queue.add("run-a")  # while it is being processed: coalesced into one more pass
        gate.set()
        await until(lambda: len(runs) == 2)
        await asyncio.sleep(0.05)  # room for a wrong third pass to show up
        await queue.stop()
        return overlaps, len(runs), runs

    overlaps, count, runs = asyncio.run(scenario())
    assert overlaps == 0
    assert count == 2 and runs == ["run-a", "run-a"]


def test_different_keys_run_in_parallel() -> None:
    async def scenario() -> int:
        running = 0
        peak = 0

        async def process(_: str) -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.02)
            running -= 1

        queue: WorkQueue[str] = WorkQueue("t", process, workers=3, now=now)
        queue.start()
        for key in ("a", "b", "c", "d"):
            queue.add(key)
        await until(lambda: peak == 3)
        await asyncio.sleep(0.05)
        await queue.stop()
        return peak

    assert asyncio.run(scenario()) == 3


def test_add_after_wakes_the_key_and_the_earliest_time_wins() -> None:
    async def scenario() -> list[str]:
        seen: list[str] = []

        async def process(key: str) -> None:
            seen.append(key)

        queue: WorkQueue[str] = WorkQueue("t", process, workers=1, now=now)
        queue.start()
        queue.add_after("late", now() + timedelta(seconds=30))
        queue.add_after("late", now() + timedelta(milliseconds=20))  # earlier: replaces
        queue.add_after("late", now() + timedelta(seconds=60))  # later: ignored
        queue.add_after("never", now() + timedelta(seconds=30))
        queue.forget("never")
        await until(lambda: seen == ["late"])
        await queue.stop()
        return seen

    assert asyncio.run(scenario()) == ["late"]


def test_a_failing_key_is_retried_with_backoff() -> None:
    async def scenario() -> int:
        attempts = 0

        async def process(_: str) -> None:
            nonlocal attempts
            attempts += 1
            if attempts < 3:
                raise RuntimeError("transient")

        queue: WorkQueue[str] = WorkQueue("t", process, workers=1, now=now)
        queue.start()
        queue.add("k")
        await until(lambda: attempts == 3)  # after backoffs of 0.1 s and 0.2 s
        await queue.stop()
        return attempts

    assert asyncio.run(scenario()) == 3


def test_drained_waits_until_no_key_waits_for_a_worker_or_the_limit() -> None:
    async def scenario() -> tuple[float, list[str], float]:
        release = asyncio.Event()
        order: list[str] = []

        async def process(key: str) -> None:
            order.append(key)
            await release.wait()

        queue: WorkQueue[str] = WorkQueue("t", process, workers=1, now=now)
        await queue.drained(5.0)  # nothing queued: returns at once
        queue.start()
        for key in ("a", "b"):
            queue.add(key)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await queue.drained(0.05)  # "b" waits behind "a": only the limit ends the wait
        limited = loop.time() - started
        waiter = asyncio.create_task(queue.drained(10.0))
        await asyncio.sleep(0.01)
        assert not waiter.done()
        release.set()  # "a" ends, "b" is taken by the worker: nothing waits any more
        started = loop.time()
        await waiter
        drained_after = loop.time() - started
        await queue.stop()
        return limited, order, drained_after

    limited, order, drained_after = asyncio.run(scenario())
    assert limited >= 0.05
    assert order == ["a", "b"]
    assert drained_after < 10.0


def test_a_gated_queue_takes_its_keys_only_after_the_gate_opens() -> None:
    async def scenario() -> list[str]:
        opened = asyncio.Event()
        log: list[str] = []

        async def gate() -> None:
            await opened.wait()

        async def process(key: str) -> None:
            log.append(key)

        queue: WorkQueue[str] = WorkQueue("t", process, workers=2, now=now, gate=gate)
        queue.start()
        queue.add("run-a")
        await asyncio.sleep(0.05)
        log.append("gate opens")
        queue.add("run-a")  # while it waits at the gate: one more pass afterwards
        opened.set()
        await until(lambda: log.count("run-a") == 2)
        await asyncio.sleep(0.05)
        await queue.stop()
        return log

    assert asyncio.run(scenario()) == ["gate opens", "run-a", "run-a"]


def test_add_soon_passes_a_lone_change_at_once_and_a_burst_once_per_interval() -> None:
    async def scenario() -> tuple[list[float], int, int]:
        passes: list[float] = []
        loop = asyncio.get_running_loop()

        async def process(key: str) -> None:
            passes.append(loop.time())

        queue: WorkQueue[str] = WorkQueue("t", process, workers=1, now=now)
        queue.start()
        began = loop.time()
        queue.add_soon("dag", 1.0)  # a lone change: processed at once
        await until(lambda: len(passes) == 1)
        for _ in range(50):  # a burst within the interval: one more pass, at its end
            queue.add_soon("dag", 1.0)
            await asyncio.sleep(0)
        await until(lambda: len(passes) == 2)
        await asyncio.sleep(0.3)
        tracked_before_forget = queue.tracked()
        queue.forget("dag")
        tracked_after = queue.tracked()
        await queue.stop()
        return [p - began for p in passes], tracked_before_forget, tracked_after

    passes, tracked, forgotten = asyncio.run(scenario())
    assert len(passes) == 2
    # Bounds far from each other, so a loaded machine cannot blur "at once" and "at the end".
    assert passes[0] < 0.5
    assert passes[1] >= 0.99  # the burst waited for the interval's end, as one pass
    assert (tracked, forgotten) == (1, 0)  # the key's last news is evicted with it


def test_add_soon_is_not_held_back_by_a_later_wake_up() -> None:
    async def scenario() -> list[str]:
        seen: list[str] = []

        async def process(key: str) -> None:
            seen.append(key)

        queue: WorkQueue[str] = WorkQueue("t", process, workers=1, now=now)
        queue.start()
        queue.add_after("dag", now() + timedelta(hours=1))  # its next schedule tick
        queue.add_soon("dag", 0.2)
        await until(lambda: seen == ["dag"])
        await queue.stop()
        return seen

    assert asyncio.run(scenario()) == ["dag"]


def test_an_urgent_key_goes_before_the_waiting_ones_and_runs_once() -> None:
    """A run woken for a freed slot passes the runs waiting for a worker; a waiting key made
    urgent moves up and is still processed once; an urgent add during its pass re-runs it
    urgently."""

    async def scenario() -> list[str]:
        runs: list[str] = []
        release = asyncio.Event()

        async def process(key: str) -> None:
            runs.append(key)
            if key == "busy":
                await release.wait()

        queue: WorkQueue[str] = WorkQueue("t", process, workers=1, now=now)
        queue.start()
        queue.add("busy")
        await until(lambda: runs == ["busy"])
        for key in ("a", "b", "c"):
            queue.add(key)
        queue.add("winner", urgent=True)
        queue.add("c", urgent=True)  # waiting already: promoted
        queue.add("busy", urgent=True)  # being processed: once more, urgently
        release.set()
        await until(lambda: len(runs) == 6)
        await asyncio.sleep(0.05)  # room for a wrong extra pass of "c" to show up
        await queue.stop()
        return runs

    assert asyncio.run(scenario()) == ["busy", "winner", "c", "busy", "a", "b"]
