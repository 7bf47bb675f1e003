"""The task pods' watch: a list, then a watch from its version, resumed where a stream ended;
a 410 Gone (an ERROR event or the response) lists again; a listed pod comes as type None
after its namespace's `on_listed`; a handler's error does not stop the watch."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubedag.kube.client import ApiError
from kubedag.reconcilers import pod_watch
from kubedag.reconcilers.pod_watch import PodWatch

SELECTOR = "app.kubernetes.io/managed-by=kubedag"


def pod(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": version}}


class Script:
    """The API server: each list answers the next listing; each watch the next stream (a list
    of events, or an exception raised once the events are out)."""

    def __init__(self, listings: list[list[dict[str, Any]]], streams: list[Any]) -> None:
        self.listings = listings
        self.streams = streams
        self.watched_from: list[str] = []
        self.selectors: set[str | None] = set()

    async def request(self, method: str, path: str, *, query: dict[str, str]) -> dict[str, Any]:
        assert (method, path) == ("GET", "/api/v1/pods")
        self.selectors.add(query.get("labelSelector"))
        items = self.listings.pop(0)
        version = str(10 * (len(self.watched_from) + 1))
        return {"items": items, "metadata": {"resourceVersion": version}}

    async def watch(
        self, kube: Any, path: str, version: str, *, label_selector: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        self.watched_from.append(version)
        self.selectors.add(label_selector)
        if not self.streams:
            await asyncio.Event().wait()  # the last stream stays open
        stream = self.streams.pop(0)
        if isinstance(stream, Exception):
            raise stream
        for event in stream:
            if isinstance(event, Exception):
                raise event
            yield event


def run(script: Script, monkeypatch: pytest.MonkeyPatch, fail_on: str = "") -> list[Any]:
    monkeypatch.setattr(pod_watch, "watch_events", script.watch)
    monkeypatch.setattr(pod_watch, "RETRY_SECONDS", 0)
    seen: list[Any] = []

    def on_event(kind: str | None, body: dict[str, Any]) -> None:
        seen.append((kind, body["metadata"]["name"]))
        if body["metadata"]["name"] == fail_on:
            raise RuntimeError("a handler's bug")

    async def scenario() -> None:
        watch = PodWatch(script, "/api/v1/pods", SELECTOR, on_event, seen.append)  # type: ignore[arg-type]
        task = asyncio.create_task(watch.run())
        for _ in range(50):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    return seen


def test_a_listing_then_the_watch_from_its_version_resumed_where_each_stream_ended(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = Script(
        [[pod("a", "5"), pod("b", "7")]],
        [
            [
                {"type": "MODIFIED", "object": pod("a", "11")},
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "12"}}},
            ],  # the server ends the watch after its timeout
            [{"type": "DELETED", "object": pod("b", "13")}, ConnectionResetError("cut")],
        ],
    )
    seen = run(script, monkeypatch)
    assert seen == ["ns", (None, "a"), "ns", (None, "b"), ("MODIFIED", "a"), ("DELETED", "b")]
    assert script.watched_from == ["10", "12", "13"]  # never listed again
    assert script.selectors == {SELECTOR}


@pytest.mark.parametrize(
    "gone",
    [
        [{"type": "ERROR", "object": {"code": 410, "message": "too old resource version"}}],
        ApiError(410, "Gone", "too old resource version"),
    ],
)
def test_a_version_that_is_gone_lists_again(gone: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script([[pod("a", "5")], [pod("b", "20")]], [gone])
    seen = run(script, monkeypatch)
    assert seen == ["ns", (None, "a"), "ns", (None, "b")]
    assert script.watched_from == ["10", "20"]


def test_a_refused_watch_is_tried_again_from_the_same_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = Script([[]], [ApiError(500, "InternalError", "etcd"), []])
    run(script, monkeypatch)
    assert script.watched_from == ["10", "10", "10"]


def test_a_handler_s_error_does_not_stop_the_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script(
        [[]],
        [[{"type": "ADDED", "object": pod(name, v)} for name, v in (("bad", "11"), ("c", "12"))]],
    )
    seen = run(script, monkeypatch, fail_on="bad")
    assert seen == [("ADDED", "bad"), ("ADDED", "c")]
    assert script.watched_from == ["10", "12"]
