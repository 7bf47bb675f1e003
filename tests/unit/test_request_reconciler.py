"""Clear and mark requests through the controller, against the in-memory API double: each
request id is applied once, a finished run goes back to its DAG's queue, a running task's
pod is stopped before its next try, a request naming an unknown task is refused."""

from typing import Any

from tests.unit.builders import task
from tests.unit.test_reconcilers import NS, World, pod_path, run_async, run_path


def send_request(world: World, run: str, **request: Any) -> None:
    """A user's `kubectl patch` of spec.request, delivered by the watch."""
    body = world.api.objects[run_path(run)]
    body["spec"]["request"] = request
    body["metadata"]["generation"] += 1
    world.controller.on_run_event("MODIFIED", world.api.put(run_path(run), body))


def tasks(world: World, run: str) -> dict[str, tuple[str, int]]:
    status = world.api.objects[run_path(run)]["status"]
    return {t["name"]: (t["state"], t["try"]) for t in status["tasks"]}


async def event_reasons(world: World) -> list[str]:
    return [e["reason"] for e in await world.api.posted_events()]


async def failed_run(world: World) -> None:
    """r1 of a -> b: a fails, b is upstream_failed, the run failed."""
    world.controller.start()
    world.apply_dag(task("a"), task("b", "a"))
    world.create_run("r1")
    await world.settle()
    world.finish_pod("r1-a-1", "Failed")
    await world.settle()
    assert world.state("r1") == "failed"


def test_a_clear_requeues_a_failed_run_which_runs_the_cleared_tasks_again() -> None:
    async def scenario() -> None:
        world = World()
        await failed_run(world)
        send_request(world, "r1", id="fix-1", action="clear", tasks=["a"], downstream=True)
        await world.settle()
        # Queued again, then started by its DAG: try 2 of a runs; try 1's pod stays.
        assert world.state("r1") == "running"
        assert world.pods() == ["r1-a-1", "r1-a-2"]
        assert tasks(world, "r1") == {"a": ("queued", 2), "b": ("none", 0)}
        status = world.api.objects[run_path("r1")]["status"]
        assert "endTime" not in status and status["observedGeneration"] == 2
        applied = status["requests"]
        assert [(r["id"], r["action"], r["tasks"]) for r in applied] == [
            ("fix-1", "clear", ["a", "b"])
        ]
        world.finish_pod("r1-a-2")
        await world.settle()
        world.finish_pod("r1-b-1")
        await world.settle()
        assert world.state("r1") == "success"
        assert tasks(world, "r1") == {"a": ("success", 2), "b": ("success", 1)}
        assert (await event_reasons(world)).count("Cleared") == 1

        # The same request again (a re-sent patch, a controller restart): nothing happens.
        world.watch_run("r1")
        body = world.api.objects[run_path("r1")]
        world.controller.on_run_event("MODIFIED", world.api.put(run_path("r1"), body))
        await world.settle()
        assert world.state("r1") == "success"
        assert (await event_reasons(world)).count("Cleared") == 1
        assert len(world.api.objects[run_path("r1")]["status"]["requests"]) == 1
        await world.controller.stop()

    run_async(scenario)


def test_a_request_naming_an_unknown_task_is_refused_with_an_event() -> None:
    async def scenario() -> None:
        world = World()
        await failed_run(world)
        send_request(world, "r1", id="typo", action="clear", tasks=["lod"])
        await world.settle()
        assert world.state("r1") == "failed"
        assert tasks(world, "r1") == {"a": ("failed", 1), "b": ("upstream_failed", 0)}
        status = world.api.objects[run_path("r1")]["status"]
        assert "no task 'lod' in this run; its tasks: a, b" in status["requests"][0]["refused"]
        refused = (await world.api.posted_events())[-1]
        assert (refused["type_"], refused["reason"]) == ("Warning", "RequestRefused")
        await world.controller.stop()

    run_async(scenario)


def test_clearing_a_running_task_stops_its_pod_and_runs_it_again() -> None:
    async def scenario() -> None:
        world = World()
        world.controller.start()
        world.apply_dag(task("a"))
        world.create_run("r1")
        await world.settle()
        send_request(world, "r1", id="again", action="clear")
        await world.settle()
        assert world.pods() == []  # the double deletes at once, as for a pod on no node
        assert tasks(world, "r1") == {"a": ("restarting", 1)}
        world.controller.on_pod_event(
            "DELETED",
            {
                "metadata": {
                    "name": "r1-a-1",
                    "namespace": NS,
                    "ownerReferences": [{"kind": "DagRun", "name": "r1"}],
                }
            },
        )
        await world.settle()
        assert world.pods() == ["r1-a-2"]
        assert tasks(world, "r1") == {"a": ("queued", 2)}
        await world.controller.stop()

    run_async(scenario)


def test_marking_a_run_failed_stops_its_pods_and_frees_its_slot() -> None:
    async def scenario() -> None:
        world = World()
        world.controller.start()
        world.apply_dag(task("a"), task("b", "a"), maxActiveRuns=1)
        world.create_run("r1")
        world.create_run("r2")
        await world.settle()
        await world.write_held()
        assert (world.state("r1"), world.state("r2")) == ("running", "queued")
        send_request(world, "r1", id="stop", action="markFailed")
        await world.settle()
        assert world.state("r1") == "failed"
        # a's pod was created but had not started: a pending task, skipped (rule 17).
        assert tasks(world, "r1") == {"a": ("skipped", 1), "b": ("skipped", 0)}
        assert pod_path("r1-a-1") not in world.api.objects
        assert world.state("r2") == "running"  # the DAG started the next run
        await world.controller.stop()

    run_async(scenario)
