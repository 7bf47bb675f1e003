"""A real single-node Kubernetes cluster on this machine, for ``make demo``, e2e tests, benchmarks.

    python -m devcluster up      # idempotent; prints `export KUBECONFIG=...`
    python -m devcluster status
    python -m devcluster down    # stops everything, removes all state

No Docker, kind or registry: the pinned upstream binaries (``hack/build-go-binaries.sh``) run as
background daemons started here, next to kubedag's own containerd (Debian's package, own socket
and folders). Needs root and the Debian packages in ``hack/host-packages.txt`` (``up`` installs
missing ones with ``hack/install-host-packages.sh``).

Control plane: etcd (127.0.0.1:2379), kube-apiserver on ``API_ADDRESS:6443`` (an address on the
``kubedag0`` interface, reachable from pods, never routed off the host), kube-controller-manager
(service-account tokens, garbage collector, namespace finalizer, node CIDRs) and kube-scheduler.
Node ``kubedag-node``: containerd + kubelet (cgroupfs), CNI bridge ``kubedag-cni0`` with pods in
198.18.0.0/24, kube-proxy in iptables mode so pods (and the host) reach the API through the
``kubernetes`` Service at 198.18.128.1:443. CoreDNS (``devcluster/coredns.py``) answers on
API_ADDRESS:53 for the cluster zones (``kubernetes.default.svc`` is what kopf dials), with
NXDOMAIN for every other name: it has no upstream. Pods can only use images present in
containerd (pulls fail at once, locally): the sandbox image ``kubedag/pause:3.10`` is built here
from ``pause.c``; others come from ``devcluster.node.import_image``. Nothing in the cluster can
reach another host: see ``node.setup_host_network``.

A cluster found broken (a daemon died, or the machine rebooted) is removed and started afresh by
``up``: its API objects are not kept.

State: ``/var/lib/kubedag`` (PKI, etcd, containerd and kubelet roots, daemon logs in
``/var/lib/kubedag/cluster/logs``) and ``/run/kubedag`` (pidfiles, containerd state); the admin
kubeconfig is copied to ``<repo>/.kubedag/kubeconfig``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from kubernetes import client as k8s

from devcluster import admin, coredns, node, pki, storage
from devcluster.binaries import binary_path, ensure_binaries
from devcluster.controlplane import (
    APISERVER_DNS_NAMES,
    apiserver_command,
    etcd_command,
    etcd_healthy,
)
from devcluster.node import (
    API_ADDRESS,
    API_PORT,
    CLUSTER_CIDR,
    CLUSTER_DIR,
    KUBERNETES_SERVICE_IP,
    LOG_DIR,
    NODE_NAME,
    RUN_DIR,
    SERVICE_CIDR,
    STATE_DIR,
    Daemon,
    NodeError,
)
from devcluster.pause import PAUSE_IMAGE, pause_image
from devcluster.versions import KUBERNETES_VERSION, REPO_ROOT, cache_dir
from devcluster.wait import WaitTimeout, wait_for

SERVER = f"https://{API_ADDRESS}:{API_PORT}"
SERVICE_SERVER = f"https://{KUBERNETES_SERVICE_IP}:443"
ETCD_CLIENT_URL = "http://127.0.0.1:2379"
ETCD_PEER_URL = "http://127.0.0.1:2380"
PKI_DIR = CLUSTER_DIR / "pki"
ADMIN_KUBECONFIG = CLUSTER_DIR / "admin.kubeconfig"
COREFILE = CLUSTER_DIR / "Corefile"
REPO_KUBECONFIG = REPO_ROOT / ".kubedag" / "kubeconfig"
INSTALL_SCRIPT = REPO_ROOT / "hack" / "install-host-packages.sh"

COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
    "kubelet",
    "kubectl",
    "coredns",
)
DAEMONS = (
    "etcd",
    "kube-apiserver",
    "containerd",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
    "kubelet",
    "coredns",
)
_OUR_EXECUTABLES = frozenset({*DAEMONS, "containerd-shim-runc-v2"})
_PROBE_POD = "kubedag-up-probe"
_KUBERNETES_NAME = "kubernetes.default.svc.cluster.local"
_HOST_COMMANDS = {  # command: Debian package
    "containerd": "containerd",
    "containerd-shim-runc-v2": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "iptables": "iptables",
    "ip6tables": "iptables",
    "conntrack": "conntrack",
    "ip": "iproute2",
    "mount": "mount",
    "umount": "mount",
    "openssl": "openssl",
    "gcc": "gcc",
}


class ClusterError(RuntimeError):
    """The cluster could not be started or stopped; the message names the cause and a log."""


@dataclass(frozen=True)
class Cluster:
    """The running local cluster, as ``up()`` returns it."""

    kubeconfig: Path = REPO_KUBECONFIG
    """Admin kubeconfig (client certificate in system:masters), ``<repo>/.kubedag/kubeconfig``."""
    server: str = SERVER
    node_name: str = NODE_NAME
    logs: Path = LOG_DIR


def _log(message: str) -> None:
    print(f"kubedag: {message}", file=sys.stderr, flush=True)


# -- prerequisites ----------------------------------------------------------------------------


def _require_root() -> None:
    if not sys.platform.startswith("linux"):
        raise ClusterError("the local cluster runs on Linux only")
    if os.geteuid() != 0:
        raise ClusterError(
            "not root: the local cluster runs containerd and a kubelet and changes network "
            "settings (interfaces, routes, iptables); run it as root, e.g. "
            "`sudo .venv/bin/python -m devcluster up`"
        )


def ensure_host_packages() -> None:
    """Install the missing packages of hack/host-packages.txt (Debian), then check commands."""
    script = str(INSTALL_SCRIPT.relative_to(REPO_ROOT))
    if shutil.which("dpkg-query") and shutil.which("apt-get"):
        check = subprocess.run(
            ["bash", str(INSTALL_SCRIPT), "--check"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            _log(f"{check.stdout.strip()}: installing them with {script}")
            result = subprocess.run(
                ["bash", str(INSTALL_SCRIPT)],
                stdin=subprocess.DEVNULL,
                stdout=sys.stderr,
                stderr=subprocess.PIPE,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise ClusterError(
                    f"{script} failed (exit {result.returncode}): {result.stderr.strip()}"
                )
    missing = [c for c in _HOST_COMMANDS if shutil.which(c) is None]
    if missing:
        names = ", ".join(f"{c} (package {_HOST_COMMANDS[c]})" for c in missing)
        raise ClusterError(f"{names} not installed: run {script}")
    node.find_cni_bin_dir()  # raises naming the package


def _check_cgroups() -> None:
    cgroup = Path("/sys/fs/cgroup")
    v2 = (cgroup / "cgroup.controllers").exists()
    if not v2 and not all((cgroup / c).is_dir() for c in ("cpu", "cpuacct", "cpuset", "memory")):
        raise ClusterError(
            f"no usable cgroup hierarchy under {cgroup}: the kubelet needs cgroup v2, or the "
            "v1 controllers cpu, cpuacct, cpuset and memory mounted"
        )


# -- talking to the API server ----------------------------------------------------------------


def admin_client(server: str | None = None) -> k8s.ApiClient:
    """An admin ApiClient for the local cluster (``server`` overrides the API address)."""
    return admin.client(ADMIN_KUBECONFIG, server=server)


def _node_ready(core: k8s.CoreV1Api) -> bool:
    status = core.read_node(NODE_NAME).status
    conditions = (status.conditions if status else None) or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


# -- components -------------------------------------------------------------------------------


def daemon(name: str) -> Daemon:
    """The pidfile-tracked handle of daemon ``name`` (to inspect or stop; no command line)."""
    return Daemon(name)


@dataclass(frozen=True)
class _Pki:
    ca: pki.CertKeyPair
    admin: pki.CertKeyPair
    service_account: pki.KeyPair
    apiserver: pki.CertKeyPair
    apiserver_kubelet_client: pki.CertKeyPair
    kubelet_serving: pki.CertKeyPair


def _create_pki() -> _Pki:
    """The CA, every certificate and every component's kubeconfig in CLUSTER_DIR."""
    ca = pki.create_ca(PKI_DIR, common_name="kubedag-local-ca")

    def issue(name: str, user: str, groups: Sequence[str] = ()) -> pki.CertKeyPair:
        return pki.issue_certificate(ca, PKI_DIR, name, common_name=user, organizations=groups)

    def kubeconfig(name: str, user: str, groups: Sequence[str] = ()) -> None:
        cert = issue(name, user, groups)
        pki.write_kubeconfig(CLUSTER_DIR / f"{name}.kubeconfig", SERVER, ca.cert, cert, user=user)

    admin = issue("admin", "kubedag-admin", ["system:masters"])
    pki.write_kubeconfig(ADMIN_KUBECONFIG, SERVER, ca.cert, admin, user="kubedag-admin")
    kubeconfig("kube-controller-manager", "system:kube-controller-manager")
    kubeconfig("kube-scheduler", "system:kube-scheduler")
    kubeconfig("kube-proxy", "system:kube-proxy")
    kubeconfig("kubelet", f"system:node:{NODE_NAME}", ["system:nodes"])
    apiserver = pki.issue_certificate(
        ca,
        PKI_DIR,
        "kube-apiserver",
        common_name="kube-apiserver",
        dns_names=[*APISERVER_DNS_NAMES, "kubernetes.default.svc.cluster.local"],
        ip_addresses=["127.0.0.1", API_ADDRESS, KUBERNETES_SERVICE_IP],
        server=True,
        client=False,
    )
    kubelet_serving = pki.issue_certificate(
        ca,
        PKI_DIR,
        "kubelet-serving",
        common_name=NODE_NAME,
        dns_names=[NODE_NAME],
        ip_addresses=[API_ADDRESS],
        server=True,
        client=False,
    )
    return _Pki(
        ca=ca,
        admin=admin,
        service_account=pki.generate_rsa_key_pair(PKI_DIR, "service-account"),
        apiserver=apiserver,
        apiserver_kubelet_client=issue(
            "apiserver-kubelet-client", "kube-apiserver-kubelet-client", ["system:masters"]
        ),
        kubelet_serving=kubelet_serving,
    )


def _kube_proxy_config() -> str:
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(CLUSTER_DIR / "kube-proxy.kubeconfig")},
        "mode": "iptables",
        "clusterCIDR": CLUSTER_CIDR,
        "hostnameOverride": NODE_NAME,
        "bindAddress": API_ADDRESS,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "nodePortAddresses": [f"{API_ADDRESS}/32"],
        # No host-wide sysctl changes: no route_localnet for 127.0.0.1 NodePorts, and the
        # conntrack table size and timeouts stay as they are.
        "iptables": {"localhostNodePorts": False},
        "oomScoreAdj": 0,  # keep the host's score (lowering it needs CAP_SYS_RESOURCE)
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    }
    return yaml.safe_dump(config, sort_keys=False)


def _commands(binaries: dict[str, Path], certs: _Pki) -> dict[str, list[str]]:
    kubeconfig = {
        n: CLUSTER_DIR / f"{n}.kubeconfig" for n in ("kube-controller-manager", "kube-scheduler")
    }
    kubelet_files = node.KubeletFiles(
        kubeconfig=CLUSTER_DIR / "kubelet.kubeconfig",
        ca_cert=certs.ca.cert,
        serving_cert=certs.kubelet_serving.cert,
        serving_key=certs.kubelet_serving.key,
    )
    kubelet_config = CLUSTER_DIR / "kubelet.yaml"
    kubelet_config.write_text(node.kubelet_config(kubelet_files))
    proxy_config = CLUSTER_DIR / "kube-proxy.yaml"
    proxy_config.write_text(_kube_proxy_config())
    COREFILE.write_text(coredns.corefile(listen=API_ADDRESS, kubeconfig=ADMIN_KUBECONFIG))
    # No front proxy: the API server has no request-header CA for these to look up (they
    # would log an error about it every few seconds); client certificates use the CA.
    no_lookup = ["--authentication-skip-lookup=true", f"--client-ca-file={certs.ca.cert}"]
    kcm = kubeconfig["kube-controller-manager"]
    scheduler = kubeconfig["kube-scheduler"]
    return {
        "etcd": etcd_command(
            binaries["etcd"],
            data_dir=CLUSTER_DIR / "etcd-data",
            client_url=ETCD_CLIENT_URL,
            peer_url=ETCD_PEER_URL,
        ),
        "kube-apiserver": apiserver_command(
            binaries["kube-apiserver"],
            etcd_url=ETCD_CLIENT_URL,
            address=API_ADDRESS,
            port=API_PORT,
            cert_dir=CLUSTER_DIR / "apiserver-certs",
            serving=certs.apiserver,
            ca_cert=certs.ca.cert,
            service_account_keys=certs.service_account,
            extra_args=[
                f"--kubelet-client-certificate={certs.apiserver_kubelet_client.cert}",
                f"--kubelet-client-key={certs.apiserver_kubelet_client.key}",
                f"--kubelet-certificate-authority={certs.ca.cert}",
                # The node's Hostname address would need DNS; its InternalIP is local.
                "--kubelet-preferred-address-types=InternalIP",
                "--enable-admission-plugins=NodeRestriction",
            ],
        ),
        "containerd": ["containerd", f"--config={node.CONTAINERD_CONFIG}"],
        "kube-controller-manager": [
            str(binaries["kube-controller-manager"]),
            f"--kubeconfig={kcm}",
            f"--authentication-kubeconfig={kcm}",
            f"--authorization-kubeconfig={kcm}",
            *no_lookup,
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
            "--cluster-name=kubedag",
            f"--cluster-signing-cert-file={certs.ca.cert}",
            f"--cluster-signing-key-file={certs.ca.key}",
            f"--root-ca-file={certs.ca.cert}",
            f"--service-account-private-key-file={certs.service_account.private_key}",
            "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--cluster-cidr={CLUSTER_CIDR}",
            "--allocate-node-cidrs=true",
            "--node-cidr-mask-size=24",
            f"--flex-volume-plugin-dir={CLUSTER_DIR / 'kcm-volume-plugins'}",  # not /usr/libexec
            *storage.CONTROLLER_MANAGER_FLAGS,
        ],
        "kube-scheduler": [
            str(binaries["kube-scheduler"]),
            f"--kubeconfig={scheduler}",
            f"--authentication-kubeconfig={scheduler}",
            f"--authorization-kubeconfig={scheduler}",
            *no_lookup,
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
        ],
        "kube-proxy": [str(binaries["kube-proxy"]), f"--config={proxy_config}"],
        "coredns": coredns.command(binaries["coredns"], COREFILE),
        "kubelet": node.kubelet_command(binaries["kubelet"], kubelet_config, kubelet_files),
    }


# -- waiting ----------------------------------------------------------------------------------


def _wait_for(
    what: str,
    check: Callable[[], bool],
    *,
    watch: Sequence[Daemon],
    log_of: Daemon,
    timeout: float,
) -> None:
    """Poll ``check``; fail early if a watched daemon dies, with ``log_of``'s log at timeout."""

    def watched_check() -> bool:
        for d in watch:
            if not d.running:
                raise ClusterError(
                    f"{d.name} exited while waiting for {what}; last lines of {d.log_path}:\n"
                    f"{d.log_tail()}"
                )
        return check()

    try:
        wait_for(
            watched_check,
            what,
            timeout=timeout,
            tolerate=(*admin.NOT_READY_ERRORS, *coredns.LOOKUP_ERRORS, NodeError),
        )
    except WaitTimeout as error:
        raise ClusterError(
            f"{error}; last lines of {log_of.log_path}:\n{log_of.log_tail()}"
        ) from None


def _probe_pod() -> k8s.V1Pod:
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=_PROBE_POD, labels={"app.kubernetes.io/name": _PROBE_POD}),
        spec=k8s.V1PodSpec(
            containers=[
                k8s.V1Container(name="pause", image=PAUSE_IMAGE, image_pull_policy="Never")
            ],
            termination_grace_period_seconds=0,
        ),
    )


def _probe_running(core: k8s.CoreV1Api) -> bool:
    status = core.read_namespaced_pod(_PROBE_POD, "default").status
    if status is not None and status.phase == "Running":
        return True
    # Give up early on a pod that keeps failing (a broken runtime setup), naming the error.
    selector = f"involvedObject.name={_PROBE_POD}"
    for event in core.list_namespaced_event("default", field_selector=selector).items:
        reason = event.reason or ""
        if reason.startswith(("Failed", "ErrImage")) and (event.count or 1) >= 3:
            raise ClusterError(
                f"the probe pod default/{_PROBE_POD} cannot start ({reason}, "
                f"{event.count} times): {event.message}"
            )
    return False


# -- the public surface -----------------------------------------------------------------------


def healthy() -> bool:
    """Every daemon runs, the API server is ready and the node is Ready."""
    if not all(daemon(n).running for n in DAEMONS):
        return False
    try:
        with admin_client() as api:
            return admin.ready(api) and _node_ready(k8s.CoreV1Api(api))
    except admin.NOT_READY_ERRORS:
        return False


def _has_state() -> bool:
    return STATE_DIR.exists() or RUN_DIR.exists() or _orphans() != []


def _publish_kubeconfig() -> Path:
    folder = REPO_KUBECONFIG.parent
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():  # a credential: keep the whole folder out of git
        ignore.write_text("# written by devcluster/localcluster.py\n*\n")
    shutil.copyfile(ADMIN_KUBECONFIG, REPO_KUBECONFIG)
    os.chmod(REPO_KUBECONFIG, 0o600)
    # Run through sudo: the kubeconfig belongs to the user who asked for it.
    uid, gid = os.environ.get("SUDO_UID"), os.environ.get("SUDO_GID")
    if uid and gid and uid.isdigit() and gid.isdigit():
        for path in (folder, ignore, REPO_KUBECONFIG):
            os.chown(path, int(uid), int(gid))
    return REPO_KUBECONFIG


@contextlib.contextmanager
def _exclusive() -> Iterator[None]:
    """One ``up``/``down`` at a time on this machine (e.g. `make demo` and an e2e session)."""
    lock_path = cache_dir() / ".cluster.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def up(*, timeout: float = 180.0) -> Cluster:
    """Start the cluster (or check the running one).

    Returns once the node is Ready, the ``default`` ServiceAccount exists, the ``kubernetes``
    Service answers on its ClusterIP and a probe pod has run. Idempotent: with a healthy
    cluster it only republishes the kubeconfig. A cluster found broken is torn down and
    started afresh. On failure raises ``ClusterError`` with the relevant log's tail; the
    daemons are left as they are for inspection (``down`` cleans up).
    """
    _require_root()
    with _exclusive():
        try:
            return _up(timeout)
        except (ClusterError, NodeError) as error:
            if not _has_state():
                raise
            raise ClusterError(
                f"{error}\nThe partial cluster is left running for inspection (logs in "
                f"{LOG_DIR}); `python -m devcluster down` removes it."
            ) from error


def _up(timeout: float) -> Cluster:
    if healthy():
        _publish_kubeconfig()
        _log(f"cluster already running (node {NODE_NAME} Ready)")
        return Cluster()
    if _has_state():
        _log("found a stopped or broken cluster: removing it first")
        _down()
    started = time.monotonic()

    def step(message: str) -> None:
        _log(f"[{time.monotonic() - started:5.1f}s] {message}")

    _check_cgroups()
    ensure_host_packages()
    binaries = ensure_binaries(*COMPONENTS)
    cni_bin_dir = node.find_cni_bin_dir()
    pause_tarball = pause_image()
    step("binaries and host packages present")

    CLUSTER_DIR.mkdir(parents=True, exist_ok=True)
    certs = _create_pki()
    node.write_node_configs(cni_bin_dir)
    commands = _commands(binaries, certs)
    node.save_host_state()
    node.setup_host_network()
    step(f"PKI, configs, interface {node.HOST_INTERFACE} ({API_ADDRESS}) ready")

    env = node.daemon_env()
    daemons = {name: Daemon(name, argv, env=env) for name, argv in commands.items()}
    daemons["containerd"] = Daemon("containerd", commands["containerd"], env=node.containerd_env())
    etcd, apiserver, containerd = daemons["etcd"], daemons["kube-apiserver"], daemons["containerd"]

    etcd.start()
    containerd.start()  # independent of the control plane: starts meanwhile
    _wait_for(
        "etcd", lambda: etcd_healthy(ETCD_CLIENT_URL), watch=[etcd], log_of=etcd, timeout=timeout
    )
    apiserver.start()
    # The controller manager waits for the API server itself; its controllers (service
    # accounts above all) are then ready seconds earlier than if started after readyz.
    daemons["kube-controller-manager"].start()
    _wait_for(
        "containerd", node.containerd_ready, watch=[containerd], log_of=containerd, timeout=60
    )
    node.import_image(pause_tarball)
    step(f"etcd and containerd up, {PAUSE_IMAGE} imported")
    with admin_client() as api:
        _start_node(daemons, api, timeout, step)
    _publish_kubeconfig()
    step("probe pod ran: cluster ready")
    return Cluster()


def _start_node(
    daemons: dict[str, Daemon], api: k8s.ApiClient, timeout: float, step: Callable[[str], None]
) -> None:
    """From a starting API server to a node that has run a pod, every step checked."""
    etcd, apiserver, kubelet = daemons["etcd"], daemons["kube-apiserver"], daemons["kubelet"]
    core = k8s.CoreV1Api(api)
    _wait_for(
        f"{SERVER}/readyz",
        lambda: admin.ready(api),
        watch=[etcd, apiserver, daemons["kube-controller-manager"]],
        log_of=apiserver,
        timeout=timeout,
    )
    step("kube-apiserver ready")

    for name in ("kube-scheduler", "kube-proxy", "coredns", "kubelet"):
        daemons[name].start()
    everyone = list(daemons.values())
    _wait_for(
        f"node {NODE_NAME} Ready",
        lambda: _node_ready(core),
        watch=everyone,
        log_of=kubelet,
        timeout=timeout,
    )
    step(f"node {NODE_NAME} Ready")
    _wait_for(
        "the default ServiceAccount",
        lambda: admin.exists(lambda: core.read_namespaced_service_account("default", "default")),
        watch=everyone,
        log_of=daemons["kube-controller-manager"],
        timeout=timeout,
    )
    step("default ServiceAccount created")
    storage.ensure_storage_class(api)
    with admin_client(SERVICE_SERVER) as through_service:
        _wait_for(
            f"the kubernetes Service through its ClusterIP ({SERVICE_SERVER})",
            lambda: admin.ready(through_service),
            watch=everyone,
            log_of=daemons["kube-proxy"],
            timeout=timeout,
        )
    step(f"kubernetes Service answers on {KUBERNETES_SERVICE_IP}")
    _wait_for(
        f"cluster DNS (CoreDNS) on {API_ADDRESS}:53",
        lambda: (
            coredns.lookup(API_ADDRESS, _KUBERNETES_NAME) == ("NOERROR", [KUBERNETES_SERVICE_IP])
        ),
        watch=everyone,
        log_of=daemons["coredns"],
        timeout=timeout,
    )
    core.create_namespaced_pod("default", _probe_pod())
    _wait_for(
        f"probe pod default/{_PROBE_POD} Running",
        lambda: _probe_running(core),
        watch=everyone,
        log_of=kubelet,
        timeout=timeout,
    )
    core.delete_namespaced_pod(_PROBE_POD, "default")


def _orphans() -> list[int]:
    """Our daemons and shims still running without a valid pidfile (found through /proc)."""
    markers = (str(STATE_DIR).encode() + b"/", str(RUN_DIR).encode() + b"/")
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        program = os.path.basename(argv[0]).decode(errors="replace")
        if program not in _OUR_EXECUTABLES:
            continue
        if any(m in arg for arg in argv[1:] for m in markers):
            pids.append(int(entry.name))
    return pids


def down() -> None:
    """Stop every daemon and container, undo the network setup, remove all state."""
    _require_root()
    with _exclusive():
        _down()


def _down() -> None:
    links = (node.HOST_INTERFACE, node.CNI_BRIDGE)
    if not _has_state() and not any(Path("/sys/class/net", n).exists() for n in links):
        _log("no local cluster here: nothing to do")
        REPO_KUBECONFIG.unlink(missing_ok=True)
        return
    started = time.monotonic()
    for name in ("kubelet", "kube-proxy", "kube-scheduler", "kube-controller-manager"):
        daemon(name).stop()
    with contextlib.suppress(NodeError):
        node.kill_containers()
    daemon("containerd").stop()
    node.kill_pids(node.leftover_shims())
    for name in ("coredns", "kube-apiserver", "etcd"):
        daemon(name).stop()
    node.kill_pids(_orphans())
    node.unmount_under([STATE_DIR, RUN_DIR])
    node.remove_pod_cgroups()
    node.remove_host_leftovers()
    storage.remove_volumes()
    kube_proxy = binary_path("kube-proxy")
    node.teardown_host_network(kube_proxy if kube_proxy.exists() else None)
    node.restore_host_state()
    node.remove_state([STATE_DIR, RUN_DIR, REPO_KUBECONFIG])
    _log(f"local cluster removed ({time.monotonic() - started:.1f}s)")


@dataclass(frozen=True)
class Status:
    daemons: dict[str, int | None]  # name: pid, or None when not running
    apiserver_ready: bool
    node_ready: bool
    kubeconfig: Path | None

    @property
    def healthy(self) -> bool:
        return all(self.daemons.values()) and self.apiserver_ready and self.node_ready

    def render(self) -> str:
        lines = [
            f"{name:<24} {'running, pid ' + str(pid) if pid else 'not running'}"
            for name, pid in self.daemons.items()
        ]
        lines.append(
            f"{'kube-apiserver ' + SERVER:<24} {'ready' if self.apiserver_ready else 'not ready'}"
        )
        lines.append(f"{'node ' + NODE_NAME:<24} {'Ready' if self.node_ready else 'not Ready'}")
        lines.append(f"{'kubeconfig':<24} {self.kubeconfig or '-'}")
        lines.append(f"{'logs':<24} {LOG_DIR}")
        return "\n".join(lines)


def status() -> Status:
    pids = {name: daemon(name).pid for name in DAEMONS}
    apiserver_ready = node_ready = False
    if pids["kube-apiserver"]:
        with contextlib.suppress(*admin.NOT_READY_ERRORS), admin_client() as api:
            apiserver_ready = admin.ready(api)
            node_ready = _node_ready(k8s.CoreV1Api(api))
    kubeconfig = REPO_KUBECONFIG if REPO_KUBECONFIG.exists() else None
    return Status(pids, apiserver_ready, node_ready, kubeconfig)


def kubectl(
    *args: str, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the pinned kubectl against the local cluster (admin kubeconfig)."""
    return subprocess.run(
        [str(binary_path("kubectl")), f"--kubeconfig={ADMIN_KUBECONFIG}", *args],
        env=node.daemon_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


__all__ = [
    "ADMIN_KUBECONFIG",
    "KUBERNETES_VERSION",
    "REPO_KUBECONFIG",
    "SERVER",
    "Cluster",
    "ClusterError",
    "Status",
    "admin_client",
    "down",
    "healthy",
    "kubectl",
    "status",
    "up",
]
