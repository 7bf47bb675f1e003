"""Who acts: the caller, never the web view's own account. Signed in with a bearer token (as
the Kubernetes Dashboard does), each action is a request made with that token; behind an
authenticating proxy that passes the user in a header, a SubjectAccessReview asks the API
server whether that user may make the request before the web view makes it. Either way
Kubernetes RBAC decides."""

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubedag import GROUP
from kubedag.kube.client import ApiError, Kube

if TYPE_CHECKING:
    from kubernetes.aio import client as aio_client

KNOWN_USERS_LIMIT = 1024


@dataclass(frozen=True)
class Caller:
    user: str
    """Who the API server says the token is; the proxy's header value."""
    token: str | None
    """The bearer token the caller signed in with; None behind a proxy."""
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Permission:
    verb: str
    resource: str
    namespace: str
    name: str | None = None


def caller_configuration(
    base: "aio_client.Configuration", token: str
) -> "aio_client.Configuration":
    """The API server and its CA from the web view's own configuration, and the caller's
    token as the only credential (no client certificate, no token file of its own)."""
    from kubernetes.aio import client as aio_client

    configuration = aio_client.Configuration(host=base.host)
    configuration.ssl_ca_cert = base.ssl_ca_cert
    configuration.verify_ssl = base.verify_ssl
    configuration.tls_server_name = getattr(base, "tls_server_name", None)
    configuration.api_key = {"authorization": f"Bearer {token}"}
    configuration.client_session_kwargs = {"trust_env": False}
    return configuration


def caller_kube(base: "aio_client.Configuration", token: str) -> Kube:
    from kubernetes.aio import client as aio_client

    return Kube(aio_client.ApiClient(caller_configuration(base, token)))


class Callers:
    """Kube clients that act as a caller: at the API server of `base`, with their token."""

    def __init__(self, base: "aio_client.Configuration | None") -> None:
        self._base = base

    def _configuration(self) -> "aio_client.Configuration":
        if self._base is None:
            raise RuntimeError("the web view was built without the API server's configuration")
        return self._base

    def kube(self, token: str) -> Kube:
        return caller_kube(self._configuration(), token)

    async def who_is(self, token: str) -> str:
        return await who_is(self._configuration(), token)


class KnownUsers:
    """Token digest -> user name, learnt at sign-in, to show who is signed in."""

    def __init__(self) -> None:
        self._users: dict[str, str] = {}

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def remember(self, token: str, user: str) -> None:
        if len(self._users) >= KNOWN_USERS_LIMIT:
            self._users.pop(next(iter(self._users)))
        self._users[self._digest(token)] = user

    def user(self, token: str) -> str:
        return self._users.get(self._digest(token), "signed in")


async def who_is(base: "aio_client.Configuration", token: str) -> str:
    """The user the API server takes the token for (a SelfSubjectReview); ApiError 401 when
    it does not accept it."""
    kube = caller_kube(base, token)
    try:
        review = await kube.request(
            "POST",
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
    finally:
        await kube.close()
    info: dict[str, Any] = (review.get("status") or {}).get("userInfo") or {}
    return str(info.get("username") or "unknown user")


async def proxy_user_may(kube: Kube, caller: Caller, permission: Permission) -> bool:
    """A SubjectAccessReview of the proxy's user for the request the action makes."""
    attributes: dict[str, str] = {
        "namespace": permission.namespace,
        "verb": permission.verb,
        "group": GROUP,
        "resource": permission.resource,
    }
    if permission.name:
        attributes["name"] = permission.name
    review = await kube.request(
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": caller.user,
                "groups": list(caller.groups),
                "resourceAttributes": attributes,
            },
        },
    )
    return bool((review.get("status") or {}).get("allowed"))


def forbidden_text(error: ApiError | None, message: str) -> str:
    return "Kubernetes RBAC refused this (403 Forbidden): " + (
        error.message if error is not None else message
    )
