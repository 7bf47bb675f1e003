"""The reconcilers against an in-memory API double and an injected clock: echoes of the
controller's own writes, conflicts, stale bodies, slot wake-ups and eviction on delete.
(The same flows against a real kube-apiserver are in tests/integration.)"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast

from kubedag import API_VERSION
from kubedag.core.history import HistoryPolicy
from kubedag.core.write_timing import START_HOLD_LIMIT
from kubedag.kube.client import Kube, core_path, custom_path
from kubedag.models.dag import PodGC
from kubedag.reconcilers.accounts import RECHECK_MISSING
from kubedag.reconcilers.controller import Controller
from kubedag.reconcilers.settings import ControllerSettings
from tests.unit.api_double import ApiDouble
from tests.unit.builders import T0, task

NS = "etl"
# Pods stay (podGC Never) unless a test's DAG says otherwise: these tests look at them.
SETTINGS = ControllerSettings(
    catchup_by_default=True,
    namespaces=(),
    run_workers=1,
    dag_workers=1,
    run_news_within=0.0,  # the frozen clock never ends an interval (test_workqueue covers it)
    pod_sweep_delay=0.0,  # a sweep still takes the runs that joined it in the same loop turn
    history=HistoryPolicy(pod_gc=PodGC.NEVER),
)


def dag_path(name: str = "etl") -> str:
    return custom_path("dags", NS, name)


def run_path(name: str) -> str:
    return custom_path("dagruns", NS, name)


def pod_path(name: str) -> str:
    return core_path("pods", NS, name)


def dag_manifest(*tasks: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "DAG",
        "metadata": {"name": "etl", "namespace": NS},
        "spec": {"tasks": list(tasks) or [task("a")], **spec},
    }


def run_manifest(name: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "DagRun",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"dagName": "etl", "runType": "manual", "logicalDate": "2026-01-01T00:00:00Z"},
    }


class World:
    """The double, a controller on it at a fixed time, and helpers that play the watch."""

    def __init__(self) -> None:
        self.api = ApiDouble()
        self.now = T0
        self.controller = Controller(cast(Kube, self.api), SETTINGS, now=lambda: self.now)

    def apply_dag(self, *tasks: dict[str, Any], **spec: Any) -> None:
        self.controller.on_dag_event(
            "ADDED", self.api.put(dag_path(), dag_manifest(*tasks, **spec))
        )

    def create_run(self, name: str) -> tuple[str, str]:
        self.controller.on_run_event("ADDED", self.api.put(run_path(name), run_manifest(name)))
        return (NS, name)

    def watch_run(self, name: str) -> dict[str, Any]:
        """Deliver the run as stored, as the watch would."""
        body = self.api.objects[run_path(name)]
        self.controller.on_run_event("MODIFIED", dict(body))
        return body

    def finish_pod(self, name: str, phase: str = "Succeeded") -> None:
        body = self.api.objects[pod_path(name)]
        body["status"] = {
            "phase": phase,
            "containerStatuses": [
                {
                    "name": "task",
                    "state": {"terminated": {"exitCode": 0 if phase == "Succeeded" else 1}},
                }
            ],
        }
        self.controller.on_pod_event("MODIFIED", self.api.put(pod_path(name), body))

    def run_pod(self, name: str) -> None:
        body = self.api.objects[pod_path(name)]
        body["status"] = {
            "phase": "Running",
            "containerStatuses": [{"name": "task", "state": {"running": {}}}],
        }
        self.controller.on_pod_event("MODIFIED", self.api.put(pod_path(name), body))

    async def started_with_run(self, name: str) -> tuple[str, str]:
        """The controller started, the DAG applied and run `name` created and passed once."""
        self.controller.start()
        self.apply_dag()
        key = self.create_run(name)
        assert await self.settle() == [key]
        return key

    async def write_held(self) -> None:
        """Let the runs' held first writes fall due (START_HOLD_LIMIT later) and land."""
        self.now += START_HOLD_LIMIT
        for key in self.controller.runs.writes.held:
            await self.controller.runs.reconcile(key)

    async def settle(self) -> list[tuple[str, str]]:
        """Let the controller's workers process what is queued; returns the runs passed."""
        passes: list[tuple[str, str]] = []
        reconcile = self.controller.runs.reconcile

        async def counting(key: tuple[str, str]) -> datetime | None:
            passes.append(key)
            return await reconcile(key)

        self.controller.runs.reconcile = counting  # type: ignore[method-assign]
        try:
            for spin in range(1000):
                # Past the first spins, real time too: DAG validation runs in a thread.
                await asyncio.sleep(0 if spin < 100 else 0.001)
                queues = len(self.controller.run_queue) or len(self.controller.dag_queue)
                if not queues and not self.api.background:
                    break
        finally:
            self.controller.runs.reconcile = reconcile  # type: ignore[method-assign]
        return passes

    def pods(self) -> list[str]:
        prefix = core_path("pods", NS) + "/"
        return sorted(p.removeprefix(prefix) for p in self.api.objects if p.startswith(prefix))

    def state(self, name: str) -> str | None:
        return cast(str | None, (self.api.objects[run_path(name)].get("status") or {}).get("state"))


def run_async(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


def test_the_echo_of_an_own_status_write_is_not_worked_on_again() -> None:
    async def scenario() -> None:
        world = World()
        key = await world.started_with_run("r1")
        assert world.state("r1") is None and world.pods() == ["r1-a-1"]  # the start is held
        await world.write_held()
        assert world.state("r1") == "running"
        world.watch_run("r1")  # the echo of the pin-and-start write
        assert await world.settle() == []
        # Someone else's change to the run is news.
        world.api.put(run_path("r1"), world.api.objects[run_path("r1")])
        world.watch_run("r1")
        assert await world.settle() == [key]
        await world.controller.stop()

    run_async(scenario)


def test_a_pod_event_that_changes_nothing_a_pass_reads_is_not_worked_on() -> None:
    async def scenario() -> None:
        world = World()
        key = await world.started_with_run("r1")
        created = world.api.objects[pod_path("r1-a-1")]
        # The watch's echo of the pod the pass created, then its binding to a node: a new
        # resourceVersion each, nothing a pass reads.
        world.controller.on_pod_event("ADDED", dict(created))
        bound = {**created, "spec": {**created["spec"], "nodeName": "node-1"}}
        world.controller.on_pod_event("MODIFIED", world.api.put(pod_path("r1-a-1"), bound))
        assert await world.settle() == []
        world.run_pod("r1-a-1")
        assert await world.settle() == [key]
        world.finish_pod("r1-a-1")
        assert await world.settle() == [key]
        assert world.state("r1") == "success"
        # Its deletion is always news (a running run's pod gone is a failed try).
        world.controller.on_pod_event("DELETED", world.api.objects.pop(pod_path("r1-a-1")))
        assert await world.settle() == [key]
        await world.controller.stop()

    run_async(scenario)


def test_a_watch_event_older_than_the_cached_run_is_not_worked_on() -> None:
    async def scenario() -> None:
        world = World()
        world.controller.start()
        world.apply_dag()
        created = world.api.put(run_path("r1"), run_manifest("r1"))
        key = world.create_run("r1")  # as a response would bring it: the pass pins it
        assert await world.settle() == [key]
        await world.write_held()
        assert world.state("r1") == "running"
        # The watch delivers the creation only now, older than the pinned run.
        world.controller.on_run_event("ADDED", created)
        assert await world.settle() == []
        await world.controller.stop()

    run_async(scenario)


def test_a_conflict_drops_the_stale_copy_and_the_next_pass_reads_it_afresh() -> None:
    async def scenario() -> None:
        world = World()
        world.apply_dag()
        key = world.create_run("r1")
        await world.controller.runs.reconcile(key)
        await world.write_held()
        # Another client changes the run; the controller has not seen the event yet.
        labelled = world.api.objects[run_path("r1")]
        labelled["metadata"].setdefault("labels", {})["team"] = "sales"
        world.api.put(run_path("r1"), labelled)
        world.finish_pod("r1-a-1")
        again = await world.controller.runs.reconcile(key)
        assert again == world.now  # look again at once
        assert world.controller.informer.run(key) is None  # the stale copy is gone
        assert world.state("r1") == "running"
        assert await world.controller.runs.reconcile(key) is None
        assert world.state("r1") == "success"
        assert world.api.objects[run_path("r1")]["metadata"]["labels"]["team"] == "sales"

    run_async(scenario)


def test_a_late_watch_event_does_not_replace_the_response_to_a_newer_write() -> None:
    async def scenario() -> None:
        world = World()
        world.apply_dag()
        created = world.api.put(run_path("r1"), run_manifest("r1"))
        world.controller.on_run_event("ADDED", created)
        await world.controller.runs.reconcile((NS, "r1"))
        world.controller.on_run_event("ADDED", created)  # delivered late, older version
        body = world.controller.informer.run((NS, "r1"))
        assert body is not None and body["status"]["state"] == "running"

    run_async(scenario)


def test_a_pod_finished_before_its_create_response_is_handled_stays_finished() -> None:
    """The create's response (Pending) is handled after the watch delivered the pod
    finished: the newer observation stays, and the run finishes (CI, stop 26)."""

    async def scenario() -> None:
        world = World()
        world.apply_dag()
        create = world.api.create

        async def create_then_finish(collection: str, manifest: dict[str, Any]) -> Any:
            created = await create(collection, manifest)
            if collection.endswith("/pods"):  # the watch is ahead of the reply
                world.finish_pod(manifest["metadata"]["name"])
            return created

        world.api.create = create_then_finish  # type: ignore[method-assign]
        key = world.create_run("r1")
        await world.controller.runs.reconcile(key)  # pins, starts, creates the pod
        pod = world.controller.informer.pods.get(NS, "r1-a-1")
        assert pod is not None and pod.phase == "Succeeded"
        world.watch_run("r1")
        await world.controller.runs.reconcile(key)
        assert world.state("r1") == "success"

    run_async(scenario)


def test_a_pod_read_before_its_deletion_is_not_brought_back_by_the_late_response() -> None:
    """A pass reads a pod the cache lacks (after a restart); the pod is deleted while the
    GET is in flight, and the watch's DELETED is handled before the response: the pod stays
    gone, and the run's next pass finds its try's pod disappeared."""

    async def scenario() -> None:
        world = World()
        world.apply_dag()
        key = world.create_run("r1")
        await world.controller.runs.reconcile(key)
        world.watch_run("r1")
        world.controller.informer.pods.remove(NS, "r1-a-1")  # not delivered yet
        get = world.api.get

        async def get_then_delete(path: str) -> Any:
            body = await get(path)
            if path == pod_path("r1-a-1") and body is not None:
                deleted = world.api.put(path, world.api.objects[path])  # the deletion's version
                del world.api.objects[path]
                world.controller.on_pod_event("DELETED", deleted)
            return body

        world.api.get = get_then_delete  # type: ignore[method-assign]
        await world.controller.runs.reconcile(key)
        assert world.controller.informer.pods.get(NS, "r1-a-1") is None

    run_async(scenario)


def test_a_pod_that_frees_a_task_slot_wakes_the_run_waiting_for_it() -> None:
    async def scenario() -> None:
        world = World()
        world.controller.start()
        world.apply_dag(task("a"), maxActiveTasks=1)
        first, second = world.create_run("r1"), world.create_run("r2")
        assert sorted(await world.settle()) == [first, second]
        assert world.pods() == ["r1-a-1"]  # r2 waits for the DAG's only slot
        assert world.controller.informer.slots.waiting_runs() == {second}
        world.finish_pod("r1-a-1")
        assert sorted(await world.settle()) == [first, second]  # its owner, and the waiting run
        assert world.pods() == ["r1-a-1", "r2-a-1"]
        assert world.controller.informer.slots.waiting_runs() == set()
        await world.controller.stop()

    run_async(scenario)


def test_deleting_the_dag_its_runs_and_pods_leaves_no_cache_entry() -> None:
    async def scenario() -> None:
        world = World()
        controller = world.controller
        world.apply_dag(task("a"), task("b", "a"))
        keys = [world.create_run(f"r{i}") for i in range(3)]
        for key in keys:
            when = await controller.runs.reconcile(key)
            if when is not None:
                controller.run_queue.add_after(key, when)
        # A second DAG version while runs of the first are in flight.
        changed = world.api.objects[dag_path()]
        changed["metadata"]["generation"] = 2
        changed["spec"]["tasks"].append(task("c"))
        controller.on_dag_event("MODIFIED", world.api.put(dag_path(), changed))
        when = await controller.dags.reconcile((NS, "etl"))
        if when is not None:
            controller.dag_queue.add_after((NS, "etl"), when)
        world.finish_pod("r0-a-1", "Failed")
        await controller.runs.reconcile(keys[0])
        assert any(size > 0 for size in controller.cache_sizes().values())

        # The garbage collector deletes the pods and runs, then the DAG goes.
        for name in world.pods():
            controller.on_pod_event("DELETED", world.api.objects.pop(pod_path(name)))
        for _, name in keys:
            controller.on_run_event("DELETED", world.api.objects.pop(run_path(name)))
        controller.on_dag_event("DELETED", world.api.objects.pop(dag_path()))
        await controller.dags.reconcile((NS, "etl"))  # the wake-up queued by the run deletions
        controller.dag_queue.forget((NS, "etl"))
        assert controller.cache_sizes() == dict.fromkeys(controller.cache_sizes(), 0)

    run_async(scenario)


def test_runs_deleted_after_their_dag_leave_no_queue_entry_behind() -> None:
    async def scenario() -> None:
        world = World()
        controller = world.controller
        controller.start()
        world.apply_dag()
        world.create_run("r1")
        await world.settle()
        world.finish_pod("r1-a-1")
        await world.settle()
        assert world.state("r1") == "success"
        controller.on_dag_event("DELETED", world.api.objects.pop(dag_path()))
        controller.on_run_event("DELETED", world.api.objects.pop(run_path("r1")))
        await world.settle()
        assert controller.dag_queue.tracked() == 0
        await controller.stop()

    run_async(scenario)


def test_a_run_of_a_dag_that_does_not_exist_fails_with_a_reason_and_an_event() -> None:
    async def scenario() -> None:
        world = World()
        key = world.create_run("r1")
        assert await world.controller.runs.reconcile(key) is None
        assert world.state("r1") == "failed"
        conditions = world.api.objects[run_path("r1")]["status"]["conditions"]
        assert conditions[0]["reason"] == "DagNotFound"
        assert [e["reason"] for e in await world.api.posted_events()] == ["RunFailed"]

    run_async(scenario)


def test_a_dag_pass_creates_due_runs_and_says_when_to_look_again() -> None:
    async def scenario() -> None:
        world = World()
        world.now = datetime.fromisoformat("2026-01-03T12:00:00+00:00")
        world.apply_dag(schedule="@daily", startDate="2026-01-01")
        again = await world.controller.dags.reconcile((NS, "etl"))
        runs = sorted(p.rsplit("/", 1)[1] for p in world.api.objects if "/dagruns/" in p)
        assert runs == ["etl-20260101-0000", "etl-20260102-0000"]
        assert again == datetime.fromisoformat("2026-01-04T00:00:00+00:00")
        status = world.api.objects[dag_path()]["status"]
        assert status["conditions"][0]["status"] == "True"

    run_async(scenario)


def test_a_named_account_that_does_not_exist_holds_the_dag_until_it_is_created() -> None:
    async def scenario() -> None:
        world = World()
        world.now = datetime.fromisoformat("2026-01-03T12:00:00+00:00")
        world.apply_dag(
            task("a"), task("b", serviceAccountName="loader"), schedule="@daily",
            startDate="2026-01-01",
        )  # fmt: skip
        again = await world.controller.dags.reconcile((NS, "etl"))
        assert not [p for p in world.api.objects if "/dagruns/" in p]
        ready = world.api.objects[dag_path()]["status"]["conditions"][0]
        assert (ready["status"], ready["reason"]) == ("False", "ServiceAccountNotFound")
        assert ready["message"].startswith(
            'spec.tasks[1].serviceAccountName: serviceaccount "loader" not found in namespace etl'
        )
        assert [e["reason"] for e in await world.api.posted_events()] == ["ServiceAccountNotFound"]
        assert again == world.now + RECHECK_MISSING

        world.api.put(core_path("serviceaccounts", NS, "loader"), {"metadata": {"name": "loader"}})
        world.now = again
        await world.controller.dags.reconcile((NS, "etl"))
        assert len([p for p in world.api.objects if "/dagruns/" in p]) == 2
        ready = world.api.objects[dag_path()]["status"]["conditions"][0]
        assert ready["status"] == "True"

    run_async(scenario)
