"""The harness's own API client: plain HTTPS with the admin client certificate.

Small and synchronous on purpose: one keep-alive connection per thread for requests, one
dedicated connection per watch stream, and ``/metrics`` read as text. The controller under
test uses its own client (kubedag.kube); nothing here is shared with it.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit


class ApiError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        text = body.decode("utf-8", errors="replace")[:500]
        super().__init__(f"{method} {path}: HTTP {status}: {text}")
        self.status = status


class Api:
    def __init__(self, server: str, *, ca: Path, cert: Path, key: Path) -> None:
        parts = urlsplit(server)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"server URL needs a host and port: {server}")
        self.host, self.port = parts.hostname, parts.port
        self._context = ssl.create_default_context(cafile=str(ca))
        self._context.load_cert_chain(str(cert), str(key))
        self._local = threading.local()

    def _connect(self, timeout: float | None = 60) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            self.host, self.port, context=self._context, timeout=timeout
        )

    def _connection(self) -> http.client.HTTPSConnection:
        conn: http.client.HTTPSConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def raw(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
    ) -> tuple[int, bytes]:
        """One request on this thread's keep-alive connection; reconnects once if it dropped."""
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = content_type
        for attempt in range(2):
            conn = self._connection()
            try:
                conn.request(method, path, body=payload, headers=headers)
                response = conn.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, ConnectionError, ssl.SSLError, TimeoutError):
                conn.close()
                self._local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> dict[str, Any]:
        status, data = self.raw(method, path, body, **kwargs)
        if status >= 400:
            raise ApiError(method, path, status, data)
        result: dict[str, Any] = json.loads(data) if data else {}
        return result

    def get(self, path: str) -> dict[str, Any] | None:
        status, data = self.raw("GET", path)
        if status == 404:
            return None
        if status >= 400:
            raise ApiError("GET", path, status, data)
        result: dict[str, Any] = json.loads(data)
        return result

    def get_bytes(self, path: str) -> bytes:
        """The object exactly as the API server serves it (to measure its size)."""
        status, data = self.raw("GET", path)
        if status >= 400:
            raise ApiError("GET", path, status, data)
        return data

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", path, body)

    def metrics(self) -> str:
        status, data = self.raw("GET", "/metrics")
        if status >= 400:
            raise ApiError("GET", "/metrics", status, data)
        return data.decode()

    @contextmanager
    def stream(
        self, path: str, query: dict[str, str]
    ) -> Iterator[tuple[http.client.HTTPSConnection, http.client.HTTPResponse]]:
        """A watch: a dedicated connection whose response is read line by line."""
        conn = self._connect(timeout=None)
        try:
            conn.request(
                "GET", f"{path}?{urlencode(query)}", headers={"Accept": "application/json"}
            )
            response = conn.getresponse()
            if response.status >= 400:
                raise ApiError("GET", path, response.status, response.read())
            yield conn, response
        finally:
            conn.close()


def custom_path(plural: str, namespace: str, name: str | None = None) -> str:
    path = f"/apis/kubedag.io/v1alpha1/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


def core_path(plural: str, namespace: str | None = None, name: str | None = None) -> str:
    path = f"/api/v1/namespaces/{namespace}/{plural}" if namespace else f"/api/v1/{plural}"
    return f"{path}/{name}" if name else path
