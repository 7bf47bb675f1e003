"""Dataset scheduling's reconciler wiring against the in-memory API double: a run that
succeeds records its outputs and its tasks' outlets once; a DAG scheduled on a dataset gets
one run per round of updates, none while paused, and the waiting updates on unpause."""

from datetime import datetime, timedelta
from typing import Any, cast

from kubedag.core.datasets import DatasetUpdate
from kubedag.core.naming import dataset_name
from kubedag.kube.client import Kube, custom_path
from kubedag.models.dagrun import DagRun
from kubedag.reconcilers.controller import Controller
from kubedag.reconcilers.datasets import DatasetLinks, record_update
from tests.unit.builders import T0, task
from tests.unit.test_reconcilers import NS, SETTINGS, World, dag_path, run_async


def _dataset(world: World, uri: str) -> dict[str, Any] | None:
    return world.api.objects.get(custom_path("datasets", NS, dataset_name(uri)))


def _links(world: World) -> DatasetLinks:
    links = world.controller.dags.datasets
    assert links is not None
    return links


def _triggered(world: World) -> list[dict[str, Any]]:
    return [
        body
        for path, body in sorted(world.api.objects.items())
        if "/dagruns/" in path and body["spec"]["runType"] == "dataset_triggered"
    ]


def test_a_successful_run_records_its_outputs_and_its_tasks_outlets_once() -> None:
    async def scenario() -> None:
        world = World()
        world.controller.start()
        world.apply_dag(task("a", outlets=["table-a"]), outputs=["out"])
        world.create_run("r1")
        await world.settle()
        (pod,) = world.pods()
        world.finish_pod(pod)
        await world.settle()
        assert world.state("r1") == "success"
        for uri, source in (("out", "run"), ("table-a", "task")):
            stored = _dataset(world, uri)
            assert stored is not None and stored["spec"]["uri"] == uri
            (event,) = stored["status"]["events"]
            assert (event["source"], event["dag"], event["run"]) == (source, "etl", "r1")
        await world.controller.runs.reconcile((NS, "r1"))  # a finished run records nothing again
        assert len(_dataset(world, "out")["status"]["events"]) == 1  # type: ignore[index]
        await world.controller.stop()

    run_async(scenario)


def test_updates_stored_with_the_success_are_recorded_by_a_restarted_controller() -> None:
    """A run's success and the dataset updates it makes are one status write; a controller
    that stops before recording them leaves them in the run's status, and the controller
    that starts next records them (once) and removes them from there."""

    async def scenario() -> None:
        world = World()
        world.controller.start()
        world.apply_dag(task("a", outlets=["table-a"]), outputs=["out"])
        world.create_run("r1")
        await world.settle()
        (pod,) = world.pods()

        async def stops_before_recording(run: DagRun, now: datetime) -> DagRun:
            return run

        _links(world).record_stored = stops_before_recording  # type: ignore[method-assign]
        world.finish_pod(pod)
        await world.settle()
        await world.controller.stop()
        stored = world.api.objects[custom_path("dagruns", NS, "r1")]["status"]
        assert stored["state"] == "success"
        assert [u["dataset"] for u in stored["datasetUpdates"]] == ["table-a", "out"]
        assert _dataset(world, "out") is None and _dataset(world, "table-a") is None

        world.controller = Controller(cast(Kube, world.api), SETTINGS, now=lambda: world.now)
        world.controller.start()
        world.controller.on_dag_event("ADDED", dict(world.api.objects[dag_path()]))
        world.watch_run("r1")
        await world.settle()
        assert "datasetUpdates" not in world.api.objects[custom_path("dagruns", NS, "r1")]["status"]
        for uri in ("table-a", "out"):
            assert len(_dataset(world, uri)["status"]["events"]) == 1  # type: ignore[index]
        await world.controller.stop()

    run_async(scenario)


async def _update(world: World, uri: str, minutes: int) -> None:
    """An external update of `uri`, delivered to the controller as the watch would."""
    at = T0 + timedelta(minutes=minutes)
    update = DatasetUpdate(dataset=uri, id=f"touch/{minutes}", source="external")
    written = await record_update(world.api, NS, update, at)  # type: ignore[arg-type]
    assert written is not None
    _links(world).dataset_event("MODIFIED", written, world.controller.dag_queue.add)


def test_a_dag_on_datasets_runs_once_per_round_and_waits_while_paused() -> None:
    async def scenario() -> None:
        world = World()
        world.now = T0 + timedelta(hours=1)
        world.controller.start()
        world.apply_dag(task("a"), scheduleOn={"datasets": ["x", "y"]})
        await _update(world, "x", 1)
        await world.settle()
        assert _triggered(world) == []  # y not updated yet
        await _update(world, "x", 2)
        await _update(world, "y", 3)
        await world.settle()
        (run,) = _triggered(world)
        assert run["spec"]["triggeredBy"]["count"] == 3
        assert run["spec"]["logicalDate"] == "2026-01-02T00:03:00Z"
        status = world.api.objects[dag_path()]["status"]
        assert {c["dataset"]: c["consumed"] for c in status["datasets"]} == {"x": 2, "y": 1}

        body = dict(world.api.objects[dag_path()])
        body["spec"] = {**body["spec"], "paused": True}
        world.controller.on_dag_event("MODIFIED", world.api.put(dag_path(), body))
        await _update(world, "x", 4)
        await _update(world, "y", 5)
        await world.settle()
        assert len(_triggered(world)) == 1  # the updates wait

        body = dict(world.api.objects[dag_path()])
        body["spec"] = {**body["spec"], "paused": False}
        world.controller.on_dag_event("MODIFIED", world.api.put(dag_path(), body))
        await world.settle()
        assert len(_triggered(world)) == 2
        await world.controller.stop()

    run_async(scenario)
