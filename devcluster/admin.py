"""The one admin API client of the development cluster and the tests: the ``kubernetes``
package's ApiClient, loaded from a kubeconfig. (The benchmarks keep their own small HTTP
client, ``bench/api.py``: what it does per request is part of what they measure.)

    with admin.client(cluster.kubeconfig) as api:
        client.CoreV1Api(api).list_node()
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import urllib3
from kubernetes import client as k8s
from kubernetes import config
from kubernetes.client import ApiException
from kubernetes.config import ConfigException

NOT_READY_ERRORS: tuple[type[Exception], ...] = (
    ApiException,
    ConfigException,
    urllib3.exceptions.HTTPError,
    OSError,
    ValueError,
)
"""What a request to a server that is still starting raises (for ``wait_for(tolerate=...)``)."""


def client(kubeconfig: Path | str, *, server: str | None = None) -> k8s.ApiClient:
    """An ApiClient with the kubeconfig's credentials; ``server`` overrides its address (e.g.
    the ``kubernetes`` Service's ClusterIP, which the serving certificate also names)."""
    configuration = k8s.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), client_configuration=configuration
    )
    if server is not None:
        configuration.host = server
    return k8s.ApiClient(configuration)


def get_text(api: k8s.ApiClient, path: str, *, timeout: float = 10) -> str:
    """GET a plain-text endpoint (``/readyz``, ``/metrics``); ApiException unless 2xx."""
    method, url, headers, _body, _form = api.param_serialize(
        "GET", path, auth_settings=["BearerToken"]
    )
    response = api.call_api(method, url, header_params=headers, _request_timeout=timeout)
    data = response.read()  # type: ignore[no-untyped-call]
    if not 200 <= response.status <= 299:
        raise ApiException(http_resp=response)
    return bytes(data).decode("utf-8", errors="replace")


def ready(api: k8s.ApiClient, *, timeout: float = 5) -> bool:
    """Whether the API server's ``/readyz`` answers ``ok``."""
    return get_text(api, "/readyz", timeout=timeout) == "ok"


def exists(read: Callable[[], object]) -> bool:
    """Whether ``read()`` finds the object: False on 404, other API errors raise."""
    try:
        read()
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True
