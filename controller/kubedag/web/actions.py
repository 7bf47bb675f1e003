"""The web view's actions (trigger with conf, clear, mark, pause and unpause, backfill): the
CLI's own requests (kubedag.commands), made with the caller's identity. Off unless
`kubedag web --actions`; every form carries the CSRF token (kubedag.web.security)."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from kubedag.commands.backfill import create_backfill
from kubedag.commands.clear import new_request, put_request
from kubedag.commands.common import CliError, parse_conf
from kubedag.commands.pause import set_paused
from kubedag.commands.trigger import trigger
from kubedag.core.dates import parse_time
from kubedag.kube.client import ApiError, Kube
from kubedag.models.dagrun import RequestAction
from kubedag.web import pages
from kubedag.web.identity import (
    Caller,
    Permission,
    forbidden_text,
    proxy_user_may,
)
from kubedag.web.keys import CALLERS, KNOWN_USERS, KUBE, SETTINGS
from kubedag.web.security import TOKEN_COOKIE, csrf_token, set_cookie
from kubedag.web.settings import WebSettings

Form = MultiDictProxy[str | bytes | Any]
Action = Callable[[Kube, Form], Awaitable[str]]


def add_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_post("/actions/{action}", act)


def _settings(request: web.Request) -> WebSettings:
    return request.app[SETTINGS]


def caller(request: web.Request) -> Caller | None:
    settings = _settings(request)
    if not settings.actions:
        return None
    if settings.proxy_user_header:
        user = request.headers.get(settings.proxy_user_header, "")
        groups = request.headers.get(settings.proxy_groups_header or "", "")
        found = tuple(g.strip() for g in groups.split(",") if g.strip())
        return Caller(user, None, found) if user else None
    token = request.cookies.get(TOKEN_COOKIE, "")
    return Caller(request.app[KNOWN_USERS].user(token), token) if token else None


def page_context(request: web.Request) -> dict[str, Any]:
    settings = _settings(request)
    who = caller(request)
    return {
        "actions": settings.actions,
        "user": who.user if who else "",
        "signed_in": bool(who and who.token),
        "csrf": csrf_token(request),
        "can_act": who is not None,
    }


def _message(
    request: web.Request, heading: str, message: str, *, status: int = 200, back: str = "/"
) -> web.Response:
    text = pages.render(
        "message.html", **page_context(request), heading=heading, message=message,
        error=status >= 400, back=back, live=False,
    )  # fmt: skip
    return web.Response(text=text, status=status, content_type="text/html")


async def login_page(request: web.Request) -> web.Response:
    settings = _settings(request)
    if not settings.actions or settings.proxy_user_header:
        return _message(request, "Sign in", "This web view has no sign-in.", status=404)
    text = pages.render("login.html", **page_context(request), error="", live=False)
    return web.Response(text=text, content_type="text/html")


async def login(request: web.Request) -> web.Response:
    settings = _settings(request)
    if not settings.actions or settings.proxy_user_header:
        return _message(request, "Sign in", "This web view has no sign-in.", status=404)
    token = str((await request.post()).get("token", "")).strip()
    try:
        user = await request.app[CALLERS].who_is(token) if token else ""
    except ApiError as error:
        user, reason = "", error.message
    else:
        reason = "no token given"
    if not user:
        text = pages.render(
            "login.html", **page_context(request), live=False,
            error=f"The API server did not accept this token ({reason}).",
        )  # fmt: skip
        return web.Response(text=text, status=401, content_type="text/html")
    request.app[KNOWN_USERS].remember(token, user)
    response = web.HTTPSeeOther("/")
    set_cookie(response, request, TOKEN_COOKIE, token)
    return response


async def logout(request: web.Request) -> web.Response:
    response = web.HTTPSeeOther("/")
    response.del_cookie(TOKEN_COOKIE, path="/")
    return response


def _field(form: Form, name: str) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        raise CliError(f"the form has no {name}")
    return value.strip()


def _optional(form: Form, name: str) -> str | None:
    value = form.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


async def _trigger(kube: Kube, form: Form) -> str:
    conf = parse_conf(_optional(form, "conf"))
    date = _optional(form, "logical_date")
    try:
        logical = parse_time(date) if date and date != "now" else datetime.now(UTC)
    except ValueError:
        raise CliError(f"logical date {date!r}: expected an RFC 3339 time or a date") from None
    name = await trigger(
        kube, _field(form, "namespace"), _field(form, "dag"), conf or None, logical
    )
    return f"dagrun.kubedag.io/{name} created"


async def _pause(kube: Kube, form: Form) -> str:
    await set_paused(kube, _field(form, "namespace"), _field(form, "dag"), True)
    return f"dag.kubedag.io/{_field(form, 'dag')} paused"


async def _unpause(kube: Kube, form: Form) -> str:
    await set_paused(kube, _field(form, "namespace"), _field(form, "dag"), False)
    return f"dag.kubedag.io/{_field(form, 'dag')} unpaused"


async def _clear(kube: Kube, form: Form) -> str:
    task = _optional(form, "task")
    request = new_request(
        RequestAction.CLEAR, [task] if task else None, only_failed=bool(form.get("only_failed"))
    )
    return await put_request(kube, _field(form, "namespace"), _field(form, "run"), request)


async def _mark(kube: Kube, form: Form) -> str:
    state = _field(form, "state")
    if state not in ("success", "failed"):
        raise CliError(f"mark: state {state!r}: expected success or failed")
    action = RequestAction.MARK_SUCCESS if state == "success" else RequestAction.MARK_FAILED
    task = _optional(form, "task")
    request = new_request(action, [task] if task else None)
    return await put_request(kube, _field(form, "namespace"), _field(form, "run"), request)


async def _backfill(kube: Kube, form: Form) -> str:
    created = await create_backfill(
        kube,
        _field(form, "namespace"),
        _field(form, "dag"),
        from_=_field(form, "from"),
        to=_field(form, "to"),
        reprocess_behavior=_optional(form, "reprocess"),
        conf=parse_conf(_optional(form, "conf")),
    )
    return f"backfill.kubedag.io/{created['metadata']['name']} created"


ACTIONS: dict[str, tuple[Action, str, str]] = {
    # action: (request, verb, resource) as a SubjectAccessReview asks for it
    "trigger": (_trigger, "create", "dagruns"),
    "pause": (_pause, "patch", "dags"),
    "unpause": (_unpause, "patch", "dags"),
    "clear": (_clear, "patch", "dagruns"),
    "mark": (_mark, "patch", "dagruns"),
    "backfill": (_backfill, "create", "backfills"),
}


def _back(form: Form) -> str:
    namespace, dag, run = (_optional(form, k) for k in ("namespace", "dag", "run"))
    if namespace and run:
        return pages.url_run(namespace, run)
    if namespace and dag:
        return pages.url_dag(namespace, dag)
    return "/"


async def act(request: web.Request) -> web.Response:
    name = request.match_info["action"]
    if not _settings(request).actions or name not in ACTIONS:
        return _message(request, "Not found", f"no action {name!r}", status=404)
    who = caller(request)
    if who is None:
        return _message(request, "Sign in first", "Actions need a sign-in.", status=401,
                        back="/login")  # fmt: skip
    form = await request.post()
    back = _back(form)
    run, verb, resource = ACTIONS[name]
    try:
        namespace = _field(form, "namespace")
        if not _settings(request).shows(namespace):
            raise CliError(f"this web view does not serve namespace {namespace}", 404)
        if who.token is not None:
            kube = request.app[CALLERS].kube(who.token)
            try:
                done = await run(kube, form)
            finally:
                await kube.close()
        else:
            own = request.app[KUBE]
            target = _optional(form, "run") if resource == "dagruns" and verb == "patch" else None
            target = target or (_optional(form, "dag") if resource == "dags" else None)
            if not await proxy_user_may(own, who, Permission(verb, resource, namespace, target)):
                message = f'User "{who.user}" cannot {verb} resource "{resource}" in {namespace}'
                return _message(request, "Forbidden", forbidden_text(None, message),
                                status=403, back=back)  # fmt: skip
            done = await run(own, form)
    except ApiError as error:
        if error.status == 403:
            return _message(request, "Forbidden", forbidden_text(error, ""), status=403, back=back)
        return _message(request, "Failed", error.message, status=error.status, back=back)
    except CliError as error:
        if error.status == 403:
            return _message(request, "Forbidden", forbidden_text(None, str(error)), status=403,
                            back=back)  # fmt: skip
        status = error.status if error.status and error.status >= 400 else 400
        return _message(request, "Failed", str(error), status=status, back=back)
    return _message(request, "Done", done, back=back)
