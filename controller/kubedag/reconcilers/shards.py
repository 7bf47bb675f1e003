"""A shard's namespaces, kept in step with the Namespaces' `kubedag.io/shard` labels: a list,
then a watch from its resourceVersion (again from a fresh list when the watch ends or its
version is too old). The operator watches the namespaces the shard owns; when they change,
`changed` returns and the operator is started again over the new set."""

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from typing import Any

from prometheus_client import Gauge

from kubedag.core.sharding import SHARD_LABEL, ShardPlan, ShardSurvey, survey
from kubedag.kube.client import ApiError, Kube
from kubedag.kube.watch import watch_events

log = logging.getLogger(__name__)

NAMESPACES = "/api/v1/namespaces"
RETRY_SECONDS = 2.0
SETTLE = 0.5  # seconds without news of this shard's namespaces before starting over them
SETTLE_AT_MOST = 5.0

SHARD_NAMESPACES = Gauge(
    "kubedag_shard_namespaces",
    "Namespaces each shard handles, as this shard sees their kubedag.io/shard labels",
    ["shard"],
    registry=None,
)
UNOWNED_NAMESPACES = Gauge(
    "kubedag_shard_unowned_namespaces",
    "Namespaces labelled kubedag.io/shard for a shard that does not exist: no shard handles "
    "them (the controller's log names them)",
    registry=None,
)
RECORDED = (SHARD_NAMESPACES, UNOWNED_NAMESPACES)


class NamespaceMembership:
    """Which namespaces this shard owns, from a list and a watch of every Namespace."""

    def __init__(self, kube: Kube, plan: ShardPlan, me: str) -> None:
        self.kube = kube
        self.plan = plan
        self.me = me
        self.labels: dict[str, Mapping[str, str]] = {}
        self.survey = survey(plan, me, {})
        self._version = ""
        self._news = asyncio.Event()
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> ShardSurvey:
        """List the namespaces, then keep watching them."""
        try:
            await self._list()
        except ApiError as error:
            log.error(
                "shard %s cannot list the namespaces (%s): a shard reads their %s labels; the"
                " chart grants get, list and watch of namespaces when `shards` is set",
                self.me,
                error,
                SHARD_LABEL,
            )
            raise
        self._watch = asyncio.create_task(self._keep_watching(), name="namespace watch")
        return self.survey

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)

    async def changed(self, owned: frozenset[str]) -> ShardSurvey:
        """Return once this shard's namespaces are no longer `owned`, and the labels have
        been quiet for SETTLE seconds: relabelling many namespaces (`kubectl label ns -l
        ...`) arrives as one event per namespace, and costs one restart, not one each."""
        while self.survey.owned == owned:
            self._news.clear()
            await self._news.wait()
        self._news.clear()
        with suppress(TimeoutError):
            async with asyncio.timeout(SETTLE_AT_MOST):
                while await _within(self._news.wait(), SETTLE):
                    self._news.clear()
        return self.survey

    def _resurvey(self) -> None:
        before = self.survey
        self.survey = survey(self.plan, self.me, self.labels)
        for shard, count in self.survey.by_shard.items():
            SHARD_NAMESPACES.labels(shard).set(count)
        UNOWNED_NAMESPACES.set(len(self.survey.gaps))
        if self.survey.gaps != before.gaps and self.survey.gaps:
            log.warning("%s", self.survey.gap_message(self.plan))
        if self.survey.owned != before.owned:
            self._news.set()

    async def _list(self) -> None:
        listed = await self.kube.request("GET", NAMESPACES)
        self.labels = {
            str(item["metadata"]["name"]): dict(item["metadata"].get("labels") or {})
            for item in listed.get("items") or []
        }
        self._version = str(listed["metadata"]["resourceVersion"])
        self._resurvey()

    async def _keep_watching(self) -> None:
        while True:
            try:
                while self._version:
                    self._version = await self._watch_from(self._version)
                await self._list()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a broken connection, a 410 Gone: list again
                log.warning("watch of namespaces: %s; listing again", error)
                await asyncio.sleep(RETRY_SECONDS)
                self._version = ""

    async def _watch_from(self, version: str) -> str:
        """Apply the watch's events; the version to go on from, "" to list again."""
        async for event in watch_events(self.kube, NAMESPACES, version):
            version = self._apply(event, version)
            if not version:
                return ""
        return version

    def _apply(self, event: dict[str, Any], version: str) -> str:
        body = event.get("object") or {}
        if event.get("type") == "ERROR":
            return ""  # usually 410 Gone: the version is too old
        metadata = body.get("metadata") or {}
        name = str(metadata.get("name") or "")
        if event.get("type") in ("ADDED", "MODIFIED"):
            self.labels[name] = dict(metadata.get("labels") or {})
            self._resurvey()
        elif event.get("type") == "DELETED":
            self.labels.pop(name, None)
            self._resurvey()
        return str(metadata.get("resourceVersion") or version)


class Operator:
    """One kopf operator over a set of namespaces: its task and the flag that stops it."""

    def __init__(self, task: "asyncio.Task[Any]", stop: asyncio.Event) -> None:
        self.task = task
        self.stop = stop

    async def stopped(self) -> None:
        self.stop.set()
        await self.task


async def serve_shard(
    membership: NamespaceMembership,
    start_operator: Callable[[frozenset[str]], Operator],
    lost: "asyncio.Task[Any] | None",
) -> bool:
    """Run the operator over this shard's namespaces, again over the new set whenever they
    change, until SIGTERM or SIGINT, or until the lease is lost (then True)."""
    loop = asyncio.get_running_loop()
    owned = (await membership.start()).owned
    me = membership.me
    log.info("shard %s (%s): namespaces %s", me, membership.plan.describe(), _listed(owned))
    terminated = asyncio.Event()
    try:
        while True:
            # kopf installs its own handlers while an operator runs (the operator then ends
            # by itself); these stop the shard between operators, or when none runs.
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, terminated.set)
            operator = start_operator(owned) if owned else None
            changed = asyncio.create_task(membership.changed(owned))
            ended = asyncio.create_task(terminated.wait())
            waited: set[asyncio.Future[Any]] = {changed, ended}
            waited |= {operator.task} if operator else set()
            waited |= {lost} if lost else set()
            done, _ = await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
            changed.cancel()
            ended.cancel()
            if operator is not None:
                if operator.task in done:  # a signal stopped it, or it failed
                    if not operator.task.cancelled() and operator.task.exception():
                        log.error("the operator stopped: %r", operator.task.exception())
                    return False
                await operator.stopped()
            if lost is not None and lost in done:
                return True
            if ended in done:
                return False
            now = membership.survey.owned
            log.info(
                "shard %s: namespaces now %s (joined: %s; left: %s); starting again over them",
                me,
                _listed(now),
                _listed(now - owned),
                _listed(owned - now),
            )
            owned = now
    finally:
        await membership.stop()


async def _within(waiting: Awaitable[Any], seconds: float) -> bool:
    """Whether `waiting` ends within `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            await waiting
        return True
    except TimeoutError:
        return False


def _listed(namespaces: frozenset[str]) -> str:
    return ", ".join(sorted(namespaces)) or "none"
