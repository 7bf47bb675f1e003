"""etcd + kube-apiserver on loopback ports, with a generated PKI and an admin kubeconfig.

    with ControlPlane(tmp_path) as cp:
        api = admin.client(cp.kubeconfig)  # devcluster.admin

Layout of ``workdir``: ``pki/`` (CA, serving, client and service-account keys), ``etcd-data/``,
``admin.kubeconfig``, and one ``<component>.log`` per process, kept after ``stop()``.

Nothing runs a kube-controller-manager, scheduler or kubelet yet: namespaces get no "default"
ServiceAccount automatically, pods stay Pending, and deleted namespaces stay Terminating.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

from kubernetes import client as k8s

from devcluster import admin, pki
from devcluster.binaries import ensure_binaries
from devcluster.process import ManagedProcess
from devcluster.wait import WaitTimeout, wait_for

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
# Every cluster range comes from 198.18.0.0/15 (RFC 2544 benchmarking space): no clash with the
# host's or a CI runner's networks. Services get the upper half of 198.18.0.0/16.
SERVICE_CLUSTER_IP_RANGE = "198.18.128.0/17"
LOOPBACK = "127.0.0.1"

_PORT_ATTEMPTS = 3

_T = TypeVar("_T")


class ControlPlaneError(RuntimeError):
    """The control plane failed to start (the message carries the relevant log tail)."""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` right now (the caller must still handle a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class _PortClashError(ControlPlaneError):
    """A process could not bind a port that was free a moment before."""


def _address_in_use(process: ManagedProcess) -> bool:
    return "address already in use" in process.log_tail(200).lower()


APISERVER_DNS_NAMES = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
"""Names the API server's serving certificate carries (besides its IP addresses)."""


def etcd_command(
    binary: Path, *, data_dir: Path, client_url: str, peer_url: str, name: str = "kubedag"
) -> list[str]:
    """A one-member etcd cluster's command line (plain HTTP: only for loopback URLs)."""
    return [
        str(binary),
        f"--name={name}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster={name}={peer_url}",
        "--initial-cluster-state=new",
        "--unsafe-no-fsync",  # test and dev data: durability only costs time
        "--log-level=warn",
    ]


def apiserver_command(
    binary: Path,
    *,
    etcd_url: str,
    address: str,
    port: int,
    cert_dir: Path,
    serving: pki.CertKeyPair,
    ca_cert: Path,
    service_account_keys: pki.KeyPair,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """kube-apiserver's command line, listening on and advertising ``address:port``.

    Shared by ``ControlPlane`` (loopback, random port) and the local single-node cluster
    (``devcluster/localcluster.py``), so both authenticate and allocate alike.
    """
    sa = service_account_keys
    args = [
        str(binary),
        f"--etcd-servers={etcd_url}",
        f"--bind-address={address}",
        f"--advertise-address={address}",
    ]
    if ipaddress.ip_address(address).is_loopback:
        # Endpoints may not hold loopback IPs, so the reconciler of default/kubernetes
        # would log a validation error every 10s; the Service itself is still created.
        # Pods that call the API need a non-loopback address (the local cluster has one).
        args.append("--endpoint-reconciler-type=none")
    args += [
        f"--secure-port={port}",
        f"--cert-dir={cert_dir}",
        f"--tls-cert-file={serving.cert}",
        f"--tls-private-key-file={serving.key}",
        f"--client-ca-file={ca_cert}",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={sa.public_key}",
        f"--service-account-signing-key-file={sa.private_key}",
        f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
        "--authorization-mode=Node,RBAC",
        "--allow-privileged=true",
        *extra_args,
    ]
    return args


def etcd_healthy(client_url: str) -> bool:
    """True if etcd at ``client_url`` reports itself healthy."""
    return _etcd_healthy(client_url)


class ControlPlane:
    """A throwaway etcd + kube-apiserver; ``start()``/``stop()`` or use as a context manager."""

    def __init__(
        self,
        workdir: Path,
        *,
        startup_timeout: float = 120.0,
        extra_apiserver_args: Sequence[str] = (),
    ) -> None:
        self.workdir = Path(workdir)
        self.startup_timeout = startup_timeout
        self.extra_apiserver_args = list(extra_apiserver_args)
        self.pki_dir = self.workdir / "pki"
        self.etcd: ManagedProcess | None = None
        self.apiserver: ManagedProcess | None = None
        self._ca: pki.CertKeyPair | None = None
        self._admin: pki.CertKeyPair | None = None
        self._service_account_keys: pki.KeyPair | None = None
        self._etcd_url: str | None = None
        self._server: str | None = None
        self._kubeconfig: Path | None = None

    # -- public surface -------------------------------------------------------------------

    @property
    def server(self) -> str:
        """The API server URL, e.g. ``https://127.0.0.1:41234``."""
        return self._require(self._server, "server")

    @property
    def kubeconfig(self) -> Path:
        """An admin kubeconfig (client certificate in group system:masters)."""
        return self._require(self._kubeconfig, "kubeconfig")

    @property
    def etcd_url(self) -> str:
        """etcd's client URL (plain HTTP on loopback), e.g. for kube-apiserver or inspection."""
        return self._require(self._etcd_url, "etcd_url")

    @property
    def ca(self) -> pki.CertKeyPair:
        """The cluster CA: trusted for serving certificates and client authentication."""
        return self._require(self._ca, "ca")

    @property
    def admin_cert(self) -> pki.CertKeyPair:
        return self._require(self._admin, "admin_cert")

    @property
    def service_account_keys(self) -> pki.KeyPair:
        """The token signing key pair (kube-controller-manager will need the private key)."""
        return self._require(self._service_account_keys, "service_account_keys")

    @property
    def running(self) -> bool:
        return all(p is not None and p.running for p in (self.etcd, self.apiserver))

    def issue_kubeconfig(self, name: str, *, user: str, groups: Sequence[str] = ()) -> Path:
        """A client certificate for ``user`` in ``groups`` and ``workdir/<name>.kubeconfig``.

        E.g. ``issue_kubeconfig("kube-scheduler", user="system:kube-scheduler")``.
        """
        cert = pki.issue_certificate(
            self.ca, self.pki_dir, name, common_name=user, organizations=groups
        )
        return pki.write_kubeconfig(
            self.workdir / f"{name}.kubeconfig", self.server, self.ca.cert, cert, user=user
        )

    def start(self) -> Self:
        if self.etcd is not None or self.apiserver is not None:
            raise ControlPlaneError("this ControlPlane was already started")
        binaries = ensure_binaries("etcd", "kube-apiserver")
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._create_pki()
            self._start_etcd(binaries["etcd"])
            self._start_apiserver(binaries["kube-apiserver"])
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop kube-apiserver, then etcd. Logs stay in ``workdir``. Idempotent."""
        for process in (self.apiserver, self.etcd):
            if process is not None:
                process.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- startup --------------------------------------------------------------------------

    @staticmethod
    def _require(value: _T | None, name: str) -> _T:
        if value is None:
            raise ControlPlaneError(f"{name} is only known once the control plane has started")
        return value

    def _create_pki(self) -> None:
        self._ca = pki.create_ca(self.pki_dir, common_name="kubedag-ca")
        self._admin = pki.issue_certificate(
            self._ca,
            self.pki_dir,
            "admin",
            common_name="kubedag-admin",
            organizations=["system:masters"],
        )
        self._service_account_keys = pki.generate_rsa_key_pair(self.pki_dir, "service-account")

    def _start_etcd(self, binary: Path) -> None:
        self._etcd_url = _retry_on_port_clash(lambda: self._launch_etcd(binary))

    def _launch_etcd(self, binary: Path) -> str:
        data_dir = self.workdir / "etcd-data"
        shutil.rmtree(data_dir, ignore_errors=True)  # leftovers of an attempt on taken ports
        client_url = f"http://{LOOPBACK}:{free_port()}"
        peer_url = f"http://{LOOPBACK}:{free_port()}"
        self.etcd = ManagedProcess(
            "etcd",
            etcd_command(binary, data_dir=data_dir, client_url=client_url, peer_url=peer_url),
            self.workdir / "etcd.log",
        )
        self._run_until(self.etcd, [("etcd /health", lambda: _etcd_healthy(client_url))])
        return client_url

    def _start_apiserver(self, binary: Path) -> None:
        serving = pki.issue_certificate(
            self.ca,
            self.pki_dir,
            "kube-apiserver",
            common_name="kube-apiserver",
            dns_names=APISERVER_DNS_NAMES,
            ip_addresses=[LOOPBACK],
            server=True,
            client=False,
        )
        self._server = _retry_on_port_clash(lambda: self._launch_apiserver(binary, serving))
        self._kubeconfig = self.workdir / "admin.kubeconfig"

    def _launch_apiserver(self, binary: Path, serving: pki.CertKeyPair) -> str:
        port = free_port()
        server = f"https://{LOOPBACK}:{port}"
        self.apiserver = ManagedProcess(
            "kube-apiserver",
            apiserver_command(
                binary,
                etcd_url=self.etcd_url,
                address=LOOPBACK,
                port=port,
                cert_dir=self.workdir / "apiserver-certs",
                serving=serving,
                ca_cert=self.ca.cert,
                service_account_keys=self.service_account_keys,
                extra_args=self.extra_apiserver_args,
            ),
            self.workdir / "kube-apiserver.log",
        )
        kubeconfig = pki.write_kubeconfig(
            self.workdir / "admin.kubeconfig",
            server,
            self.ca.cert,
            self.admin_cert,
            user="kubedag-admin",
        )
        with admin.client(kubeconfig) as api:
            core = k8s.CoreV1Api(api)
            self._run_until(
                self.apiserver,
                [
                    # First the port, so the client's own retries of a refused connection
                    # (a warning line each) are not spent while the server starts.
                    (f"{server} accepting connections", lambda: _accepts_connections(port)),
                    (f"{server}/readyz", lambda: admin.ready(api)),
                    (
                        "the default namespace",
                        lambda: admin.exists(lambda: core.read_namespace("default")),
                    ),
                ],
            )
        return server

    def _run_until(
        self, process: ManagedProcess, conditions: Sequence[tuple[str, Callable[[], bool]]]
    ) -> None:
        """Start ``process`` and wait for each condition; on failure stop it and raise."""
        process.start()
        try:
            for what, check in conditions:
                self._wait_for(process, what, check)
        except ControlPlaneError as error:
            process.stop()
            if _address_in_use(process):
                raise _PortClashError(str(error)) from error
            raise

    def _wait_for(self, process: ManagedProcess, what: str, check: Callable[[], bool]) -> None:
        """Poll ``check`` until true; fail early if ``process`` exits, or at the timeout."""

        def alive_and(check: Callable[[], bool] = check) -> bool:
            code = process.returncode()
            if code is not None:
                raise ControlPlaneError(
                    f"{process.name} exited with status {code} while waiting for {what}; "
                    f"last lines of {process.log_path}:\n{process.log_tail()}"
                )
            return check()

        try:
            wait_for(alive_and, what, timeout=self.startup_timeout, tolerate=admin.NOT_READY_ERRORS)
        except WaitTimeout as error:
            raise ControlPlaneError(
                f"{error}; last lines of {process.log_path}:\n{process.log_tail()}"
            ) from None


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1):
            return True
    except OSError:
        return False


def _etcd_healthy(client_url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{client_url}/health", timeout=5) as response:
        return bool(json.load(response).get("health") == "true")


def _retry_on_port_clash(launch: Callable[[], _T]) -> _T:
    """Run ``launch``, again on fresh ports if another process took a port in between."""
    for _attempt in range(_PORT_ATTEMPTS - 1):
        try:
            return launch()
        except _PortClashError:
            continue
    return launch()
