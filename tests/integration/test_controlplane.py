"""The local control plane itself: the pinned version, storage in etcd, admission, tokens."""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from devcluster import admin
from devcluster.controlplane import (
    SERVICE_ACCOUNT_ISSUER,
    SERVICE_CLUSTER_IP_RANGE,
    ControlPlane,
    ControlPlaneError,
)
from devcluster.versions import KUBERNETES_VERSION
from devcluster.wait import wait_for


def _etcd_get(etcd_url: str, key: str) -> list[bytes]:
    """Values stored under ``key``, read straight from etcd through its v3 JSON gateway."""
    body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()
    request = urllib.request.Request(f"{etcd_url}/v3/kv/range", data=body, method="POST")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        reply = json.load(response)
    return [base64.b64decode(kv["value"]) for kv in reply.get("kvs", [])]


def _plain(api_client: client.ApiClient, obj: object) -> dict[str, Any]:
    """An API object as the JSON the server sent (camelCase keys, no None fields)."""
    plain: dict[str, Any] = api_client.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
    return plain


def _jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def _listening_addresses(pid: int) -> set[str]:
    """``ip:port`` of the IPv4/IPv6 TCP sockets process ``pid`` listens on (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    addresses = set()
    for table in ("tcp", "tcp6"):
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            hex_ip, hex_port = local.split(":")
            raw = bytes.fromhex(hex_ip)
            # /proc prints the address as host-order 32-bit words.
            words = [raw[i : i + 4][::-1] for i in range(0, len(raw), 4)]
            ip = ipaddress.ip_address(b"".join(words))
            addresses.add(f"{ip}:{int(hex_port, 16)}")
    return addresses


def test_server_reports_pinned_version(api_client: client.ApiClient) -> None:
    info = client.VersionApi(api_client).get_code()
    assert info.git_version == KUBERNETES_VERSION
    major, minor, _patch = KUBERNETES_VERSION.removeprefix("v").split(".")
    assert (info.major, info.minor) == (major, minor)


def test_admin_kubeconfig_is_cluster_admin(api_client: client.ApiClient) -> None:
    review = client.AuthenticationV1Api(api_client).create_self_subject_review(
        client.V1SelfSubjectReview()
    )
    assert "system:masters" in _plain(api_client, review)["status"]["userInfo"]["groups"]
    access = client.AuthorizationV1Api(api_client).create_self_subject_access_review(
        client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(verb="*", resource="*", group="*")
            )
        )
    )
    assert _plain(api_client, access)["status"]["allowed"] is True


def test_issued_client_certificate_authenticates_and_rbac_applies(
    control_plane: ControlPlane, namespace: str
) -> None:
    kubeconfig = control_plane.issue_kubeconfig(
        "test-nobody", user="kubedag-test-nobody", groups=["kubedag:test"]
    )
    api = admin.client(kubeconfig)
    try:
        review = client.AuthenticationV1Api(api).create_self_subject_review(
            client.V1SelfSubjectReview()
        )
        user = _plain(api, review)["status"]["userInfo"]
        assert user["username"] == "kubedag-test-nobody"
        assert "kubedag:test" in user["groups"]
        with pytest.raises(ApiException) as denied:  # RBAC: no role binds this user
            client.CoreV1Api(api).list_namespaced_pod(namespace)
        assert denied.value.status == 403
    finally:
        api.close()  # type: ignore[no-untyped-call]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_listens_on_loopback_only(control_plane: ControlPlane) -> None:
    assert urlsplit(control_plane.server).hostname == "127.0.0.1"
    assert urlsplit(control_plane.etcd_url).hostname == "127.0.0.1"
    for process in (control_plane.apiserver, control_plane.etcd):
        assert process is not None and process.pid is not None
        addresses = _listening_addresses(process.pid)
        assert addresses, f"{process.name} listens on nothing?"
        assert all(a.startswith("127.0.0.1:") for a in addresses), (process.name, addresses)
    apiserver_port = urlsplit(control_plane.server).port
    assert control_plane.apiserver is not None and control_plane.apiserver.pid is not None
    assert _listening_addresses(control_plane.apiserver.pid) == {f"127.0.0.1:{apiserver_port}"}


def test_configmap_round_trips_through_etcd(
    api_client: client.ApiClient, namespace: str, control_plane: ControlPlane
) -> None:
    core = client.CoreV1Api(api_client)
    data = {"greeting": "hello, wörld ✓", "script.sh": "#!/bin/sh\necho 'multi\tline'\n"}
    binary = base64.b64encode(bytes(range(256))).decode()
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="round-trip", labels={"kubedag.test": "yes"}),
            data=data,
            binary_data={"blob": binary},
        ),
    )

    read = core.read_namespaced_config_map("round-trip", namespace)
    read_back = _plain(api_client, read)
    assert read_back["data"] == data
    assert read_back["binaryData"] == {"blob": binary}
    assert read_back["metadata"]["labels"] == {"kubedag.test": "yes"}

    key = f"/registry/configmaps/{namespace}/round-trip"
    [stored] = _etcd_get(control_plane.etcd_url, key)
    assert stored.startswith(b"k8s\x00")  # kube-apiserver's protobuf storage envelope
    for value in data.values():
        assert value.encode() in stored
    assert bytes(range(256)) in stored

    read.data = {**data, "greeting": "updated"}
    core.replace_namespaced_config_map("round-trip", namespace, read)
    assert b"updated" in _etcd_get(control_plane.etcd_url, key)[0]
    updated = _plain(api_client, core.read_namespaced_config_map("round-trip", namespace))
    assert updated["data"]["greeting"] == "updated"

    core.delete_namespaced_config_map("round-trip", namespace)
    assert _etcd_get(control_plane.etcd_url, key) == []


def test_pod_is_admitted_and_stays_pending(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="sleeper"),
            spec=client.V1PodSpec(
                restart_policy="Never",
                containers=[
                    client.V1Container(name="main", image="busybox:1.36", command=["sleep", "5"])
                ],
            ),
        ),
    )
    pod = _plain(api_client, core.read_namespaced_pod("sleeper", namespace))
    assert pod["status"]["phase"] == "Pending"
    assert "nodeName" not in pod["spec"]  # no scheduler
    # The ServiceAccount admission plugin ran: default SA and its projected token volume.
    assert pod["spec"]["serviceAccountName"] == "default"
    assert any(v["name"].startswith("kube-api-access-") for v in pod["spec"]["volumes"])
    pods = _plain(api_client, core.list_namespaced_pod(namespace))["items"]
    assert [p["metadata"]["name"] for p in pods] == ["sleeper"]


def test_token_request_for_default_service_account(
    api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
    )
    response = core.create_namespaced_service_account_token("default", namespace, request)
    token: str = _plain(api_client, response)["status"]["token"]
    subject = f"system:serviceaccount:{namespace}:default"

    claims = _jwt_claims(token)
    assert claims["iss"] == SERVICE_ACCOUNT_ISSUER
    assert claims["sub"] == subject
    assert SERVICE_ACCOUNT_ISSUER in claims["aud"]  # default API audience: the issuer
    assert 0 < claims["exp"] - time.time() <= 600 + 60

    review = client.AuthenticationV1Api(api_client).create_token_review(
        client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token))
    )
    status = _plain(api_client, review)["status"]
    assert status.get("authenticated") is True, status
    assert status["user"]["username"] == subject


def test_kubernetes_service_takes_ip_from_service_range(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)

    def kubernetes_service() -> client.V1Service | None:
        try:
            return core.read_namespaced_service("kubernetes", "default")
        except ApiException as error:
            if error.status != 404:
                raise
            return None

    service = wait_for(kubernetes_service, "the kubernetes Service", timeout=30)
    cluster_ip = _plain(api_client, service)["spec"]["clusterIP"]
    assert ipaddress.ip_address(cluster_ip) in ipaddress.ip_network(SERVICE_CLUSTER_IP_RANGE)


def test_startup_failure_reports_log_and_stops_processes(tmp_path: Path) -> None:
    plane = ControlPlane(tmp_path, extra_apiserver_args=["--no-such-flag=1"])
    with pytest.raises(ControlPlaneError) as failure:
        plane.start()
    assert "kube-apiserver exited" in str(failure.value)
    assert "unknown flag: --no-such-flag" in str(failure.value)  # the log tail
    assert plane.etcd is not None and not plane.etcd.running
    assert (tmp_path / "etcd.log").exists() and (tmp_path / "kube-apiserver.log").exists()
