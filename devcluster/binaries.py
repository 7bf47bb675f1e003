"""Locate the control-plane binaries, building them with hack/build-go-binaries.sh if missing."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

from devcluster.versions import (
    ETCD_VERSION,
    KUBERNETES_VERSION,
    REPO_ROOT,
    cache_dir,
    etcd_bin_dir,
    helm_bin_dir,
    kubernetes_bin_dir,
    pinned_versions,
)

BUILD_SCRIPT = REPO_ROOT / "hack" / "build-go-binaries.sh"

KUBERNETES_COMPONENTS = frozenset(
    {
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "kube-proxy",
        "kubectl",
    }
)
"""Built from k8s.io/kubernetes at KUBERNETES_VERSION (the script's list; keep them in sync)."""

ETCD_COMPONENTS = frozenset({"etcd"})
"""Built from go.etcd.io/etcd/server/v3 at ETCD_VERSION."""

_OTHER_COMPONENTS = {
    "kwok": "KWOK_VERSION",  # the benchmarks' node and pod simulator (bench/)
    "coredns": "COREDNS_VERSION",  # the local cluster's DNS, with only the plugins it uses
}
"""Cached as ``<name>-<version>/bin/<name>``, the version pinned under the given name."""

_ARGO_COMPONENTS = frozenset({"workflow-controller"})
"""Argo Workflows at ARGO_WORKFLOWS_VERSION, cached as ``argo-workflows-<version>/bin/<name>``
(the benchmarks' peer, bench/peers/), with its CRDs in ``argo-workflows-<version>/crds``."""

_OUTPUT_TAIL_LINES = 40


class BinariesUnavailableError(RuntimeError):
    """A binary is missing and cannot be built here (the message names what is missing)."""


def binary_path(name: str) -> Path:
    """Where ``name`` of the pinned version lives in the cache (whether or not it exists yet)."""
    if name in KUBERNETES_COMPONENTS:
        return kubernetes_bin_dir() / name
    if name in ETCD_COMPONENTS:
        return etcd_bin_dir() / name
    if name == "helm":
        return helm_bin_dir() / name
    if name in _OTHER_COMPONENTS:
        version = pinned_versions()[_OTHER_COMPONENTS[name]]
        return cache_dir() / f"{name}-{version}" / "bin" / name
    if name in _ARGO_COMPONENTS:
        version = pinned_versions()["ARGO_WORKFLOWS_VERSION"]
        return cache_dir() / f"argo-workflows-{version}" / "bin" / name
    known = ", ".join(
        sorted(
            KUBERNETES_COMPONENTS
            | ETCD_COMPONENTS
            | _ARGO_COMPONENTS
            | {"helm", *_OTHER_COMPONENTS}
        )
    )
    raise ValueError(f"unknown component {name!r}; known: {known}")


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _missing(names: tuple[str, ...]) -> list[str]:
    return [name for name in names if not _is_executable(binary_path(name))]


def _check_prerequisites(missing: list[str]) -> None:
    needed = {
        "go": (
            "Go 1.24+ from https://go.dev/dl/ to build them from the upstream Go modules; a "
            "module that declares a newer go line makes go fetch that toolchain itself, "
            "unless GOTOOLCHAIN=local"
        ),
        "bash": "bash to run hack/build-go-binaries.sh",
        "python3": "python3 on PATH (hack/build-go-binaries.sh uses it to read `go mod` JSON)",
    }
    absent = [f"'{tool}' ({why})" for tool, why in needed.items() if shutil.which(tool) is None]
    if absent:
        raise BinariesUnavailableError(
            f"{', '.join(missing)} (Kubernetes {KUBERNETES_VERSION}, etcd {ETCD_VERSION}) "
            f"not found in {cache_dir()} and cannot be built: missing "
            + "; ".join(absent)
            + f". Install it, or run {BUILD_SCRIPT.relative_to(REPO_ROOT)} "
            f"{' '.join(missing)} on a machine that has it and copy {cache_dir()} here."
        )


def _tail(text: str, lines: int = _OUTPUT_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _build(missing: list[str], log_path: Path) -> None:
    command = f"{BUILD_SCRIPT.relative_to(REPO_ROOT)} {' '.join(missing)}"
    # Straight to the terminal, past pytest's capture: the first build takes minutes.
    print(
        f"\nkubedag: building {', '.join(missing)} with {command} (log: {log_path})",
        file=sys.__stderr__,
        flush=True,
    )
    with log_path.open("w") as log:
        result = subprocess.run(
            ["bash", str(BUILD_SCRIPT), *missing],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        output = log_path.read_text(errors="replace")
        raise BinariesUnavailableError(
            f"{command} failed (exit {result.returncode}); last lines of {log_path}:\n"
            f"{_tail(output)}"
        )


def ensure_binaries(*names: str) -> dict[str, Path]:
    """Return ``{name: path}`` for the given components, building the missing ones first.

    The build runs hack/build-go-binaries.sh (the first build of kube-apiserver takes 10-15
    minutes on two cores; later runs reuse the cache). A lock file in the cache folder keeps
    two test sessions from building at the same time.
    """
    for name in names:
        binary_path(name)  # rejects unknown names before anything slow happens
    if _missing(names):
        root = cache_dir()
        root.mkdir(parents=True, exist_ok=True)
        with (root / ".build.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            missing = _missing(names)  # another session may have built them meanwhile
            if missing:
                _check_prerequisites(missing)
                _build(missing, root / "build.log")
    still_missing = _missing(names)
    if still_missing:
        raise BinariesUnavailableError(
            f"{BUILD_SCRIPT.relative_to(REPO_ROOT)} finished but "
            f"{', '.join(str(binary_path(n)) for n in still_missing)} do not exist"
        )
    return {name: binary_path(name) for name in names}
