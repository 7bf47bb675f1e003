"""Sending notifications: the controller on the API double posts to a real HTTP receiver in
this process (aiohttp), records the delivery in the run's outbox, retries with backoff,
gives up on a dead endpoint without holding the run back, and never shows the URL."""

import asyncio
import base64
import logging
import socket
from dataclasses import replace
from typing import Any, cast

import pytest
from aiohttp import web

from kubedag.kube.client import Kube, core_path
from kubedag.reconcilers.controller import Controller
from tests.unit.builders import task
from tests.unit.test_reconcilers import NS, SETTINGS, World, run_path

MARKER = "s3cr3t-marker-7f2c"
FAST = replace(SETTINGS, notify_backoff=0.01, notify_timeout=0.3, notify_attempts=3)


class Receiver:
    """An HTTP endpoint that answers with the given statuses in turn (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.json()))
        return web.Response(status=self.statuses.pop(0) if self.statuses else 200)

    async def __aenter__(self) -> "Receiver":
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)  # its log is not the controller's
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


def world_with_hook(url: str) -> World:
    world = World()
    world.controller = Controller(cast(Kube, world.api), FAST, now=lambda: world.now)
    secret = {
        "metadata": {"name": "hooks", "namespace": NS},
        "data": {"url": base64.b64encode(url.encode()).decode()},
    }
    world.api.put(core_path("secrets", NS, "hooks"), secret)
    hook = {"secretKeyRef": {"name": "hooks", "key": "url"}}
    world.apply_dag(task("a", onFailure=[hook]), onRunFailure=[hook])
    return world


async def fail_task(world: World) -> None:
    world.controller.start()
    world.create_run("r1")
    await world.settle()
    world.finish_pod("r1-a-1", "Failed")
    await world.settle()


def outbox_of(world: World) -> list[dict[str, Any]]:
    return list(world.api.objects[run_path("r1")]["status"].get("notifications", []))


async def until(world: World, check: Any, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        await world.settle()
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not in time: {outbox_of(world)}")


def everything_shown(world: World, caplog: pytest.LogCaptureFixture) -> str:
    return repr(world.api.objects[run_path("r1")]) + repr(world.api.events) + caplog.text


def test_a_failure_is_recorded_before_it_is_sent_then_delivered_once_per_notifier(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        async with Receiver([500]) as receiver:
            world = world_with_hook(f"http://127.0.0.1:{receiver.port}/hook/{MARKER}")
            await fail_task(world)
            # In the write that records the failure, before any answer.
            assert world.state("r1") == "failed"
            recorded = outbox_of(world)
            assert [(n["event"], n["notifier"]) for n in recorded] == [
                ("taskFailure", "onFailure[0]"),
                ("runFailure", "onRunFailure[0]"),
            ]
            await until(world, lambda: all("delivered" in n for n in outbox_of(world)))
            await world.controller.stop()
            ids = [n["id"] for n in recorded]
            # The first answer was a 500: one event was sent twice, with the same key.
            assert sorted(h["Idempotency-Key"] for h, _ in receiver.received) == sorted(
                [*ids, ids[0]] if receiver.received[0][1]["id"] == ids[0] else [*ids, ids[1]]
            )
            task_doc = next(d for _, d in receiver.received if d["event"] == "taskFailure")
            assert task_doc["task"] == "a" and task_doc["try"] == 1
            assert task_doc["state"] == "failed" and task_doc["id"] == ids[0]
            assert "logTail" not in task_doc  # not asked for
            assert MARKER not in everything_shown(world, caplog)

    asyncio.run(scenario())


def test_a_dead_endpoint_is_given_up_with_an_event_and_holds_nothing_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        # A port that takes connections and never answers: each attempt waits its timeout.
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(16)
            world = world_with_hook(f"http://127.0.0.1:{silent.getsockname()[1]}/{MARKER}")
            await fail_task(world)
            assert world.state("r1") == "failed"  # recorded without waiting for the endpoint
            await until(world, lambda: all("failed" in n for n in outbox_of(world)))
            await world.controller.stop()
        reasons = {n["failed"] for n in outbox_of(world)}
        assert reasons == {"3 attempts failed, the last: timed out"}
        assert [e["reason"] for e in world.api.events].count("NotificationFailed") == 2
        assert MARKER not in everything_shown(world, caplog)

    asyncio.run(scenario())


def test_a_pending_notification_is_sent_again_with_its_id_by_a_new_controller() -> None:
    async def scenario() -> None:
        async with Receiver([500, 500, 500, 500, 500, 500]) as receiver:
            world = world_with_hook(f"http://127.0.0.1:{receiver.port}/hook")
            await fail_task(world)
            await until(world, lambda: all("failed" in n for n in outbox_of(world)))
            await world.controller.stop()
            # As if the controller had died before any delivery: the entries are pending.
            status = world.api.objects[run_path("r1")]["status"]
            for entry in status["notifications"]:
                entry.pop("failed")
            sent_before = {h["Idempotency-Key"] for h, _ in receiver.received}
            receiver.received.clear()
            world.controller = Controller(cast(Kube, world.api), FAST, now=lambda: world.now)
            world.controller.start()
            world.watch_run("r1")  # the new controller's list
            await until(world, lambda: all("delivered" in n for n in outbox_of(world)))
            await world.controller.stop()
            assert {h["Idempotency-Key"] for h, _ in receiver.received} == sent_before
            assert world.controller.sender.sizes() == {
                "notifications_sending": 0,
                "notification_outcomes": 0,
                "notification_urls": 1,
            }

    asyncio.run(scenario())
