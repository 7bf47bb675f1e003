"""How the web view serves safely: its response headers (a strict Content-Security-Policy:
scripts and styles from this server's /static only, nothing inline), the CSRF token every
form carries, and the sign-in cookie."""

import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from kubedag.web.keys import SETTINGS

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
CSRF_COOKIE = "kubedag_csrf"
CSRF_FIELD = "csrf"
TOKEN_COOKIE = "kubedag_token"
CSRF = web.RequestKey("csrf", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str) -> None:
    """HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it), Secure
    when served over HTTPS (or behind a proxy that says so)."""
    secure = request.app[SETTINGS].secure_cookies or request.secure
    secure = secure or request.headers.get("X-Forwarded-Proto", "") == "https"
    response.set_cookie(name, value, httponly=True, samesite="Strict", secure=secure, path="/")


def csrf_token(request: web.Request) -> str:
    return request[CSRF]


@web.middleware
async def protect(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Headers on every response; a CSRF cookie for every browser; a POST whose form lacks
    the cookie's token is refused before any handler runs."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    request[CSRF] = cookie or secrets.token_urlsafe(32)
    if request.method == "POST":
        form = await request.post()
        sent = str(form.get(CSRF_FIELD, ""))
        if not cookie or not sent or not secrets.compare_digest(sent, cookie):
            return _with_headers(
                web.Response(
                    status=403,
                    text="refused: this form has no valid CSRF token (reload the page and retry)",
                )
            )
    try:
        response = await handler(request)
    except web.HTTPException as error:  # e.g. a path no route matches
        response = web.Response(status=error.status, text=error.text or error.reason)
    if not cookie and not response.prepared:
        set_cookie(response, request, CSRF_COOKIE, request[CSRF])
    return _with_headers(response)


def _with_headers(response: web.StreamResponse) -> web.StreamResponse:
    if not response.prepared:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
    return response
