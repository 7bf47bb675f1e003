"""Child processes of the test session that cannot outlive it.

Each ``ManagedProcess`` runs in its own session/process group with stdout and stderr appended to
a log file. ``stop()`` sends SIGTERM to the whole group, then SIGKILL after a grace period. Every
process still running when the interpreter exits is stopped by an ``atexit`` hook, and on Linux
the kernel also SIGKILLs it when the test process dies abruptly (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

_PR_SET_PDEATHSIG = 1
_live: set[ManagedProcess] = set()
_live_lock = threading.Lock()


def _stop_all_at_exit() -> None:
    with _live_lock:
        processes = list(_live)
    for process in processes:
        process.stop()


atexit.register(_stop_all_at_exit)


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` making the kernel SIGKILL the child when this process dies (Linux).

    The death signal follows the *thread* that forked the child, so it is only used from the
    main thread, which lives as long as the process.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # resolved before fork, not in the child
    prctl = libc.prctl
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the death signal was armed
            os._exit(1)

    return hook


class ManagedProcess:
    """One long-running command with its output in ``log_path``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str | os.PathLike[str]],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = [os.fspath(arg) for arg in argv]
        self.log_path = log_path
        self._env = dict(env) if env is not None else None
        self._cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, pid={self.pid}, log={str(self.log_path)!r})"

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    def start(self) -> None:
        if self._popen is not None:
            raise RuntimeError(f"{self.name} was already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._log.write(f"==> {' '.join(self.argv)}\n".encode())
        self._log.flush()
        with _live_lock:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=self._env,
                cwd=self._cwd,
                start_new_session=True,  # own process group: stop() kills the whole group
                preexec_fn=_die_with_parent_hook(),
            )
            _live.add(self)

    def returncode(self) -> int | None:
        """None while running (or never started), else the exit status."""
        return self._popen.poll() if self._popen is not None else None

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def stop(self, grace_period: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace_period`` seconds. Idempotent."""
        popen = self._popen
        if popen is not None:
            self._signal_group(popen, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=grace_period)
            # SIGKILL the group even after a clean exit of the leader: children it left behind.
            self._signal_group(popen, signal.SIGKILL)
            popen.wait()
        with _live_lock:
            _live.discard(self)
        if self._log is not None:
            self._log.close()
            self._log = None

    @staticmethod
    def _signal_group(popen: subprocess.Popen[bytes], signum: int) -> None:
        # start_new_session=True: the group id is the leader's pid.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(popen.pid, signum)

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the log (for error messages)."""
        try:
            data = self.log_path.read_bytes()
        except OSError as error:
            return f"<cannot read {self.log_path}: {error}>"
        text = data[-256 * 1024 :].decode("utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])
