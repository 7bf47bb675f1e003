"""Tiny single-binary container images built from C on this machine: no registry, no Docker.

The local cluster's pod sandbox image (``kubedag/pause:3.10``, from ``pause.c``) and the
end-to-end tests' workload (``kubedag/e2e-echo:1``) are each one statically linked program in
a single-layer image. ``static_binary_image`` compiles the source with ``gcc -static`` and
writes a ``docker save``-style archive (``manifest.json``, the config blob and one layer tar)
that ``ctr images import`` accepts, cached in ``~/.cache/kubedag/images/`` under a key derived
from the source and the image metadata, so later calls return at once.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from devcluster.versions import cache_dir

PAUSE_SOURCE = Path(__file__).resolve().with_name("pause.c")
PAUSE_IMAGE = "kubedag/pause:3.10"
"""As kubelet and containerd's CRI plugin see it after normalisation: ``docker.io/`` + this."""

_FORMAT_VERSION = "1"  # bump when the archive layout below changes: invalidates the cache


class ImageBuildError(RuntimeError):
    """The C compiler is missing or failed (the message says which and why)."""


@dataclass(frozen=True)
class StaticImage:
    """What to build: one C file that becomes ``/<binary>``, the image's entrypoint."""

    source: Path
    reference: str  # e.g. "kubedag/pause:3.10" (repository:tag, Docker Hub style)
    binary: str

    @property
    def normalized(self) -> str:
        """The name containerd stores, e.g. ``docker.io/kubedag/pause:3.10``."""
        return normalize_reference(self.reference)


def normalize_reference(reference: str) -> str:
    """Docker's normalisation: ``busybox`` -> ``docker.io/library/busybox:latest``."""
    name, tag = reference, "latest"
    if ":" in reference.rsplit("/", 1)[-1]:
        name, tag = reference.rsplit(":", 1)
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif not ("." in first or ":" in first or first == "localhost"):
        name = f"docker.io/{name}"
    return f"{name}:{tag}"


def _cache_key(image: StaticImage) -> str:
    digest = hashlib.sha256()
    for part in (_FORMAT_VERSION, image.reference, image.binary):
        digest.update(part.encode() + b"\0")
    digest.update(image.source.read_bytes())
    return digest.hexdigest()[:16]


def _compile(source: Path, output: Path) -> None:
    gcc = shutil.which("gcc")
    if gcc is None:
        raise ImageBuildError(
            f"gcc is required to build the image binary from {source}: "
            "run hack/install-host-packages.sh (packages gcc and libc6-dev)"
        )
    result = subprocess.run(
        [gcc, "-static", "-Os", "-s", "-Wall", "-o", str(output), str(source)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        hint = ""
        if "cannot find -lc" in result.stderr:
            hint = " (static libc missing: install libc6-dev, see hack/install-host-packages.sh)"
        raise ImageBuildError(
            f"gcc -static {source} failed (exit {result.returncode}){hint}:\n{result.stderr}"
        )


def _tar_member(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def _layer(binary_name: str, binary: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _tar_member(tar, binary_name, binary, mode=0o755)
    return buffer.getvalue()


def _archive(image: StaticImage, binary: bytes) -> bytes:
    """A ``docker save`` archive (docker.v1.2 layout) of one single-layer image."""
    layer = _layer(image.binary, binary)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Entrypoint": [f"/{image.binary}"],
            "Env": ["PATH=/"],
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [
            {
                "created": "1970-01-01T00:00:00Z",
                "created_by": f"gcc -static {image.source.name} (devcluster/pause.py)",
            }
        ],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_dir = diff_id.removeprefix("sha256:")
    manifest = [
        {
            "Config": config_name,
            "RepoTags": [image.reference],
            "Layers": [f"{layer_dir}/layer.tar"],
        }
    ]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        _tar_member(tar, config_name, config_bytes)
        _tar_member(tar, f"{layer_dir}/layer.tar", layer)
        _tar_member(tar, "manifest.json", json.dumps(manifest).encode())
    return buffer.getvalue()


def static_binary_image(image: StaticImage) -> Path:
    """The image archive for ``image``, built (and cached) if not built before."""
    if not image.source.is_file():
        raise ImageBuildError(f"image source {image.source} does not exist")
    images = cache_dir() / "images"
    safe_name = image.reference.replace("/", "_").replace(":", "-")
    target = images / f"{safe_name}-{_cache_key(image)}.tar"
    if target.is_file():
        return target
    images.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kubedag-image-") as tmp:
        binary_path = Path(tmp) / image.binary
        _compile(image.source, binary_path)
        archive = _archive(image, binary_path.read_bytes())
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    partial.write_bytes(archive)
    partial.replace(target)  # atomic: a concurrent builder writes the same bytes
    return target


PAUSE = StaticImage(source=PAUSE_SOURCE, reference=PAUSE_IMAGE, binary="pause")


def pause_image() -> Path:
    """The archive of the sandbox image ``kubedag/pause:3.10``."""
    return static_binary_image(PAUSE)
