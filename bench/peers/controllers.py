"""The peers' controllers as processes against the bench cluster, at their shipped defaults
and tuned: kube-controller-manager (the CronJob and Job controllers) and Argo Workflows'
workflow-controller. Each runs with its own client certificate (in system:masters, so no
RBAC to set up), whose common name is how the audit log tells its writes apart."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bench.cluster import BenchCluster, proc_cpu_seconds
from devcluster import pki
from devcluster.binaries import ensure_binaries
from devcluster.process import ManagedProcess
from devcluster.versions import pinned_versions


@dataclass(frozen=True)
class Variant:
    """One configuration of a peer: its name in the tables and what it changes."""

    system: str
    name: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.system} ({self.name})"

    @property
    def settings(self) -> str:
        changed = [*self.args, *(f"{k}={v}" for k, v in self.env.items())]
        return " ".join(changed) if changed else "shipped defaults"


# kube-controller-manager: client QPS 20, burst 30, 5 CronJob and 5 Job syncs by default.
KCM_DEFAULTS = Variant("cronjob", "defaults")
KCM_TUNED = Variant(
    "cronjob",
    "tuned",
    (
        "--kube-api-qps=500",
        "--kube-api-burst=1000",
        "--concurrent-cron-job-syncs=50",
        "--concurrent-job-syncs=50",
    ),
)

# workflow-controller: DEFAULT_REQUEUE_TIME 10 s, QPS 20, burst 30, 32 workflow workers.
ARGO_DEFAULTS = Variant("argo", "defaults")
ARGO_TUNED_LATENCY = Variant("argo", "tuned", env={"DEFAULT_REQUEUE_TIME": "100ms"})
"""For the chain: a workflow is looked at again 100 ms after each pass."""
ARGO_TUNED_THROUGHPUT = Variant(
    "argo",
    "tuned",
    ("--qps=100", "--burst=200", "--workflow-workers=64", "--cron-workflow-workers=64"),
    {"DEFAULT_REQUEUE_TIME": "1s"},
)
"""For the fan-out, single-step workflows and CronWorkflows."""

PEER_USERS = {"cronjob": "bench-peer-kube-controller-manager", "argo": "bench-peer-argo"}

ARGO_CONFIGMAP = "workflow-controller-configmap"
ARGO_CONFIG = {
    # Its Prometheus server would take port 9090 on a shared machine; the harness reads
    # the API server's audit log instead.
    "metricsConfig": "enabled: false\n",
    "telemetryConfig": "enabled: false\n",
}


def argo_version() -> str:
    return pinned_versions()["ARGO_WORKFLOWS_VERSION"]


def argo_crds_dir() -> Path:
    """The CRDs copied from the module's manifests/base/crds/minimal at build time."""
    return ensure_binaries("workflow-controller")["workflow-controller"].parent.parent / "crds"


class PeerProcess:
    """A peer controller process with its own identity, started per run."""

    def __init__(
        self, cluster: BenchCluster, variant: Variant, namespace: str, log_path: Path
    ) -> None:
        self.variant = variant
        cp = cluster.control_plane
        user = PEER_USERS[variant.system]
        self.user = user
        kubeconfig = cp.issue_kubeconfig(user, user=user, groups=("system:masters",))
        if variant.system == "cronjob":
            binary = ensure_binaries("kube-controller-manager")["kube-controller-manager"]
            argv = [
                str(binary),
                f"--kubeconfig={kubeconfig}",
                "--controllers=cronjob-controller,job-controller,garbage-collector-controller",
                "--leader-elect=false",
                "--secure-port=0",
                "-v=1",
                *variant.args,
            ]
            env = None
        else:
            binary = ensure_binaries("workflow-controller")["workflow-controller"]
            argv = [
                str(binary),
                f"--kubeconfig={kubeconfig}",
                f"--namespace={namespace}",
                "--namespaced",
                f"--managed-namespace={namespace}",
                f"--configmap={ARGO_CONFIGMAP}",
                f"--executor-image=quay.io/argoproj/argoexec:{argo_version()}",
                "--executor-image-pull-policy=Never",
                "--loglevel=info",
                *variant.args,
            ]
            env = {"LEADER_ELECTION_DISABLE": "true", **variant.env}
        self.process = ManagedProcess(
            variant.system, argv, log_path, env={**os.environ, **env} if env else None
        )

    def start(self) -> None:
        self.process.start()

    def stop(self) -> None:
        self.process.stop(grace_period=10)

    def cpu_seconds(self) -> float:
        pid = self.process.pid
        return proc_cpu_seconds(pid) if pid is not None and self.process.running else 0.0

    def check_alive(self) -> None:
        if not self.process.running:
            raise RuntimeError(
                f"{self.variant.label} exited ({self.process.returncode()}); last lines of "
                f"{self.process.log_path}:\n{self.process.log_tail()}"
            )


def bare_client_cert(cluster: BenchCluster) -> pki.CertKeyPair:
    """The bare client's own identity (for the audit log)."""
    cp = cluster.control_plane
    return pki.issue_certificate(
        cp.ca, cp.pki_dir, "bench-bare", common_name="bench-bare", organizations=["system:masters"]
    )
