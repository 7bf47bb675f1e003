"""The Backfill reconciler against the in-memory API double: runs created as its limit
allows and woken by its runs, the re-run patch of the shared contract, refusals with an
Event, deletion. (The same against a real kube-apiserver: tests/integration/test_backfill.py.)"""

import asyncio
from typing import Any

from kubedag import API_VERSION
from kubedag.kube.client import custom_path
from tests.unit.test_reconcilers import NS, World, pod_path, run_async, run_path

BACKFILL_PATH = custom_path("backfills", NS, "bf")


def backfill_manifest(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Backfill",
        "metadata": {"name": "bf", "namespace": NS},
        "spec": {"dagName": "etl", "from": "2025-12-01", "to": "2025-12-05", **spec},
    }


def apply_backfill(world: World, **spec: Any) -> None:
    body = world.api.put(BACKFILL_PATH, backfill_manifest(**spec))
    world.controller.on_backfill_event("ADDED", body)


def deliver_runs(world: World) -> None:
    """Play the watch: every run as stored (the new ones reach the run reconciler)."""
    prefix = custom_path("dagruns", NS) + "/"
    for path, body in list(world.api.objects.items()):
        if path.startswith(prefix):
            world.controller.on_run_event("MODIFIED", dict(body))


async def settle(world: World) -> None:
    controller = world.controller
    for _ in range(2000):
        await asyncio.sleep(0)
        queues = len(controller.run_queue) or len(controller.dag_queue)
        if not queues and not len(controller.backfill_queue) and not world.api.background:
            return


def runs_of(world: World) -> dict[str, dict[str, Any]]:
    prefix = custom_path("dagruns", NS) + "/"
    return {
        path.removeprefix(prefix): body
        for path, body in world.api.objects.items()
        if path.startswith(prefix)
    }


def backfill_status(world: World) -> dict[str, Any]:
    return world.api.objects[BACKFILL_PATH].get("status") or {}


def test_runs_are_created_as_its_limit_allows_even_while_the_dag_is_paused() -> None:
    async def scenario() -> None:
        world = World()
        world.controller.start()
        world.apply_dag(schedule="@daily", startDate="2025-01-01", paused=True)
        apply_backfill(world, maxActiveRuns=2, conf={"full": True})
        await settle(world)
        runs = runs_of(world)
        assert sorted(runs) == ["etl-backfill-20251201-0000", "etl-backfill-20251202-0000"]
        first = runs["etl-backfill-20251201-0000"]
        assert first["spec"]["backfill"] == "bf" and first["spec"]["runType"] == "backfill"
        assert first["spec"]["conf"] == {"full": True}
        assert [r["kind"] for r in first["metadata"]["ownerReferences"]] == ["DAG"]
        status = backfill_status(world)
        assert status["state"] == "Running" and status["planned"] == 5
        assert status["plan"]["schedule"] == "@daily"

        deliver_runs(world)  # the watch brings the new runs: pinned and started (paused DAG)
        await settle(world)
        await world.write_held()  # their start, held a moment
        assert world.state("etl-backfill-20251201-0000") == "running"
        assert world.pods() == ["etl-backfill-20251201-0000-a-1", "etl-backfill-20251202-0000-a-1"]

        world.finish_pod("etl-backfill-20251201-0000-a-1")
        await settle(world)
        assert world.state("etl-backfill-20251201-0000") == "success"
        assert "etl-backfill-20251203-0000" in runs_of(world)  # its success made room
        assert len(runs_of(world)) == 3
        await world.controller.stop()

    run_async(scenario)


def test_a_failed_run_is_re_run_in_place_by_the_contracts_merge_patch() -> None:
    async def scenario() -> None:
        world = World()
        world.apply_dag(schedule="@daily", startDate="2025-01-01", paused=True)
        failed = {
            "apiVersion": API_VERSION,
            "kind": "DagRun",
            "metadata": {"name": "etl-20251201-0000", "namespace": NS},
            "spec": {
                "dagName": "etl",
                "runType": "scheduled",
                "logicalDate": "2025-12-01T00:00:00Z",
                "dataIntervalStart": "2025-12-01T00:00:00Z",
                "dataIntervalEnd": "2025-12-02T00:00:00Z",
                "conf": {"old": 1},
            },
            "status": {"state": "failed"},
        }
        world.controller.on_run_event(
            "ADDED", world.api.put(run_path(failed["metadata"]["name"]), failed)
        )
        apply_backfill(world, to="2025-12-01", reprocessBehavior="failed", conf={"new": 2})
        await world.controller.backfills.reconcile((NS, "bf"))
        spec = world.api.objects[run_path("etl-20251201-0000")]["spec"]
        uid = world.api.objects[BACKFILL_PATH]["metadata"]["uid"]
        assert spec["runType"] == "backfill" and spec["backfill"] == "bf"
        assert spec["conf"] == {"new": 2}
        assert (spec["request"]["id"], spec["request"]["action"]) == (f"backfill/bf/{uid}", "clear")
        assert spec["request"].get("tasks") is None  # the whole run
        assert sorted(runs_of(world)) == ["etl-20251201-0000"]  # no second run of the date
        status = backfill_status(world)
        assert status["progress"] == "1/1" and status["running"]["count"] == 1  # until applied

    run_async(scenario)


def test_a_refused_backfill_says_why_in_a_condition_and_an_event() -> None:
    async def scenario() -> None:
        world = World()
        world.apply_dag()  # no schedule
        apply_backfill(world)
        await world.controller.backfills.reconcile((NS, "bf"))
        status = backfill_status(world)
        assert status["state"] == "Refused"
        (accepted,) = status["conditions"]
        assert (accepted["status"], accepted["reason"]) == ("False", "NonPeriodicSchedule")
        assert [e["reason"] for e in await world.api.posted_events()] == ["NonPeriodicSchedule"]
        assert runs_of(world) == {}

    run_async(scenario)


def test_a_backfill_waits_for_its_dag_and_starts_when_it_appears() -> None:
    async def scenario() -> None:
        world = World()
        world.controller.start()
        apply_backfill(world, maxActiveRuns=1)
        await settle(world)
        (accepted,) = backfill_status(world)["conditions"]
        assert (accepted["status"], accepted["reason"]) == ("Unknown", "DagNotFound")
        world.apply_dag(schedule="@daily", startDate="2025-01-01", paused=True)
        await settle(world)
        assert sorted(runs_of(world)) == ["etl-backfill-20251201-0000"]
        await world.controller.stop()

    run_async(scenario)


def test_deleting_a_backfill_keeps_its_runs_and_leaves_no_cache_entry() -> None:
    async def scenario() -> None:
        world = World()
        controller = world.controller
        controller.start()
        world.apply_dag(schedule="@daily", startDate="2025-01-01", paused=True)
        apply_backfill(world, maxActiveRuns=1)
        await settle(world)
        assert len(runs_of(world)) == 1
        controller.on_backfill_event("DELETED", world.api.objects.pop(BACKFILL_PATH))
        await settle(world)
        assert len(runs_of(world)) == 1
        sizes = controller.cache_sizes()
        assert {k: v for k, v in sizes.items() if "backfill" in k and v} == {}
        assert not world.api.objects.get(pod_path("x"))
        await controller.stop()

    run_async(scenario)


def test_cancel_fails_its_queued_runs_once_with_a_reason() -> None:
    async def scenario() -> None:
        world = World()
        world.apply_dag(schedule="@daily", startDate="2025-01-01", paused=True)
        apply_backfill(world, maxActiveRuns=2)
        key = (NS, "bf")
        await world.controller.backfills.reconcile(key)
        queued, running = "etl-backfill-20251201-0000", "etl-backfill-20251202-0000"
        for name, state in ((queued, "queued"), (running, "running")):
            body = world.api.objects[run_path(name)]
            body["status"] = {"state": state}
            world.controller.informer.put_run((NS, name), world.api.put(run_path(name), body))
        cancelled = world.api.objects[BACKFILL_PATH]
        cancelled["spec"]["cancel"] = True
        world.controller.informer.put_backfill(key, world.api.put(BACKFILL_PATH, cancelled))
        await world.controller.backfills.reconcile(key)
        assert backfill_status(world)["state"] == "Cancelled"
        status = world.api.objects[run_path(queued)]["status"]
        assert status["state"] == "failed"
        assert status["conditions"][0]["reason"] == "BackfillCancelled"
        assert world.state(running) == "running"  # it finishes
        assert sorted(runs_of(world)) == [queued, running]  # nothing new
        # A run of a cancelled backfill cleared afterwards is left to run.
        cleared = world.api.objects[run_path(queued)]
        cleared["status"] = {"state": "queued"}
        world.controller.informer.put_run((NS, queued), world.api.put(run_path(queued), cleared))
        await world.controller.backfills.reconcile(key)
        assert world.state(queued) == "queued"

    run_async(scenario)
