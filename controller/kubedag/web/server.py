"""The web view's HTTP server (aiohttp): the read-only pages, the event stream that keeps them
live, the static files; the actions are in kubedag.web.actions. Pages are rendered from the
Store on each request: no database, nothing but the API server's objects."""

import asyncio
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kubedag.commands.common import CliError
from kubedag.commands.logs import gone_message, log_targets
from kubedag.kube.client import ApiError, Kube
from kubedag.manifests.render import CONTAINER_NAME
from kubedag.views.backfills import build_backfill_rows
from kubedag.views.dags import build_dag_rows
from kubedag.views.graph import build_graph_view
from kubedag.views.grid import build_grid, parse_run_count, runs_oldest_first
from kubedag.views.run_detail import build_run_detail
from kubedag.web import actions, pages
from kubedag.web.identity import Callers, KnownUsers
from kubedag.web.keys import CALLERS, KNOWN_USERS, KUBE, SETTINGS, STORE
from kubedag.web.security import HEADERS, protect
from kubedag.web.settings import LOG_LIMIT_BYTES, LOG_TAIL_LINES, WebSettings
from kubedag.web.store import Store

if TYPE_CHECKING:
    from kubernetes.aio import client as aio_client

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 15.0


def build_app(
    store: Store,
    kube: Kube,
    settings: WebSettings,
    base_configuration: "aio_client.Configuration | None" = None,
) -> web.Application:
    """The application; `kube` is the web view's own identity (reads), `base_configuration`
    where the callers' requests go (actions)."""
    app = web.Application(middlewares=[protect], client_max_size=1024 * 1024)
    app[STORE] = store
    app[KUBE] = kube
    app[SETTINGS] = settings
    app[CALLERS] = Callers(base_configuration)
    app[KNOWN_USERS] = KnownUsers()
    app.router.add_get("/", dags_page)
    app.router.add_get("/dags/{namespace}/{dag}", grid_page)
    app.router.add_get("/dags/{namespace}/{dag}/graph", graph_page)
    app.router.add_get("/runs/{namespace}/{run}", run_page)
    app.router.add_get("/runs/{namespace}/{run}/tasks/{task}/tries/{try}/log", log_page)
    app.router.add_get("/backfills", backfills_page)
    app.router.add_get("/events", events)
    app.router.add_get("/static/{file}", static)
    app.router.add_get("/healthz", healthz)
    actions.add_routes(app)
    return app


def _html(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    text = pages.render(template, **actions.page_context(request), **context)
    return web.Response(text=text, status=status, content_type="text/html")


def not_found(request: web.Request, what: str) -> web.Response:
    return _html(
        request,
        "message.html",
        404,
        heading="Not found",
        message=what,
        error=True,
        back="/",
        live=False,
    )


def _namespace_query(request: web.Request) -> str | None:
    namespace = request.query.get("namespace") or None
    return namespace


async def dags_page(request: web.Request) -> web.Response:
    store, namespace = request.app[STORE], _namespace_query(request)
    rows = build_dag_rows(store.all_dags(namespace), store.all_runs(namespace))
    return _html(request, "dags.html", rows=rows, namespace=namespace or "",
                 scope_namespace=namespace or "")  # fmt: skip


async def grid_page(request: web.Request) -> web.Response:
    store = request.app[STORE]
    namespace, name = request.match_info["namespace"], request.match_info["dag"]
    dag = store.dag(namespace, name)
    runs = store.all_runs(namespace, name)
    if dag is None and not runs:
        return not_found(request, f"DAG {namespace}/{name} not found")
    count = parse_run_count(request.query.get("runs"))
    grid = build_grid(namespace, name, dag, runs, count, datetime.now(UTC))
    return _html(
        request, "grid.html", grid=grid, namespace=namespace, dag_name=name,
        paused=bool(dag and dag.spec.paused), scope_namespace=namespace, scope_dag=name,
    )  # fmt: skip


async def graph_page(request: web.Request) -> web.Response:
    store = request.app[STORE]
    namespace, name = request.match_info["namespace"], request.match_info["dag"]
    dag = store.dag(namespace, name)
    if dag is None:
        return not_found(request, f"DAG {namespace}/{name} not found")
    runs = runs_oldest_first(store.all_runs(namespace, name))
    wanted = request.query.get("run")
    run = store.run(namespace, wanted) if wanted else (runs[-1] if runs else None)
    if wanted and (run is None or run.spec.dag_name != name):
        return not_found(request, f"DagRun {namespace}/{wanted} of DAG {name} not found")
    graph = build_graph_view(namespace, dag, run)
    return _html(
        request, "graph.html", graph=graph, namespace=namespace, dag_name=name,
        paused=dag.spec.paused, run_names=[r.name for r in reversed(runs)],
        scope_namespace=namespace, scope_dag=name,
    )  # fmt: skip


async def run_page(request: web.Request) -> web.Response:
    store = request.app[STORE]
    namespace, name = request.match_info["namespace"], request.match_info["run"]
    run = store.run(namespace, name)
    if run is None:
        return not_found(request, f"DagRun {namespace}/{name} not found")
    detail = build_run_detail(run, store.dag(namespace, run.spec.dag_name), datetime.now(UTC))
    return _html(request, "run.html", run=detail, scope_namespace=namespace, scope_run=name)


async def log_page(request: web.Request) -> web.Response:
    store = request.app[STORE]
    namespace, name = request.match_info["namespace"], request.match_info["run"]
    task = request.match_info["task"]
    run = store.run(namespace, name)
    if run is None:
        return not_found(request, f"DagRun {namespace}/{name} not found")
    try:
        target = log_targets(run, task, int(request.match_info["try"]))[0]
    except (CliError, ValueError) as error:
        return not_found(request, str(error))
    text: str | None = None
    note = ""
    try:
        text = await request.app[KUBE].pod_log_tail(
            namespace, target.pod, container=CONTAINER_NAME, lines=LOG_TAIL_LINES,
            limit_bytes=LOG_LIMIT_BYTES,
        )  # fmt: skip
    except ApiError as error:
        note = gone_message(target) if error.not_found else f"pod {target.pod}: {error.message}"
    return _html(
        request, "log.html", namespace=namespace, run=name, task=task,
        try_number=target.try_number, pod=target.pod, text=text, note=note,
        truncated=text is not None and len(text.encode()) >= LOG_LIMIT_BYTES,
        limit_kib=LOG_LIMIT_BYTES // 1024, live=False,
    )  # fmt: skip


async def backfills_page(request: web.Request) -> web.Response:
    namespace = _namespace_query(request)
    rows = build_backfill_rows(request.app[STORE].all_backfills(namespace))
    return _html(request, "backfills.html", rows=rows, namespace=namespace or "",
                 scope_namespace=namespace or "")  # fmt: skip


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: one JSON message per change of a DAG, DagRun or Backfill."""
    response = web.StreamResponse(
        headers={
            **HEADERS,
            "Content-Type": "text/event-stream",
            "X-Accel-Buffering": "no",  # a proxy in front must not hold the stream back
        }
    )
    await response.prepare(request)
    store = request.app[STORE]
    queue = store.subscribe()
    try:
        await response.write(b"retry: 2000\n: connected\n\n")
        while True:
            try:
                data = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                await response.write(b": ping\n\n")
                continue
            await response.write(f"data: {data}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        store.unsubscribe(queue)
    return response


async def static(request: web.Request) -> web.Response:
    name = request.match_info["file"]
    if name not in pages.STATIC_FILES:
        raise web.HTTPNotFound()
    response = web.Response(body=pages.static_file(name), content_type=pages.STATIC_FILES[name])
    if request.query.get("v") == pages.static_version():
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


async def healthz(request: web.Request) -> web.Response:
    synced = request.app[STORE].synced
    if {"DAG", "DagRun", "Backfill"} <= synced:
        return web.Response(text="ok")
    return web.Response(status=503, text="the first lists have not arrived yet")
