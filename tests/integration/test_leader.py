"""Leader election against a real kube-apiserver: one leader, a standby that waits, a hand-over
on a clean stop, and a leader that stops when it can no longer renew."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from kubedag.kube import leader
from kubedag.kube.client import Kube
from kubedag.kube.leader import LeaderElector

LEASE = "kubedag-controller"


@asynccontextmanager
async def _connected(kubeconfig: str) -> AsyncIterator[Kube]:
    kube = await Kube.connect(kubeconfig)
    try:
        yield kube
    finally:
        await kube.close()


async def _lease(kube: Kube, namespace: str) -> dict[str, Any]:
    lease = await kube.get(f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{LEASE}")
    assert lease is not None
    return lease


def test_a_standby_waits_and_takes_over_at_once_when_the_leader_releases(
    kubeconfig: str, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kubedag.kube.leader")

    async def scenario() -> None:
        async with _connected(kubeconfig) as kube:
            first = LeaderElector(kube.api_client, namespace, LEASE, "first")
            second = LeaderElector(kube.api_client, namespace, LEASE, "second")
            await asyncio.wait_for(first.acquire(), timeout=10)
            assert (await _lease(kube, namespace))["spec"]["holderIdentity"] == "first"

            standby = asyncio.create_task(second.acquire())
            await asyncio.sleep(leader.RETRY_PERIOD * 2)
            assert not standby.done()
            assert "standing by: first holds lease kubedag-controller" in caplog.text

            released = asyncio.get_running_loop().time()
            await first.release()
            # Not after the 15 s lease duration: at the standby's next attempt.
            await asyncio.wait_for(standby, timeout=leader.RETRY_PERIOD + 2)
            assert asyncio.get_running_loop().time() - released < leader.LEASE_DURATION
            spec = (await _lease(kube, namespace))["spec"]
            assert spec["holderIdentity"] == "second"
            assert spec["leaseDurationSeconds"] == 15
            await second.release()
            assert (await _lease(kube, namespace))["spec"].get("holderIdentity") in (None, "")

    asyncio.run(scenario())


def test_a_leader_that_cannot_renew_stops_and_leaves_the_lease_alone(
    kubeconfig: str, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Shorter than the real timings, with the same ordering.
    monkeypatch.setattr(leader, "LEASE_DURATION", 4)
    monkeypatch.setattr(leader, "RENEW_DEADLINE", 3)
    monkeypatch.setattr(leader, "RETRY_PERIOD", 1)

    async def scenario() -> None:
        async with _connected(kubeconfig) as kube:
            elector = LeaderElector(kube.api_client, namespace, LEASE, "me")
            await asyncio.wait_for(elector.acquire(), timeout=10)
            keep = asyncio.create_task(elector.keep())
            await asyncio.sleep(1.5)
            assert not keep.done()
            # Another holder appears with a fresh renewal: this one's renewals now fail.
            path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{LEASE}"
            lease = await _lease(kube, namespace)
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            lease["spec"].update(holderIdentity="intruder", renewTime=now, acquireTime=now)
            await kube.request("PUT", path, lease)
            await asyncio.wait_for(keep, timeout=3.0 + 1.0 + 2 * leader.REQUEST_TIMEOUT + 1)
            await elector.release()
            assert (await _lease(kube, namespace))["spec"]["holderIdentity"] == "intruder"

    asyncio.run(scenario())
