"""One login for kubedag's requests and kopf's watches: kopf's credentials are made from the
kubernetes client's configuration (in a pod, the ServiceAccount; elsewhere, the kubeconfig)."""

import asyncio
import base64
from pathlib import Path

import kopf
import pytest
import yaml
from kubernetes.aio.config import incluster_config

from kubedag.kube.client import load_configuration
from kubedag.reconcilers.operator import connection_info


def _service_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(tmp_path / "ca.crt"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")


@pytest.mark.parametrize(
    ("host", "server"),
    [("198.19.0.1", "https://198.19.0.1:443"), ("fd00::1", "https://[fd00::1]:443")],
)
def test_in_a_pod_kopf_logs_in_with_the_service_account_at_the_service_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: str, server: str
) -> None:
    _service_account(tmp_path, monkeypatch, host)

    async def login() -> kopf.ConnectionInfo:
        return await connection_info(await load_configuration())

    info = asyncio.run(login())
    assert info == kopf.ConnectionInfo(
        server=server,
        ca_path=str(tmp_path / "ca.crt"),
        insecure=False,
        scheme="bearer",
        token="sa-token",
    )


def test_elsewhere_kopf_logs_in_with_the_kubeconfig_client_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _service_account(tmp_path, monkeypatch, "198.19.0.1")  # a given kubeconfig wins
    data = base64.b64encode(b"pem").decode()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": "https://127.0.0.1:6443",
                            "certificate-authority-data": data,
                        },
                    }
                ],
                "users": [
                    {
                        "name": "u",
                        "user": {"client-certificate-data": data, "client-key-data": data},
                    }
                ],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )

    async def login() -> kopf.ConnectionInfo:
        return await connection_info(await load_configuration(str(kubeconfig)))

    info = asyncio.run(login())
    assert info.server == "https://127.0.0.1:6443"
    assert info.token is None and info.scheme is None
    for path in (info.ca_path, info.certificate_path, info.private_key_path):
        assert Path(path).read_bytes() == b"pem"
