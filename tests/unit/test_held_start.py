"""A run's first write (pinned and started, its first pods made) is held until
STARTED_WRITE_DELAY after one of its tasks is seen running, START_HOLD_LIMIT at most: a run
whose tasks end sooner costs one status write, and meanwhile the controller's copy of the run
carries the held status, so its passes and its DAG's pass see it started
(core/write_timing.py, reconcilers/run_writes.py, docs/design.md "A run's start waits for
news"). So is a later pass that only makes the first pods of tasks that waited, for a pool
slot say."""

from dataclasses import dataclass
from datetime import timedelta

import pytest

from kubedag.core import run_engine, write_timing
from kubedag.core.pools import Candidate
from kubedag.core.run_engine import RunDecision
from kubedag.core.task_launch import TaskLaunch
from kubedag.core.write_timing import START_HOLD_LIMIT, STARTED_WRITE_DELAY
from kubedag.models.dagrun import DagRunStatus, RunState
from tests.unit.builders import T0, task
from tests.unit.test_pool_reconcilers import PoolWorld
from tests.unit.test_reconcilers import NS, World, run_async, run_path


def status_writes(world: World, run: str = "r1") -> int:
    return world.api.writes.count(("PATCH", run_path(run) + "/status"))


def test_a_run_whose_task_ends_within_the_delay_is_written_once() -> None:
    async def scenario() -> None:
        world = World()
        world.apply_dag()
        key = world.create_run("r1")
        assert await world.controller.runs.reconcile(key) == T0 + START_HOLD_LIMIT
        assert world.pods() == ["r1-a-1"] and status_writes(world) == 0
        seen = world.controller.informer.run(key)
        assert seen is not None and seen["status"]["state"] == "running"  # what passes read
        assert world.controller.informer.runs.get(NS, "etl", "r1").state is RunState.RUNNING
        world.now += timedelta(seconds=1)
        world.finish_pod("r1-a-1")
        assert await world.controller.runs.reconcile(key) is None
        stored = world.api.objects[run_path("r1")]["status"]
        assert (stored["state"], stored["startTime"]) == ("success", "2026-01-02T00:00:00Z")
        assert [(t["name"], t["state"]) for t in stored["tasks"]] == [("a", "success")]
        assert status_writes(world) == 1
        assert len(world.controller.runs.writes.held) == 0

    run_async(scenario)


def test_a_held_start_is_written_when_due_and_the_end_once_more() -> None:
    async def scenario() -> None:
        world = World()
        world.apply_dag()
        key = world.create_run("r1")
        await world.controller.runs.reconcile(key)
        world.now += timedelta(seconds=1)
        assert await world.controller.runs.reconcile(key) == T0 + START_HOLD_LIMIT
        assert status_writes(world) == 0  # nothing new: still held
        world.now = T0 + START_HOLD_LIMIT  # its pod never ran: the limit
        assert await world.controller.runs.reconcile(key) is None
        assert world.state("r1") == "running" and status_writes(world) == 1
        world.watch_run("r1")  # the echo
        world.finish_pod("r1-a-1")
        await world.controller.runs.reconcile(key)
        assert world.state("r1") == "success" and status_writes(world) == 2

    run_async(scenario)


def test_a_held_start_waits_for_its_pod_to_run_then_the_delay() -> None:
    async def scenario() -> None:
        world = World()
        world.apply_dag()
        key = world.create_run("r1")
        await world.controller.runs.reconcile(key)
        world.now = T0 + timedelta(seconds=5)  # scheduled late, on a busy node
        world.run_pod("r1-a-1")
        assert await world.controller.runs.reconcile(key) == world.now + STARTED_WRITE_DELAY
        world.now += timedelta(seconds=1)
        # Seen running again (a re-list): the delay still counts from the first sight.
        assert await world.controller.runs.reconcile(key) == T0 + timedelta(seconds=7)
        assert status_writes(world) == 0
        world.finish_pod("r1-a-1")
        assert await world.controller.runs.reconcile(key) is None
        assert world.state("r1") == "success" and status_writes(world) == 1

    run_async(scenario)


def test_a_held_start_whose_task_runs_on_is_written_running_after_the_delay() -> None:
    async def scenario() -> None:
        world = World()
        world.apply_dag()
        key = world.create_run("r1")
        await world.controller.runs.reconcile(key)
        world.now = T0 + timedelta(seconds=9)
        world.run_pod("r1-a-1")
        assert await world.controller.runs.reconcile(key) == T0 + START_HOLD_LIMIT  # capped
        world.now = T0 + START_HOLD_LIMIT
        assert await world.controller.runs.reconcile(key) is None
        stored = world.api.objects[run_path("r1")]["status"]
        assert stored["state"] == "running" and stored["tasks"][0]["state"] == "running"
        assert status_writes(world) == 1
        assert not world.controller.runs.writes.first_running  # forgotten once written

    run_async(scenario)


@dataclass(frozen=True)
class DelayCase:
    name: str
    first_running_after: timedelta | None
    delay: timedelta


DELAY_CASES = [
    DelayCase("no task seen running yet: the limit", None, START_HOLD_LIMIT),
    DelayCase("seen running at once", timedelta(0), STARTED_WRITE_DELAY),
    DelayCase(
        "seen running 3 s in: 2 s more",
        timedelta(seconds=3),
        timedelta(seconds=3) + STARTED_WRITE_DELAY,
    ),
    DelayCase("seen running 9 s in: the limit", timedelta(seconds=9), START_HOLD_LIMIT),
]


@pytest.mark.parametrize("case", DELAY_CASES, ids=lambda c: c.name)
def test_held_write_delay(case: DelayCase) -> None:
    first = None if case.first_running_after is None else T0 + case.first_running_after
    assert write_timing.held_write_delay(T0, first) == case.delay


def test_a_change_to_the_spec_while_held_keeps_the_held_status() -> None:
    async def scenario() -> None:
        world = World()
        world.apply_dag()
        key = world.create_run("r1")
        await world.controller.runs.reconcile(key)
        labelled = world.api.objects[run_path("r1")]
        labelled["metadata"]["labels"]["team"] = "sales"
        world.controller.on_run_event("MODIFIED", world.api.put(run_path("r1"), labelled))
        world.finish_pod("r1-a-1")
        assert await world.controller.runs.reconcile(key) is None
        stored = world.api.objects[run_path("r1")]
        assert stored["status"]["state"] == "success" and stored["metadata"]["labels"]["team"]
        assert status_writes(world) == 1
        assert world.api.writes.count(("POST", "/api/v1/namespaces/etl/pods/r1-a-1")) == 1

    run_async(scenario)


def test_a_status_written_by_another_writer_ends_the_hold_and_no_pod_is_made_twice() -> None:
    async def scenario() -> None:
        world = World()
        world.apply_dag()
        key = world.create_run("r1")
        await world.controller.runs.reconcile(key)
        # A controller that took over the run (a shard's failover) wrote its status.
        taken = world.api.objects[run_path("r1")]
        taken["status"] = {"state": "queued"}
        world.controller.on_run_event("MODIFIED", world.api.put(run_path("r1"), taken))
        assert len(world.controller.runs.writes.held) == 0
        seen = world.controller.informer.run(key)
        assert seen is not None and seen["status"] == {"state": "queued"}
        await world.controller.runs.reconcile(key)
        assert status_writes(world) == 0
        assert world.pods() == ["r1-a-1"]
        assert world.api.writes.count(("POST", "/api/v1/namespaces/etl/pods/r1-a-1")) == 1

    run_async(scenario)


def test_the_watch_delivering_the_stored_run_again_keeps_the_held_status_in_view() -> None:
    async def scenario() -> None:
        world = World()
        world.apply_dag()
        key = world.create_run("r1")
        created = dict(world.api.objects[run_path("r1")])  # as created: unadopted, older
        await world.controller.runs.reconcile(key)
        stored = dict(world.api.objects[run_path("r1")])  # adopted: the held status's base
        for late in (created, stored):  # the creation's event late; a re-list
            world.controller.on_run_event("MODIFIED", late)
            seen = world.controller.informer.run(key)
            assert seen is not None and seen["status"]["state"] == "running"
            assert world.controller.informer.runs.get(NS, "etl", "r1").state is RunState.RUNNING
        world.finish_pod("r1-a-1")
        await world.controller.runs.reconcile(key)
        assert world.state("r1") == "success" and status_writes(world) == 1

    run_async(scenario)


def test_the_dag_counts_a_held_run_as_running() -> None:
    async def scenario() -> None:
        world = World()
        world.controller.start()
        world.apply_dag(maxActiveRuns=1)
        world.create_run("r1")
        world.create_run("r2")
        await world.settle()
        assert world.pods() == ["r1-a-1"]
        assert world.state("r1") is None  # held
        assert world.state("r2") == "queued"  # not started: the held run has the slot
        await world.write_held()
        assert world.state("r1") == "running"
        await world.controller.stop()

    run_async(scenario)


def test_a_first_pass_with_a_task_waiting_for_a_slot_writes_at_once() -> None:
    async def scenario() -> None:
        world = World()
        world.apply_dag(task("a"), task("b"), maxActiveTasks=1)
        key = world.create_run("r1")
        assert await world.controller.runs.reconcile(key) is None
        assert world.state("r1") == "running" and status_writes(world) == 1

    run_async(scenario)


@dataclass(frozen=True)
class Case:
    name: str
    decision: RunDecision
    waits: bool


def _launch() -> TaskLaunch:
    return object.__new__(TaskLaunch)  # never read: only counted


RUNNING = DagRunStatus.model_validate(
    {"state": "running", "tasks": [{"name": "a", "state": "queued", "try": 1, "pod": "p"}]}
)
CHAIN = DagRunStatus.model_validate(
    {
        "state": "running",
        "tasks": [
            {"name": "a", "state": "queued", "try": 1, "pod": "p"},
            {"name": "b", "state": "none"},
        ],
    }
)
WAITING = DagRunStatus.model_validate(
    {
        "state": "running",
        "tasks": [
            {"name": "a", "state": "queued", "try": 1, "pod": "p"},
            {"name": "b", "state": "scheduled", "message": "waiting for a free slot"},
        ],
    }
)

CASES = [
    Case("started, its first pod made", RunDecision(RUNNING, [_launch()]), True),
    Case("downstream tasks not due yet", RunDecision(CHAIN, [_launch()]), True),
    Case("no pod made: nothing runs yet to wait for", RunDecision(RUNNING), False),
    Case("a task with a reason to show", RunDecision(WAITING, [_launch()]), False),
    Case(
        "an Event to post",
        RunDecision(RUNNING, [_launch()], events=[run_engine.RunEvent("Normal", "X", "y")]),
        False,
    ),
    Case("a pod to delete", RunDecision(RUNNING, [_launch()], ["old"]), False),
    Case(
        "queued (no room under maxActiveRuns)",
        RunDecision(DagRunStatus(state=RunState.QUEUED), [_launch()]),
        False,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_start_may_wait(case: Case) -> None:
    assert write_timing.start_may_wait(case.decision) is case.waits


async def one_slot_two_runs() -> PoolWorld:
    """A Pool of one slot and two runs of a one-task DAG that takes it: r1 has the slot, r2
    waits for it."""
    world = PoolWorld(run_workers=1)
    world.controller.start()
    world.apply_pool("db", 1)
    world.apply_named_dag("etl", task("a", pool="db"))
    world.create_dated_run("r1", 1)
    await world.settle()
    world.create_dated_run("r2", 2)
    await world.settle()
    assert world.active_pods() == ["r1-a-1"]
    return world


def test_a_task_launched_when_a_slot_frees_is_written_once_for_its_launch_and_end() -> None:
    async def scenario() -> None:
        world = await one_slot_two_runs()
        assert world.record("r2", "a")["state"] == "scheduled"  # its reason: written at once
        assert status_writes(world, "r2") == 1
        world.finish_pod("r1-a-1")
        await world.settle()
        assert world.active_pods() == ["r2-a-1"]
        assert status_writes(world, "r2") == 1  # the launch is held
        seen = world.controller.informer.run((NS, "r2"))
        assert seen is not None and seen["status"]["tasks"][0]["state"] == "queued"
        world.finish_pod("r2-a-1")
        await world.settle()
        assert world.state("r2") == "success" and status_writes(world, "r2") == 2
        assert len(world.controller.runs.writes.held) == 0
        await world.controller.stop()

    run_async(scenario)


def test_a_held_launch_is_written_when_due() -> None:
    async def scenario() -> None:
        world = await one_slot_two_runs()
        world.finish_pod("r1-a-1")
        await world.settle()
        assert world.record("r2", "a")["state"] == "scheduled" and status_writes(world, "r2") == 1
        await world.write_held()
        assert world.record("r2", "a")["state"] == "queued" and status_writes(world, "r2") == 2
        await world.controller.stop()

    run_async(scenario)


def _status(*tasks: dict[str, object], **fields: object) -> DagRunStatus:
    return DagRunStatus.model_validate({"state": "running", "tasks": list(tasks), **fields})


SCHEDULED = {"name": "a", "state": "scheduled", "message": "waiting for a free slot"}
LAUNCHED = {"name": "a", "state": "queued", "try": 1, "pod": "r-a-1"}


@dataclass(frozen=True)
class LaunchCase:
    name: str
    old: DagRunStatus
    decision: RunDecision
    waits: bool


LAUNCH_CASES = [
    LaunchCase(
        "the slot freed: the waiting task's first pod",
        _status(SCHEDULED),
        RunDecision(_status(LAUNCHED), [_launch()]),
        True,
    ),
    LaunchCase(
        "a task that had no state yet",
        _status({"name": "a", "state": "none"}),
        RunDecision(_status(LAUNCHED), [_launch()]),
        True,
    ),
    LaunchCase(
        "a retry's pod",
        _status({"name": "a", "state": "up_for_retry", "try": 1, "pod": "r-a-1"}),
        RunDecision(_status({**LAUNCHED, "try": 2, "pod": "r-a-2"}), [_launch()]),
        False,
    ),
    LaunchCase(
        "a cleared task's next try",
        _status({"name": "a", "state": "none", "try": 1}),
        RunDecision(_status({**LAUNCHED, "try": 2, "pod": "r-a-2"}), [_launch()]),
        False,
    ),
    LaunchCase(
        "an upstream's end in the same pass",
        _status({"name": "u", "state": "running", "try": 1, "pod": "r-u-1"}, SCHEDULED),
        RunDecision(
            _status({"name": "u", "state": "success", "try": 1, "pod": "r-u-1"}, LAUNCHED),
            [_launch()],
        ),
        False,
    ),
    LaunchCase(
        "another task still waits for a slot",
        _status(SCHEDULED, {**SCHEDULED, "name": "b"}),
        RunDecision(
            _status(LAUNCHED, {**SCHEDULED, "name": "b"}),
            [_launch()],
            waiting=[object.__new__(Candidate)],
        ),
        False,
    ),
    LaunchCase(
        "an Event to post",
        _status(SCHEDULED),
        RunDecision(
            _status(LAUNCHED), [_launch()], events=[run_engine.RunEvent("Normal", "X", "y")]
        ),
        False,
    ),
    LaunchCase(
        "the run's own fields change too",
        _status(SCHEDULED),
        RunDecision(_status(LAUNCHED, progress="1/1"), [_launch()]),
        False,
    ),
    LaunchCase(
        "no pod made",
        _status(SCHEDULED),
        RunDecision(_status({**SCHEDULED, "message": "another reason"})),
        False,
    ),
]


@pytest.mark.parametrize("case", LAUNCH_CASES, ids=lambda c: c.name)
def test_launch_may_wait(case: LaunchCase) -> None:
    assert write_timing.launch_may_wait(case.old, case.decision) is case.waits
