"""History and cleanup carried out by the reconcilers, against the in-memory API double:
runs past the history limit deleted with their pods, podGC, unused snapshots."""

from dataclasses import replace
from datetime import datetime
from typing import cast

from kubedag.core.dag_scheduler import STATUS_BATCH_DELAY
from kubedag.core.history import HistoryPolicy
from kubedag.kube.client import Kube, core_path, custom_path
from kubedag.models.dag import PodGC
from kubedag.reconcilers.controller import Controller
from tests.unit.builders import task
from tests.unit.test_reconcilers import NS, SETTINGS, World, dag_path, run_async

JAN_4 = datetime.fromisoformat("2026-01-04T12:00:00+00:00")


def names(world: World, plural: str) -> list[str]:
    prefix = (custom_path(plural, NS) if plural == "dagruns" else core_path(plural, NS)) + "/"
    return sorted(p.removeprefix(prefix) for p in world.api.objects if p.startswith(prefix))


async def run_all(world: World) -> None:
    """Deliver the runs the DAG created (the watch would), let them start, finish their pods."""
    await world.settle()
    for name in names(world, "dagruns"):
        world.watch_run(name)
    await world.settle()
    for pod in world.pods():
        world.finish_pod(pod)
    await world.settle()


def test_a_history_limit_deletes_the_oldest_runs_with_their_pods_and_keeps_the_newest() -> None:
    async def scenario() -> None:
        world = World()
        world.now = JAN_4
        world.controller.start()
        world.apply_dag(schedule="@daily", startDate="2026-01-01", successfulRunsHistoryLimit=1)
        await run_all(world)
        assert names(world, "dagruns") == ["etl-20260103-0000"]
        assert world.pods() == ["etl-20260103-0000-a-1"]  # podGC Never (the test's default)
        selector = "kubedag.io/dagrun=etl-20260101-0000,app.kubernetes.io/managed-by=kubedag"
        assert ("DELETECOLLECTION", f"{core_path('pods', NS)}?{selector}") in world.api.writes
        # The scheduler's position is intact: nothing is created again.
        await world.controller.dags.reconcile((NS, "etl"))
        assert names(world, "dagruns") == ["etl-20260103-0000"]
        # The DAG's status remembers the last success (its batched write falls due).
        world.now += STATUS_BATCH_DELAY
        await world.controller.dags.reconcile((NS, "etl"))
        status = world.api.objects[dag_path()]["status"]
        assert status["lastSuccessfulRun"]["run"] == "etl-20260103-0000"
        assert "lastFailedRun" not in status
        await world.controller.stop()

    run_async(scenario)


def test_on_run_success_deletes_a_successful_run_s_pods_and_a_failed_run_keeps_its() -> None:
    async def scenario() -> None:
        world = World()
        world.controller.start()
        world.apply_dag(task("a"), podGC="OnRunSuccess")
        world.create_run("good"), world.create_run("bad")
        await world.settle()
        assert world.pods() == ["bad-a-1", "good-a-1"]
        world.finish_pod("good-a-1")
        world.finish_pod("bad-a-1", "Failed")
        await world.settle()
        assert (world.state("good"), world.state("bad")) == ("success", "failed")
        assert world.pods() == ["bad-a-1"]
        # Its outcome stays in the run's status.
        record = world.api.objects[custom_path("dagruns", NS, "good")]["status"]["tasks"][0]
        assert (record["state"], record["exitCode"], record["pod"]) == ("success", 0, "good-a-1")
        await world.controller.stop()

    run_async(scenario)


def test_on_task_success_deletes_a_task_s_pods_while_the_run_goes_on() -> None:
    async def scenario() -> None:
        world = World()
        world.controller.start()
        world.apply_dag(task("a"), task("b", "a"), podGC="OnTaskSuccess")
        world.create_run("r1")
        await world.settle()
        world.finish_pod("r1-a-1")
        await world.settle()
        assert world.state("r1") == "running"
        assert world.pods() == ["r1-b-1"]
        await world.controller.stop()

    run_async(scenario)


async def applied_and_pinned(world: World) -> list[str]:
    """The DAG applied and answered, then run r1 pinned: the ConfigMaps writes in between."""
    world.apply_dag(task("a"))
    await world.controller.dags.reconcile((NS, "etl"))
    world.api.writes.clear()
    await world.controller.runs.reconcile(world.create_run("r1"))
    return [path for _, path in world.api.writes if "/configmaps/" in path]


def test_a_snapshot_no_run_uses_that_is_not_the_current_version_is_deleted() -> None:
    async def scenario() -> None:
        world = World()
        controller = world.controller
        await applied_and_pinned(world)
        [first] = names(world, "configmaps")
        changed = world.api.objects[dag_path()]
        changed["metadata"]["generation"] = 2
        changed["spec"]["tasks"].append(task("b"))
        controller.on_dag_event("MODIFIED", world.api.put(dag_path(), changed))
        await controller.dags.reconcile((NS, "etl"))
        [current] = [n for n in names(world, "configmaps") if n != first]
        assert names(world, "configmaps") == sorted([first, current])  # r1 uses the first
        controller.on_run_event("DELETED", world.api.objects.pop(custom_path("dagruns", NS, "r1")))
        await controller.dags.reconcile((NS, "etl"))
        assert names(world, "configmaps") == [current]

    run_async(scenario)


def test_an_applied_dag_s_snapshot_is_stored_before_its_first_run_needs_it() -> None:
    """Its first run's pin, on the path of the run's start, then writes no ConfigMap."""

    async def scenario() -> None:
        world = World()
        assert await applied_and_pinned(world) == []
        assert world.pods() == ["r1-a-1"]  # pinned and started
        assert len(names(world, "configmaps")) == 1

    run_async(scenario)


async def succeeded_once_keeping_its_pod() -> World:
    """A world whose DAG (`podGC: Never`) ran r1 to success, its controller stopped."""
    world = World()
    world.controller.start()
    world.apply_dag(task("a"), podGC="Never")
    world.create_run("r1")
    await world.settle()
    world.finish_pod("r1-a-1")
    await world.settle()
    assert world.state("r1") == "success"
    await world.controller.stop()
    return world


def test_a_restarted_controller_does_not_store_again_a_snapshot_its_runs_reference() -> None:
    async def scenario() -> None:
        world = await succeeded_once_keeping_its_pod()
        world.controller = Controller(cast(Kube, world.api), SETTINGS, now=lambda: world.now)
        world.controller.on_run_event("ADDED", world.api.objects[custom_path("dagruns", NS, "r1")])
        world.controller.on_dag_event("ADDED", world.api.objects[dag_path()])
        world.api.writes.clear()
        await world.controller.dags.reconcile((NS, "etl"))
        assert not [path for verb, path in world.api.writes if "/configmaps/" in path]

    run_async(scenario)


def test_an_invalid_dag_stores_no_snapshot() -> None:
    async def scenario() -> None:
        world = World()
        world.apply_dag(task("a", "missing"))
        await world.controller.dags.reconcile((NS, "etl"))
        assert names(world, "configmaps") == []

    run_async(scenario)


def test_a_restarted_controller_keeps_the_dag_s_pod_gc_before_the_dag_s_event_arrives() -> None:
    """kopf lists runs and DAGs on their own: a finished run's pass may come first. Its
    DAG's podGC Never holds, not the controller's default OnRunSuccess."""

    async def scenario() -> None:
        world = await succeeded_once_keeping_its_pod()
        on_run_success = replace(SETTINGS, history=HistoryPolicy(pod_gc=PodGC.ON_RUN_SUCCESS))
        world.controller = Controller(cast(Kube, world.api), on_run_success, now=lambda: world.now)
        world.controller.start()
        world.watch_run("r1")  # before the DAG's event
        world.controller.on_pod_event("ADDED", world.api.objects[core_path("pods", NS, "r1-a-1")])
        await world.settle()
        assert world.pods() == ["r1-a-1"]
        await world.controller.stop()

    run_async(scenario)
