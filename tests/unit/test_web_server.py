"""The web view's server without an API server: pages rendered from a filled Store, with
every user-supplied string escaped, a strict Content-Security-Policy, CSRF refusals, and
the event stream."""

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bench.web_sample import backfill_body, dag_body, runs_of
from kubedag.kube.client import Kube
from kubedag.web import pages
from kubedag.web.security import CONTENT_SECURITY_POLICY, CSRF_COOKIE
from kubedag.web.server import build_app
from kubedag.web.settings import WebSettings
from kubedag.web.store import Store

EVIL = "\"'><script>alert(1)</script>"


def evil_store() -> Store:
    """Objects whose free-form strings (owner, tags, conf, messages, outputs, task names of
    an older run) carry markup and quotes."""
    store = Store()
    dag = dag_body("etl", 5)
    dag["spec"]["owner"] = EVIL
    dag["spec"]["tags"] = [EVIL]
    dag["spec"]["description"] = EVIL
    store.put("DAG", dag)
    for body in runs_of("etl", 5, 5):
        body["spec"]["conf"] = {EVIL: EVIL}
        body["status"]["tasks"][0]["message"] = EVIL
        body["status"]["tasks"][0]["outputs"] = {"x": EVIL}
        store.put("DagRun", body)
    backfill = backfill_body("etl")
    backfill["status"]["conditions"] = [
        {"type": "Ready", "status": "False", "reason": "Bad", "message": EVIL,
         "lastTransitionTime": "2026-11-01T00:00:00Z"}
    ]  # fmt: skip
    store.put("Backfill", backfill)
    for kind in ("DAG", "DagRun", "Backfill"):
        store.synced.add(kind)  # type: ignore[arg-type]
    return store


Scenario = Callable[[TestClient[Any, Any], Store], Awaitable[None]]


def serve(scenario: Scenario, settings: WebSettings | None = None) -> None:
    async def main() -> None:
        store = evil_store()
        app = build_app(store, Kube(None), settings or WebSettings())  # type: ignore[arg-type]
        async with TestClient(TestServer(app)) as client:
            await scenario(client, store)

    asyncio.run(main())


RUN = runs_of("etl", 5, 5)[3]["metadata"]["name"]  # a failed run
PAGES = [
    "/",
    "/?namespace=" + EVIL,
    "/dags/etl/etl",
    "/dags/etl/etl?runs=2",
    "/dags/etl/etl/graph",
    f"/dags/etl/etl/graph?run={RUN}",
    f"/runs/etl/{RUN}",
    "/backfills",
    "/runs/etl/" + quote(EVIL, safe=""),
    "/runs/etl/" + EVIL,  # no route: a plain-text 404
]


@pytest.mark.parametrize("path", PAGES)
def test_pages_escape_every_user_string_and_carry_a_strict_csp(path: str) -> None:
    async def scenario(client: TestClient[Any, Any], _: Store) -> None:
        response = await client.get(path)
        text = await response.text()
        assert response.status in (200, 404), text
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "<script>alert" not in text
        if response.content_type != "text/html":
            return
        # the only script is the file from /static; no inline handlers or styles
        scripts = re.findall(r"<script[^>]*>", text)
        assert scripts == [f'<script src="/static/web.js?v={pages.static_version()}" defer>']
        assert not re.search(r"\son[a-z]+=", text) and " style=" not in text
        assert response.status == (404 if "runs/etl/%22" in path else 200)

    serve(scenario)


def test_the_escaped_strings_are_shown() -> None:
    async def scenario(client: TestClient[Any, Any], _: Store) -> None:
        home = await (await client.get("/")).text()
        assert "&#34;&#39;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in home
        detail = await (await client.get(f"/runs/etl/{RUN}")).text()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail

    serve(scenario)


def test_the_grid_colours_each_cell_by_state() -> None:
    async def scenario(client: TestClient[Any, Any], _: Store) -> None:
        text = await (await client.get("/dags/etl/etl")).text()
        cell = r'class="cell (state-[a-z_]+)" data-run="([^"]+)" data-task="([^"]+)"'
        cells = re.findall(cell, text)
        assert len(cells) == 5 * 5
        failed = [c for c in cells if c[0] == "state-failed"]
        assert [(c[1], c[2]) for c in failed] == [(RUN, "load-03")]

    serve(scenario)


def test_static_files_are_served_and_nothing_else() -> None:
    async def scenario(client: TestClient[Any, Any], _: Store) -> None:
        script = await client.get("/static/web.js")
        assert script.status == 200 and script.content_type == "text/javascript"
        assert script.headers["Cache-Control"] == "no-store"
        versioned = await client.get(f"/static/web.js?v={pages.static_version()}")
        assert "immutable" in versioned.headers["Cache-Control"]
        assert "EventSource" in await script.text()
        assert (await client.get("/static/../server.py")).status == 404
        assert (await client.get("/static/pages.py")).status == 404

    serve(scenario)


def test_a_post_without_the_csrf_token_is_refused() -> None:
    async def scenario(client: TestClient[Any, Any], _: Store) -> None:
        page = await client.get("/login")
        cookie = page.cookies[CSRF_COOKIE]
        assert "HttpOnly" in cookie.output() and "SameSite=Strict" in cookie.output()
        token = cookie.value
        assert f'name="csrf" value="{token}"' in await page.text()  # every form carries it
        for form in ({"namespace": "etl", "dag": "etl"}, {"csrf": "forged", "dag": "etl"}):
            refused = await client.post("/actions/pause", data=form)
            assert refused.status == 403
            assert "CSRF" in await refused.text()
        # with the token: past the CSRF check, then refused for want of a sign-in
        unsigned = await client.post("/actions/pause", data={"csrf": token, "namespace": "etl"})
        assert unsigned.status == 401

    serve(scenario, WebSettings(actions=True))


def test_read_only_pages_offer_no_actions() -> None:
    async def scenario(client: TestClient[Any, Any], _: Store) -> None:
        text = await (await client.get(f"/runs/etl/{RUN}")).text()
        assert "/actions/" not in text and "read-only" in text
        assert (await client.get("/login")).status == 404

    serve(scenario)


def test_the_event_stream_tells_of_each_change() -> None:
    async def scenario(client: TestClient[Any, Any], store: Store) -> None:
        response = await client.get("/events")
        assert response.headers["Content-Type"] == "text/event-stream"

        async def lines() -> AsyncIterator[str]:
            async for raw in response.content:
                yield raw.decode().rstrip("\n")

        stream = lines()
        assert await anext(stream) == "retry: 2000"
        body = runs_of("etl", 5, 5)[4]
        body["status"]["tasks"][3]["state"] = "failed"
        store.put("DagRun", body)
        async for line in stream:
            if line.startswith("data: "):
                event = json.loads(line.removeprefix("data: "))
                break
        assert event["kind"] == "DagRun" and event["dag"] == "etl"
        assert event["tasks"]["load-03"] == "failed"
        response.close()

    serve(scenario)


class ReviewingKube:
    """The web view's own client behind a proxy: answers SubjectAccessReviews with
    `allowed`, records the other requests."""

    def __init__(self, allowed: bool) -> None:
        self.allowed = allowed
        self.reviews: list[dict[str, Any]] = []
        self.writes: list[tuple[str, str, Any]] = []

    async def request(self, method: str, path: str, body: Any = None, **_: Any) -> dict[str, Any]:
        if path.endswith("/subjectaccessreviews"):
            self.reviews.append(body["spec"])
            return {"status": {"allowed": self.allowed}}
        self.writes.append((method, path, body))
        return {}


@pytest.mark.parametrize("allowed", [False, True], ids=["denied", "allowed"])
def test_behind_a_proxy_a_subject_access_review_decides(allowed: bool) -> None:
    kube = ReviewingKube(allowed)
    settings = WebSettings(
        actions=True, proxy_user_header="X-Forwarded-User", proxy_groups_header="X-Groups"
    )

    async def main() -> None:
        app = build_app(evil_store(), kube, settings)  # type: ignore[arg-type]
        async with TestClient(TestServer(app)) as client:
            headers = {"X-Forwarded-User": "alice", "X-Groups": "data, ops"}
            page = await client.get("/dags/etl/etl", headers=headers)
            text = await page.text()
            assert "alice" in text and 'action="/actions/pause"' in text
            token = page.cookies[CSRF_COOKIE].value
            answer = await client.post(
                "/actions/pause",
                data={"csrf": token, "namespace": "etl", "dag": "etl"},
                headers=headers,
            )
            assert answer.status == (200 if allowed else 403)
            message = await answer.text()
            if allowed:
                assert "dag.kubedag.io/etl paused" in message
            else:
                assert "Kubernetes RBAC refused this (403 Forbidden)" in message
            # Without the header: nobody to act as.
            anonymous = await client.post(
                "/actions/pause", data={"csrf": token, "namespace": "etl", "dag": "etl"}
            )
            assert anonymous.status == 401

    asyncio.run(main())
    assert kube.reviews == [
        {"user": "alice", "groups": ["data", "ops"],
         "resourceAttributes": {"namespace": "etl", "verb": "patch", "group": "kubedag.io",
                                "resource": "dags", "name": "etl"}}
    ]  # fmt: skip
    patched = [("PATCH", "/apis/kubedag.io/v1alpha1/namespaces/etl/dags/etl",
                {"spec": {"paused": True}})]  # fmt: skip
    assert kube.writes == (patched if allowed else [])
