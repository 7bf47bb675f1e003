"""Leader election over the kubedag-controller Lease, so a second controller replica stays
idle while the first leads and takes over when the first stops renewing.

kubernetes.aio.leaderelection acquires and renews the Lease. This wrapper adds what it lacks:
a time bound on each Lease request, transport errors counted as a failed attempt, a create
that works, a line when standing by, and handing the Lease back on a clean stop (client-go's
ReleaseOnCancel).
"""

import asyncio
import logging
import time
from collections.abc import Awaitable
from contextlib import suppress
from http import HTTPStatus

from kubernetes.aio.client import ApiClient, ApiException, V1Lease, V1ObjectMeta
from kubernetes.aio.leaderelection.electionconfig import Config
from kubernetes.aio.leaderelection.leaderelection import LeaderElection
from kubernetes.aio.leaderelection.leaderelectionrecord import LeaderElectionRecord
from kubernetes.aio.leaderelection.resourcelock.leaselock import LeaseLock

from kubedag.kube import metrics
from kubedag.kube.transport import TRANSPORT_ERRORS

log = logging.getLogger(__name__)

# client-go's defaults. A standby takes an unrenewed Lease after LEASE_DURATION; the leader
# stops once renewals have failed for RENEW_DEADLINE; both retry every RETRY_PERIOD, which is
# also how often the leader renews. Whole seconds: the library writes the lease duration with
# str() and reads it back with int().
LEASE_DURATION = 15
RENEW_DEADLINE = 10
RETRY_PERIOD = 2
# The client's default is 5 minutes, during which the library would neither renew nor give
# up. With 1 s, a leader's last renewal attempt (a GET and a PUT) ends by RETRY_PERIOD +
# RENEW_DEADLINE + 2 s = 14 s after its last success: before a standby may take over.
REQUEST_TIMEOUT = 1.0
RELEASE_ATTEMPTS = 3


class BoundedLeaseLock(LeaseLock):
    """The library's Lease lock with each request bounded in time, and with transport errors
    reported as a failed attempt: the library handles only ApiException, and anything else
    ends its loop (a leader would stop on one dropped connection)."""

    async def get(
        self, name: str, namespace: str
    ) -> tuple[bool, LeaderElectionRecord] | tuple[bool, Exception] | tuple[bool, None]:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                found = await super().get(name, namespace)
        except TRANSPORT_ERRORS as error:
            metrics.record("get", "leases", metrics.NO_RESPONSE, time.perf_counter() - started)
            # The library retries on any ApiException but a clean 404.
            return False, ApiException(status=0, reason=f"{type(error).__name__}: {error}")
        failure = found[1] if isinstance(found[1], ApiException) else None
        code = (failure.status or metrics.NO_RESPONSE) if failure else HTTPStatus.OK.value
        metrics.record("get", "leases", code, time.perf_counter() - started)
        return found

    async def create(
        self, name: str, namespace: str, election_record: LeaderElectionRecord
    ) -> bool:
        # Not the library's: it passes pretty=True, which the generated API rejects (it wants a
        # string) before sending anything, so it never creates the Lease (kubernetes 37.0.0-37.0.2).
        lease = V1Lease(metadata=V1ObjectMeta(name=name), spec=self.update_lease(election_record))

        async def create_lease() -> bool:
            await self.api_instance.create_namespaced_lease(namespace, lease)
            return True

        return await self._attempt("create", create_lease(), HTTPStatus.CREATED)

    async def update(self, name: str, namespace: str, updated_record: LeaderElectionRecord) -> bool:
        # The library's, without its catch of ApiException: `_attempt` sees the status code
        # (kubedag_kube_requests_total) and logs it.
        lease = self.lease_reference
        if lease is None:
            return False

        async def replace_lease() -> bool:
            lease.spec = self.update_lease(updated_record, lease.spec)
            await self.api_instance.replace_namespaced_lease(
                name=name, namespace=namespace, body=lease
            )
            return True

        return await self._attempt("update", replace_lease())

    async def _attempt(
        self, what: str, request: Awaitable[bool], success: HTTPStatus = HTTPStatus.OK
    ) -> bool:
        started = time.perf_counter()
        code: int | str = metrics.NO_RESPONSE
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                done = await request
            code = success.value
            return done
        except ApiException as error:
            code = error.status or metrics.NO_RESPONSE
            log.warning("could not %s lease %s: %r", what, self.name, error)
            return False
        except TRANSPORT_ERRORS as error:
            log.warning("could not %s lease %s: %r", what, self.name, error)
            return False
        finally:
            metrics.record(what, "leases", code, time.perf_counter() - started)

    def holder(self) -> str | None:
        """The holder seen by the last successful read."""
        lease = self.lease_reference
        return (lease.spec.holder_identity or None) if lease and lease.spec else None


class LeaderElector:
    def __init__(self, api_client: ApiClient, namespace: str, name: str, identity: str) -> None:
        self.lock = BoundedLeaseLock(name, namespace, identity, api_client)
        self._leading = asyncio.Event()
        self._election: asyncio.Task[None] | None = None

    async def acquire(self) -> None:
        """Return once this process leads; until then it stays idle."""

        async def started_leading() -> None:
            metrics.LEADER.set(1)
            self._leading.set()

        async def stopped_leading() -> None:
            metrics.LEADER.set(0)
            log.error("lease %s lost: not renewed for %d s", self.lock.name, RENEW_DEADLINE)

        config = Config(
            self.lock,
            lease_duration=LEASE_DURATION,
            renew_deadline=RENEW_DEADLINE,
            retry_period=RETRY_PERIOD,
            onstarted_leading=started_leading,
            onstopped_leading=stopped_leading,
        )
        election = self._election = asyncio.create_task(LeaderElection(config).run())
        leading = asyncio.create_task(self._leading.wait())
        announced = False
        while not leading.done():
            await asyncio.wait(
                {leading, election}, timeout=RETRY_PERIOD, return_when=asyncio.FIRST_COMPLETED
            )
            if election.done() and not leading.done():
                leading.cancel()
                election.result()  # raises what ended it
                raise RuntimeError("leader election ended before leading")
            if not announced and not leading.done():
                log.info("standing by: %s holds lease %s", self.lock.holder(), self.lock.name)
                announced = True
        log.info(
            "leading as %s (lease %s/%s)", self.lock.identity, self.lock.namespace, self.lock.name
        )

    async def keep(self) -> None:
        """Return when leadership is lost: renewals failed for RENEW_DEADLINE."""
        assert self._election is not None, "acquire() first"
        await asyncio.shield(self._election)

    async def release(self) -> None:
        """Stop renewing and hand the lease back, so a standby takes over at once instead of
        waiting for the lease to expire: holder emptied, duration 1 s (as client-go does)."""
        metrics.LEADER.set(0)
        if self._election is not None:
            self._election.cancel()
            with suppress(asyncio.CancelledError):
                await self._election
        # A renewal cancelled in flight may still reach the API server after the read
        # below: our write then meets a Conflict, and the lease, renewed by us, is read again.
        for _ in range(RELEASE_ATTEMPTS):
            read, _ = await self.lock.get(self.lock.name, self.lock.namespace)
            lease = self.lock.lease_reference
            if not read or lease is None or lease.spec is None:
                return
            if lease.spec.holder_identity != self.lock.identity:
                return
            lease.spec.holder_identity = ""
            lease.spec.lease_duration_seconds = 1
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    await self.lock.api_instance.replace_namespaced_lease(
                        self.lock.name, self.lock.namespace, lease
                    )
                log.info("released lease %s", self.lock.name)
                return
            except ApiException as error:
                if error.status != HTTPStatus.CONFLICT:
                    log.warning("could not release lease %s: %r", self.lock.name, error)
                    return
            except TRANSPORT_ERRORS as error:
                log.warning("could not release lease %s: %r", self.lock.name, error)
                return
        log.warning("could not release lease %s: it kept changing", self.lock.name)
