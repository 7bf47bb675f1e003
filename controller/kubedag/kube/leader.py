"""Leader election over a coordination.k8s.io Lease, so a second controller replica stays
idle while the first is active and takes over when the first stops renewing.

`decide` is the pure rule; `LeaderElector` does the I/O through kube.py.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kubedag.core.dates import parse_time
from kubedag.kube.client import ApiError, Kube

log = logging.getLogger(__name__)

LEASE_DURATION = timedelta(seconds=15)
RENEW_INTERVAL = timedelta(seconds=5)
RETRY_INTERVAL = timedelta(seconds=2)


def _micro(moment: datetime) -> str:
    """MicroTime, as the Lease API stores acquire and renew times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class LeaseView:
    holder: str | None
    renewed: datetime | None
    duration: timedelta
    transitions: int

    @classmethod
    def of(cls, lease: dict[str, Any]) -> "LeaseView":
        spec = lease.get("spec") or {}
        renewed = spec.get("renewTime")
        return cls(
            holder=spec.get("holderIdentity") or None,
            renewed=parse_time(renewed) if renewed else None,
            duration=timedelta(seconds=int(spec.get("leaseDurationSeconds") or 15)),
            transitions=int(spec.get("leaseTransitions") or 0),
        )


def decide(lease: LeaseView, me: str, now: datetime) -> bool:
    """May `me` take (or keep) the lease now? Yes if it holds it, nobody does, or the
    holder stopped renewing for longer than the lease duration."""
    if lease.holder in (None, me):
        return True
    return lease.renewed is None or now > lease.renewed + lease.duration


class LeaderElector:
    def __init__(self, kube: Kube, namespace: str, name: str, identity: str) -> None:
        self.kube = kube
        self.path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"
        self.collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self.namespace = namespace
        self.name = name
        self.identity = identity

    async def acquire(self) -> None:
        """Return once this process leads; until then it stays idle."""
        announced = False
        while not await self._try_take():
            if not announced:
                log.info("standing by: another replica holds lease %s", self.name)
                announced = True
            await asyncio.sleep(RETRY_INTERVAL.total_seconds())
        log.info("leading as %s (lease %s/%s)", self.identity, self.namespace, self.name)

    async def keep(self) -> None:
        """Renew until renewal fails for a whole lease duration; then return (lost)."""
        last_renewed = datetime.now(UTC)
        while True:
            await asyncio.sleep(RENEW_INTERVAL.total_seconds())
            try:
                if await self._try_take():
                    last_renewed = datetime.now(UTC)
                    continue
                log.error("lease %s was taken over", self.name)
                return
            except (ApiError, OSError) as error:
                log.warning("could not renew lease %s: %s", self.name, error)
            if datetime.now(UTC) - last_renewed > LEASE_DURATION:
                log.error("lease %s not renewed for %s", self.name, LEASE_DURATION)
                return

    async def release(self) -> None:
        """Hand the lease back on a clean stop, so a standby takes over at once instead of
        waiting for the lease to expire (client-go's ReleaseOnCancel)."""
        try:
            lease = await self.kube.get(self.path)
            if lease is None or LeaseView.of(lease).holder != self.identity:
                return
            lease["spec"] = {**lease["spec"], "holderIdentity": "", "leaseDurationSeconds": 1}
            await self.kube.request("PUT", self.path, lease)
            log.info("released lease %s", self.name)
        except (ApiError, OSError) as error:
            log.warning("could not release lease %s: %s", self.name, error)

    async def _try_take(self) -> bool:
        now = datetime.now(UTC)
        lease = await self.kube.get(self.path)
        if lease is None:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(now, acquired=now, transitions=0),
            }
            return await self.kube.create(self.collection, body) is not None
        view = LeaseView.of(lease)
        if not decide(view, self.identity, now):
            return False
        changed_hands = view.holder != self.identity
        acquired = now if changed_hands else None
        transitions = view.transitions + (1 if changed_hands and view.holder else 0)
        lease["spec"] = {**lease.get("spec", {}), **self._spec(now, acquired, transitions)}
        try:
            await self.kube.request("PUT", self.path, lease)
        except ApiError as error:
            if error.conflict:
                return False
            raise
        return True

    def _spec(self, now: datetime, acquired: datetime | None, transitions: int) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(LEASE_DURATION.total_seconds()),
            "renewTime": _micro(now),
            "leaseTransitions": transitions,
        }
        if acquired is not None:
            spec["acquireTime"] = _micro(acquired)
        return spec
