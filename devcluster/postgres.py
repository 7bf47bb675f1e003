"""A throwaway PostgreSQL server for the task toolkit's tests and load benchmark.

Debian's PostgreSQL binaries at the version pinned in ``hack/versions.env``, unpacked into the
cache by ``hack/fetch-postgresql.sh`` (run here the first time). ``Postgres`` makes a data
directory in a temporary folder with ``initdb`` and serves it on a Unix socket in that folder
only (no TCP port to collide with), with a password (scram-sha-256) as a real warehouse would
have. PostgreSQL refuses to run as root, so as root the server runs as ``nobody``, on a
hard-linked copy of the binaries outside ``/root`` (which ``nobody`` cannot enter).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from devcluster.process import ManagedProcess
from devcluster.versions import REPO_ROOT, cache_dir, pinned_versions

FETCH_SCRIPT = REPO_ROOT / "hack" / "fetch-postgresql.sh"
SUPERUSER = "postgres"
PORT = 5432  # on the Unix socket only: names the socket file, never bound on TCP


class PostgresUnavailableError(RuntimeError):
    """The PostgreSQL binaries could not be fetched or the server did not start."""


def install_root() -> Path:
    """Where the pinned PostgreSQL is unpacked (``<cache>/postgresql-<version>``)."""
    return cache_dir() / f"postgresql-{pinned_versions()['POSTGRESQL_VERSION']}"


def bin_dir(root: Path | None = None) -> Path:
    major = pinned_versions()["POSTGRESQL_MAJOR"]
    return (root or install_root()) / "usr" / "lib" / "postgresql" / major / "bin"


def ensure_postgresql() -> Path:
    """The unpacked PostgreSQL's root, fetched with hack/fetch-postgresql.sh when missing."""
    root = install_root()
    if (root / ".complete").is_file():
        return root
    print(
        f"\nkubedag: fetching PostgreSQL with {FETCH_SCRIPT.relative_to(REPO_ROOT)}",
        file=sys.__stderr__,
        flush=True,
    )
    result = subprocess.run(
        ["bash", str(FETCH_SCRIPT)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not (root / ".complete").is_file():
        tail = "\n".join(result.stderr.splitlines()[-20:])
        raise PostgresUnavailableError(
            f"{FETCH_SCRIPT.relative_to(REPO_ROOT)} failed (exit {result.returncode}):\n{tail}"
        )
    return root


class Postgres:
    """A PostgreSQL server in ``workdir`` (which it owns), up between ``start`` and ``stop``."""

    def __init__(self, workdir: Path, *, settings: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.password = secrets.token_urlsafe(18)
        self.settings = {
            # A test server: durability buys nothing here and costs every commit an fsync.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            **(settings or {}),
        }
        self._process: ManagedProcess | None = None
        self._run_as: list[str] = []
        self.rundir = workdir  # where the data, the socket and (as root) the binaries are

    @property
    def socket_dir(self) -> Path:
        return self.rundir / "socket"

    def env(self, prefix: str = "KUBEDAG_CONN_WAREHOUSE_") -> dict[str, str]:
        """The connection as the task toolkit reads it from a Secret's keys under ``prefix``."""
        return {
            f"{prefix}HOST": str(self.socket_dir),
            f"{prefix}PORT": str(PORT),
            f"{prefix}DBNAME": "postgres",
            f"{prefix}USER": SUPERUSER,
            f"{prefix}PASSWORD": self.password,
        }

    def conninfo(self) -> str:
        """A libpq connection string for the tests' own connections."""
        return (
            f"host={self.socket_dir} port={PORT} dbname=postgres user={SUPERUSER} "
            f"password={self.password}"
        )

    def start(self, timeout: float = 120.0) -> None:
        root = ensure_postgresql()
        self.workdir.mkdir(parents=True, exist_ok=True)
        owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            # As root, the server runs as nobody, who must reach its files: pytest's and many
            # callers' temporary folders are private (0700), so it gets a folder of its own.
            self.rundir = Path(tempfile.mkdtemp(prefix="kubedag-postgres-"))
            self.rundir.chmod(0o711)
            owner = pwd.getpwnam("nobody")
            root = self._copy_outside_root(root)
            self._run_as = [
                "setpriv",
                f"--reuid={owner.pw_uid}",
                f"--regid={owner.pw_gid}",
                "--clear-groups",
                # The uid change clears ManagedProcess's death signal: set it again.
                "--pdeathsig=SIGKILL",
            ]
        data = self.rundir / "data"
        password_file = self.rundir / "password"
        password_file.write_text(self.password + "\n")
        self.socket_dir.mkdir(exist_ok=True)
        data.mkdir(exist_ok=True)
        if owner is not None:
            for path in (data, self.socket_dir, password_file):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LD_LIBRARY_PATH": str(root / "usr" / "lib" / "x86_64-linux-gnu"),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
        }
        binaries = bin_dir(root)
        initdb = subprocess.run(
            [
                *self._run_as,
                str(binaries / "initdb"),
                f"--pgdata={data}",
                f"--username={SUPERUSER}",
                f"--pwfile={password_file}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        password_file.unlink()
        if initdb.returncode != 0:
            raise PostgresUnavailableError(f"initdb failed:\n{initdb.stdout}\n{initdb.stderr}")
        options = [f"--{name}={value}" for name, value in self.settings.items()]
        self._process = ManagedProcess(
            "postgres",
            [
                *self._run_as,
                binaries / "postgres",
                "-D",
                data,
                "-k",
                self.socket_dir,
                "-p",
                str(PORT),
                "--listen_addresses=",
                *options,
            ],
            self.workdir / "postgres.log",
            env=env,
        )
        self._process.start()
        self._wait_ready(timeout)

    def _copy_outside_root(self, root: Path) -> Path:
        copy = self.rundir / "install"
        if not copy.exists():
            try:
                shutil.copytree(root, copy, copy_function=os.link, symlinks=True)
            except OSError:  # another filesystem: a real copy
                shutil.rmtree(copy, ignore_errors=True)
                shutil.copytree(root, copy, symlinks=True)
        return copy

    def _wait_ready(self, timeout: float) -> None:
        socket = self.socket_dir / f".s.PGSQL.{PORT}"
        deadline = time.monotonic() + timeout
        assert self._process is not None
        while time.monotonic() < deadline:
            if not self._process.running:
                raise PostgresUnavailableError(f"postgres exited:\n{self._process.log_tail()}")
            if socket.exists() and "ready to accept connections" in self._process.log_tail(400):
                return
            time.sleep(0.05)
        raise PostgresUnavailableError(
            f"postgres not ready after {timeout:.0f} s:\n{self._process.log_tail()}"
        )

    def stop(self) -> None:
        """A fast shutdown (SIGINT: open sessions are ended), then the group is reaped."""
        process = self._process
        if process is None:
            return
        if process.pid is not None and process.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGINT)
            deadline = time.monotonic() + 15
            while process.running and time.monotonic() < deadline:
                time.sleep(0.05)
        process.stop(grace_period=5)
        self._process = None
        if self.rundir != self.workdir:
            shutil.rmtree(self.rundir, ignore_errors=True)

    def __enter__(self) -> Postgres:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
