#!/usr/bin/env python3
"""Build kubedag's container images as image tarballs, without Docker.

    python3 task-images/build.py [--import] [--out DIR] [python-task|controller|all ...]

Each image is written as a docker-archive tarball (``manifest.json`` + config + uncompressed
layer tars, the format of ``docker save``), which ``docker load``, ``kind load image-archive`` and
containerd's ``ctr images import`` all accept. The paths of the tarballs are printed on stdout,
one per line; progress goes to stderr.

- ``kubedag/python-task``: Debian bookworm ``minbase`` with python3, as user 65532 (one layer).
- ``kubedag/controller``: the same base layer plus a second layer with kubedag and its pinned
  dependencies (requirements.lock) in /opt/kubedag.

The base rootfs comes from ``debootstrap``, run once and cached as a layer tar in
``~/.cache/kubedag/images`` (keyed by a hash of the debootstrap inputs); the controller layer is
keyed by a hash of the project's sources and lock file, and each image tarball by its config
digest (the image ID). A warm build only hashes the sources and takes well under a second.
Building a layer needs root (debootstrap, chroot), the Debian mirror (base) and PyPI
(controller); reusing cached layers needs neither.

Layer tars are reproducible for a given tree: entries sorted, mtimes set to
``$SOURCE_DATE_EPOCH`` (default 0), numeric owners only. Python bytecode is compiled as
``unchecked-hash`` .pyc files, which do not depend on file mtimes.

The declarations in IMAGES are the source of truth; the Dockerfiles in this folder (for people
with Docker) must agree with them, which tests/unit/test_images.py checks.

Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

#: The version of both images (the kubedag package version, pyproject.toml).
VERSION = "0.1.0"

UID = 65532
GID = 65532
USER_NAME = "kubedag"
HOME = f"/home/{USER_NAME}"
LOGIN_SHELL = "/usr/sbin/nologin"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OPT = "/opt/kubedag"
SITE_PACKAGES = f"{OPT}/site-packages"

DEFAULT_MIRROR = "http://deb.debian.org/debian"
CONTAINERD_ADDRESS = "/run/kubedag/containerd/containerd.sock"

#: Bump when the way a layer is made changes, to invalidate cached layers.
BASE_RECIPE_VERSION = "2"
CONTROLLER_RECIPE_VERSION = "2"

ARCH = "amd64"
OS = "linux"

#: Names of this script's files in the (shared) cache folder.
OWNED_PREFIXES = ("base-", "controller-", "python-task-")


@dataclass(frozen=True)
class BaseSpec:
    """The inputs of the debootstrapped base rootfs (the first layer of every image)."""

    suite: str = "bookworm"
    variant: str = "minbase"
    packages: tuple[str, ...] = ("python3", "ca-certificates")
    arch: str = ARCH
    #: The suite's python3 (bookworm: 3.11, glibc 2.36): what controller wheels are chosen for.
    python_version: str = "3.11"
    glibc: tuple[int, int] = (2, 36)
    recipe_version: str = BASE_RECIPE_VERSION

    def cache_key(self) -> str:
        """Hash of everything that decides the base layer's content (not the mirror)."""
        inputs = {
            **asdict(self),
            "user": [USER_NAME, UID, GID, HOME, LOGIN_SHELL],
            "source_date_epoch": source_date_epoch(),
        }
        return sha256_hex(canonical_json(inputs))

    def debootstrap_command(self, target: Path, mirror: str) -> list[str]:
        return [
            "debootstrap",
            f"--variant={self.variant}",
            f"--arch={self.arch}",
            f"--include={','.join(self.packages)}",
            self.suite,
            str(target),
            mirror,
        ]


BASE = BaseSpec()


@dataclass(frozen=True)
class ImageSpec:
    """One image: its name, tag, layers and runtime config (what the Dockerfile must match)."""

    key: str  # CLI name and the folder of its Dockerfile: task-images/<key>/Dockerfile
    name: str
    tag: str
    layers: tuple[str, ...]  # "base", "controller"
    env: tuple[tuple[str, str], ...]
    user: str
    workdir: str
    entrypoint: tuple[str, ...] | None
    cmd: tuple[str, ...] | None
    labels: tuple[tuple[str, str], ...]

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.tag}"

    @property
    def archive_name(self) -> str:
        """File name under --out, e.g. kubedag-python-task-0.1.0.tar."""
        return f"{self.name.replace('/', '-')}-{self.tag}.tar"

    @property
    def env_dict(self) -> dict[str, str]:
        return dict(self.env)

    @property
    def labels_dict(self) -> dict[str, str]:
        return dict(self.labels)


def _labels(name: str, description: str) -> tuple[tuple[str, str], ...]:
    return (
        ("org.opencontainers.image.title", name),
        ("org.opencontainers.image.version", VERSION),
        ("org.opencontainers.image.description", description),
        ("org.opencontainers.image.licenses", "Apache-2.0"),
    )


IMAGES: dict[str, ImageSpec] = {
    "python-task": ImageSpec(
        key="python-task",
        name="kubedag/python-task",
        tag=VERSION,
        layers=("base",),
        env=(
            ("PATH", SYSTEM_PATH),
            ("PYTHONUNBUFFERED", "1"),
            ("LANG", "C.UTF-8"),
            ("HOME", HOME),
        ),
        user=f"{UID}:{GID}",
        workdir=HOME,
        entrypoint=None,
        cmd=("python3",),
        labels=_labels("kubedag/python-task", "Debian bookworm with python3 for kubedag tasks"),
    ),
    "controller": ImageSpec(
        key="controller",
        name="kubedag/controller",
        tag=VERSION,
        layers=("base", "controller"),
        env=(
            ("PATH", f"{OPT}/bin:{SYSTEM_PATH}"),
            ("PYTHONPATH", SITE_PACKAGES),
            ("PYTHONUNBUFFERED", "1"),
            ("LANG", "C.UTF-8"),
            ("HOME", HOME),
        ),
        user=f"{UID}:{GID}",
        workdir=HOME,
        entrypoint=("python3", "-m", "kubedag.cli"),
        cmd=("run",),
        labels=_labels("kubedag/controller", "The kubedag controller"),
    ),
}


class PrerequisiteError(Exception):
    """Something the build needs is missing; the message says what and how to get it."""


class BuildError(Exception):
    """A build step failed."""


# --------------------------------------------------------------------------------------------
# Pure helpers: hashing, tar layers, image config and archive.


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def source_date_epoch() -> int:
    """``$SOURCE_DATE_EPOCH`` (reproducible-builds.org), else 0: file mtimes and ``created``."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    return int(value) if value else 0


def rfc3339(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _walk(root: Path, rel: str, exclude_contents: frozenset[str]) -> Iterator[str]:
    """Entries below root/rel, sorted by name, depth first; symlinks are not followed."""
    if rel in exclude_contents:
        return
    base = root / rel if rel else root
    with os.scandir(base) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        child = f"{rel}/{entry.name}" if rel else entry.name
        yield child
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(root, child, exclude_contents)


def layer_entries(
    root: Path, paths: Sequence[str] | None = None, exclude_contents: Iterable[str] = ()
) -> list[str]:
    """The relative paths a layer of ``root`` holds, in archive order.

    ``paths`` limits the layer to those subtrees (plus their parent directories);
    ``exclude_contents`` lists directories that are kept but empty (dev, proc, sys).
    """
    excluded = frozenset(p.strip("/") for p in exclude_contents)
    if paths is None:
        return list(_walk(root, "", excluded))
    names: list[str] = []
    seen: set[str] = set()
    for path in sorted(p.strip("/") for p in paths):
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if prefix not in seen:
                seen.add(prefix)
                names.append(prefix)
        if (root / path).is_dir() and not (root / path).is_symlink():
            for child in _walk(root, path, excluded):
                if child not in seen:
                    seen.add(child)
                    names.append(child)
    return names


def write_layer_tar(
    root: Path,
    dest: Path,
    *,
    mtime: int,
    paths: Sequence[str] | None = None,
    exclude_contents: Iterable[str] = (),
) -> str:
    """Write a reproducible layer tar of ``root`` to ``dest``; return its sha256 hex digest.

    Entries are sorted, every mtime is ``mtime``, owners are numeric only (uid/gid kept, no
    user or group names), hard links are stored as links, sockets are skipped.
    """
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in layer_entries(root, paths, exclude_contents):
            full = root / name
            info = tar.gettarinfo(str(full), arcname=name)
            if info is None:  # a socket
                continue
            info.mtime = mtime
            info.uname = ""
            info.gname = ""
            if info.isreg():
                with full.open("rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return file_sha256(dest)


@dataclass(frozen=True)
class Layer:
    """An uncompressed layer tar (so its digest is also its diff_id)."""

    path: Path
    digest: str  # "sha256:<hex>"
    size: int
    created_by: str
    comment: str


def image_config(spec: ImageSpec, layers: Sequence[Layer], created: int) -> dict[str, Any]:
    """The image config JSON (docker image spec v1.2 / OCI image config)."""
    config: dict[str, Any] = {
        "User": spec.user,
        "Env": [f"{k}={v}" for k, v in spec.env],
        "WorkingDir": spec.workdir,
        "Labels": spec.labels_dict,
    }
    if spec.entrypoint is not None:
        config["Entrypoint"] = list(spec.entrypoint)
    if spec.cmd is not None:
        config["Cmd"] = list(spec.cmd)
    stamp = rfc3339(created)
    return {
        "architecture": ARCH,
        "os": OS,
        "created": stamp,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
        "history": [
            {"created": stamp, "created_by": layer.created_by, "comment": layer.comment}
            for layer in layers
        ],
    }


def blob_path(digest: str) -> str:
    algorithm, _, hex_digest = digest.partition(":")
    return f"blobs/{algorithm}/{hex_digest}"


def docker_manifest(
    config_digest: str, layer_digests: Sequence[str], repo_tags: Sequence[str]
) -> list[dict[str, Any]]:
    """``manifest.json`` of a docker-archive (what ``docker save`` writes)."""
    return [
        {
            "Config": blob_path(config_digest),
            "RepoTags": list(repo_tags),
            "Layers": [blob_path(d) for d in layer_digests],
        }
    ]


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = mtime
    info.mode = 0o644
    tar.addfile(info, _BytesReader(data))


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._pos + size
        chunk = self._data[self._pos : end].tobytes()
        self._pos += len(chunk)
        return chunk


def write_image_archive(
    dest: Path, spec: ImageSpec, layers: Sequence[Layer], created: int
) -> tuple[str, bytes]:
    """Write the docker-archive tarball; return (config digest, config JSON bytes)."""
    config_bytes = canonical_json(image_config(spec, layers, created))
    config_digest = "sha256:" + sha256_hex(config_bytes)
    manifest = docker_manifest(config_digest, [layer.digest for layer in layers], [spec.ref])
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = created
            tar.addfile(info)
        _add_bytes(tar, blob_path(config_digest), config_bytes, created)
        written: set[str] = set()
        for layer in layers:
            if layer.digest in written:
                continue
            written.add(layer.digest)
            info = tarfile.TarInfo(blob_path(layer.digest))
            info.size = layer.size
            info.mtime = created
            info.mode = 0o644
            with layer.path.open("rb") as f:
                tar.addfile(info, f)
        _add_bytes(tar, "manifest.json", canonical_json(manifest), created)
    return config_digest, config_bytes


def manylinux_platforms(glibc: tuple[int, int], arch: str = "x86_64") -> list[str]:
    """pip ``--platform`` tags for wheels that run on that glibc (newest first)."""
    major, minor = glibc
    tags = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 16, -1)]
    return [*tags, f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]


def controller_source_files(repo: Path) -> list[Path]:
    """What the controller layer is built from: the package sources, metadata and lock file."""
    files = [repo / "pyproject.toml", repo / "requirements.lock"]
    if (repo / "README.md").is_file():
        files.append(repo / "README.md")
    for path in sorted((repo / "controller").rglob("*")):
        rel_parts = path.relative_to(repo).parts
        if any(p == "__pycache__" or p.endswith(".egg-info") for p in rel_parts):
            continue
        if path.is_file() and path.suffix not in {".pyc", ".pyo"}:
            files.append(path)
    return files


def tree_digest(repo: Path, files: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(files):
        executable = os.access(path, os.X_OK)
        rel = path.relative_to(repo).as_posix()
        digest.update(f"{rel}\0{file_sha256(path)}\0{int(executable)}\n".encode())
    return digest.hexdigest()


def controller_layer_key(base_digest: str, repo: Path) -> str:
    inputs = {
        "base": base_digest,
        "sources": tree_digest(repo, controller_source_files(repo)),
        "python": BASE.python_version,
        "platforms": manylinux_platforms(BASE.glibc),
        "recipe": CONTROLLER_RECIPE_VERSION,
        "source_date_epoch": source_date_epoch(),
    }
    return sha256_hex(canonical_json(inputs))


def passwd_entries() -> dict[str, str]:
    """Lines to append to the base's account files for the image user (as ``groupadd --gid
    65532 kubedag; useradd --uid 65532 --gid 65532 --home-dir /home/kubedag --shell
    /usr/sbin/nologin kubedag`` write them, minus the dates)."""
    return {
        "etc/passwd": f"{USER_NAME}:x:{UID}:{GID}::{HOME}:{LOGIN_SHELL}",
        "etc/group": f"{USER_NAME}:x:{GID}:",
        "etc/shadow": f"{USER_NAME}:!::0:99999:7:::",
        "etc/gshadow": f"{USER_NAME}:!::",
    }


# --------------------------------------------------------------------------------------------
# Environment, prerequisites and commands.


def log(message: str) -> None:
    print(f"[images] {message}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    """``$KUBEDAG_CACHE_DIR``, else ``$XDG_CACHE_HOME/kubedag``, else ``~/.cache/kubedag``
    (as devcluster/versions.py), plus ``/images``."""
    explicit = os.environ.get("KUBEDAG_CACHE_DIR")
    if explicit:
        return Path(explicit) / "images"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "kubedag" / "images"


def find_tool(name: str) -> str | None:
    """A program on $PATH or in the sbin folders (often missing from a user's PATH)."""
    return shutil.which(name, path=f"{os.environ.get('PATH', '')}:{SYSTEM_PATH}")


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise PrerequisiteError(
            f"{what} needs root (debootstrap and chroot); run it as root, e.g. "
            f"`sudo python3 task-images/build.py ...`. Once built, the cached layers in "
            f"{cache_root()} are reused without root."
        )


def require_tool(name: str, package: str) -> str:
    found = find_tool(name)
    if found is None:
        raise PrerequisiteError(
            f"`{name}` is not installed: `apt-get install -y {package}` (Debian/Ubuntu)"
        )
    return found


def require_amd64() -> None:
    machine = platform.machine()
    if platform.system() != "Linux" or machine not in {"x86_64", "amd64"}:
        raise PrerequisiteError(
            f"building the {ARCH} images runs their programs in a chroot, which needs a "
            f"Linux x86_64 host (this is {platform.system()} {machine}); use the Dockerfiles"
        )


def require_mirror(mirror: str, suite: str, timeout: float = 20.0) -> None:
    url = f"{mirror.rstrip('/')}/dists/{suite}/InRelease"
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            pass
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise PrerequisiteError(
            f"cannot reach the Debian mirror: HEAD {url} failed ({reason}). The base image is "
            f"debootstrapped from it once, then cached in {cache_root()}; pass --mirror URL "
            f"(or set KUBEDAG_DEBIAN_MIRROR) to use another mirror."
        ) from error


def run(
    argv: Sequence[str],
    *,
    what: str,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
    log_file: Path | None = None,
) -> str:
    """Run a command; on failure raise BuildError with its output. Returns its stdout."""
    try:
        result = subprocess.run(
            list(argv),
            env=dict(env) if env is not None else None,
            input=input_text,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as error:
        raise BuildError(f"{what} failed: cannot run {argv[0]}: {error}") from error
    if log_file is not None:
        log_file.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()
        tail = "\n".join(output[-30:])
        raise BuildError(f"{what} failed (exit {result.returncode}): {' '.join(argv)}\n{tail}")
    return result.stdout


def chroot_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A clean environment for commands in the rootfs (nothing of the host's leaks in)."""
    env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8", "HOME": "/root"}
    env.update(extra or {})
    return env


def in_chroot(
    rootfs: Path,
    argv: Sequence[str],
    *,
    what: str,
    user: str | None = None,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
) -> str:
    chroot = require_tool("chroot", "coreutils")
    userspec = [f"--userspec={user}"] if user else []
    return run(
        [chroot, *userspec, str(rootfs), *argv],
        what=what,
        env=chroot_env(env),
        input_text=input_text,
    )


# --------------------------------------------------------------------------------------------
# The base layer.

_RECOMPILE = """
import py_compile, sys
mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
for path in sys.stdin.read().split("\\0"):
    if path:
        py_compile.compile(path, doraise=True, invalidation_mode=mode)
"""

_PYTHON_TASK_SMOKE = f"""
import os, ssl, sqlite3, tempfile, zoneinfo
assert (os.getuid(), os.getgid()) == ({UID}, {GID}), (os.getuid(), os.getgid())
os.chdir(os.environ["HOME"])
with open("probe", "w") as f:
    f.write("ok")
os.remove("probe")
fd, name = tempfile.mkstemp()
os.close(fd)
os.remove(name)
assert ssl.create_default_context().cert_store_stats()["x509_ca"] > 0, "no CA certificates"
zoneinfo.ZoneInfo("Europe/Paris")
print("python-task smoke test ok")
"""

_DPKG_EXCLUDES = """\
# Written by kubedag's task-images/build.py: keep the image small when packages are added.
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
"""

_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _empty_dir(directory: Path, keep: Iterable[str] = ()) -> None:
    if not directory.is_dir():
        return
    kept = set(keep)
    for child in directory.iterdir():
        if child.name not in kept:
            _remove(child)


def customize_base(rootfs: Path) -> None:
    """Add the image user, normalise a few files, strip what a container does not need."""
    for rel, line in passwd_entries().items():
        path = rootfs / rel
        lines = [entry for entry in path.read_text().splitlines() if entry]
        if not any(entry.split(":", 1)[0] == USER_NAME for entry in lines):
            lines.append(line)
        if rel == "etc/shadow":  # last-change dates are the build day: blank them
            lines = [_blank_field(entry, 2) for entry in lines]
        path.write_text("\n".join(lines) + "\n")
    home = rootfs / HOME.lstrip("/")
    home.mkdir(parents=True, exist_ok=True)
    skel = rootfs / "etc/skel"
    if skel.is_dir():
        for item in skel.iterdir():
            if item.is_file():
                shutil.copy2(item, home / item.name)
    for path in [home, *home.rglob("*")]:
        os.lchown(path, UID, GID)
    home.chmod(0o755)
    (rootfs / "tmp").chmod(0o1777)

    (rootfs / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/dpkg/dpkg.cfg.d/kubedag-slim").write_text(_DPKG_EXCLUDES)
    # debootstrap copies the build host's; the container runtime provides its own.
    (rootfs / "etc/resolv.conf").write_text("")
    (rootfs / "etc/hostname").write_text("")
    (rootfs / "etc/hosts").write_text(_HOSTS)

    # Stripping: package caches and indexes, docs (copyright files stay), manuals,
    # translations, logs, backup files.
    _empty_dir(rootfs / "var/lib/apt/lists", keep=["partial"])
    _empty_dir(rootfs / "var/lib/apt/lists/partial")
    for pattern in ("var/cache/apt/*.bin", "var/cache/apt/archives/*.deb"):
        for path in rootfs.glob(pattern):
            path.unlink()
    _empty_dir(rootfs / "var/cache/apt/archives/partial")
    for package_doc in sorted((rootfs / "usr/share/doc").glob("*")):
        if package_doc.is_dir() and not package_doc.is_symlink():
            _empty_dir(package_doc, keep=["copyright"])
    for rel in ("usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian"):
        _empty_dir(rootfs / rel)
    for path in (rootfs / "var/log").rglob("*"):
        if path.is_file():
            path.unlink()
    for pattern in ("var/cache/debconf/*-old", "var/lib/dpkg/*-old"):
        for path in rootfs.glob(pattern):
            path.unlink()
    for rel in ("tmp", "var/tmp", "run/mount"):
        _empty_dir(rootfs / rel)
    for name in ("passwd-", "group-", "shadow-", "gshadow-", "subuid-", "subgid-"):
        _remove(rootfs / "etc" / name)  # the account tools' backups
    _remove(rootfs / "debootstrap")
    _remove(rootfs / "var/cache/ldconfig/aux-cache")
    _remove(rootfs / "root/.bash_history")


def _blank_field(line: str, index: int) -> str:
    fields = line.split(":")
    if len(fields) > index:
        fields[index] = ""
    return ":".join(fields)


def recompile_bytecode(rootfs: Path, python_version: str) -> int:
    """Recompile the distribution's .pyc files as unchecked-hash (mtime-independent, so the
    fixed mtimes of the layer do not make them stale). Returns how many."""
    tag = f"cpython-{python_version.replace('.', '')}"
    sources: list[str] = []
    for cache in sorted(rootfs.glob("usr/lib/python3*/**/__pycache__")):
        for pyc in sorted(cache.glob("*.pyc")):
            module, _, rest = pyc.name.partition(".")
            source = cache.parent / f"{module}.py"
            if rest == f"{tag}.pyc" and source.is_file():
                sources.append("/" + source.relative_to(rootfs).as_posix())
        shutil.rmtree(cache)
    in_chroot(
        rootfs,
        ["/usr/bin/python3", "-c", _RECOMPILE],
        what="recompiling the standard library's bytecode",
        input_text="\0".join(sources),
    )
    return len(sources)


def installed_packages(rootfs: Path) -> list[str]:
    out = in_chroot(
        rootfs,
        ["dpkg-query", "-W", "-f", "${Package}=${Version}\\n"],
        what="listing the installed packages",
    )
    return sorted(out.split())


@dataclass
class Cache:
    root: Path

    """``~/.cache/kubedag/images``, shared with other tools: this script only ever touches
    its own files there (:func:`owned`), a ``.build-tmp`` folder and a ``.build.lock``."""

    @property
    def tmp(self) -> Path:
        return self.root / ".build-tmp"

    def owned(self, pattern: str) -> list[Path]:
        """This script's files in the cache that match a glob pattern."""
        return [p for p in self.root.glob(pattern) if p.name.startswith(OWNED_PREFIXES)]

    def workdir(self, prefix: str) -> Path:
        self.tmp.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.tmp))

    def read_meta(self, name: str) -> dict[str, Any] | None:
        meta = self.root / f"{name}.json"
        tar = self.root / f"{name}.tar"
        if not (meta.is_file() and tar.is_file()):
            return None
        data: dict[str, Any] = json.loads(meta.read_text())
        if data.get("size") != tar.stat().st_size:
            return None
        return data

    def commit(self, name: str, tar: Path, meta: Mapping[str, Any]) -> Layer:
        """Move a finished layer tar into the cache (atomically) with its metadata."""
        final = self.root / f"{name}.tar"
        os.replace(tar, final)
        meta_path = self.root / f"{name}.json"
        tmp = meta_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(dict(meta), indent=2, sort_keys=True) + "\n")
        os.replace(tmp, meta_path)
        return layer_from_meta(final, meta)


def layer_from_meta(path: Path, meta: Mapping[str, Any]) -> Layer:
    return Layer(
        path=path,
        digest=str(meta["digest"]),
        size=int(meta["size"]),
        created_by=str(meta["created_by"]),
        comment=str(meta["comment"]),
    )


def base_layer(cache: Cache, mirror: str, refresh: bool) -> Layer:
    name = f"base-{BASE.suite}-{BASE.cache_key()[:16]}"
    meta = None if refresh else cache.read_meta(name)
    if meta is not None:
        log(f"base layer: cached ({cache.root / name}.tar)")
        return layer_from_meta(cache.root / f"{name}.tar", meta)

    require_amd64()
    require_root("building the base layer")
    debootstrap = require_tool("debootstrap", "debootstrap")
    require_tool("chroot", "coreutils")
    require_mirror(mirror, BASE.suite)

    work = cache.workdir("base-")
    try:
        rootfs = work / "rootfs"
        command = BASE.debootstrap_command(rootfs, mirror)
        log(f"base layer: {' '.join(command)} (a minute or two)")
        started = time.monotonic()
        env = {**os.environ, "PATH": f"{os.environ.get('PATH', '')}:{SYSTEM_PATH}"}
        try:
            run(
                [debootstrap, *command[1:]],
                what="debootstrap",
                env=env,
                log_file=work / "debootstrap.log",
            )
        except BuildError as error:
            inner_log = rootfs / "debootstrap/debootstrap.log"
            extra = inner_log.read_text()[-3000:] if inner_log.is_file() else ""
            raise BuildError(f"{error}\n{extra}".rstrip()) from None
        debootstrap_seconds = time.monotonic() - started
        log(f"base layer: debootstrap took {debootstrap_seconds:.1f} s")

        customize_base(rootfs)
        count = recompile_bytecode(rootfs, BASE.python_version)
        log(f"base layer: recompiled {count} stdlib .pyc files as unchecked-hash")
        spec = IMAGES["python-task"]
        print(
            in_chroot(
                rootfs,
                ["/usr/bin/python3", "-c", _PYTHON_TASK_SMOKE],
                what="the python-task smoke test",
                user=spec.user,
                env=spec.env_dict,
            ).strip(),
            file=sys.stderr,
        )
        packages = installed_packages(rootfs)

        tar = work / "layer.tar"
        started = time.monotonic()
        digest = write_layer_tar(
            rootfs, tar, mtime=source_date_epoch(), exclude_contents=("dev", "proc", "sys")
        )
        log(f"base layer: tar written in {time.monotonic() - started:.1f} s")
        meta = {
            "digest": f"sha256:{digest}",
            "size": tar.stat().st_size,
            "created_by": (
                f"debootstrap --variant={BASE.variant} --include={','.join(BASE.packages)} "
                f"{BASE.suite}; user {USER_NAME} ({UID}:{GID})"
            ),
            "comment": f"kubedag base layer (recipe {BASE.recipe_version})",
            "inputs": {**asdict(BASE), "key": BASE.cache_key(), "mirror": mirror},
            "packages": packages,
            "debootstrap_seconds": round(debootstrap_seconds, 1),
        }
        return cache.commit(name, tar, meta)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# The controller layer.

_CONTROLLER_SMOKE = """
import os
import aiohttp, croniter, jinja2, kopf, kubernetes, pydantic_core, yaml
import kubedag, kubedag.cli, kubedag.reconcilers.operator
assert os.getuid() != 0
print("controller imports ok: kopf", kopf.__version__ if hasattr(kopf, "__version__") else "",
      "pydantic_core", pydantic_core.__version__)
"""


def pip_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pip", *args]


def pip_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_ROOT_USER_ACTION="ignore",
        PIP_NO_INPUT="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def _fix_shebangs(bin_dir: Path) -> None:
    for script in bin_dir.iterdir():
        if not script.is_file():
            continue
        data = script.read_bytes()
        if data.startswith(b"#!") and b"python" in data.split(b"\n", 1)[0]:
            script.write_bytes(b"#!/usr/bin/python3" + data[data.index(b"\n") :])


def drop_direct_urls(site: Path) -> None:
    """Remove pip's direct_url.json (PEP 610) records: they hold the wheel's temporary path,
    which would make the layer differ from build to build."""
    for record in sorted(site.glob("*.dist-info/direct_url.json")):
        dist_info = record.parent
        record.unlink()
        listing = dist_info / "RECORD"
        if listing.is_file():
            entry = f"{dist_info.name}/direct_url.json,"
            lines = listing.read_text().splitlines(keepends=True)
            listing.write_text("".join(line for line in lines if not line.startswith(entry)))


def controller_layer(cache: Cache, base: Layer, repo: Path, refresh: bool) -> Layer:
    key = controller_layer_key(base.digest, repo)
    name = f"controller-layer-{key[:16]}"
    meta = None if refresh else cache.read_meta(name)
    if meta is not None:
        log(f"controller layer: cached ({cache.root / name}.tar)")
        return layer_from_meta(cache.root / f"{name}.tar", meta)

    require_amd64()
    require_root("building the controller layer")
    require_tool("chroot", "coreutils")
    tar_tool = require_tool("tar", "tar")
    probe = subprocess.run(pip_command("--version"), capture_output=True, check=False)
    if probe.returncode != 0:
        raise PrerequisiteError(
            f"pip is not available for {sys.executable} (`{sys.executable} -m ensurepip` or "
            f"`apt-get install -y python3-pip`): it builds the kubedag wheel and installs the "
            f"controller's dependencies"
        )

    work = cache.workdir("controller-")
    try:
        # Build the wheel from a copy, so setuptools leaves nothing in the work tree.
        src = work / "src"
        for path in controller_source_files(repo):
            target = src / path.relative_to(repo)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        wheels = work / "wheels"
        started = time.monotonic()
        run(
            pip_command("wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(src)),
            what="building the kubedag wheel (pip wheel; the build backend comes from PyPI)",
            env=pip_env(),
        )
        (wheel,) = sorted(wheels.glob("kubedag-*.whl"))
        log(f"controller layer: built {wheel.name} in {time.monotonic() - started:.1f} s")

        rootfs = work / "rootfs"
        rootfs.mkdir()
        run(
            [tar_tool, "-xpf", str(base.path), "-C", str(rootfs), "--numeric-owner"],
            what="unpacking the base layer",
        )
        site = rootfs / SITE_PACKAGES.lstrip("/")
        platforms = [a for tag in manylinux_platforms(BASE.glibc) for a in ("--platform", tag)]
        py = BASE.python_version.replace(".", "")
        started = time.monotonic()
        run(
            pip_command(
                "install",
                "--quiet",
                "--no-compile",
                "--no-warn-script-location",
                "--target",
                str(site),
                "--only-binary=:all:",
                "--python-version",
                BASE.python_version,
                "--implementation",
                "cp",
                "--abi",
                f"cp{py}",
                *platforms,
                "-c",
                str(src / "requirements.lock"),
                str(wheel),
            ),
            what=(
                f"pip install into {SITE_PACKAGES} (wheels for CPython {BASE.python_version}, "
                f"glibc {'.'.join(map(str, BASE.glibc))}; is PyPI reachable?)"
            ),
            env=pip_env(),
        )
        log(f"controller layer: pip install took {time.monotonic() - started:.1f} s")
        opt = rootfs / OPT.lstrip("/")
        drop_direct_urls(site)
        if (site / "bin").is_dir():
            os.replace(site / "bin", opt / "bin")
            _fix_shebangs(opt / "bin")
        for cache_dir in sorted(opt.rglob("__pycache__"), reverse=True):
            shutil.rmtree(cache_dir)
        in_chroot(
            rootfs,
            [
                "/usr/bin/python3",
                "-m",
                "compileall",
                "-q",
                "--invalidation-mode",
                "unchecked-hash",
                SITE_PACKAGES,
            ],
            what="compiling the controller's bytecode",
        )
        for path in [opt, *opt.rglob("*")]:
            os.lchown(path, 0, 0)

        spec = IMAGES["controller"]
        checks: list[list[str]] = [
            ["/usr/bin/python3", "-c", _CONTROLLER_SMOKE],
            [*(spec.entrypoint or ()), "--help"],
        ]
        if (opt / "bin/kubedag").is_file():
            checks.append([f"{OPT}/bin/kubedag", "--help"])
        for argv in checks:
            label = "imports" if argv[1] == "-c" else " ".join(argv)
            out = in_chroot(
                rootfs,
                argv,
                what=f"the controller smoke test ({label})",
                user=spec.user,
                env=spec.env_dict,
            )
            log(f"controller smoke test ({label}): {out.strip().splitlines()[0]}")

        tar = work / "layer.tar"
        digest = write_layer_tar(rootfs, tar, mtime=source_date_epoch(), paths=[OPT])
        meta = {
            "digest": f"sha256:{digest}",
            "size": tar.stat().st_size,
            "created_by": (
                f"pip install --target {SITE_PACKAGES} -c requirements.lock {wheel.name}"
            ),
            "comment": f"kubedag controller layer (recipe {CONTROLLER_RECIPE_VERSION})",
            "key": key,
        }
        return cache.commit(name, tar, meta)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Images, import, command line.


@dataclass(frozen=True)
class BuiltImage:
    spec: ImageSpec
    path: Path
    image_id: str
    size: int


def build_image(
    cache: Cache,
    spec: ImageSpec,
    layers: Sequence[Layer],
) -> BuiltImage:
    created = source_date_epoch()
    config_bytes = canonical_json(image_config(spec, layers, created))
    image_id = "sha256:" + sha256_hex(config_bytes)
    path = cache.root / f"{spec.key}-{spec.tag}-{image_id.split(':')[1][:16]}.tar"
    if path.is_file():
        log(f"{spec.ref}: cached ({path})")
    else:
        tmp = path.with_suffix(".tar.tmp")
        written_id, _ = write_image_archive(tmp, spec, layers, created)
        if written_id != image_id:
            raise BuildError(f"{spec.ref}: config digest {written_id} != {image_id}")
        os.replace(tmp, path)
        log(f"{spec.ref}: wrote {path}")
    for used in (path, *(layer.path for layer in layers)):
        os.utime(used)  # prune() keeps the most recently used
    return BuiltImage(spec=spec, path=path, image_id=image_id, size=path.stat().st_size)


def prune(cache: Cache, keep_newest: int = 3) -> None:
    """Drop old cached layers and images of this script (the newest few of each kind stay)."""
    groups: dict[str, list[Path]] = {}
    for path in cache.owned("*.tar"):
        kind = path.name.rsplit("-", 1)[0]
        groups.setdefault(kind, []).append(path)
    for paths in groups.values():
        paths.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for old in paths[keep_newest:]:
            old.unlink()
            with contextlib.suppress(FileNotFoundError):
                old.with_suffix(".json").unlink()


@contextlib.contextmanager
def locked(cache: Cache) -> Iterator[None]:
    cache.root.mkdir(parents=True, exist_ok=True)
    lock_path = cache.root / ".build.lock"
    with lock_path.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another build to finish (lock {lock_path})")
            fcntl.flock(lock, fcntl.LOCK_EX)
        # Left-overs of an interrupted build: nobody else uses them while we hold the lock.
        shutil.rmtree(cache.tmp, ignore_errors=True)
        for stale in cache.owned("*.tmp"):
            stale.unlink()
        yield


def build(
    keys: Sequence[str],
    *,
    cache_dir: Path | None = None,
    mirror: str = DEFAULT_MIRROR,
    repo: Path = REPO,
    refresh: bool = False,
) -> list[BuiltImage]:
    """Build the named images (IMAGES keys); return them in that order."""
    cache = Cache(cache_dir or cache_root())
    built: list[BuiltImage] = []
    with locked(cache):
        layers: dict[str, Layer] = {}
        for key in keys:
            spec = IMAGES[key]
            started = time.monotonic()
            for layer_name in spec.layers:
                if layer_name in layers:
                    continue
                if layer_name == "base":
                    layers["base"] = base_layer(cache, mirror, refresh)
                elif layer_name == "controller":
                    layers["controller"] = controller_layer(cache, layers["base"], repo, refresh)
                else:
                    raise BuildError(f"unknown layer {layer_name!r} in {spec.key}")
            image = build_image(cache, spec, [layers[n] for n in spec.layers])
            log(
                f"{spec.ref}: {image.size / 1e6:.1f} MB, id {image.image_id[:19]}, "
                f"{time.monotonic() - started:.1f} s"
            )
            built.append(image)
        prune(cache)
    return built


def export(image: BuiltImage, out_dir: Path) -> Path:
    """Put the tarball in out_dir under its stable name (hard link if possible)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / image.spec.archive_name
    tmp = target.with_suffix(".tar.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(image.path, tmp)
    except OSError:
        shutil.copyfile(image.path, tmp)
    os.replace(tmp, target)
    return target


def import_image(tarball: Path) -> None:
    """Import an image tarball into the local cluster's containerd (namespace k8s.io).

    Uses devcluster.node.import_image when that module is there; otherwise runs the same
    ``ctr`` command itself.
    """
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    try:
        from devcluster.node import import_image as node_import_image
    except ImportError as error:
        if error.name not in {"tests", "devcluster", "devcluster.node"}:
            log(f"devcluster.node cannot be imported ({error}); running ctr directly")
    else:
        try:
            node_import_image(tarball)
        except Exception as error:  # devcluster.node's NodeError and the like
            raise BuildError(f"importing {tarball}: {error}") from error
        return
    ctr = require_tool("ctr", "containerd")
    if not Path(CONTAINERD_ADDRESS).exists():
        raise PrerequisiteError(
            f"no containerd socket at {CONTAINERD_ADDRESS}: start the local cluster first"
        )
    run(
        [ctr, "--address", CONTAINERD_ADDRESS, "-n", "k8s.io", "images", "import", str(tarball)],
        what=f"importing {tarball} into containerd",
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="task-images/build.py",
        description="Build kubedag's container images as docker-archive tarballs, without Docker.",
    )
    parser.add_argument(
        "images",
        nargs="*",
        metavar="IMAGE",
        help=f"{' | '.join(IMAGES)} | all (default: all)",
    )
    parser.add_argument("--out", type=Path, help="also put the tarballs here as NAME-TAG.tar")
    parser.add_argument(
        "--import",
        dest="import_",
        action="store_true",
        help="import them into the local cluster's containerd (devcluster.node)",
    )
    parser.add_argument(
        "--mirror",
        default=os.environ.get("KUBEDAG_DEBIAN_MIRROR") or DEFAULT_MIRROR,
        help=f"Debian mirror for debootstrap (default {DEFAULT_MIRROR})",
    )
    parser.add_argument(
        "--refresh", action="store_true", help="rebuild the layers even if they are cached"
    )
    args = parser.parse_args(argv)
    wanted = args.images or ["all"]
    unknown = sorted(set(wanted) - {*IMAGES, "all"})
    if unknown:
        parser.error(f"unknown image {', '.join(unknown)}: choose from {', '.join(IMAGES)}, all")
    args.images = list(IMAGES) if "all" in wanted else list(dict.fromkeys(wanted))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        images = build(args.images, mirror=args.mirror, refresh=args.refresh)
        paths = [export(image, args.out) if args.out else image.path for image in images]
        if args.import_:
            for image, path in zip(images, paths, strict=True):
                import_image(path)
                log(f"imported {image.spec.ref} into containerd")
    except PrerequisiteError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    log(f"done in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
