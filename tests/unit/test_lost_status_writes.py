"""A pass creates its pods before it writes the status that records them. When that write
does not land (the controller is killed, the connection is cut), the next pass decides the
same launch again: it must take the pod made before as this try's pod, whatever became of
it, and look at it at once (no event of a pod that already finished is to come)."""

import contextlib
import copy
from typing import cast

from kubedag.core.write_timing import START_HOLD_LIMIT
from kubedag.kube.client import Kube
from kubedag.reconcilers.controller import Controller
from tests.unit.test_reconcilers import SETTINGS, World, dag_path, pod_path, run_async, run_path


def test_a_pod_that_finished_before_its_launch_was_recorded_is_read_after_a_restart() -> None:
    async def scenario() -> None:
        world = World()
        world.apply_dag()
        key = world.create_run("r1")
        unrecorded = copy.deepcopy(world.api.objects[run_path("r1")])
        await world.controller.runs.reconcile(key)
        assert world.pods() == ["r1-a-1"]
        # Killed before the write landed: the stored run is as it was; the pod then finished.
        world.api.put(run_path("r1"), unrecorded)
        world.finish_pod("r1-a-1")
        restarted = Controller(cast(Kube, world.api), SETTINGS, now=lambda: world.now)
        restarted.on_dag_event("ADDED", dict(world.api.objects[dag_path()]))
        restarted.on_run_event("ADDED", dict(world.api.objects[run_path("r1")]))
        assert await restarted.runs.reconcile(key) == world.now  # look again at once
        await restarted.runs.reconcile(key)
        assert world.state("r1") == "success"
        assert world.api.writes.count(("POST", pod_path("r1-a-1"))) == 2  # AlreadyExists

    run_async(scenario)


def test_a_pod_made_by_a_pass_whose_write_failed_is_not_made_again() -> None:
    async def scenario() -> None:
        world = World()
        world.apply_dag()
        key = world.create_run("r1")
        await world.controller.runs.reconcile(key)  # the pod made, the start held
        patch_status = world.api.patch_status

        async def cut(*_: object, **__: object) -> None:
            raise OSError("connection cut")

        world.api.patch_status = cut  # type: ignore[assignment,method-assign]
        world.now += START_HOLD_LIMIT
        with contextlib.suppress(OSError):
            await world.controller.runs.reconcile(key)
        world.api.patch_status = patch_status  # type: ignore[method-assign]
        # Deleted while the watch was down: the controller still has it cached.
        del world.api.objects[pod_path("r1-a-1")]
        await world.controller.runs.reconcile(key)
        assert world.api.writes.count(("POST", pod_path("r1-a-1"))) == 1
        assert world.pods() == []
        status = world.api.objects[run_path("r1")]["status"]
        assert [(t["name"], t["state"], t["try"]) for t in status["tasks"]] == [("a", "queued", 1)]

    run_async(scenario)
