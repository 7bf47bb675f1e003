"""What the leader-election wrapper adds to kubernetes.aio.leaderelection: timings that keep a
failing leader from overlapping its successor, and Lease requests that fail instead of hanging
or raising. The election against a real API server is in tests/integration/test_leader.py."""

import asyncio
from typing import Any, NoReturn

import aiohttp
import pytest
from kubernetes.aio.client import (
    ApiClient,
    ApiException,
    Configuration,
    V1Lease,
    V1LeaseSpec,
    V1ObjectMeta,
)
from kubernetes.aio.leaderelection.electionconfig import Config
from kubernetes.aio.leaderelection.leaderelectionrecord import LeaderElectionRecord

from kubedag.kube import leader
from kubedag.kube.leader import BoundedLeaseLock


async def _nothing() -> None:
    return None


def test_the_library_accepts_the_timings() -> None:
    config = Config(
        BoundedLeaseLock("lease", "ns", "me", ApiClient(Configuration())),
        leader.LEASE_DURATION,
        leader.RENEW_DEADLINE,
        leader.RETRY_PERIOD,
        onstarted_leading=_nothing,
        onstopped_leading=_nothing,
    )
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == (15, 10, 2)


def test_a_failing_leader_gives_up_before_a_standby_may_take_over() -> None:
    # After its last renewal the leader waits a retry period, retries until the renew deadline,
    # and its last attempt (a GET and a PUT) may take two request timeouts.
    last_attempt_ends = leader.RETRY_PERIOD + leader.RENEW_DEADLINE + 2 * leader.REQUEST_TIMEOUT
    assert last_attempt_ends < leader.LEASE_DURATION


class _Unreachable:
    async def read_namespaced_lease(self, *_: Any) -> NoReturn:
        raise aiohttp.ClientConnectionError("connection refused")

    async def create_namespaced_lease(self, *_: Any, **__: Any) -> NoReturn:
        raise ConnectionResetError("reset by peer")

    async def replace_namespaced_lease(self, **_: Any) -> None:
        await asyncio.sleep(3600)


def _unreachable_lock() -> BoundedLeaseLock:
    lock = BoundedLeaseLock("lease", "ns", "me", ApiClient(Configuration()))
    lock.api_instance = _Unreachable()  # type: ignore[assignment]
    return lock


RECORD = LeaderElectionRecord(
    "me", "15", "2026-01-01 12:00:00.000001", "2026-01-01 12:00:00.000001"
)


def test_a_transport_error_on_read_is_a_failed_attempt_the_library_retries() -> None:
    read, error = asyncio.run(_unreachable_lock().get("lease", "ns"))
    assert read is False
    # Not a clean 404 (that would make the library create the lease): it retries later.
    assert isinstance(error, ApiException) and error.body is None
    assert "connection refused" in str(error.reason)


def test_a_transport_error_on_create_is_a_failed_attempt() -> None:
    assert asyncio.run(_unreachable_lock().create("lease", "ns", RECORD)) is False


def test_a_hanging_request_fails_after_the_request_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leader, "REQUEST_TIMEOUT", 0.05)
    lock = _unreachable_lock()
    lock.lease_reference = V1Lease(metadata=V1ObjectMeta(name="lease"), spec=V1LeaseSpec())

    async def timed() -> tuple[bool, float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        updated = await lock.update("lease", "ns", RECORD)
        return updated, loop.time() - started

    updated, took = asyncio.run(timed())
    assert updated is False
    assert took < 1


class _RenewedMeanwhile:
    """A Lease that a renewal, cancelled in flight, still updates after the release's read:
    the release's first write meets a Conflict."""

    def __init__(self) -> None:
        self.version = 1
        self.replaced: list[str] = []

    def _lease(self) -> V1Lease:
        return V1Lease(
            metadata=V1ObjectMeta(name="lease", namespace="ns", resource_version=str(self.version)),
            spec=V1LeaseSpec(holder_identity="me", lease_duration_seconds=15),
        )

    async def read_namespaced_lease(self, *_: Any) -> V1Lease:
        return self._lease()

    async def replace_namespaced_lease(self, name: str, namespace: str, body: V1Lease) -> V1Lease:
        if self.version == 1:
            self.version = 2  # the late renewal landed first
            raise ApiException(status=409, reason="Conflict")
        self.replaced.append(body.spec.holder_identity)
        return body


def test_a_release_that_meets_a_late_renewal_reads_again_and_releases() -> None:
    elector = leader.LeaderElector(ApiClient(Configuration()), "ns", "lease", "me")
    api = _RenewedMeanwhile()
    elector.lock.api_instance = api  # type: ignore[assignment]
    asyncio.run(elector.release())
    assert api.replaced == [""]
