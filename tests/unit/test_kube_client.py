"""kube/client.py's request path over a scripted transport: what it sends, what it decodes,
and how it reads the API server's errors. (Against a real kube-apiserver: every
integration test, and tests/integration/test_api_faults.py for Retry-After.)"""

import asyncio
import json
from typing import Any, cast

import pytest

from kubedag.kube.client import Answer, ApiError, Kube, Transport


class ScriptedTransport(Transport):
    """Records each request and answers from a list, in place of the API server."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, str, bytes | None, dict[str, str]]] = []

    async def send(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> Answer:
        self.sent.append((method, url, body, dict(headers)))
        return self.answers.pop(0)


def ok(body: Any) -> Answer:
    return Answer(200, "OK", None, json.dumps(body).encode())


def kube_with(*answers: Answer) -> tuple[Kube, ScriptedTransport]:
    transport = ScriptedTransport(*answers)
    return Kube(cast(Any, None), transport), transport


def test_a_body_goes_as_json_with_its_content_type_and_the_answer_is_decoded() -> None:
    kube, transport = kube_with(ok({"metadata": {"name": "r1"}, "status": {"state": "running"}}))
    patch = {"status": {"state": "running", "tasks": [{"name": "a", "tryNumber": 1}]}}

    answer = asyncio.run(
        kube.request(
            "PATCH",
            "/apis/kubedag.io/v1alpha1/namespaces/etl/dagruns/r1/status",
            patch,
            query={"fieldManager": "kubedag-controller"},
            content_type="application/merge-patch+json",
        )
    )

    assert answer == {"metadata": {"name": "r1"}, "status": {"state": "running"}}
    ((method, url, body, headers),) = transport.sent
    assert method == "PATCH"
    assert url.endswith("/dagruns/r1/status?fieldManager=kubedag-controller")
    assert body is not None and json.loads(body) == patch
    assert headers == {
        "Accept": "application/json",
        "Content-Type": "application/merge-patch+json",
    }


def test_a_request_without_a_body_sends_no_content_type() -> None:
    kube, transport = kube_with(ok({"items": []}))
    asyncio.run(kube.list("/api/v1/namespaces/etl/pods", label_selector="a=b"))
    ((_, url, body, headers),) = transport.sent
    assert url == "/api/v1/namespaces/etl/pods?labelSelector=a%3Db"
    assert body is None and "Content-Type" not in headers


def test_an_answer_nobody_reads_is_not_decoded() -> None:
    # A deletion answers with the deleted objects; a body that is not JSON proves no decode.
    kube, _ = kube_with(Answer(200, "OK", None, b"not json: never decoded"))
    asyncio.run(kube.delete_collection("/api/v1/namespaces/etl/pods", label_selector="a=b"))
    kube, _ = kube_with(Answer(200, "OK", None, b"not json either"))
    assert asyncio.run(kube.delete("/api/v1/namespaces/etl/pods/p")) is True


def test_an_error_is_read_from_the_status_object() -> None:
    status = {"kind": "Status", "reason": "AlreadyExists", "message": 'pods "p" already exists'}
    kube, _ = kube_with(Answer(409, "Conflict", None, json.dumps(status).encode()))
    assert asyncio.run(kube.create("/api/v1/namespaces/etl/pods", {"metadata": {}})) is None

    invalid = {"kind": "Status", "reason": "Invalid", "message": "spec.dagName: Required value"}
    kube, _ = kube_with(Answer(422, "Unprocessable Entity", None, json.dumps(invalid).encode()))
    with pytest.raises(ApiError) as raised:
        asyncio.run(kube.request("POST", "/apis/kubedag.io/v1alpha1/namespaces/etl/dagruns", {}))
    assert (raised.value.status, raised.value.reason) == (422, "Invalid")
    assert raised.value.message == "spec.dagName: Required value"


def test_an_error_that_is_not_json_keeps_the_http_reason_and_the_text() -> None:
    kube, _ = kube_with(Answer(502, "Bad Gateway", None, b"upstream connect error"))
    with pytest.raises(ApiError) as raised:
        asyncio.run(kube.get("/api/v1/namespaces/etl/pods/p"))
    assert (raised.value.status, raised.value.reason) == (502, "Bad Gateway")
    assert raised.value.message == "upstream connect error"


def test_a_429_with_retry_after_is_sent_again_after_the_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    too_many = Answer(429, "Too Many Requests", "1", b'{"reason": "TooManyRequests"}')
    kube, transport = kube_with(too_many, too_many, ok({"kind": "Pod"}))
    assert asyncio.run(kube.get("/api/v1/namespaces/etl/pods/p")) == {"kind": "Pod"}
    assert waits == [1.0, 1.0]
    assert len(transport.sent) == 3
    assert (kube.requests, kube.throttled) == (3, 2)
