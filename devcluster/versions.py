"""The pinned component versions (``hack/versions.env``) and where their binaries are cached.

``hack/versions.env`` is the single source of truth; ``hack/build-go-binaries.sh`` sources the
same file, and the cache layout here must match the one that script writes.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
VERSIONS_ENV = REPO_ROOT / "hack" / "versions.env"

_ASSIGNMENT = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


def parse_env_file(text: str) -> dict[str, str]:
    """Parse the simple ``NAME=value`` lines of a shell-sourceable file (comments allowed)."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ASSIGNMENT.match(line)
        if match is None:
            raise ValueError(f"line {number}: expected NAME=value, got {raw!r}")
        name, value = match.groups()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values


@cache
def pinned_versions(path: Path = VERSIONS_ENV) -> dict[str, str]:
    """All pins in ``hack/versions.env``."""
    return parse_env_file(path.read_text(encoding="utf-8"))


def _pin(name: str) -> str:
    try:
        return pinned_versions()[name]
    except KeyError:
        raise KeyError(f"{name} is not pinned in {VERSIONS_ENV}") from None


KUBERNETES_VERSION: str = _pin("KUBERNETES_VERSION")
"""e.g. ``v1.34.4``: what kube-apiserver reports as ``gitVersion``."""
ETCD_VERSION: str = _pin("ETCD_VERSION")
"""e.g. ``v3.5.35``."""
HELM_VERSION: str = _pin("HELM_VERSION")
"""e.g. ``v3.19.5``."""


def cache_dir() -> Path:
    """Root of the binary cache, as in hack/build-go-binaries.sh.

    ``$KUBEDAG_CACHE_DIR``, else ``$XDG_CACHE_HOME/kubedag``, else ``~/.cache/kubedag`` (an empty
    variable counts as unset, like ``${VAR:-default}`` in the script).
    """
    explicit = os.environ.get("KUBEDAG_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "kubedag"


def kubernetes_bin_dir() -> Path:
    """Where kube-apiserver, kube-controller-manager, ... of the pinned version are cached."""
    return cache_dir() / f"kubernetes-{KUBERNETES_VERSION}" / "bin"


def etcd_bin_dir() -> Path:
    """Where the etcd server of the pinned version is cached."""
    return cache_dir() / f"etcd-{ETCD_VERSION}" / "bin"


def helm_bin_dir() -> Path:
    """Where helm of the pinned version is cached."""
    return cache_dir() / f"helm-{HELM_VERSION}" / "bin"
