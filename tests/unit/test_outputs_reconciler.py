"""Outputs the DagRun has no room for, against the API double: written to the run's
ConfigMap before the status that points at them, and read back after a restart."""

from typing import Any, cast

import pytest

from kubedag.core import outputs
from kubedag.kube.client import Kube, core_path
from kubedag.reconcilers.controller import Controller
from tests.unit.builders import task
from tests.unit.test_reconcilers import NS, SETTINGS, World, pod_path, run_async, run_path


def finish_with_output(world: World, name: str, message: str) -> None:
    body = world.api.objects[pod_path(name)]
    body["status"] = {
        "phase": "Succeeded",
        "containerStatuses": [
            {"name": "task", "state": {"terminated": {"exitCode": 0, "message": message}}}
        ],
    }
    world.controller.on_pod_event("MODIFIED", world.api.put(pod_path(name), body))


def args_of(world: World, pod: str) -> Any:
    return world.api.objects[pod_path(pod)]["spec"]["containers"][0]["args"]


def test_an_output_beyond_the_run_s_budget_goes_to_a_config_map_the_next_tasks_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(outputs, "inline_budget", lambda run, count: 10)

    async def scenario() -> None:
        world = World()
        world.apply_dag(
            task("extract"),
            task("check", "extract", args=["{{ tasks.extract.outputs.rows }}"]),
            task("load", "check", args=["{{ ti.xcom_pull(task_ids='extract', key='file') }}"]),
        )
        key = world.create_run("r1")
        await world.controller.runs.reconcile(key)
        finish_with_output(world, "r1-extract-1", '{"rows": 42, "file": "s3://b/sales.csv"}')
        await world.controller.runs.reconcile(key)

        config_map = world.api.objects[core_path("configmaps", NS, "r1-outputs-0")]
        assert config_map["data"] == {"extract": '{"file":"s3://b/sales.csv","rows":42}'}
        assert config_map["metadata"]["ownerReferences"][0]["kind"] == "DagRun"
        record = world.api.objects[run_path("r1")]["status"]["tasks"][0]
        assert record["outputsIn"] == "r1-outputs-0" and "outputs" not in record
        assert args_of(world, "r1-check-1") == ["42"]

        # A restarted controller (empty caches) reads the output back from the ConfigMap.
        world.controller = Controller(cast(Kube, world.api), SETTINGS, now=lambda: world.now)
        world.watch_run("r1")
        finish_with_output(world, "r1-check-1", "")
        await world.controller.runs.reconcile(key)
        assert args_of(world, "r1-load-1") == ["s3://b/sales.csv"]
        # A finished run keeps nothing cached.
        finish_with_output(world, "r1-load-1", '{"loaded": 42}')
        await world.controller.runs.reconcile(key)
        assert world.state("r1") == "success"
        assert len(world.controller.runs.outputs) == 0

    run_async(scenario)


def test_writing_the_same_outputs_again_patches_the_config_map_in_place() -> None:
    async def scenario() -> None:
        world = World()
        world.apply_dag(task("a"))
        key = world.create_run("r1")
        await world.controller.runs.reconcile(key)
        run = world.controller.informer.run(key)
        assert run is not None
        from kubedag.models.dagrun import DagRun

        store = world.controller.runs.outputs
        await store.store(DagRun.model_validate(run), {"r1-outputs-0": {"a": '{"n":1}'}})
        await store.store(DagRun.model_validate(run), {"r1-outputs-0": {"a": '{"n":2}'}})
        path = core_path("configmaps", NS, "r1-outputs-0")
        assert world.api.objects[path]["data"] == {"a": '{"n":2}'}
        assert ("PATCH", path) in world.api.writes

    run_async(scenario)
