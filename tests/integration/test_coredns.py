"""The cluster DNS as devcluster runs it (the pinned CoreDNS with devcluster's Corefile), against
the session's real API server, on a free loopback port: Service names resolve as on a real
cluster, and every name outside the cluster zones is NXDOMAIN without any upstream."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from kubernetes import client

from devcluster import coredns
from devcluster.binaries import ensure_binaries
from devcluster.controlplane import LOOPBACK, ControlPlane, free_port
from devcluster.process import ManagedProcess
from devcluster.wait import wait_for


@pytest.fixture(scope="module")
def dns_port(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    workdir = tmp_path_factory.mktemp("coredns")
    port = free_port()
    corefile = workdir / "Corefile"
    corefile.write_text(
        coredns.corefile(
            listen=LOOPBACK,
            kubeconfig=control_plane.kubeconfig,
            port=port,
            health=f"{LOOPBACK}:{free_port()}",
            ready=f"{LOOPBACK}:{free_port()}",
        )
    )
    binary = ensure_binaries("coredns")["coredns"]
    process = ManagedProcess("coredns", coredns.command(binary, corefile), workdir / "coredns.log")
    process.start()
    try:
        wait_for(
            lambda: (
                coredns.lookup(LOOPBACK, "kubernetes.default.svc.cluster.local", port=port)[0]
                == "NOERROR"
            ),
            "CoreDNS to answer",
            timeout=30,
            tolerate=coredns.LOOKUP_ERRORS,
        )
        yield port
    finally:
        process.stop()


def test_service_names_resolve_to_their_cluster_ip(
    api_client: client.ApiClient, namespace: str, dns_port: int
) -> None:
    service = client.CoreV1Api(api_client).create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80)]),
        ),
    )
    name = f"web.{namespace}.svc.cluster.local"
    expected = ("NOERROR", [service.spec.cluster_ip])
    wait_for(
        lambda: coredns.lookup(LOOPBACK, name, port=dns_port) == expected,
        f"{name} to resolve to {service.spec.cluster_ip}",
        timeout=15,
    )
    absent = f"absent.{namespace}.svc.cluster.local"
    assert coredns.lookup(LOOPBACK, absent, port=dns_port) == ("NXDOMAIN", [])


def test_names_outside_the_cluster_do_not_exist(dns_port: int) -> None:
    for outside in ("example.com", "kubernetes.io", "localhost", "kubernetes.default.svc"):
        assert coredns.lookup(LOOPBACK, outside, port=dns_port) == ("NXDOMAIN", []), outside


def test_the_binary_has_only_the_chosen_plugins() -> None:
    """No ``forward`` (nothing could leave the machine) and none of the cloud back ends."""
    binary = ensure_binaries("coredns")["coredns"]
    plugins = set(
        subprocess.run(
            [binary, "-plugins"], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert {
        "kubernetes",
        "cache",
        "errors",
        "health",
        "ready",
        "loop",
        "bind",
        "template",
    } <= plugins
    assert not plugins & {"forward", "route53", "azure", "clouddns", "etcd", "grpc"}, plugins
