"""The controller's own watches of its busiest streams, task pods and DagRuns, apart from
kopf's: a list, then a watch from the list's resourceVersion, resumed where it ended; a 410
Gone lists again, as client-go's reflector does. Each listed object goes to `on_listed` (its
namespace: for pods, `relist.py` finds those deleted in a gap) and then, as every event
does, to `on_event`, with the event type None for a listed object, as kopf delivers a
listing. A pod has four or five events a task try and a run three or more, and kopf spends
about 0.85 ms more CPU on an event than this loop does (docs/design.md, "The pod
watch")."""

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from kubedag.kube.client import ApiError, Kube
from kubedag.kube.watch import watch_events

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0  # after a refused or broken request, before the next

OnEvent = Callable[[str | None, dict[str, Any]], None]


class ListWatch:
    def __init__(
        self,
        kube: Kube,
        path: str,
        label_selector: str,
        on_event: OnEvent,
        on_listed: Callable[[str], None],
        *,
        what: str,
    ) -> None:
        """`what`: the watch's name in its log lines ("pod watch", "run watch")."""
        self.kube = kube
        self.what = what
        self.path = path
        self.label_selector = label_selector
        self.on_event = on_event
        self.on_listed = on_listed
        self.version = ""  # where the watch goes on from; "": list first

    async def run(self) -> None:
        while True:
            try:
                if not self.version:
                    await self._list()
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # a broken stream or a refused request: go on from
                # the last event delivered, unless its version is gone
                if isinstance(error, ApiError) and error.status == 410:
                    self.version = ""
                log.warning("%s of %s: %s; watching again", self.what, self.path, error)
                await asyncio.sleep(RETRY_SECONDS)

    async def _list(self) -> None:
        query = {"labelSelector": self.label_selector} if self.label_selector else None
        listed = await self.kube.request("GET", self.path, query=query)
        for item in listed.get("items") or []:
            self.on_listed(str(item["metadata"]["namespace"]))
            self._deliver(None, item)
        self.version = str(listed["metadata"]["resourceVersion"])

    async def _watch(self) -> None:
        """Deliver the watch's events, keeping the version to go on from ("": list again)."""
        async for event in watch_events(
            self.kube, self.path, self.version, label_selector=self.label_selector or None
        ):
            kind = event.get("type")
            body = event.get("object") or {}
            if kind == "ERROR":  # usually 410 Gone: the version is too old
                log.info("%s of %s: %s; listing again", self.what, self.path, body.get("message"))
                self.version = ""
                return
            if kind != "BOOKMARK":
                self._deliver(kind, body)
            self.version = str((body.get("metadata") or {}).get("resourceVersion") or self.version)

    def _deliver(self, kind: str | None, body: dict[str, Any]) -> None:
        try:
            self.on_event(kind, body)
        except Exception:  # one bad event must not stop the watch (kopf logs and goes on too)
            metadata = body.get("metadata") or {}
            name, namespace = str(metadata.get("name") or ""), str(metadata.get("namespace") or "")
            log.exception("%s: event %s of %s/%s", self.what, kind, namespace, name)
