"""Fixtures for tests against a real kube-apiserver + etcd (devcluster), one per session.

Every test collected under tests/integration is marked ``integration`` (deselect them with
``-m "not integration"``). The first run builds the binaries with hack/build-go-binaries.sh,
which needs Go and takes 10-15 minutes; later runs reuse the cache and start in seconds.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from devcluster import admin
from devcluster.controlplane import ControlPlane  # importable via pytest's pythonpath = ["."]

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Called with the whole session's items, not just this directory's: filter by path.
    for item in items:
        if item.path.is_relative_to(_HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver for the whole session; logs stay in the pytest tmp dir."""
    with ControlPlane(tmp_path_factory.mktemp("control-plane")) as plane:
        yield plane


@pytest.fixture(scope="session")
def faulty_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A second etcd + kube-apiserver, for the chaos and API fault tests (which restart it):
    priority and fairness off and one mutating request in flight at most (more get 429
    with Retry-After; the admin, in system:masters, is never throttled), no watch cache and
    etcd compacted every second (a watch resumed from an older resourceVersion gets 410 Gone)."""
    args = [
        "--enable-priority-and-fairness=false",
        "--max-mutating-requests-inflight=1",
        "--max-requests-inflight=4",
        "--watch-cache=false",
        "--etcd-compaction-interval=1s",
    ]
    with ControlPlane(tmp_path_factory.mktemp("faulty"), extra_apiserver_args=args) as plane:
        yield plane


@pytest.fixture(scope="session")
def kubeconfig(control_plane: ControlPlane) -> str:
    """Path of an admin (system:masters) kubeconfig for the control plane."""
    return str(control_plane.kubeconfig)


@pytest.fixture(scope="session")
def api_client(kubeconfig: str) -> Iterator[client.ApiClient]:
    """A kubernetes ApiClient authenticated as the admin."""
    api = admin.client(kubeconfig)
    try:
        yield api
    finally:
        api.close()  # type: ignore[no-untyped-call]


def _namespace_name(test_name: str) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", test_name.lower().removeprefix("test_")).strip("-")
    suffix = uuid.uuid4().hex[:6]
    return f"t-{stem[: 63 - len(suffix) - 3].rstrip('-')}-{suffix}"


@pytest.fixture
def namespace(api_client: client.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace with a "default" ServiceAccount; deleted after the test.

    No kube-controller-manager runs, so the ServiceAccount is created here (pods are rejected
    without it), and the deleted namespace stays Terminating: nothing finalizes it.
    """
    core = client.CoreV1Api(api_client)
    name = _namespace_name(request.node.name)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        core.create_namespaced_service_account(
            name, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="default"))
        )
        yield name
    finally:
        try:
            core.delete_namespace(name)
        except ApiException as error:
            if error.status != 404:
                raise
