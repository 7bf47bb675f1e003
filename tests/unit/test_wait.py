"""devcluster.wait.wait_for: the one polling loop of the cluster, the tests and the bench."""

from __future__ import annotations

import pytest

from devcluster.wait import WaitTimeout, wait_for


def test_returns_the_first_truthy_value() -> None:
    answers = iter([None, 0, "", "ready"])
    assert wait_for(lambda: next(answers), "an answer", timeout=5, interval=0) == "ready"


def test_tolerated_errors_count_as_not_yet_and_name_the_last_one() -> None:
    def refused() -> bool:
        raise ConnectionRefusedError("connection refused")

    with pytest.raises(WaitTimeout) as timeout:
        wait_for(refused, "the server", timeout=0.05, interval=0.01, tolerate=(OSError,))
    message = str(timeout.value)
    assert message.startswith("timed out after 0s waiting for the server")
    assert "ConnectionRefusedError: connection refused" in message
    assert isinstance(timeout.value, TimeoutError)


def test_an_api_error_is_described_by_its_status_and_failed_checks() -> None:
    class ApiError(Exception):
        status = 500
        body = "[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed"

    def not_ready() -> bool:
        raise ApiError("(500)")

    with pytest.raises(WaitTimeout, match=r"HTTP 500: \[-\]etcd failed: reason withheld"):
        wait_for(not_ready, "readyz", timeout=0.01, interval=0.01, tolerate=(ApiError,))


def test_other_errors_propagate_at_once() -> None:
    calls = []

    def broken() -> bool:
        calls.append(1)
        raise RuntimeError("the process died")

    with pytest.raises(RuntimeError, match="the process died"):
        wait_for(broken, "anything", timeout=5, tolerate=(OSError,))
    assert calls == [1]


def test_the_last_falsy_value_is_named_at_the_timeout() -> None:
    with pytest.raises(WaitTimeout, match=r"last seen: \[\]"):
        wait_for(list, "a non-empty list", timeout=0.01, interval=0.005)
