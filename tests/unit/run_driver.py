"""Drive a run through the engine to its end, each task's pod ending at once, as the
controller would feed it: for tests of what a whole run decides."""

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from kubedag.core.clearing import apply_request
from kubedag.core.run_engine import advance, start
from kubedag.core.snapshot import Snapshot
from kubedag.models.dagrun import DagRun, RunRequest, RunState, TaskRecord, TaskState
from tests.unit.builders import T0, pod, running_run


def run_through(
    snapshot: Snapshot,
    *,
    exits: Mapping[str, int] | None = None,
    outputs: Mapping[str, dict[str, Any]] | None = None,
    run: DagRun | None = None,
    passes: int = 40,
) -> DagRun:
    """Each started task's pod ends with `exits[task]` (default 0) and writes
    `outputs[task]` (default none) as its termination message."""
    run = run or running_run(snapshot)
    now = T0
    if run.status.state is RunState.QUEUED:
        run.status = start(run.status, now)
    for _ in range(passes):
        pods = {}
        for record in run.status.tasks:
            if record.state in (TaskState.QUEUED, TaskState.RUNNING) and record.pod:
                code = (exits or {}).get(record.name, 0)
                phase = "Succeeded" if code == 0 else "Failed"
                output = (outputs or {}).get(record.name)
                message = None if output is None else json.dumps(output)
                pods[record.pod] = pod(record.pod, phase, code, output=message)
        given = run.model_dump()
        decision = advance(run, snapshot, pods=pods, now=now, task_slots=16)
        assert run.model_dump() == given, "advance changed the run it was given"
        run = run.model_copy(update={"status": decision.status})
        if run.status.state is not RunState.RUNNING:
            break
        now += timedelta(seconds=1)
    return run


def task_states(run: DagRun) -> dict[str, str]:
    return {r.name: r.state.value for r in run.status.tasks}


def record_of(run: DagRun, name: str) -> TaskRecord:
    return next(r for r in run.status.tasks if r.name == name)


def requested(run: DagRun, snapshot: Snapshot, **request: Any) -> DagRun:
    """The run after a clear or mark request (`action`, `tasks`, ...) was applied."""
    run = run.model_copy(deep=True)
    request_id = f"r{len(run.status.requests) + 1}"
    run.spec.request = RunRequest.model_validate({"id": request_id, **request})
    outcome = apply_request(run, snapshot, T0 + timedelta(hours=1))
    assert outcome is not None
    run.status = outcome.status
    return run
