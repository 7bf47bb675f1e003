"""The web view's HTML: Jinja2 templates (kubedag/web/templates) with autoescaping on, so
every name, conf value, message and log line from the API is escaped where it is put; links
are built here with each path segment quoted."""

import hashlib
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from markupsafe import Markup, escape

from kubedag.views.graph import NODE_HEIGHT, NODE_WIDTH
from kubedag.views.states import STATE_COLORS

STATIC_FILES = {"web.js": "text/javascript", "web.css": "text/css"}
LEGEND = ("none", *sorted(s for s in STATE_COLORS if s not in ("removed", "up_for_reschedule")))


def _segment(text: str) -> str:
    return quote(text, safe="")


def url_dag(namespace: str, dag: str, **query: str) -> str:
    path = f"/dags/{_segment(namespace)}/{_segment(dag)}"
    return path + (f"?{urlencode(query)}" if query else "")


def url_graph(namespace: str, dag: str, run: str | None) -> str:
    path = f"/dags/{_segment(namespace)}/{_segment(dag)}/graph"
    return path + (f"?{urlencode({'run': run})}" if run else "")


def url_run(namespace: str, run: str) -> str:
    return f"/runs/{_segment(namespace)}/{_segment(run)}"


def url_log(namespace: str, run: str, task: str, try_number: int) -> str:
    return f"{url_run(namespace, run)}/tasks/{_segment(task)}/tries/{try_number}/log"


@jinja2.pass_context
def _hidden(context: jinja2.runtime.Context, **fields: str) -> Markup:
    """Hidden form fields: the CSRF token, then `fields`."""
    pairs = [("csrf", str(context.get("csrf") or "")), *fields.items()]
    return Markup("").join(
        Markup('<input type="hidden" name="{}" value="{}">').format(name, value)
        for name, value in pairs
    )


@cache
def static_version() -> str:
    """A digest of the static files: their URLs change with their content, so browsers may
    keep them as long as they like."""
    digest = hashlib.sha256()
    for name in STATIC_FILES:
        digest.update(static_file(name))
    return digest.hexdigest()[:12]


def static_file(name: str) -> bytes:
    return resources.files("kubedag.web").joinpath("static", name).read_bytes()


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("kubedag.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        url_dag=url_dag,
        url_graph=url_graph,
        url_run=url_run,
        url_log=url_log,
        hidden=_hidden,
        legend=LEGEND,
        node_width=NODE_WIDTH,
        node_height=NODE_HEIGHT,
        static_version=static_version(),
    )
    return env


PAGE_DEFAULTS: dict[str, Any] = {
    "actions": False,
    "user": "",
    "signed_in": False,
    "csrf": "",
    "can_act": False,
    "live": True,
    "scope_namespace": "",
    "scope_dag": "",
    "scope_run": "",
    "namespace": "",
}


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render({**PAGE_DEFAULTS, **context})


def plain(text: str) -> str:
    """Text escaped for HTML, for the few strings put together outside a template."""
    return str(escape(text))
