"""Sending notifications, off the reconcile path: each pending notification of a run's
outbox becomes a task of its own that reads the URL from its Secret, posts, and retries with
backoff; a run pass only hands entries over and never waits for an endpoint. When sending
ends (a 2xx, or given up), the outcome is kept here and the run is woken to record it in its
status (the run's worker is the only writer of its status).

The URL is a secret: it is never logged, and a failure is described without it (the
exception's type, the HTTP status), since an exception's text often quotes the URL."""

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import aiohttp

from kubedag.core.outbox import OutboxKey, Outcome, unsettled_outcomes
from kubedag.kube.client import ApiError, Kube, core_path
from kubedag.manifests.notifications import RunFacts, slack_payload, webhook_payload
from kubedag.manifests.render import CONTAINER_NAME
from kubedag.models.notifications import Notification, Notifier, SecretKeyRef
from kubedag.reconcilers.caches import NamespacedName
from kubedag.reconcilers.settings import ControllerSettings

log = logging.getLogger(__name__)

SECRET_TTL = 30.0  # seconds a URL read from a Secret is used before it is read again
MAX_BACKOFF = 300.0


class SendFailed(Exception):
    """Why one attempt failed, in words that never contain the URL."""


def describe(error: BaseException) -> str:
    """An exception, without its text (which may quote the URL)."""
    if isinstance(error, aiohttp.ClientConnectorError):
        return f"cannot connect ({error.os_error.strerror or type(error.os_error).__name__})"
    if isinstance(error, asyncio.TimeoutError):
        return "timed out"
    return type(error).__name__


class SecretUrls:
    """URLs read from Secrets (a GET each, kept SECRET_TTL seconds: a rotated URL is used
    soon, and a burst of notifications costs one read)."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._read: dict[tuple[str, str, str], tuple[str, float]] = {}

    async def url(self, namespace: str, ref: SecretKeyRef) -> str:
        import base64

        key = (namespace, ref.name, ref.key)
        cached = self._read.get(key)
        if cached is not None and time.monotonic() - cached[1] < SECRET_TTL:
            return cached[0]
        try:
            secret = await self.kube.get(core_path("secrets", namespace, ref.name))
        except ApiError as error:
            raise SendFailed(f"cannot read Secret {namespace}/{ref.name}: {error.status}") from None
        if secret is None:
            raise SendFailed(f"Secret {namespace}/{ref.name} not found")
        data = (secret.get("data") or {}).get(ref.key)
        if data is None:
            raise SendFailed(f"Secret {namespace}/{ref.name} has no key {ref.key!r}")
        url = base64.b64decode(data).decode(errors="replace").strip()
        if not url.startswith(("http://", "https://")):
            raise SendFailed(f"Secret {namespace}/{ref.name} key {ref.key!r} is not an http(s) URL")
        self._read[key] = (url, time.monotonic())
        return url

    def __len__(self) -> int:
        return len(self._read)


class NotificationSender:
    def __init__(
        self,
        kube: Kube,
        settings: ControllerSettings,
        wake_run: Callable[[NamespacedName], None],
        now: Callable[[], datetime],
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.wake_run = wake_run
        self.now = now
        self.urls = SecretUrls(kube)
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._sending: dict[NamespacedName, dict[OutboxKey, asyncio.Task[None]]] = {}
        self._outcomes: dict[NamespacedName, dict[OutboxKey, Outcome]] = {}

    # What the run reconciler asks --------------------------------------------------------

    def offer(
        self,
        key: NamespacedName,
        facts: RunFacts,
        entries: Iterable[Notification],
        notifier_of: Callable[[Notification], Notifier | None],
    ) -> None:
        """Send these pending entries (recorded in the run's stored status), unless being
        sent already or their outcome waits to be recorded."""
        sending = self._sending.get(key, {})
        done = self._outcomes.get(key, {})
        for entry in entries:
            outbox_key = (entry.id, entry.notifier)
            if outbox_key in sending or outbox_key in done:
                continue
            notifier = notifier_of(entry)
            if notifier is None:  # the snapshot has no such notifier: nothing can send it
                self._settle(key, outbox_key, Outcome(failed="no such notifier"))
                continue
            task = asyncio.get_running_loop().create_task(
                self._deliver(key, facts, entry, notifier)
            )
            self._sending.setdefault(key, {})[outbox_key] = task

    def outcomes(self, key: NamespacedName) -> dict[OutboxKey, Outcome]:
        return dict(self._outcomes.get(key, {}))

    def acknowledge(self, key: NamespacedName, stored: Iterable[Mapping[str, Any]]) -> None:
        """Forget the outcomes the run's stored outbox shows (or no longer needs)."""
        outcomes = self._outcomes.get(key)
        if not outcomes:
            return
        left = unsettled_outcomes(stored, outcomes)
        if left:
            self._outcomes[key] = left
        else:
            del self._outcomes[key]

    def forget(self, key: NamespacedName) -> None:
        """The run is gone: stop sending its notifications."""
        for task in self._sending.pop(key, {}).values():
            task.cancel()
        self._outcomes.pop(key, None)

    async def stop(self) -> None:
        tasks = [t for sending in self._sending.values() for t in sending.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._sending.clear()
        if self._session is not None:
            await self._session.close()

    def sizes(self) -> dict[str, int]:
        return {
            "notifications_sending": sum(len(s) for s in self._sending.values()),
            "notification_outcomes": sum(len(o) for o in self._outcomes.values()),
            "notification_urls": len(self.urls),
        }

    # Sending -----------------------------------------------------------------------------

    async def _deliver(
        self, key: NamespacedName, facts: RunFacts, entry: Notification, notifier: Notifier
    ) -> None:
        attempts = self.settings.notify_attempts
        reason = ""
        for attempt in range(1, attempts + 1):
            try:
                await self._send(facts, entry, notifier)
                outcome = Outcome(delivered=self.now())
                break
            except SendFailed as error:
                reason = str(error)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # any failure is one failed attempt
                reason = describe(error)
            log.info(
                "notification %s (%s, %s) of run %s/%s: attempt %d of %d failed: %s",
                entry.id,
                entry.event.value,
                entry.notifier,
                key[0],
                key[1],
                attempt,
                attempts,
                reason,
            )
            if attempt < attempts:
                await asyncio.sleep(
                    min(self.settings.notify_backoff * 2 ** (attempt - 1), MAX_BACKOFF)
                )
        else:
            outcome = Outcome(failed=f"{attempts} attempts failed, the last: {reason}")
        sending = self._sending.get(key)
        if sending is None:
            return  # the run was forgotten meanwhile
        sending.pop((entry.id, entry.notifier), None)
        if not sending:
            del self._sending[key]
        self._settle(key, (entry.id, entry.notifier), outcome)

    def _settle(self, key: NamespacedName, outbox_key: OutboxKey, outcome: Outcome) -> None:
        self._outcomes.setdefault(key, {})[outbox_key] = outcome
        self.wake_run(key)

    async def _send(self, facts: RunFacts, entry: Notification, notifier: Notifier) -> None:
        url = await self.urls.url(facts.namespace, notifier.secret_key_ref)
        tail = await self._log_tail(facts.namespace, entry, notifier.log_tail_lines or 0)
        render = slack_payload if notifier.type == "slack" else webhook_payload
        headers = {"Idempotency-Key": entry.id, "User-Agent": "kubedag-controller"}
        if self._session is None:
            self._session = aiohttp.ClientSession(trust_env=False)
            self._slots = asyncio.Semaphore(self.settings.notify_concurrency)
        assert self._slots is not None
        timeout = aiohttp.ClientTimeout(total=self.settings.notify_timeout)
        async with (
            self._slots,
            self._session.post(
                url, json=render(facts, entry, tail), headers=headers, timeout=timeout
            ) as response,
        ):
            if not 200 <= response.status < 300:
                raise SendFailed(f"HTTP {response.status}")

    async def _log_tail(self, namespace: str, entry: Notification, lines: int) -> str | None:
        if lines <= 0 or entry.pod is None:
            return None
        try:
            return await self.kube.pod_log_tail(
                namespace, entry.pod, container=CONTAINER_NAME, lines=lines
            )
        except ApiError as error:
            return f"(no log: {error.status} {error.reason})"
