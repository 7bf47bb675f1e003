"""Certificates, keys and kubeconfigs for the local control plane, made with the openssl CLI.

Small building blocks so that later components (kube-controller-manager, kube-scheduler, a
kubelet) can get their own client certificate and kubeconfig from the same CA::

    ca = create_ca(pki_dir)
    cert = issue_certificate(ca, pki_dir, "scheduler", common_name="system:kube-scheduler")
    write_kubeconfig(workdir / "scheduler.kubeconfig", server, ca.cert, cert, user="scheduler")
"""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_VALIDITY_DAYS = 3650


class PKIError(RuntimeError):
    """An openssl invocation failed."""


@dataclass(frozen=True)
class CertKeyPair:
    """PEM files of a certificate and its private key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class KeyPair:
    """PEM files of a private key and its public key (e.g. for signing service-account tokens)."""

    private_key: Path
    public_key: Path


def _openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        raise PKIError("the 'openssl' command is required to generate the control plane's PKI")
    return path


def _run_openssl(*args: str) -> None:
    result = subprocess.run(
        [_openssl(), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise PKIError(
            f"openssl {' '.join(args)} failed (exit {result.returncode}):\n{result.stderr.strip()}"
        )


def _private(path: Path) -> None:
    os.chmod(path, 0o600)


def generate_ec_key(path: Path) -> Path:
    """An ECDSA P-256 private key (PKCS#8 PEM, mode 0600): fast to make, accepted everywhere."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _run_openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path)
    )  # fmt: skip
    _private(path)
    return path


def generate_rsa_key_pair(directory: Path, name: str, bits: int = 2048) -> KeyPair:
    """``<name>.key`` (RSA, PKCS#8 PEM) and ``<name>.pub`` (PKIX PEM) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    private_key = directory / f"{name}.key"
    public_key = directory / f"{name}.pub"
    _run_openssl(
        "genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}",
        "-out", str(private_key),
    )  # fmt: skip
    _private(private_key)
    _run_openssl("pkey", "-in", str(private_key), "-pubout", "-out", str(public_key))
    return KeyPair(private_key=private_key, public_key=public_key)


def _subject(common_name: str, organizations: Sequence[str] = ()) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace("/", "\\/").replace("=", "\\=")

    parts = [f"/O={escape(org)}" for org in organizations]
    parts.append(f"/CN={escape(common_name)}")
    return "".join(parts)


def _subject_alt_names(dns_names: Iterable[str], ip_addresses: Iterable[str]) -> str:
    entries = [f"DNS:{name}" for name in dns_names]
    entries += [f"IP:{ipaddress.ip_address(ip)}" for ip in ip_addresses]
    return ",".join(entries)


def _random_serial() -> str:
    return "0x" + secrets.token_hex(16)


def _config(sections: dict[str, dict[str, str]]) -> str:
    lines: list[str] = []
    for section, entries in sections.items():
        lines.append(f"[ {section} ]")
        lines += [f"{key} = {value}" for key, value in entries.items()]
        lines.append("")
    return "\n".join(lines)


def create_ca(
    directory: Path,
    name: str = "ca",
    common_name: str = "kubedag-ca",
    days: int = DEFAULT_VALIDITY_DAYS,
) -> CertKeyPair:
    """A self-signed CA: ``<name>.crt`` and ``<name>.key`` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    key = generate_ec_key(directory / f"{name}.key")
    cert = directory / f"{name}.crt"
    config = _config(
        {
            "req": {"distinguished_name": "dn", "prompt": "no", "x509_extensions": "v3_ca"},
            "dn": {"CN": common_name},
            "v3_ca": {
                "basicConstraints": "critical,CA:TRUE",
                "keyUsage": "critical,digitalSignature,keyCertSign,cRLSign",
                "subjectKeyIdentifier": "hash",
            },
        }
    )
    with tempfile.TemporaryDirectory(prefix="kubedag-pki-") as tmp:
        config_file = Path(tmp) / "ca.cnf"
        config_file.write_text(config, encoding="utf-8")
        _run_openssl(
            "req", "-x509", "-new", "-config", str(config_file), "-key", str(key),
            "-days", str(days), "-set_serial", _random_serial(), "-out", str(cert),
        )  # fmt: skip
    return CertKeyPair(cert=cert, key=key)


def issue_certificate(
    ca: CertKeyPair,
    directory: Path,
    name: str,
    *,
    common_name: str,
    organizations: Sequence[str] = (),
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    client: bool = True,
    server: bool = False,
    days: int = DEFAULT_VALIDITY_DAYS,
) -> CertKeyPair:
    """A leaf certificate signed by ``ca``: ``<name>.crt`` and ``<name>.key`` in ``directory``.

    For Kubernetes client certificates the common name is the user name and each organization
    a group (``organizations=["system:masters"]`` makes a cluster admin). Serving certificates
    need ``server=True`` and the names clients dial in ``dns_names`` / ``ip_addresses``.
    """
    if not (client or server):
        raise ValueError("a certificate must be usable for client or server auth (or both)")
    if server and not (dns_names or ip_addresses):
        raise ValueError("a serving certificate needs at least one DNS name or IP address")
    directory.mkdir(parents=True, exist_ok=True)
    key = generate_ec_key(directory / f"{name}.key")
    cert = directory / f"{name}.crt"
    usages = [u for u, wanted in (("serverAuth", server), ("clientAuth", client)) if wanted]
    extensions = {
        "basicConstraints": "critical,CA:FALSE",
        "keyUsage": "critical,digitalSignature",  # ECDSA keys: no key encipherment
        "extendedKeyUsage": ",".join(usages),
        "subjectKeyIdentifier": "hash",
        "authorityKeyIdentifier": "keyid",
    }
    if dns_names or ip_addresses:
        extensions["subjectAltName"] = _subject_alt_names(dns_names, ip_addresses)
    with tempfile.TemporaryDirectory(prefix="kubedag-pki-") as tmp:
        csr = Path(tmp) / f"{name}.csr"
        extfile = Path(tmp) / f"{name}.ext"
        req_config = Path(tmp) / "req.cnf"
        extfile.write_text(_config({"v3_leaf": extensions}), encoding="utf-8")
        req_config.write_text(_config({"req": {"distinguished_name": "dn"}, "dn": {}}), "utf-8")
        _run_openssl(
            "req", "-new", "-config", str(req_config), "-key", str(key),
            "-subj", _subject(common_name, organizations), "-out", str(csr),
        )  # fmt: skip
        _run_openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
            "-set_serial", _random_serial(), "-days", str(days),
            "-extfile", str(extfile), "-extensions", "v3_leaf", "-out", str(cert),
        )  # fmt: skip
    return CertKeyPair(cert=cert, key=key)


def _b64_file(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def write_kubeconfig(
    path: Path,
    server: str,
    ca_cert: Path,
    client: CertKeyPair,
    *,
    user: str,
    cluster: str = "kubedag",
    context: str | None = None,
    namespace: str | None = None,
) -> Path:
    """A self-contained kubeconfig (certificates embedded) authenticating with ``client``."""
    context = context or f"{user}@{cluster}"
    context_body: dict[str, str] = {"cluster": cluster, "user": user}
    if namespace:
        context_body["namespace"] = namespace
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster,
                "cluster": {"server": server, "certificate-authority-data": _b64_file(ca_cert)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64_file(client.cert),
                    "client-key-data": _b64_file(client.key),
                },
            }
        ],
        "contexts": [{"name": context, "context": context_body}],
        "current-context": context,
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    _private(path)
    return path
