"""Slots under concurrency, against the API double: two run passes worked on at once never
see the same free slots (maxActiveTasks, pools), a freed slot goes to the first waiting task
in rank order whatever its run, a missing pool keeps a task scheduled with a message, and a
Pool's status counts its slots."""

import asyncio
from dataclasses import replace
from typing import Any, cast

from kubedag import API_VERSION
from kubedag.kube.client import Kube, custom_path
from kubedag.reconcilers.controller import Controller
from tests.unit.api_double import ApiDouble
from tests.unit.builders import T0, task
from tests.unit.test_reconcilers import NS, SETTINGS, World, dag_manifest, pod_path, run_async


class SlowApi(ApiDouble):
    """Creating a pod takes a moment, as over a network: other passes run meanwhile."""

    async def create(self, collection: str, manifest: dict[str, Any]) -> dict[str, Any] | None:
        await asyncio.sleep(0)
        return await super().create(collection, manifest)


class PoolWorld(World):
    def __init__(self, run_workers: int = 4, **settings: Any) -> None:
        self.api = SlowApi()
        self.now = T0
        self.controller = Controller(
            cast(Kube, self.api),
            replace(SETTINGS, run_workers=run_workers, **settings),
            now=lambda: self.now,
        )

    def apply_named_dag(self, name: str, *tasks: dict[str, Any], **spec: Any) -> None:
        manifest = dag_manifest(*tasks, **spec)
        manifest["metadata"]["name"] = name
        self.controller.on_dag_event("ADDED", self.api.put(custom_path("dags", NS, name), manifest))

    def create_dated_run(self, name: str, day: int, dag: str = "etl") -> tuple[str, str]:
        manifest = {
            "apiVersion": API_VERSION,
            "kind": "DagRun",
            "metadata": {"name": name, "namespace": NS},
            "spec": {
                "dagName": dag,
                "runType": "manual",
                "logicalDate": f"2026-01-{day:02d}T00:00:00Z",
            },
        }
        body = self.api.put(custom_path("dagruns", NS, name), manifest)
        self.controller.on_run_event("ADDED", body)
        return (NS, name)

    def apply_pool(self, name: str, slots: int) -> None:
        body = {
            "apiVersion": API_VERSION,
            "kind": "Pool",
            "metadata": {"name": name, "namespace": NS},
            "spec": {"slots": slots},
        }
        self.controller.on_pool_event("ADDED", self.api.put(custom_path("pools", NS, name), body))

    def active_pods(self) -> list[str]:
        return [
            name
            for name in self.pods()
            if self.api.objects[pod_path(name)].get("status", {}).get("phase")
            not in ("Succeeded", "Failed")
        ]

    def record(self, run: str, task_name: str) -> dict[str, Any]:
        body = self.api.objects[custom_path("dagruns", NS, run)]
        return next(r for r in body["status"]["tasks"] if r["name"] == task_name)


def test_max_active_tasks_holds_across_two_runs_worked_on_at_once() -> None:
    """The old bug: each pass counted the pod cache before its creates were seen, so two
    runs of a DAG with maxActiveTasks 2 created 4 pods."""

    async def scenario() -> None:
        world = PoolWorld()
        world.controller.start()
        world.apply_dag(task("a"), task("b"), task("c"), maxActiveTasks=2)
        world.create_run("r1"), world.create_run("r2")
        await world.settle()
        assert len(world.pods()) == 2
        await world.controller.stop()

    run_async(scenario)


def test_a_pool_holds_across_dags_and_runs_worked_on_at_once() -> None:
    async def scenario() -> None:
        world = PoolWorld()
        world.controller.start()
        world.apply_pool("db", 2)
        for dag in ("one", "two", "three"):
            world.apply_named_dag(dag, task("a", pool="db"), task("b", pool="db"))
            world.create_dated_run(f"{dag}-r", 1, dag)
        await world.settle()
        assert len(world.pods()) == 2
        await world.write_held()  # a run whose tasks all started holds its first write
        waiting = [
            world.record(f"{dag}-r", t)
            for dag in ("one", "two", "three")
            for t in ("a", "b")
            if world.record(f"{dag}-r", t)["state"] == "scheduled"
        ]
        assert len(waiting) == 4
        assert {r["message"] for r in waiting} == {"waiting for a free slot of pool 'db'"}
        await world.controller.stop()

    run_async(scenario)


def test_a_freed_slot_goes_to_the_highest_priority_then_oldest_waiting_task() -> None:
    async def scenario() -> None:
        world = PoolWorld(run_workers=1)
        world.controller.start()
        world.apply_pool("db", 1)
        world.apply_named_dag("low", task("a", pool="db"))
        world.apply_named_dag("high", task("a", pool="db", priorityWeight=5))
        world.create_dated_run("low-5", 5, "low")
        await world.settle()
        assert world.pods() == ["low-5-a-1"]  # alone: it takes the slot
        world.create_dated_run("low-3", 3, "low")
        world.create_dated_run("low-1", 1, "low")
        world.create_dated_run("high-9", 9, "high")
        await world.settle()
        assert world.active_pods() == ["low-5-a-1"]
        order = []
        for _ in range(3):
            running = world.active_pods()
            world.finish_pod(running[0])
            await world.settle()
            (started,) = set(world.active_pods()) - set(running)
            order.append(started)
        # priority 5 first, then the oldest logical dates
        assert order == ["high-9-a-1", "low-1-a-1", "low-3-a-1"]
        await world.controller.stop()

    run_async(scenario)


def test_a_task_naming_a_missing_pool_waits_scheduled_until_the_pool_exists() -> None:
    async def scenario() -> None:
        world = PoolWorld()
        world.controller.start()
        world.apply_dag(task("a", pool="gpu"))
        world.create_run("r1")
        await world.settle()
        assert world.pods() == []
        record = world.record("r1", "a")
        assert record["state"] == "scheduled"
        assert record["message"] == (
            "pool 'gpu' does not exist in namespace etl: the task waits until a Pool of that"
            " name is created"
        )
        world.apply_pool("gpu", 1)
        await world.settle()
        assert world.pods() == ["r1-a-1"]
        await world.controller.stop()

    run_async(scenario)


def test_max_active_tis_per_dag_and_parallelism() -> None:
    async def scenario() -> None:
        world = PoolWorld(parallelism=3)
        world.controller.start()
        world.apply_named_dag("x", task("a", maxActiveTisPerDag=1), task("b"))
        for day in (1, 2, 3):
            world.create_dated_run(f"x-{day}", day, "x")
        await world.settle()
        pods = world.pods()
        assert len(pods) == 3  # parallelism
        assert sum(p.endswith("-a-1") for p in pods) == 1  # one try of `a` at a time
        await world.controller.stop()

    run_async(scenario)


def test_the_pool_status_counts_used_scheduled_and_open_slots() -> None:
    async def scenario() -> None:
        world = PoolWorld()
        world.controller.start()
        world.apply_pool("db", 2)
        world.apply_dag(task("a", pool="db", poolSlots=2), task("b", pool="db"))
        world.create_run("r1")
        await world.settle()
        for _ in range(100):
            await asyncio.sleep(0)
            if not len(world.controller.pool_queue):
                break
        status = world.api.objects[custom_path("pools", NS, "db")]["status"]
        assert {k: v for k, v in status.items() if k.endswith("Slots")} == {
            "usedSlots": 2,
            "runningSlots": 0,
            "queuedSlots": 2,
            "scheduledSlots": 1,
            "openSlots": 0,
        }
        assert status["observedGeneration"] == 1
        await world.controller.stop()

    run_async(scenario)
