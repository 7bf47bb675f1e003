"""A keyed work queue in the manner of client-go's: a key is never processed by two workers
at once, adds while it is processed make it run once more afterwards, failures back off, and
a pass returns when to look at its key again (as the CronJob controller's sync returns its
requeue-after), which `add_after` turns into a wake-up at that time instead of polling.
An `urgent` add goes before every key that waits (a run woken to take a freed slot)."""

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from kubedag.reconcilers.log_format import SCOPE, LogScope
from kubedag.reconcilers.metrics import QueueMetrics

Key = TypeVar("Key", bound=Hashable)
log = logging.getLogger(__name__)


class WorkQueue(Generic[Key]):
    def __init__(
        self,
        name: str,
        process: Callable[[Key], Awaitable[datetime | None]],
        *,
        workers: int = 4,
        now: Callable[[], datetime],
        max_backoff: float = 60.0,
        gate: Callable[[], Awaitable[None]] | None = None,
        scope: Callable[[Key], LogScope] | None = None,
    ) -> None:
        """`scope(key)`: the objects a pass over `key` concerns, for its log lines."""
        self.name = name
        self._process = process
        self._now = now
        self._workers = workers
        self._max_backoff = max_backoff
        # (0 urgent or 1, arrival, key): FIFO within each lane. A key promoted to urgent is
        # in it twice; the second time it comes out it is no longer queued and is skipped.
        self._queue: asyncio.PriorityQueue[tuple[int, int, Key]] = asyncio.PriorityQueue()
        self._arrivals = itertools.count()
        self._queued: set[Key] = set()
        self._urgent: set[Key] = set()
        self._dirty_urgent: set[Key] = set()
        self._active: set[Key] = set()
        self._dirty: set[Key] = set()
        self._timers: dict[Key, tuple[datetime, asyncio.TimerHandle]] = {}
        self._failures: dict[Key, int] = {}
        self._last_soon: dict[Key, datetime] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._gate = gate
        self.scope = scope
        self._metrics = QueueMetrics(name)
        self._added: dict[Key, float] = {}  # queued keys: when they were added
        self._drained = asyncio.Event()
        self._drained.set()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._worker(), name=f"{self.name}-worker-{i}")
            for i in range(self._workers)
        ]

    async def stop(self) -> None:
        for handle in (timer for _, timer in self._timers.values()):
            handle.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def add(self, key: Key, *, urgent: bool = False) -> None:
        if key in self._active:
            self._dirty.add(key)
            if urgent:
                self._dirty_urgent.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._added[key] = time.perf_counter()
            self._metrics.adds.inc()
            self._drained.clear()
            self._put(key, urgent)
        elif urgent and key not in self._urgent:
            self._put(key, urgent)

    def _put(self, key: Key, urgent: bool) -> None:
        if urgent:
            self._urgent.add(key)
        self._queue.put_nowait((0 if urgent else 1, next(self._arrivals), key))

    def add_after(self, key: Key, when: datetime) -> None:
        """Process `key` at `when`; an earlier pending wake-up wins over a later one."""
        pending = self._timers.get(key)
        if pending is not None:
            if pending[0] <= when:
                return
            pending[1].cancel()
        delay = max(0.0, (when - self._now()).total_seconds())
        loop = asyncio.get_running_loop()
        handle = loop.call_later(delay, self._fire, key)
        self._timers[key] = (when, handle)

    def add_soon(self, key: Key, within: float) -> None:
        """Process `key` now, or, if news came less than `within` seconds ago, once that
        interval ends: news that arrives many times a second (every run of a busy DAG
        changing) then costs one pass per interval, not one per change, and a lone change
        waits for nothing."""
        if key in self:
            return
        now, interval = self._now(), timedelta(seconds=within)
        last = self._last_soon.get(key)
        if last is None or now - last >= interval:
            self._last_soon[key] = now
            self.add(key)
        else:
            due = last + interval
            pending = self._timers.get(key)
            if pending is not None and pending[0] <= due:
                return  # the pass at the interval's end is set already
            self._last_soon[key] = due
            self.add_after(key, due)

    def _fire(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def forget(self, key: Key) -> None:
        pending = self._timers.pop(key, None)
        if pending is not None:
            pending[1].cancel()
        self._failures.pop(key, None)
        self._last_soon.pop(key, None)

    async def drained(self, limit: float) -> None:
        """Wait until no key waits for a worker (keys being processed do not count), or at
        most `limit` seconds."""
        if not self._drained.is_set():
            try:
                async with asyncio.timeout(limit):
                    await self._drained.wait()
            except TimeoutError:
                pass

    def depth(self) -> tuple[int, int]:
        """Keys waiting for a worker, and keys being processed."""
        return len(self._queued), len(self._active)

    def __len__(self) -> int:
        return len(self._queued) + len(self._active)

    def __contains__(self, key: object) -> bool:
        """Whether `key` will be processed without waiting for a timer."""
        return key in self._queued or key in self._dirty

    def tracked(self) -> int:
        """Keys with a pending wake-up or a failure count: per-object state that `forget`
        clears when the object is deleted."""
        return len(self._timers) + len(self._failures) + len(self._last_soon)

    async def _worker(self) -> None:
        while True:
            _, _, key = await self._queue.get()
            if key not in self._queued:
                continue  # the later of a promoted key's two entries
            self._queued.discard(key)
            self._urgent.discard(key)
            if not self._queued:
                self._drained.set()
            self._active.add(key)
            started = time.perf_counter()
            self._metrics.wait.observe(started - self._added.pop(key, started))
            scope = SCOPE.set(self.scope(key)) if self.scope is not None else None
            try:
                if self._gate is not None:
                    await self._gate()
                again = await self._process(key)
                self._failures.pop(key, None)
                if again is not None:
                    self.add_after(key, again)
            except asyncio.CancelledError:
                raise
            except Exception:
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                backoff = min(self._max_backoff, 0.1 * 2 ** (failures - 1))
                log.exception("%s: processing %s failed (attempt %d)", self.name, key, failures)
                self._metrics.retries.inc()
                asyncio.get_running_loop().call_later(backoff, self.add, key)
            finally:
                self._metrics.work.observe(time.perf_counter() - started)
                if scope is not None:
                    SCOPE.reset(scope)
                self._active.discard(key)
                if key in self._dirty:
                    self._dirty.discard(key)
                    self.add(key, urgent=key in self._dirty_urgent)
                self._dirty_urgent.discard(key)
