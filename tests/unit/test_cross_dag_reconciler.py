"""Between DAGs, in the reconcilers, against the in-memory API double: a trigger that meets
a run it did not create, a sensor woken by the change of the run it waits for (nothing
polls), and no index entry left once the objects are gone."""

import asyncio
from typing import Any

from kubedag import API_VERSION
from kubedag.reconcilers.cross_dag_index import CrossDagIndex
from tests.unit.builders import task
from tests.unit.test_reconcilers import NS, World, dag_path, pod_path, run_async, run_path

DAY = "2026-01-01T00:00:00Z"


def apply(world: World, name: str, *tasks: dict[str, Any]) -> None:
    manifest = {
        "apiVersion": API_VERSION,
        "kind": "DAG",
        "metadata": {"name": name, "namespace": NS, "uid": f"{name}-uid"},
        "spec": {"tasks": list(tasks)},
    }
    world.controller.on_dag_event("ADDED", world.api.put(dag_path(name), manifest))


def run_of(dag: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "DagRun",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"dagName": dag, "runType": "manual", "logicalDate": DAY},
    }


def create(world: World, dag: str, name: str) -> None:
    world.controller.on_run_event("ADDED", world.api.put(run_path(name), run_of(dag, name)))


def record(world: World, run: str, task_name: str) -> dict[str, Any]:
    tasks = world.api.objects[run_path(run)]["status"]["tasks"]
    return next(t for t in tasks if t["name"] == task_name)


def test_a_trigger_meeting_a_run_it_did_not_create_fails_saying_so() -> None:
    async def scenario() -> None:
        world = World()
        world.controller.start()
        apply(world, "summary", task("report"))
        trigger = {"dagName": "summary", "logicalDate": "{{ ds }}"}
        apply(world, "etl", {"name": "trigger", "triggerDagRun": trigger})
        # Someone triggered it by hand a moment ago; the watch has not delivered it yet.
        taken = "summary-manual-20260101-0000"
        world.api.put(run_path(taken), run_of("summary", taken))
        create(world, "etl", "etl-day")
        await world.settle()
        await asyncio.sleep(0.01)  # the pass asked to be made again at once (a timer)
        await world.settle()
        done = record(world, "etl-day", "trigger")
        assert done["state"] == "failed"
        assert f"exists already ({taken})" in done["message"]
        await world.controller.stop()

    run_async(scenario)


def test_a_sensor_is_woken_by_its_target_run_and_leaves_no_index_entry() -> None:
    async def scenario() -> None:
        world = World()
        controller = world.controller
        controller.start()
        apply(world, "etl-a", task("load"))
        apply(world, "report", {"name": "wait", "externalTaskSensor": {"dagName": "etl-a"}})
        create(world, "report", "report-day")
        await world.settle()
        assert record(world, "report-day", "wait")["state"] == "deferred"
        assert controller.informer.cross_dag.waiting_on((NS, "etl-a")) == [(NS, "report-day")]

        create(world, "etl-a", "etl-a-day")
        await world.settle()
        world.finish_pod("etl-a-day-load-1")
        passes = await world.settle()
        assert (NS, "report-day") in passes  # woken by etl-a-day's status write
        assert record(world, "report-day", "wait")["state"] == "success"
        assert world.api.objects[run_path("report-day")]["status"]["state"] == "success"
        assert controller.informer.cross_dag.waiting_on((NS, "etl-a")) == []

        controller.on_pod_event("DELETED", world.api.objects.pop(pod_path("etl-a-day-load-1")))
        for name in ("etl-a-day", "report-day"):
            controller.on_run_event("DELETED", world.api.objects.pop(run_path(name)))
        for name in ("etl-a", "report"):
            controller.on_dag_event("DELETED", world.api.objects.pop(dag_path(name)))
        sizes = controller.informer.cross_dag.sizes()
        assert sizes == dict.fromkeys(sizes, 0)
        await controller.stop()

    run_async(scenario)


def test_the_index_finds_each_trigger_tries_run_and_forgets_it() -> None:
    index = CrossDagIndex()
    by = "etl/etl-day/trigger/{}"
    index.note_run(
        ("etl", "b-1"), {"metadata": {"annotations": {"kubedag.io/triggered-by": by.format(1)}}}
    )
    index.note_run(
        ("etl", "b-2"), {"metadata": {"annotations": {"kubedag.io/triggered-by": by.format(2)}}}
    )
    assert index.triggered(("etl", "etl-day"))["trigger"].name == "b-2"
    index.forget_run(("etl", "b-2"))
    assert index.triggered(("etl", "etl-day")) == {}
    index.forget_run(("etl", "etl-day"))
    index.forget_run(("etl", "b-1"))
    assert index.sizes() == dict.fromkeys(index.sizes(), 0)
