"""Tiny single-binary container images built from C on this machine: no registry, no Docker.

The local cluster's pod sandbox image (``kubedag/pause:3.10``, from ``pause.c``) and the
end-to-end tests' workload (``kubedag/e2e-echo:1``) are each one statically linked program in
a ``FROM scratch`` image. ``static_binary_image`` compiles the source with ``gcc -static`` into
a build context and builds the image's Dockerfile with ``devcluster.images`` (buildah), which
caches the archive under a key of the Dockerfile and the binary (gcc's output is reproducible).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from devcluster.images import DockerfileImage, ImageBuildError, build, normalize_reference

_HERE = Path(__file__).resolve().parent
PAUSE_IMAGE = "kubedag/pause:3.10"
"""As kubelet and containerd's CRI plugin see it after normalisation: ``docker.io/`` + this."""


@dataclass(frozen=True)
class StaticImage:
    """One C file compiled to ``binary`` in the context of ``dockerfile`` (which COPYs it)."""

    source: Path
    dockerfile: Path
    reference: str  # e.g. "kubedag/pause:3.10" (repository:tag, Docker Hub style)
    binary: str

    @property
    def normalized(self) -> str:
        """The name containerd stores, e.g. ``docker.io/kubedag/pause:3.10``."""
        return normalize_reference(self.reference)


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


def static_binary_image(image: StaticImage) -> Path:
    """The image archive for ``image``, built (and cached) if not built before."""
    if not image.source.is_file():
        raise ImageBuildError(f"image source {image.source} does not exist")
    with tempfile.TemporaryDirectory(prefix="kubedag-static-") as context:
        _compile(image.source, Path(context) / image.binary)
        return build(DockerfileImage(image.reference, image.dockerfile, Path(context)))


PAUSE = StaticImage(
    source=_HERE / "pause.c",
    dockerfile=_HERE / "pause.Dockerfile",
    reference=PAUSE_IMAGE,
    binary="pause",
)


def pause_image() -> Path:
    """The archive of the sandbox image ``kubedag/pause:3.10``."""
    return static_binary_image(PAUSE)
