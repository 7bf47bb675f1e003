"""Fixtures for tests against the real single-node cluster (``python -m devcluster up``).

Every test collected under tests/e2e is marked ``e2e`` (deselect them with ``-m "not e2e"``).
The session brings the cluster up if it is not running (about 15 s with cached binaries) and
takes it down at the end only if it started it; a cluster that was already up is reused and
left running. Needs root: without it every e2e test is skipped with the reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from devcluster import admin, localcluster, node
from devcluster.admin import exists
from devcluster.binaries import ensure_binaries
from devcluster.pause import StaticImage, static_binary_image
from devcluster.wait import wait_for
from tests.e2e.kube import RELEASE_NAMESPACE, REPO, Kubectl

_HERE = Path(__file__).resolve().parent
ECHO_IMAGE = StaticImage(
    source=_HERE / "echo.c",
    dockerfile=_HERE / "echo.Dockerfile",
    reference="kubedag/e2e-echo:1",
    binary="e2e-echo",
)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Called with the whole session's items, not just this directory's: filter by path.
    # One local cluster per machine: under pytest-xdist (`make test`) all its tests share a
    # worker, so they run one after another as they would without it.
    for item in items:
        if item.path.is_relative_to(_HERE):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.xdist_group("local-cluster"))


@pytest.hookimpl(trylast=True)  # after xdist's hook has put each group in its tests' ids
def pytest_collection_finish(session: pytest.Session) -> None:
    # pytest-xdist groups by rewriting node ids; a pytest that ignores the rewrite (9.2 does,
    # with xdist 3.8) would spread these tests over workers that race for one cluster.
    if session.config.getoption("loadgroup", False):
        ungrouped = [
            item.nodeid
            for item in session.items
            if item.path.is_relative_to(_HERE) and not item.nodeid.endswith("@local-cluster")
        ]
        if ungrouped:
            raise pytest.UsageError(f"e2e tests not grouped on one xdist worker: {ungrouped[:3]}")


_SESSIONS = node.RUN_DIR / "e2e-sessions"


def _other_live_sessions() -> list[int]:
    if not _SESSIONS.is_dir():
        return []
    pids = [int(p.name) for p in _SESSIONS.iterdir() if p.name.isdigit()]
    return [pid for pid in pids if pid != os.getpid() and Path(f"/proc/{pid}").exists()]


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[localcluster.Cluster]:
    """The running local cluster (started here if needed); ``.kubeconfig`` is an admin's.

    Torn down at the end only if this session started it and no other test session (in
    another process) is using it meanwhile.
    """
    if os.geteuid() != 0:
        pytest.skip("the local cluster needs root (containerd, kubelet, network setup)")
    started_here = not localcluster.healthy()
    cluster = localcluster.up()
    _SESSIONS.mkdir(parents=True, exist_ok=True)
    marker = _SESSIONS / str(os.getpid())
    marker.touch()
    try:
        yield cluster
    finally:
        marker.unlink(missing_ok=True)
        if started_here and not _other_live_sessions():
            localcluster.down()


@pytest.fixture(scope="session")
def api_client(local_cluster: localcluster.Cluster) -> Iterator[client.ApiClient]:
    api = admin.client(local_cluster.kubeconfig)
    try:
        yield api
    finally:
        api.close()  # type: ignore[no-untyped-call]


@pytest.fixture(scope="session")
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture(scope="session")
def echo_image(local_cluster: localcluster.Cluster) -> str:
    """``kubedag/e2e-echo:1`` (tests/e2e/echo.c), built and imported into the cluster."""
    node.import_image(static_binary_image(ECHO_IMAGE))
    return ECHO_IMAGE.reference


def _namespace_name(test_name: str) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", test_name.lower().removeprefix("test_")).strip("-")
    suffix = uuid.uuid4().hex[:6]
    return f"e2e-{stem[: 63 - len(suffix) - 5].rstrip('-')}-{suffix}"


@pytest.fixture
def namespace(core: client.CoreV1Api, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace whose ``default`` ServiceAccount exists; deleted afterwards."""
    name = _namespace_name(request.node.name)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    wait_for(
        lambda: exists(lambda: core.read_namespaced_service_account("default", name)),
        f"ServiceAccount {name}/default",
    )
    try:
        yield name
    finally:
        try:
            core.delete_namespace(name, grace_period_seconds=0)
        except ApiException as error:
            if error.status != 404:
                raise


@pytest.fixture(scope="session")
def kubectl(local_cluster: localcluster.Cluster) -> Kubectl:
    return Kubectl(ensure_binaries("kubectl")["kubectl"], Path(local_cluster.kubeconfig))


@pytest.fixture(scope="session")
def kubedag(local_cluster: localcluster.Cluster, kubectl: Kubectl) -> Iterator[None]:
    """Images built and imported, then `helm upgrade --install` of charts/kubedag: once per
    session, for every module that runs DAGs."""
    subprocess.run(
        [str(REPO / ".venv/bin/python"), str(REPO / "task-images/build.py"), "--import", "all"],
        check=True,
    )
    helm = ensure_binaries("helm")["helm"]
    subprocess.run(
        [
            str(helm),
            "upgrade",
            "--install",
            "kubedag",
            str(REPO / "charts/kubedag"),
            "--kubeconfig",
            str(local_cluster.kubeconfig),
            "--namespace",
            RELEASE_NAMESPACE,
            "--create-namespace",
            "--set",
            "image.pullPolicy=Never",
            "--set",
            "logFormat=json",  # tests/e2e/test_metrics.py reads the controller's lines
            # The web view (read-only), for tests/e2e/test_web_browser.py.
            "--set",
            "web.enabled=true",
            "--wait",
            "--timeout",
            "5m",
        ],
        check=True,
    )
    # The image tag stays 0.1.0 while its content changes with the code: restart so the
    # controller runs what was just built.
    for deployment in ("deployment/kubedag", "deployment/kubedag-web"):
        kubectl("rollout", "restart", deployment, "-n", RELEASE_NAMESPACE)
    for deployment in ("deployment/kubedag", "deployment/kubedag-web"):
        kubectl.rollout(deployment, RELEASE_NAMESPACE)
    yield
