"""Container images from Dockerfiles, built with buildah: no Docker daemon, no registry.

Every image of the project (kubedag's in ``task-images/``, the cluster's pause image, the e2e
workload) is a Dockerfile built by ``buildah bud --isolation chroot --pull=never`` and exported
as a docker-archive (the ``docker save`` format) that ``devcluster.node.import_image`` loads into
containerd. Dockerfiles that start ``FROM debian:bookworm-slim`` find that name in buildah's
storage: a root filesystem made once by ``mmdebstrap`` (the minbase variant with the slim
image's dpkg and apt settings) and imported there, so the same files build unchanged with
``docker build`` on a machine with Docker.

Cached under ``devcluster.versions.cache_dir()``:

- ``images/debian-bookworm-slim-<key>.tar``: the mmdebstrap root filesystem;
- ``images/<name>-<tag>-<key>.tar``: image archives, keyed by the Dockerfile, the files of its
  context (after its ``.dockerignore``) and the base's key: an unchanged image is not rebuilt;
- ``buildah/``: buildah's storage (the base image and the layer cache).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from devcluster.versions import cache_dir

BASE_IMAGE = "debian:bookworm-slim"
BASE_SUITE = "bookworm"
_BASE_RECIPE = "1"  # bump when the base's making changes without its options changing
_ARCHIVE_FORMAT = "1"  # bump when the way archives are built changes: invalidates them
DEBIAN_MIRROR = os.environ.get("KUBEDAG_DEBIAN_MIRROR") or "http://deb.debian.org/debian"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_KEEP_ARCHIVES = 3  # per image: the newest few stay in the cache

# What the official slim image does beyond minbase (debuerreotype's --slimify and its apt
# settings): no docs but copyright files, no manuals or translations, no apt caches in layers.
_APT_CLEAN = "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb"
MMDEBSTRAP_OPTIONS: tuple[str, ...] = (
    "--variant=minbase",
    "--mode=root",
    "--format=tar",
    "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
    *(
        f"--dpkgopt=path-exclude=/usr/share/{folder}/*"
        for folder in ("doc", "man", "info", "locale", "lintian", "linda")
    ),
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    '--aptopt=Acquire::Languages "none"',
    '--aptopt=Acquire::GzipIndexes "true"',
    '--aptopt=Dir::Cache::pkgcache ""',
    '--aptopt=Dir::Cache::srcpkgcache ""',
    f'--aptopt=DPkg::Post-Invoke {{ "{_APT_CLEAN} || true"; }};',
    '--aptopt=APT::Install-Recommends "false"',
)


class ImageBuildError(RuntimeError):
    """A tool is missing or a build step failed (the message says which and why)."""


@dataclass(frozen=True)
class DockerfileImage:
    """One image: built from ``dockerfile`` with ``context``, tagged ``reference``."""

    reference: str  # e.g. "kubedag/python-task:0.1.0"
    dockerfile: Path
    context: Path
    build_args: tuple[tuple[str, str], ...] = ()  # --build-arg NAME=VALUE, part of the key

    @property
    def normalized(self) -> str:
        """The name containerd stores, e.g. ``docker.io/kubedag/python-task:0.1.0``."""
        return normalize_reference(self.reference)

    @property
    def ignore_file(self) -> Path:
        """``<Dockerfile>.dockerignore`` beside the Dockerfile, else the context's (BuildKit)."""
        beside = self.dockerfile.with_name(f"{self.dockerfile.name}.dockerignore")
        return beside if beside.is_file() else self.context / ".dockerignore"

    @property
    def uses_base(self) -> bool:
        pattern = rf"^FROM\s+{re.escape(BASE_IMAGE)}(\s|$)"
        return re.search(pattern, self.dockerfile.read_text(), re.MULTILINE | re.I) is not None


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


# --------------------------------------------------------------------------------------------
# Cache keys.


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def base_key() -> str:
    """What decides the base root filesystem (Debian's updates do not: delete it to refresh)."""
    return _sha256(json.dumps([_BASE_RECIPE, BASE_SUITE, MMDEBSTRAP_OPTIONS]).encode())[:16]


def _ignore_rules(ignore_file: Path) -> list[tuple[bool, str]]:
    if not ignore_file.is_file():
        return []
    rules = []
    for raw in ignore_file.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            rules.append((negated, line.removeprefix("!").strip().strip("/")))
    return rules


def _ignored(rel: str, rules: Sequence[tuple[bool, str]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negated, pattern in rules:
        alternatives = [pattern, pattern[3:]] if pattern.startswith("**/") else [pattern]
        if any(fnmatch(p, alt) for p in prefixes for alt in alternatives):
            ignored = not negated
    return ignored


def context_files(image: DockerfileImage) -> list[str]:
    """The context's files a build can COPY (relative paths, sorted); ignored folders are not
    entered, so an ignore file cannot re-include a file below an ignored folder."""
    rules = _ignore_rules(image.ignore_file)
    found: list[str] = []
    for folder, dirs, files in os.walk(image.context):
        rel_folder = Path(folder).relative_to(image.context).as_posix()
        prefix = "" if rel_folder == "." else f"{rel_folder}/"
        dirs[:] = sorted(d for d in dirs if not _ignored(prefix + d, rules))
        found += [prefix + f for f in files if not _ignored(prefix + f, rules)]
    return sorted(found)


def cache_key(image: DockerfileImage) -> str:
    """Changes when the Dockerfile, its ignore file, a context file or the base changes."""
    digest = hashlib.sha256()
    ignore = image.ignore_file
    parts: tuple[str | bytes, ...] = (
        _ARCHIVE_FORMAT,
        image.reference,
        image.dockerfile.read_bytes(),
        ignore.read_bytes() if ignore.is_file() else b"",
        base_key() if image.uses_base else "",
        # Only when given: images without build arguments keep the keys they always had.
        *([json.dumps(image.build_args)] if image.build_args else []),
    )
    for part in parts:
        digest.update((part if isinstance(part, bytes) else part.encode()) + b"\0")
    for rel in context_files(image):
        path = image.context / rel
        content = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
        executable = int(os.access(path, os.X_OK))
        digest.update(f"{rel}\0{_sha256(content)}\0{executable}\n".encode())
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# Commands.


def buildah(*args: str) -> list[str]:
    """A buildah command line on the project's own storage (overlay, in the user cache)."""
    return [
        "buildah",
        "--root",
        str(cache_dir() / "buildah" / "storage"),
        "--runroot",
        "/run/kubedag-buildah",
        "--storage-driver",
        "overlay",
        *args,
    ]


def bud_command(image: DockerfileImage, volumes: Sequence[str] = ()) -> list[str]:
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip() or "0"
    return buildah(
        "bud",
        "--pull=never",
        "--isolation",
        "chroot",
        "--layers",
        "--timestamp",
        epoch,
        "--file",
        str(image.dockerfile),
        "--tag",
        image.normalized,
        *([f"--ignorefile={image.ignore_file}"] if image.ignore_file.is_file() else []),
        *(f"--volume={volume}" for volume in volumes),
        *(f"--build-arg={name}={value}" for name, value in image.build_args),
        str(image.context),
    )


def mmdebstrap_command(output: Path) -> list[str]:
    return ["mmdebstrap", *MMDEBSTRAP_OPTIONS, BASE_SUITE, str(output), DEBIAN_MIRROR]


def _require(tool: str, what: str) -> None:
    if shutil.which(tool) is None:
        raise ImageBuildError(f"{tool} is required for {what}: run hack/install-host-packages.sh")


def _run(argv: Sequence[str], what: str) -> str:
    _require(argv[0], what)
    result = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
        raise ImageBuildError(f"{what} failed (exit {result.returncode}): {' '.join(argv)}\n{tail}")
    return result.stdout


def _log(message: str) -> None:
    print(f"[images] {message}", flush=True, file=sys.stderr)


def pip_trust_volumes(workdir: Path) -> list[str]:
    """Bind mounts that let pip in a build trust what the host's pip trusts.

    Where PyPI is reached through a TLS-inspecting proxy, the host configures pip with its CA
    bundle (``PIP_CERT``); the build sees that bundle and a ``/etc/pip.conf`` naming it, for
    its RUN steps only: nothing of it lands in an image.
    """
    bundle = os.environ.get("PIP_CERT") or os.environ.get("REQUESTS_CA_BUNDLE")
    if not bundle or not Path(bundle).is_file():
        return []
    in_build = "/etc/kubedag-host-ca.crt"
    config = workdir / "pip.conf"
    config.write_text(f"[global]\ncert = {in_build}\n")
    return [f"{Path(bundle).resolve()}:{in_build}:ro", f"{config}:/etc/pip.conf:ro"]


# --------------------------------------------------------------------------------------------
# Building.


def _images_dir() -> Path:
    folder = cache_dir() / "images"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    with (_images_dir() / ".build.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _log("waiting for another image build to finish")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def base_rootfs() -> Path:
    """The mmdebstrap root filesystem tar of the base (made once: a minute or two)."""
    target = _images_dir() / f"debian-{BASE_SUITE}-slim-{base_key()}.tar"
    if not target.is_file():
        partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        _log(f"{BASE_IMAGE}: mmdebstrap {BASE_SUITE} from {DEBIAN_MIRROR} (a minute or two)")
        try:
            _run(mmdebstrap_command(partial), "making the base root filesystem (mmdebstrap)")
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
    return target


def ensure_base_image() -> None:
    """``debian:bookworm-slim`` in buildah's storage, imported from :func:`base_rootfs`."""
    marker = f"localhost/kubedag-base:{base_key()}"
    present = subprocess.run(
        buildah("inspect", "--type", "image", marker), capture_output=True, check=False
    )
    if present.returncode != 0:
        rootfs = base_rootfs()
        container = _run(buildah("from", "scratch"), "starting the base image").strip()
        _run(buildah("add", container, str(rootfs), "/"), "adding the base root filesystem")
        _run(
            buildah("config", "--cmd", "bash", "--env", f"PATH={SYSTEM_PATH}", container),
            "configuring the base image",
        )
        _run(buildah("commit", "--rm", container, marker), "committing the base image")
    # Always: a `docker.io/library/debian:bookworm-slim` of another key must not be used.
    _run(buildah("tag", marker, normalize_reference(BASE_IMAGE)), "naming the base image")


def build(image: DockerfileImage) -> Path:
    """The docker-archive of ``image``, built unless one of the same inputs is cached."""
    key = cache_key(image)
    stem = image.reference.replace("/", "_").replace(":", "-")
    target = _images_dir() / f"{stem}-{key}.tar"
    if target.is_file():
        os.utime(target)  # _prune keeps the most recently used
        return target
    with _build_lock(), tempfile.TemporaryDirectory(prefix="kubedag-image-") as tmp:
        if target.is_file():  # built by whoever held the lock
            return target
        _require("buildah", f"building {image.reference}")
        if image.uses_base:
            ensure_base_image()
        _log(f"{image.reference}: buildah bud {image.dockerfile}")
        _run(bud_command(image, pip_trust_volumes(Path(tmp))), f"building {image.reference}")
        partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        try:
            _run(
                buildah("push", image.normalized, f"docker-archive:{partial}:{image.normalized}"),
                f"exporting {image.reference}",
            )
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        _prune(stem)
    return target


def _prune(stem: str) -> None:
    archives = sorted(
        (p for p in _images_dir().glob(f"{stem}-*.tar") if len(p.name) == len(stem) + 21),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in archives[_KEEP_ARCHIVES:]:
        old.unlink(missing_ok=True)
