"""dependsOnPast through the run reconciler, against the in-memory API double: the run
reads its previous run from the controller's caches, waits with the reason in its record,
and is woken when the previous run changes (a failure, then a mark)."""

from typing import Any

from kubedag import API_VERSION
from kubedag.core.dag_scheduler import STATUS_HOLD_WHILE_RUNS
from tests.unit.builders import task
from tests.unit.test_reconcilers import NS, World, dag_path, run_async, run_path


def manual_run(name: str, logical_date: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "DagRun",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"dagName": "etl", "runType": "manual", "logicalDate": logical_date},
    }


def record(world: World, run: str, name: str) -> dict[str, Any]:
    tasks = world.api.objects[run_path(run)]["status"]["tasks"]
    return next(r for r in tasks if r["name"] == name)


def test_day_two_waits_for_day_one_and_goes_on_once_day_one_is_marked_success() -> None:
    async def scenario() -> None:
        world = World()
        controller = world.controller
        controller.start()
        # Without catchup, manual runs count as previous runs (rule 22).
        world.apply_dag(task("load", dependsOnPast=True), catchup=False, failedRunsHistoryLimit=0)
        for name, date in (("day1", "2026-01-01T00:00:00Z"), ("day2", "2026-01-02T00:00:00Z")):
            controller.on_run_event("ADDED", world.api.put(run_path(name), manual_run(name, date)))
        await world.settle()
        assert world.pods() == ["day1-load-1"]
        assert record(world, "day2", "load")["message"] == (
            "waiting for task load of run day1 (queued) (dependsOnPast)"
        )

        world.finish_pod("day1-load-1", "Failed")
        passes = await world.settle()
        assert (NS, "day2") in passes  # woken by day1's write
        assert world.state("day1") == "failed" and world.state("day2") == "running"
        assert record(world, "day2", "load")["message"] == (
            "waiting for task load of run day1 (failed) (dependsOnPast)"
        )
        assert world.pods() == ["day1-load-1"]

        # History cleanup keeps day 1, whose failure day 2 reads (failedRunsHistoryLimit 0).
        # The second pass writes the DAG's status: day 2 is still running, so its batch
        # waits the longest it may.
        for _ in range(2):
            await controller.dags.reconcile((NS, "etl"))
            world.now += STATUS_HOLD_WHILE_RUNS
        assert world.api.objects[dag_path()]["status"]["lastFailedRun"]["run"] == "day1"
        assert run_path("day1") in world.api.objects

        marked = world.api.objects[run_path("day1")]
        marked["spec"]["request"] = {"id": "fix-1", "action": "markSuccess", "tasks": ["load"]}
        controller.on_run_event("MODIFIED", world.api.put(run_path("day1"), marked))
        await world.settle()
        assert record(world, "day1", "load")["state"] == "success"
        assert world.pods() == ["day1-load-1", "day2-load-1"]
        world.finish_pod("day2-load-1")
        await world.settle()
        assert world.state("day2") == "success"
        assert controller.informer.sizes()["held_for_past"] == 0
        await controller.stop()

    run_async(scenario)


def test_a_task_added_to_the_dag_is_held_unless_it_ignores_its_first_run() -> None:
    """The previous run is of the DAG's first version (read with a GET, its body no longer
    cached): it lacks the new tasks, which hold unless ignoreFirstDependsOnPast."""

    async def scenario() -> None:
        world = World()
        controller = world.controller
        controller.start()
        world.apply_dag(task("a", dependsOnPast=True), catchup=False)
        day1 = manual_run("day1", "2026-01-01T00:00:00Z")
        controller.on_run_event("ADDED", world.api.put(run_path("day1"), day1))
        await world.settle()
        world.finish_pod("day1-a-1")
        await world.settle()
        assert world.state("day1") == "success"

        changed = world.api.objects[dag_path()]
        changed["metadata"]["generation"] = 2
        changed["spec"]["tasks"] += [
            task("b", dependsOnPast=True, ignoreFirstDependsOnPast=True),
            task("c", dependsOnPast=True),
        ]
        controller.on_dag_event("MODIFIED", world.api.put(dag_path(), changed))
        day2 = manual_run("day2", "2026-01-02T00:00:00Z")
        controller.on_run_event("ADDED", world.api.put(run_path("day2"), day2))
        await world.settle()
        assert world.pods() == ["day1-a-1", "day2-a-1", "day2-b-1"]
        assert record(world, "day2", "c")["message"] == (
            "waiting for task c of run day1, which does not have it (dependsOnPast; with"
            " ignoreFirstDependsOnPast a task that never ran may start)"
        )
        await controller.stop()

    run_async(scenario)
