"""The worker half of the local single-node cluster: containerd, the kubelet and the host network.

Everything here belongs to kubedag's own instances, never the host's: a containerd with its own
config, socket (``/run/kubedag/containerd/containerd.sock``), root and state folders, a kubelet
with its own root folder, a CNI bridge ``kubedag-cni0`` and an interface ``kubedag0`` holding
the API server's address. ``devcluster/localcluster.py`` puts them together; another module
may call ``import_image`` to make a locally built image available to pods::

    from devcluster.node import import_image
    import_image(Path("python-task.tar"))  # a docker-archive or OCI tarball

The daemons are ``Daemon``s: unlike ``process.ManagedProcess`` they outlive the Python process
that starts them (``python -m devcluster up`` returns with the cluster running), so each one
is tracked by a pidfile and stopped by ``down`` through it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from devcluster.controlplane import SERVICE_CLUSTER_IP_RANGE
from devcluster.versions import KUBERNETES_VERSION
from devcluster.wait import WaitTimeout, wait_for

# -- where things live ------------------------------------------------------------------------

STATE_DIR = Path("/var/lib/kubedag")
"""Persistent state of the local cluster: PKI, etcd data, containerd's and kubelet's roots."""
RUN_DIR = Path("/run/kubedag")
"""Runtime state: pidfiles, containerd's state and socket, pod network namespaces."""
CLUSTER_DIR = STATE_DIR / "cluster"
LOG_DIR = CLUSTER_DIR / "logs"
PID_DIR = RUN_DIR / "pids"
CONTAINERD_ROOT = STATE_DIR / "containerd"
CONTAINERD_STATE = RUN_DIR / "containerd"
CONTAINERD_SOCKET = CONTAINERD_STATE / "containerd.sock"
CONTAINERD_CONFIG = CLUSTER_DIR / "containerd.toml"
RUNC_ROOT = CONTAINERD_STATE / "runc"
CONTAINERD_NAMESPACE = "k8s.io"  # the CRI plugin's namespace: images pods can use live here
KUBELET_ROOT = STATE_DIR / "kubelet"
POD_LOGS_DIR = STATE_DIR / "pod-logs"
CNI_CONF_DIR = STATE_DIR / "cni" / "net.d"
CNI_IPAM_DIR = STATE_DIR / "cni" / "ipam"
HOST_STATE_FILE = CLUSTER_DIR / "host-state.json"
CONTAINER_LOG_LINKS = Path("/var/log/containers")  # hard-coded in the kubelet
# Fixed paths the components write outside our folders (no setting moves them): the kubelet's
# device-plugin socket and checkpoint, and libcni's result cache (containerd 1.6 cannot set
# its folder). ``down`` removes what is ours in them, and the folders if ``up`` made them.
KUBELET_DEVICE_PLUGINS = Path("/var/lib/kubelet/device-plugins")
CNI_CACHE = Path("/var/lib/cni/results")
_HOST_FOLDERS = (
    CONTAINER_LOG_LINKS,
    KUBELET_DEVICE_PLUGINS.parent,
    KUBELET_DEVICE_PLUGINS,
    CNI_CACHE.parent,
    CNI_CACHE,
)

# -- addresses --------------------------------------------------------------------------------
# Every range comes from 198.18.0.0/15 (RFC 2544 benchmarking space, never routed on the
# internet); a blackhole route for the whole /15 keeps any packet to it from leaving the host.

NODE_NAME = "kubedag-node"
HOST_INTERFACE = "kubedag0"
"""Holds API_ADDRESS. A bridge without ports: this kernel has no ``dummy`` driver."""
API_ADDRESS = "198.19.255.1"
"""kube-apiserver's (and the node's) address: local, and reachable from pods."""
API_PORT = 6443
CLUSTER_CIDR = "198.18.0.0/17"
POD_SUBNET = "198.18.0.0/24"
POD_GATEWAY = "198.18.0.1"
CNI_BRIDGE = "kubedag-cni0"
CNI_NETWORK = "kubedag"
SERVICE_CIDR = SERVICE_CLUSTER_IP_RANGE
KUBERNETES_SERVICE_IP = "198.18.128.1"
BLACKHOLE_CIDR = "198.18.0.0/15"
INGRESS_CHAIN = "KUBEDAG-INGRESS"  # in table mangle
POD_ROUTING_TABLE = 19818  # policy routing table (and rule priority) for packets from pods
_NO_PROXY_GUARD = "http://127.0.0.1:9"  # the discard port: nothing listens, pulls fail at once

SANDBOX_IMAGE = "docker.io/kubedag/pause:3.10"

# Host settings the kubelet and the bridge plugin change; saved before and restored by down.
_SYSCTLS = (
    "net/ipv4/ip_forward",
    "vm/overcommit_memory",
    "kernel/panic",
    "kernel/panic_on_oops",
)


class NodeError(RuntimeError):
    """A node component failed or a prerequisite is missing (the message names it)."""


# -- daemons ----------------------------------------------------------------------------------


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (guards against pid reuse)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie has exited already
        return None
    return fields[19]


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _alive(pid: int) -> bool:
    _reap(pid)
    return _start_time(pid) is not None


class Daemon:
    """A background process that outlives its starter, tracked by ``PID_DIR/<name>.pid``.

    It runs in its own session (process group) with stdout and stderr appended to
    ``LOG_DIR/<name>.log``; ``stop()`` signals the whole group.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str | os.PathLike[str]] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = [os.fspath(arg) for arg in argv]
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.log_path = LOG_DIR / f"{name}.log"
        self.pid_path = PID_DIR / f"{name}.pid"

    def __repr__(self) -> str:
        return f"Daemon({self.name!r}, pid={self.pid})"

    @property
    def pid(self) -> int | None:
        """The pid if the process recorded in the pidfile is still that process and alive."""
        try:
            pid_text, start = self.pid_path.read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            return None
        _reap(pid)
        return pid if _start_time(pid) == start else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def start(self) -> None:
        if self.running:
            raise NodeError(f"{self.name} is already running (pid {self.pid})")
        if not self.argv:
            raise NodeError(f"no command to start {self.name}")
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        PID_DIR.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"==> {time.strftime('%FT%T')} {' '.join(self.argv)}\n".encode())
            log.flush()
            try:
                process = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.cwd,
                    start_new_session=True,  # own group, and no terminal signals from the caller
                )
            except OSError as error:
                raise NodeError(f"cannot start {self.name} ({self.argv[0]}): {error}") from None
        start = _start_time(process.pid) or "0"
        self.pid_path.write_text(f"{process.pid} {start}\n")

    def stop(self, grace_period: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace_period`` s. Idempotent."""
        pid = self.pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)
            with contextlib.suppress(WaitTimeout):
                wait_for(lambda: not _alive(pid), self.name, timeout=grace_period, interval=0.1)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(WaitTimeout):
                wait_for(lambda: not _alive(pid), self.name, timeout=5, interval=0.05)
        self.pid_path.unlink(missing_ok=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            data = self.log_path.read_bytes()[-256 * 1024 :]
        except OSError as error:
            return f"<cannot read {self.log_path}: {error}>"
        return "\n".join(data.decode("utf-8", errors="replace").splitlines()[-lines:])


# -- commands ---------------------------------------------------------------------------------


def run(argv: Sequence[str | os.PathLike[str]], *, check: bool = True, timeout: float = 120) -> str:
    """Run a short command; return stdout, raise ``NodeError`` with stderr if it fails."""
    args = [os.fspath(a) for a in argv]
    try:
        result = subprocess.run(
            args,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as error:
        raise NodeError(
            f"{args[0]} not found: run hack/install-host-packages.sh ({error})"
        ) from None
    except subprocess.TimeoutExpired as error:
        raise NodeError(f"{' '.join(args)} timed out after {timeout:.0f}s") from error
    if check and result.returncode != 0:
        raise NodeError(
            f"{' '.join(args)} failed (exit {result.returncode}): "
            f"{(result.stderr or result.stdout).strip()}"
        )
    return result.stdout


def succeeds(argv: Sequence[str | os.PathLike[str]], timeout: float = 60) -> bool:
    """Whether the command exits 0 (output discarded; a missing program counts as failure)."""
    try:
        result = subprocess.run(
            [os.fspath(a) for a in argv],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def find_cni_bin_dir() -> Path:
    """The folder with the CNI plugins (Debian: /usr/lib/cni; upstream: /opt/cni/bin)."""
    needed = ("bridge", "host-local", "loopback")
    candidates = [Path("/usr/lib/cni"), Path("/opt/cni/bin")]
    with contextlib.suppress(NodeError):
        for line in run(["dpkg", "-L", "containernetworking-plugins"]).splitlines():
            if line.endswith("/bridge"):
                candidates.insert(0, Path(line).parent)
    for folder in candidates:
        if all(os.access(folder / plugin, os.X_OK) for plugin in needed):
            return folder
    raise NodeError(
        f"CNI plugins ({', '.join(needed)}) not found in "
        f"{', '.join(str(c) for c in candidates)}: run hack/install-host-packages.sh "
        "(package containernetworking-plugins)"
    )


def _ctr(*args: str, timeout: float = 300) -> str:
    return run(
        ["ctr", "--address", str(CONTAINERD_SOCKET), "--namespace", CONTAINERD_NAMESPACE, *args],
        timeout=timeout,
    )


def containerd_ready() -> bool:
    if not CONTAINERD_SOCKET.is_socket():
        return False
    try:
        _ctr("version", timeout=10)
    except NodeError:
        return False
    return True


def import_image(tarball: Path) -> list[str]:
    """Import a docker-archive or OCI image tarball into the local cluster's containerd.

    The images land in the CRI namespace (``k8s.io``) under their normalised names: an
    archive tagged ``kubedag/python-task:0.1.0`` becomes ``docker.io/kubedag/python-task:0.1.0``,
    which pods name as ``kubedag/python-task:0.1.0`` (use ``imagePullPolicy: Never`` or
    ``IfNotPresent``: the cluster cannot pull). Returns the imported image names.
    Importing the same tarball again is cheap and harmless.
    """
    tarball = Path(tarball)
    if not tarball.is_file():
        raise NodeError(f"image tarball {tarball} does not exist")
    if shutil.which("ctr") is None:
        raise NodeError("ctr not found: run hack/install-host-packages.sh (package containerd)")
    if not containerd_ready():
        raise NodeError(
            f"the local cluster's containerd is not running (no answer on {CONTAINERD_SOCKET}): "
            "start the cluster with `python -m devcluster up`"
        )
    output = _ctr("images", "import", "--snapshotter", "overlayfs", str(tarball), timeout=900)
    names = []
    for line in output.splitlines():
        # "unpacking docker.io/kubedag/pause:3.10 (sha256:...)...done"
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "unpacking":
            names.append(parts[1])
    if not names:
        raise NodeError(f"ctr images import {tarball} imported no image; its output:\n{output}")
    return names


def image_present(reference: str) -> bool:
    return bool(_ctr("images", "list", "--quiet", f"name=={reference}").strip())


def container_pid(container_id: str) -> int:
    """The host pid of a running container's main process (``containerd://<id>`` or ``<id>``).

    With it a test can look into the container from the host: ``/proc/<pid>/root``,
    ``/proc/<pid>/environ``, or ``nsenter -t <pid> -n`` to act from the pod's network.
    """
    wanted = container_id.removeprefix("containerd://")
    for line in _ctr("tasks", "list", timeout=30).splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and fields[0] == wanted and fields[2] == "RUNNING":
            return int(fields[1])
    raise NodeError(f"no running task {wanted} in the local cluster's containerd")


# -- configuration files ----------------------------------------------------------------------


def containerd_config(cni_bin_dir: Path) -> str:
    """containerd 1.6 config (version 2) for kubedag's own instance.

    SystemdCgroup stays false (cgroupfs, as the kubelet is configured): containerd 1.6 lacks the
    CRI RuntimeConfig call through which a kubelet would learn the driver.
    """
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""\
version = 2
root = "{CONTAINERD_ROOT}"
state = "{CONTAINERD_STATE}"

[grpc]
  address = "{CONTAINERD_SOCKET}"

[ttrpc]
  address = "{CONTAINERD_SOCKET}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{CONTAINERD_ROOT / "opt"}"

[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "{RUNC_ROOT}-v1"

[{cri}]
  sandbox_image = "{SANDBOX_IMAGE}"
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  enable_selinux = false
  disable_apparmor = true
  max_container_log_line_size = 16384
  # Lowering oom_score_adj needs CAP_SYS_RESOURCE, which a sandboxed host (a VM agent, a
  # container) may lack; then the kubelet's -998 for sandboxes fails every pod. Restricted,
  # containers get no lower than containerd's own score instead.
  restrict_oom_score_adj = true

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = "{RUNC_ROOT}"

[{cri}.cni]
  bin_dir = "{cni_bin_dir}"
  conf_dir = "{CNI_CONF_DIR}"
  max_conf_num = 1
"""


def cni_config() -> str:
    """One bridge network: every pod gets an address of POD_SUBNET, the host is its gateway.

    No IP masquerading (pods only talk to this host and each other) and no portmap plugin, so
    the CNI plugins create no iptables rules that would need cleaning up.
    """
    config = {
        "cniVersion": "0.4.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": CNI_BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(CNI_IPAM_DIR),
                    "ranges": [[{"subnet": POD_SUBNET, "gateway": POD_GATEWAY}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            }
        ],
    }
    return json.dumps(config, indent=2) + "\n"


@dataclass(frozen=True)
class KubeletFiles:
    """The PKI and kubeconfig the kubelet uses (made by localcluster)."""

    kubeconfig: Path
    ca_cert: Path
    serving_cert: Path
    serving_key: Path


def kubelet_config(files: KubeletFiles) -> str:
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": API_ADDRESS,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "tlsCertFile": str(files.serving_cert),
        "tlsPrivateKeyFile": str(files.serving_key),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(files.ca_cert)},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        # This VM mounts cgroup v1 hierarchies; kubelet 1.34 only refuses v1 when this is true.
        "failCgroupV1": False,
        "containerRuntimeEndpoint": f"unix://{CONTAINERD_SOCKET}",
        "imageServiceEndpoint": f"unix://{CONTAINERD_SOCKET}",
        # CoreDNS (devcluster/coredns.py) answers here: the cluster zones only, NXDOMAIN for
        # the rest, so no lookup leaves the machine. resolvConf "" keeps the host's nameservers out.
        "clusterDNS": [API_ADDRESS],
        "clusterDomain": "cluster.local",
        "resolvConf": "",
        "podLogsDir": str(POD_LOGS_DIR),
        "volumePluginDir": str(KUBELET_ROOT / "volume-plugins"),
        "staticPodPath": "",
        "registerNode": True,
        "maxPods": 110,
        "serializeImagePulls": False,
        # Images cannot be pulled again here: never garbage-collect them, and evict only when
        # the disk is really full.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
            "imagefs.inodesFree": "1%",
        },
        "nodeStatusUpdateFrequency": "10s",
        "shutdownGracePeriod": "0s",
        "oomScoreAdj": 0,  # keep the host's score (lowering it needs CAP_SYS_RESOURCE)
    }
    return yaml.safe_dump(config, sort_keys=False)


def kubelet_command(binary: Path, config_file: Path, files: KubeletFiles) -> list[str]:
    command = [
        str(binary),
        f"--config={config_file}",
        f"--kubeconfig={files.kubeconfig}",
        f"--root-dir={KUBELET_ROOT}",
        f"--cert-dir={KUBELET_ROOT / 'pki'}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={API_ADDRESS}",
    ]
    if int(KUBERNETES_VERSION.split(".")[1]) < 35:
        # Keeps the sandbox image from image GC (containerd's sandbox_image is what runs).
        # Deprecated; from 1.35 the kubelet asks the runtime instead and the flag is gone.
        command.append(f"--pod-infra-container-image={SANDBOX_IMAGE}")
    return command


_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def daemon_env() -> dict[str, str]:
    """The host environment without proxy settings: every daemon talks to local addresses
    only, and a proxy from the caller's environment would carry that traffic elsewhere."""
    proxies = {*_PROXY_VARIABLES, *(name.lower() for name in _PROXY_VARIABLES)}
    return {k: v for k, v in os.environ.items() if k not in proxies}


def containerd_env() -> dict[str, str]:
    """``daemon_env()`` plus a proxy nobody serves: any image pull fails at once, so
    containerd never contacts a registry (images come from ``import_image``)."""
    env = daemon_env()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env[name] = _NO_PROXY_GUARD
    return env


def write_node_configs(cni_bin_dir: Path) -> None:
    CNI_CONF_DIR.mkdir(parents=True, exist_ok=True)
    (CNI_CONF_DIR / "10-kubedag.conflist").write_text(cni_config())
    CONTAINERD_CONFIG.parent.mkdir(parents=True, exist_ok=True)
    CONTAINERD_CONFIG.write_text(containerd_config(cni_bin_dir))
    for folder in (CONTAINERD_ROOT, CONTAINERD_STATE, KUBELET_ROOT, POD_LOGS_DIR, CNI_IPAM_DIR):
        folder.mkdir(parents=True, exist_ok=True)


# -- host network -----------------------------------------------------------------------------


def _link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def _iptables(*args: str, check: bool = True) -> str:
    return run(["iptables", "-w", "5", *args], check=check)


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys", name)


def save_host_state() -> None:
    """Record what ``down`` must restore: sysctls and whether /var/log/containers existed."""
    if HOST_STATE_FILE.exists():
        return  # the first record is the host's own state
    state = {
        "sysctls": {
            name: _sysctl_path(name).read_text().strip()
            for name in _SYSCTLS
            if _sysctl_path(name).exists()
        },
        "existing_folders": [str(f) for f in _HOST_FOLDERS if f.exists()],
    }
    HOST_STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    HOST_STATE_FILE.write_text(json.dumps(state, indent=2))


def _ensure_bridge(name: str, address: str) -> None:
    if not _link_exists(name):
        run(["ip", "link", "add", name, "type", "bridge"])
    run(["ip", "addr", "replace", address, "dev", name])
    run(["ip", "link", "set", name, "up"])


def setup_host_network() -> None:
    """Interfaces, routes and guards of the cluster network. Idempotent.

    - ``kubedag0`` holds API_ADDRESS; ``kubedag-cni0`` (made here, used by the bridge plugin)
      is the pods' gateway.
    - A blackhole route for all of 198.18.0.0/15: nothing addressed to the cluster ranges
      leaves the host (local addresses and the more specific bridge route still win).
    - Service IPs route into ``kubedag0`` (a bridge without ports), so host processes can
      connect to them: kube-proxy's OUTPUT DNAT rewrites the destination first.
    - Policy routing: whatever pods send that is neither for this host nor for another pod is
      unreachable (an immediate ICMP error), so no pod packet is forwarded off the machine,
      even though the bridge plugin turns on IP forwarding.
    - A mangle PREROUTING guard drops packets for the cluster ranges arriving on any other
      interface than loopback and the pod bridge: nothing outside reaches the API server.
    """
    _ensure_bridge(HOST_INTERFACE, f"{API_ADDRESS}/32")
    _ensure_bridge(CNI_BRIDGE, f"{POD_GATEWAY}/{POD_SUBNET.split('/')[1]}")
    run(["ip", "route", "replace", "blackhole", BLACKHOLE_CIDR])
    run(["ip", "route", "replace", SERVICE_CIDR, "dev", HOST_INTERFACE, "src", API_ADDRESS])
    table = str(POD_ROUTING_TABLE)
    run(["ip", "route", "replace", POD_SUBNET, "dev", CNI_BRIDGE, "src", POD_GATEWAY,
         "table", table])  # fmt: skip
    run(["ip", "route", "replace", "unreachable", "default", "table", table])
    if not run(["ip", "rule", "list", "priority", table]).strip():
        run(["ip", "rule", "add", "priority", table, "iif", CNI_BRIDGE, "lookup", table])
    if not succeeds(["iptables", "-w", "5", "-t", "mangle", "-n", "-L", INGRESS_CHAIN]):
        _iptables("-t", "mangle", "-N", INGRESS_CHAIN)
    _iptables("-t", "mangle", "-F", INGRESS_CHAIN)
    for interface in ("lo", CNI_BRIDGE):
        _iptables("-t", "mangle", "-A", INGRESS_CHAIN, "-i", interface, "-j", "RETURN")
    _iptables(
        "-t", "mangle", "-A", INGRESS_CHAIN, "-d", BLACKHOLE_CIDR,
        "-m", "comment", "--comment", "kubedag: the cluster network is local to this host",
        "-j", "DROP",
    )  # fmt: skip
    jump = ["PREROUTING", "-j", INGRESS_CHAIN]
    if not succeeds(["iptables", "-w", "5", "-t", "mangle", "-C", *jump]):
        _iptables("-t", "mangle", "-I", *jump)


def _delete_iptables_chains(binary: str, prefixes: tuple[str, ...]) -> None:
    """Remove every chain whose name starts with one of ``prefixes``, and the jumps to them."""
    if shutil.which(binary) is None:
        return
    for table in ("filter", "nat", "mangle", "raw"):
        listing = run([binary, "-w", "5", "-t", table, "-S"], check=False)
        chains = [
            line.split()[1]
            for line in listing.splitlines()
            if line.startswith("-N ") and line.split()[1].startswith(prefixes)
        ]
        if not chains:
            continue
        for line in listing.splitlines():
            words = shlex.split(line)  # comments are quoted
            if words[:1] != ["-A"] or words[1].startswith(prefixes):
                continue
            if any(w.startswith(prefixes) for w in words[2:]):
                run([binary, "-w", "5", "-t", table, "-D", *words[1:]], check=False)
        for chain in chains:
            run([binary, "-w", "5", "-t", table, "-F", chain], check=False)
        for chain in chains:
            run([binary, "-w", "5", "-t", table, "-X", chain], check=False)


def teardown_host_network(kube_proxy: Path | None) -> None:
    """Undo ``setup_host_network`` and what kube-proxy, the kubelet and CNI added."""
    if kube_proxy is not None and kube_proxy.exists():
        run([kube_proxy, "--cleanup"], check=False)
    # kube-proxy --cleanup leaves the kubelet's chains (KUBE-KUBELET-CANARY, ...) behind.
    for binary in ("iptables", "ip6tables"):
        _delete_iptables_chains(binary, ("KUBE-", "KUBEDAG-"))
    for link in (CNI_BRIDGE, HOST_INTERFACE):
        if _link_exists(link):
            run(["ip", "link", "delete", link], check=False)
    while run(["ip", "rule", "list", "priority", str(POD_ROUTING_TABLE)], check=False).strip():
        if not succeeds(["ip", "rule", "delete", "priority", str(POD_ROUTING_TABLE)]):
            break
    run(["ip", "route", "flush", "table", str(POD_ROUTING_TABLE)], check=False)
    for route in ([SERVICE_CIDR], ["blackhole", BLACKHOLE_CIDR]):
        run(["ip", "route", "delete", *route], check=False)


def restore_host_state() -> None:
    """Put back the sysctls ``save_host_state`` recorded."""
    try:
        state = json.loads(HOST_STATE_FILE.read_text())
    except (OSError, ValueError):
        return
    for name, value in state.get("sysctls", {}).items():
        with contextlib.suppress(OSError):
            if _sysctl_path(name).read_text().strip() != value:
                _sysctl_path(name).write_text(value)


def _sandbox_ids() -> set[str]:
    ids: set[str] = set()
    for root in (CONTAINERD_ROOT, CONTAINERD_STATE):
        sandboxes = root / "io.containerd.grpc.v1.cri" / "sandboxes"
        if sandboxes.is_dir():
            ids.update(entry.name for entry in sandboxes.iterdir())
    if CNI_CACHE.is_dir():  # "<network>-<sandbox id>-<interface>"
        for entry in CNI_CACHE.iterdir():
            if entry.name.startswith(f"{CNI_NETWORK}-"):
                ids.add(entry.name.removeprefix(f"{CNI_NETWORK}-").rsplit("-", 1)[0])
    return ids


def remove_host_leftovers() -> None:
    """Our entries in the fixed host folders, and the folders that ``up`` created.

    Call before the state folders go (the sandbox ids come from containerd's folders).
    """
    try:
        existed = set(json.loads(HOST_STATE_FILE.read_text()).get("existing_folders", []))
    except (OSError, ValueError):
        existed = {str(f) for f in _HOST_FOLDERS}  # unknown: remove only our own entries
    if CNI_CACHE.is_dir():
        for sandbox in _sandbox_ids():
            for name in (f"{CNI_NETWORK}-{sandbox}-eth0", f"cni-loopback-{sandbox}-lo"):
                (CNI_CACHE / name).unlink(missing_ok=True)
    if CONTAINER_LOG_LINKS.is_dir():
        for link in CONTAINER_LOG_LINKS.iterdir():
            if link.is_symlink() and os.readlink(link).startswith(f"{POD_LOGS_DIR}/"):
                link.unlink()
    if str(KUBELET_DEVICE_PLUGINS) not in existed and KUBELET_DEVICE_PLUGINS.is_dir():
        for name in ("kubelet.sock", "kubelet_internal_checkpoint"):
            (KUBELET_DEVICE_PLUGINS / name).unlink(missing_ok=True)
    for folder in sorted(_HOST_FOLDERS, key=lambda f: len(f.parts), reverse=True):
        if str(folder) not in existed:
            with contextlib.suppress(OSError):  # only if empty
                folder.rmdir()


# -- teardown of containers, mounts and cgroups -----------------------------------------------


def kill_containers() -> None:
    """Kill and delete every task (container process) of our containerd, while it still runs."""
    if not containerd_ready():
        return
    tasks = _ctr("tasks", "list", "--quiet", timeout=30).split()
    for task in tasks:
        with contextlib.suppress(NodeError):
            _ctr("tasks", "kill", "--all", "--signal", "SIGKILL", task, timeout=30)
    for task in tasks:
        with contextlib.suppress(NodeError):
            _ctr("tasks", "delete", "--force", task, timeout=30)


def leftover_shims() -> list[int]:
    """Pids of containerd shims serving our containerd (they outlive it by design)."""
    pids = []
    address = str(CONTAINERD_SOCKET)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and address.encode() in argv:
            pids.append(int(entry.name))
    return pids


def kill_pids(pids: Iterable[int]) -> None:
    pids = list(pids)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(WaitTimeout):
        wait_for(lambda: not any(_alive(pid) for pid in pids), "killed pids", timeout=5)


def _mount_points() -> list[str]:
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        points.append(point)
    return points


def mounts_under(roots: Iterable[Path]) -> list[str]:
    prefixes = [str(root) for root in roots]
    return [p for p in _mount_points() if any(p == r or p.startswith(f"{r}/") for r in prefixes)]


def unmount_under(roots: Iterable[Path]) -> None:
    """Unmount everything mounted at or below ``roots``, deepest first."""
    roots = list(roots)
    for _attempt in range(5):
        points = mounts_under(roots)
        if not points:
            return
        for point in sorted(set(points), key=lambda p: p.count("/"), reverse=True):
            if not succeeds(["umount", point]):
                succeeds(["umount", "-l", point])
    left = mounts_under(roots)
    if left:
        raise NodeError(f"could not unmount {', '.join(left)}")


def remove_pod_cgroups() -> None:
    """Remove the kubelet's ``kubepods`` cgroup trees (once their processes are gone)."""
    root = Path("/sys/fs/cgroup")
    candidates = [root / "kubepods"]
    if root.is_dir():
        candidates += [sub / "kubepods" for sub in root.iterdir() if sub.is_dir()]
    for tree in candidates:
        if not tree.is_dir():
            continue
        for folder, _dirs, _files in os.walk(tree, topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(folder)


def remove_state(paths: Iterable[Path]) -> None:
    for path in paths:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            shutil.rmtree(path)
