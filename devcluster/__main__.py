"""``python -m devcluster up|down|status|paths|kubeconfig``: the local single-node cluster.

up          start it (or check the running one); prints ``export KUBECONFIG=...`` on stdout
down        stop everything and remove all its state
status      what runs; exit 0 when healthy, 1 otherwise
paths       where its files are, one ``name: path`` a line (whether or not it is up)
kubeconfig  print the admin kubeconfig's path (exit 1 when the cluster is not up)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from devcluster import localcluster, node
from devcluster.binaries import BinariesUnavailableError, binary_path
from devcluster.images import ImageBuildError
from devcluster.node import NodeError
from devcluster.pki import PKIError
from devcluster.versions import cache_dir


def paths() -> dict[str, Path]:
    """What a user of the cluster may need to find: credentials, state, logs, binaries."""
    return {
        "kubeconfig": localcluster.REPO_KUBECONFIG,
        "state": node.STATE_DIR,
        "runtime": node.RUN_DIR,
        "logs": node.LOG_DIR,
        "corefile": localcluster.COREFILE,
        "cache": cache_dir(),
        "kubernetes-bin": binary_path("kubectl").parent,
        "etcd-bin": binary_path("etcd").parent,
        "coredns-bin": binary_path("coredns").parent,
        "helm-bin": binary_path("helm").parent,
        "kwok-bin": binary_path("kwok").parent,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devcluster",
        description="A real single-node Kubernetes cluster on this machine (needs root).",
    )
    parser.add_argument("command", choices=["up", "down", "status", "paths", "kubeconfig"])
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="seconds to wait for each step of up"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            started = time.monotonic()
            cluster = localcluster.up(timeout=args.timeout)
            print(f"kubedag: up in {time.monotonic() - started:.1f}s", file=sys.stderr)
            print(f"export KUBECONFIG={cluster.kubeconfig}")
        elif args.command == "down":
            localcluster.down()
        elif args.command == "status":
            state = localcluster.status()
            print(state.render())
            return 0 if state.healthy else 1
        elif args.command == "paths":
            print("\n".join(f"{name}: {path}" for name, path in paths().items()))
        else:
            if not localcluster.REPO_KUBECONFIG.exists() or not localcluster.healthy():
                print(
                    "kubedag: the local cluster is not up (python -m devcluster up)",
                    file=sys.stderr,
                )
                return 1
            print(localcluster.REPO_KUBECONFIG)
    except (
        localcluster.ClusterError,
        NodeError,
        BinariesUnavailableError,
        ImageBuildError,
        PKIError,
    ) as error:
        print(f"kubedag: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
