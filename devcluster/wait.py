"""The one polling loop of the development cluster, its tests and the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """``wait_for`` gave up; the message names what never happened and the last problem seen."""

    def __init__(self, what: str, timeout: float, last_problem: str) -> None:
        super().__init__(f"timed out after {timeout:.0f}s waiting for {what} ({last_problem})")
        self.what = what
        self.last_problem = last_problem


def wait_for(
    check: Callable[[], T | None],
    what: str,
    timeout: float = 60.0,
    *,
    interval: float = 0.25,
    tolerate: tuple[type[Exception], ...] = (),
) -> T:
    """Call ``check`` until it returns something truthy, and return that value.

    An exception of a ``tolerate`` type counts as "not yet" (it is named in the timeout
    message); any other exception propagates at once, so a check can also fail fast (a dead
    process, a pod that cannot start). Raises ``WaitTimeout`` after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    last_problem = "not checked yet"
    while True:
        try:
            value = check()
        except tolerate as error:
            last_problem = describe(error)
        else:
            if value:
                return value
            last_problem = f"last seen: {value!r}"
        if time.monotonic() > deadline:
            raise WaitTimeout(what, timeout, last_problem)
        time.sleep(interval)


def describe(error: Exception) -> str:
    """One line for an error seen while waiting; an API error's status and failed checks."""
    status, body = getattr(error, "status", None), getattr(error, "body", None)
    if isinstance(status, int) and body:
        text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
        failed = [line for line in text.splitlines() if line.startswith("[-]")]
        return f"HTTP {status}: {'; '.join(failed) or ' '.join(text.split())[:300]}"
    return f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
