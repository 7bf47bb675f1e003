"""The controller's own watches (task pods, DagRuns): a list, then a watch from its version,
resumed where a stream ended; a 410 Gone (an ERROR event or the response) lists again; a
listed object comes as type None after its namespace's `on_listed`; a handler's error does
not stop the watch."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubedag import GROUP, VERSION
from kubedag.kube.client import ApiError
from kubedag.reconcilers import list_watch
from kubedag.reconcilers.list_watch import ListWatch
from kubedag.reconcilers.operator import own_watches

SELECTOR = "app.kubernetes.io/managed-by=kubedag"


def pod(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": version}}


class Script:
    """The API server: each list answers the next listing; each watch the next stream (a list
    of events, or an exception raised once the events are out)."""

    def __init__(
        self, listings: list[list[dict[str, Any]]], streams: list[Any], path: str = "/api/v1/pods"
    ) -> None:
        self.path = path
        self.listings = listings
        self.streams = streams
        self.watched_from: list[str] = []
        self.selectors: set[str | None] = set()

    async def request(
        self, method: str, path: str, *, query: dict[str, str] | None
    ) -> dict[str, Any]:
        assert (method, path) == ("GET", self.path)
        self.selectors.add((query or {}).get("labelSelector"))
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


def run(
    script: Script, monkeypatch: pytest.MonkeyPatch, fail_on: str = "", selector: str = SELECTOR
) -> list[Any]:
    monkeypatch.setattr(list_watch, "watch_events", script.watch)
    monkeypatch.setattr(list_watch, "RETRY_SECONDS", 0)
    seen: list[Any] = []

    def on_event(kind: str | None, body: dict[str, Any]) -> None:
        seen.append((kind, body["metadata"]["name"]))
        if body["metadata"]["name"] == fail_on:
            raise RuntimeError("a handler's bug")

    async def scenario() -> None:
        watch = ListWatch(
            script,  # type: ignore[arg-type]
            script.path,
            selector,
            on_event,
            seen.append,
            what="test watch",
        )
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


def test_a_watch_of_every_object_sends_no_label_selector(monkeypatch: pytest.MonkeyPatch) -> None:
    path = f"/apis/{GROUP}/{VERSION}/namespaces/ns/dagruns"
    script = Script([[pod("r1", "5")]], [[{"type": "ADDED", "object": pod("r2", "11")}]], path)
    seen = run(script, monkeypatch, selector="")
    assert seen == ["ns", (None, "r1"), ("ADDED", "r2")]
    assert script.selectors == {None}  # neither the list nor the watch narrows by label


class _Controller:
    kube = None

    def __init__(self) -> None:
        self.pod_events: list[Any] = []
        self.run_events: list[Any] = []
        self.relist = self

    def on_pod_event(self, kind: str | None, body: dict[str, Any]) -> None:
        self.pod_events.append(kind)

    def on_run_event(self, kind: str | None, body: dict[str, Any]) -> None:
        self.run_events.append(kind)

    def listed(self, namespace: str) -> None:
        pass


@pytest.mark.parametrize(
    ("namespaces", "paths"),
    [
        (None, ["/api/v1/pods", f"/apis/{GROUP}/{VERSION}/dagruns"]),
        (
            frozenset({"b", "a"}),
            [
                "/api/v1/namespaces/a/pods",
                "/api/v1/namespaces/b/pods",
                f"/apis/{GROUP}/{VERSION}/namespaces/a/dagruns",
                f"/apis/{GROUP}/{VERSION}/namespaces/b/dagruns",
            ],
        ),
    ],
)
def test_the_controller_watches_its_pods_by_label_and_every_dagrun(
    namespaces: frozenset[str] | None, paths: list[str]
) -> None:
    controller = _Controller()
    watches = own_watches(controller, namespaces)  # type: ignore[arg-type]
    assert [w.path for w in watches] == paths
    pods = [w for w in watches if w.path.endswith("/pods")]
    runs = [w for w in watches if w.path.endswith("/dagruns")]
    assert {w.label_selector for w in pods} == {"app.kubernetes.io/managed-by=kubedag"}
    assert {w.label_selector for w in runs} == {""}
    pods[0].on_event("ADDED", {})
    runs[0].on_event("MODIFIED", {})
    assert (controller.pod_events, controller.run_events) == (["ADDED"], ["MODIFIED"])
