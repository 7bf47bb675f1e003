"""The one layer that talks to the Kubernetes API: a small async JSON client.

Everything else in kubedag works on plain dicts and pydantic models. Requests go through
kubernetes.aio's ApiClient (for its kubeconfig/in-cluster auth) but skip its typed models:
the controller only needs JSON, and decoding into models costs more than the request.
"""

import asyncio
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import orjson

if TYPE_CHECKING:
    import aiohttp
    from kubernetes.aio import client as aio_client

from kubedag import GROUP, VERSION
from kubedag.kube import metrics
from kubedag.manifests import render

log = logging.getLogger(__name__)

FIELD_MANAGER = "kubedag-controller"
_PROXY_VARIABLES = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
)
MERGE_PATCH = "application/merge-patch+json"
# client-go's rest.Request: a 429 or 5xx answer with Retry-After is retried after the time
# it asks, at most this many times; then the error goes to the caller (the work queue).
MAX_RETRIES = 10
MAX_RETRY_AFTER = 10.0  # seconds; a longer ask is met with this
REQUEST_TIMEOUT = 300.0  # seconds, as kubernetes' REST client


def retry_after(status: int, header: str | None) -> float | None:
    """How long to wait before sending a request again, as client-go's `checkWait`: only for
    429 Too Many Requests or a 5xx with a Retry-After of whole seconds (the API server's max
    in-flight and priority-and-fairness filters send 429 with `Retry-After: 1`; a request
    they refuse was not processed, so sending it again is safe for every verb)."""
    if status != 429 and status < 500:
        return None
    if header is None or not header.strip().isdigit():
        return None
    return min(float(header.strip()), MAX_RETRY_AFTER)


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def already_exists(self) -> bool:
        return self.status == 409 and self.reason == "AlreadyExists"

    @property
    def conflict(self) -> bool:
        return self.status == 409 and self.reason == "Conflict"

    @property
    def passing(self) -> bool:
        """The API server is busy or failing (5xx, 429): the same request may succeed later."""
        return self.status >= 500 or self.status == 429


def api_error(status: int, reason: str, body: bytes) -> ApiError:
    """The error an answer of `status` >= 400 stands for: its Status object's reason and
    message, or the HTTP reason and the start of the body when it is not JSON."""
    try:
        payload = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    return ApiError(
        status,
        str(payload.get("reason") or reason),
        str(payload.get("message") or body[:300].decode(errors="replace")),
    )


def custom_path(plural: str, namespace: str, name: str | None = None, sub: str = "") -> str:
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}"
    if name:
        path += f"/{quote(name)}"
    return path + (f"/{sub}" if sub else "")


def core_path(plural: str, namespace: str, name: str | None = None) -> str:
    path = f"/api/v1/namespaces/{namespace}/{plural}"
    return path + (f"/{quote(name)}" if name else "")


async def load_configuration(kubeconfig: str | None = None) -> "aio_client.Configuration":
    """How kubedag logs in, for its own requests and for kopf's watches. In a pod: the
    ServiceAccount at KUBERNETES_SERVICE_HOST/PORT, as client-go's in-cluster config (no DNS
    lookup of kubernetes.default.svc); elsewhere: the kubeconfig (the given file, else
    $KUBECONFIG, else ~/.kube/config)."""
    # The client library is imported on first use: it takes most of a second, which the
    # offline CLI commands (validate, plan, render) should not pay.
    from kubernetes.aio import client as aio_client
    from kubernetes.aio import config as aio_config

    configuration = aio_client.Configuration()
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        aio_config.load_incluster_config(client_configuration=configuration)
    else:
        await aio_config.load_kube_config(
            config_file=kubeconfig, client_configuration=configuration
        )
    return configuration


@dataclass(frozen=True)
class Answer:
    """An API server's response, read whole."""

    status: int
    reason: str
    retry_after: str | None
    body: bytes


class Transport:
    """Sends one request and reads its whole response: the login from kubernetes.aio's
    configuration (kubeconfig or in-cluster, its TLS context and tokens), the connections
    from one aiohttp session. Bodies arrive and leave as bytes: the typed ApiClient's
    request path (serialising through its models' sanitiser, its REST wrapper) cost more
    CPU than the request itself (docs/design.md, "JSON at the edge")."""

    def __init__(self, api_client: "aio_client.ApiClient") -> None:
        self._api = api_client
        self._session: aiohttp.ClientSession | None = None
        self._timeout: aiohttp.ClientTimeout | None = None

    def _open(self) -> "aiohttp.ClientSession":
        import aiohttp

        configuration = self._api.configuration
        connector = aiohttp.TCPConnector(
            limit=configuration.connection_pool_maxsize,
            ssl=self._api.rest_client.ssl_context,
        )
        options = getattr(configuration, "client_session_kwargs", None) or {}
        self._timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        return aiohttp.ClientSession(connector=connector, **{"trust_env": True, **options})

    async def send(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> Answer:
        configuration = self._api.configuration
        # Per request, as the ApiClient does: a token may be refreshed (in-cluster, exec).
        await self._api.update_params_for_auth(headers, [], ["BearerToken"], url, method, None)
        if self._session is None:
            self._session = self._open()
        extra: dict[str, Any] = {}
        if configuration.proxy:
            extra["proxy"] = configuration.proxy
        if configuration.tls_server_name:
            extra["server_hostname"] = configuration.tls_server_name
        async with self._session.request(
            method,
            configuration.host + url,
            data=body,
            headers=headers,
            timeout=self._timeout,
            **extra,
        ) as response:
            data = await response.read()
            return Answer(
                response.status, response.reason or "", response.headers.get("Retry-After"), data
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class Kube:
    """Authenticated JSON requests to the API server."""

    def __init__(
        self, api_client: "aio_client.ApiClient", transport: Transport | None = None
    ) -> None:
        self._api = api_client
        self._transport = transport or Transport(api_client)
        self.requests = 0
        self.throttled = 0  # answers that asked to wait (Retry-After), each waited out
        # Named in the managedFields of what it creates and patches: a shard's own name
        # shows which shard made a run or a pod.
        self.field_manager = FIELD_MANAGER
        self._background: set[asyncio.Task[Any]] = set()

    def in_background(self, requests: Coroutine[Any, Any, Any], what: str) -> None:
        """Requests whose outcome a pass does not need (best-effort Events, the deletion of
        a finished run's pods): started now, awaited by no one, so the pass that causes
        them ends one round trip sooner each. A failure is logged; what it should have
        done is done again by the next pass that finds it undone."""
        task = asyncio.get_running_loop().create_task(requests, name=what)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: "asyncio.Task[Any]") -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s failed: %s", task.get_name(), task.exception())

    @classmethod
    async def connect(cls, kubeconfig: str | None = None) -> "Kube":
        configuration = await load_configuration(kubeconfig)
        configuration.connection_pool_maxsize = 32
        if not any(os.environ.get(v) for v in _PROXY_VARIABLES):
            # aiohttp's trust_env re-reads ~/.netrc and the proxy variables on every request.
            configuration.client_session_kwargs = {"trust_env": False}
        from kubernetes.aio import client as aio_client

        return cls(aio_client.ApiClient(configuration))

    @property
    def api_client(self) -> "aio_client.ApiClient":
        """For the kubernetes.aio APIs that take a client (leader election)."""
        return self._api

    async def close(self) -> None:
        await asyncio.gather(*self._background, return_exceptions=True)
        await self._transport.close()
        await self._api.close()

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, str] | None = None,
        content_type: str = "application/json",
        read: bool = True,
    ) -> dict[str, Any]:
        """One request; the response's object (not decoded when not `read`: {})."""
        url = path + (f"?{urlencode(query)}" if query else "")
        data = None if body is None else orjson.dumps(body)
        for attempt in range(MAX_RETRIES + 1):
            self.requests += 1
            answer = await self._send(method, path, url, data, content_type)
            wait = retry_after(answer.status, answer.retry_after)
            if wait is None or attempt == MAX_RETRIES:
                break
            self.throttled += 1
            log.debug("%s %s: %s, again in %.0f s", method, path, answer.status, wait)
            await asyncio.sleep(wait)
        if answer.status >= 400:
            raise api_error(answer.status, answer.reason, answer.body)
        if not read or not answer.body:
            return {}
        payload: dict[str, Any] = orjson.loads(answer.body)
        return payload

    async def _send(
        self,
        method: str,
        path: str,
        url: str,
        data: bytes | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> Answer:
        """Send a request and read its response, counted and timed in `kube/metrics.py` (a
        request that gets no response counts as `<error>`)."""
        verb, resource = metrics.describe(method, path)
        headers = {"Accept": accept}
        if data is not None:
            headers["Content-Type"] = content_type
        started = time.perf_counter()
        code: int | str = metrics.NO_RESPONSE
        try:
            answer = await self._transport.send(method, url, data, headers)
            code = answer.status
            return answer
        finally:
            metrics.record(verb, resource, code, time.perf_counter() - started)

    async def get(self, path: str) -> dict[str, Any] | None:
        try:
            return await self.request("GET", path)
        except ApiError as error:
            if error.not_found:
                return None
            raise

    async def create(self, path: str, manifest: dict[str, Any]) -> dict[str, Any] | None:
        """Create; None when it already exists (deterministic names make that success)."""
        try:
            return await self.request(
                "POST", path, manifest, query={"fieldManager": self.field_manager}
            )
        except ApiError as error:
            if error.already_exists:
                return None
            raise

    async def delete(self, path: str, *, propagation: str = "Background") -> bool:
        try:
            await self.request("DELETE", path, {"propagationPolicy": propagation}, read=False)
            return True
        except ApiError as error:
            if error.not_found:
                return False
            raise

    async def list(self, path: str, *, label_selector: str) -> list[dict[str, Any]]:
        """The items of a collection that carry the labels (one page: kubedag lists only
        small sets, e.g. a DAG's snapshots)."""
        listed = await self.request("GET", path, query={"labelSelector": label_selector})
        return list(listed.get("items") or [])

    async def delete_collection(
        self, path: str, *, label_selector: str, field_selector: str | None = None
    ) -> None:
        """Delete every object of the collection that carries the labels (and matches the
        fields), in one request."""
        query = {"labelSelector": label_selector}
        if field_selector:
            query["fieldSelector"] = field_selector
        await self.request(
            "DELETE",
            path,
            {"propagationPolicy": "Background"},
            query=query,
            read=False,  # the deleted objects: nothing here reads them
        )

    async def pod_log(
        self, namespace: str, name: str, *, container: str, follow: bool
    ) -> AsyncIterator[bytes]:
        """A pod container's log as it arrives (with `follow`, until the container ends)."""
        path = core_path("pods", namespace, name) + "/log"
        query = {"container": container, "follow": "true" if follow else "false"}
        params = await self._api.param_serialize(
            method="GET",
            resource_path=f"{path}?{urlencode(query)}",
            header_params={"Accept": "*/*"},
            auth_settings=["BearerToken"],
        )
        self.requests += 1
        # No overall timeout: a followed log stays open as long as the container runs.
        import aiohttp

        unbounded = aiohttp.ClientTimeout(total=None, sock_connect=30)
        started, code = time.perf_counter(), metrics.NO_RESPONSE
        try:
            response = await self._api.call_api(*params, _request_timeout=unbounded)
            code = response.status
        finally:  # timed to the response's headers: the stream may last as long as the pod
            metrics.record("get", "pods/log", code, time.perf_counter() - started)
        if response.status >= 400:
            raise api_error(response.status, str(response.reason), await response.read())
        async for chunk in response.response.content.iter_any():
            yield chunk

    async def pod_log_tail(
        self, namespace: str, name: str, *, container: str, lines: int, limit_bytes: int = 65536
    ) -> str:
        """The last `lines` lines of a pod container's log (for a notification, the web
        view), at most `limit_bytes` of them."""
        path = core_path("pods", namespace, name) + "/log"
        query = {"container": container, "tailLines": str(lines), "limitBytes": str(limit_bytes)}
        self.requests += 1
        url = f"{path}?{urlencode(query)}"
        answer = await self._send("GET", path, url, accept="*/*")
        if answer.status >= 400:
            raise api_error(answer.status, answer.reason, answer.body)
        return answer.body.decode(errors="replace")

    async def patch_status(
        self, path: str, status: dict[str, Any], resource_version: str | None
    ) -> dict[str, Any]:
        """Merge-patch the status subresource; with a resourceVersion the write fails with
        Conflict if the object changed since it was read (optimistic concurrency)."""
        body: dict[str, Any] = {"status": status}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        return await self.request(
            "PATCH",
            path + "/status",
            body,
            query={"fieldManager": self.field_manager},
            content_type=MERGE_PATCH,
        )

    async def post_event(
        self,
        involved: dict[str, Any],
        *,
        type_: str,
        reason: str,
        message: str,
        now: datetime | None = None,
    ) -> None:
        """An Event on `involved`; best effort: a reconcile never fails for an event."""
        event = render.event(
            involved,
            type_=type_,
            reason=reason,
            message=message,
            now=now or datetime.now(UTC),
            unique=os.urandom(8).hex(),
            reporting_instance=socket.gethostname(),
        )
        try:
            await self.request(
                "POST", core_path("events", involved["namespace"]), event, read=False
            )
        except ApiError as error:
            log.warning("could not post event %s on %s: %s", reason, involved.get("name"), error)
