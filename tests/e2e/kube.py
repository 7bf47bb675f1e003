"""What the end-to-end tests share beyond conftest's fixtures: kubectl as a callable, and
waiting at kubectl's pace."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from devcluster.wait import wait_for as devcluster_wait_for

REPO = Path(__file__).resolve().parents[2]
RELEASE_NAMESPACE = "kubedag-system"
IMAGE = "kubedag/python-task:0.1.0"
T = TypeVar("T")


def wait_for(check: Callable[[], T | None], what: str, timeout: float = 180) -> T:
    """devcluster's wait_for at kubectl's pace: each check here runs kubectl."""
    return devcluster_wait_for(check, what, timeout, interval=1)


class Kubectl:
    def __init__(self, binary: Path, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.base = [str(binary), "--kubeconfig", str(kubeconfig)]

    def __call__(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        result = subprocess.run(
            [*self.base, *args], input=stdin, capture_output=True, text=True, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {result.stderr}")
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))

    def rollout(self, workload: str, namespace: str, timeout: str = "180s") -> None:
        """Wait for the workload's rollout; on a timeout, fail with what kept it back: the
        namespace's pods, claims and events, and the pods' descriptions and last log lines
        (the local cluster, and its logs, are gone once the session ends)."""
        try:
            self("rollout", "status", workload, "-n", namespace, f"--timeout={timeout}")
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.diagnosis(namespace)}") from None

    def diagnosis(self, namespace: str) -> str:
        views = [
            ("get", "pods,pvc,pv", "-n", namespace, "-o", "wide"),
            ("get", "events", "-n", namespace, "--sort-by=.lastTimestamp"),
            ("describe", "pods", "-n", namespace),
            ("logs", "-n", namespace, "--all-containers", "--prefix", "--tail=30",
             "--selector", "app.kubernetes.io/name"),
        ]  # fmt: skip
        parts = []
        for args in views:
            result = subprocess.run(
                [*self.base, *args], capture_output=True, text=True, check=False
            )
            parts.append(f"--- kubectl {' '.join(args)}\n{result.stdout}{result.stderr}")
        return "\n".join(parts)
