"""Carries out `core.write_timing`: a run's status is written at once, or a moment later when
its only news is that the run or its tasks started or got their first pods, so a short task's
run costs one write for its start and its end (docs/design.md, "A run's start waits for
news")."""

import logging
from datetime import datetime
from typing import Any

from kubedag.core import run_engine, write_timing
from kubedag.models.dagrun import DagRun
from kubedag.reconcilers.batching import HeldStatuses, WriteBatches
from kubedag.reconcilers.caches import NamespacedName
from kubedag.reconcilers.informer import Informer
from kubedag.reconcilers.status import StatusWriter

log = logging.getLogger(__name__)


class RunStatusWrites:
    def __init__(self, status: StatusWriter, informer: Informer) -> None:
        self.status = status
        self.informer = informer
        self.batches: WriteBatches[NamespacedName] = WriteBatches(write_timing.STARTED_WRITE_DELAY)
        # A status held (a run's start, or a launch after a wait): the informer's copy
        # carries it meanwhile.
        self.held: HeldStatuses[NamespacedName] = HeldStatuses()
        # When a held run was first seen with a task running (`write_timing.held_write_delay`).
        self.first_running: dict[NamespacedName, datetime] = {}

    def resolve(self, key: NamespacedName, body: dict[str, Any]) -> dict[str, Any]:
        """The body a pass works on (`HeldStatuses.resolve`), back in the informer."""
        resolved = self.held.resolve(key, body)
        if resolved is not body:
            self.informer.put_run(key, resolved)
        return resolved

    def forget(self, key: NamespacedName) -> None:
        self.batches.written(key)
        self.held.release(key)
        self.first_running.pop(key, None)

    async def write(
        self,
        run: DagRun,
        body: dict[str, Any],
        decision: run_engine.RunDecision,
        now: datetime,
        *,
        pinning: bool,
        settled: bool,
    ) -> datetime | None:
        """Write the pass's status, or hold it until the time returned. `pinning`: the run's
        first pass; `settled`: its pods were made as decided (none refused or made before)."""
        key = run.key
        if not self.informer.knows("DagRun", key):
            return None  # deleted while the pass ran: nothing to write, nothing to keep
        new_status = decision.status.to_wire()
        stored = self.held.stored_status(key, body)
        if pinning:
            waits = holds = settled and write_timing.start_may_wait(decision)
        elif stored is None and settled and write_timing.launch_may_wait(run.status, decision):
            waits = holds = True
        else:
            waits = write_timing.news_may_wait(run.status, decision, held=stored is not None)
            holds = False
        delay = None
        if waits and (holds or stored is not None):
            # A held run's news that may wait is the clock or tasks that started running.
            if not holds and run.status.tasks != decision.status.tasks:
                self.first_running.setdefault(key, now)
            since = self.batches.open(key, now)
            delay = write_timing.held_write_delay(since, self.first_running.get(key))
        if waits and not self.batches.due(key, now, delay):
            if holds:
                self.informer.put_run(key, self.held.hold(key, body, new_status))
            return self.batches.when(key) or now
        if stored is not None or new_status != body.get("status"):
            # A Conflict goes to reconcile, which looks again with fresh data; a failed write
            # leaves the batch due and the status held, so the next pass writes at once.
            version = body["metadata"]["resourceVersion"]
            await self.status.write(key, new_status, version, stored_status=stored)
            if decision.status.state is not run.status.state:
                log.info("run %s/%s is %s", run.namespace, run.name, decision.status.state)
        self.forget(key)
        return None
