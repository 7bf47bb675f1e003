"""Status writes that may wait: the first change of an object starts a batch, and the write
happens once the batch is due, carrying every change made meanwhile."""

from collections.abc import Hashable, Iterator
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from kubedag.reconcilers.caches import resource_version

Key = TypeVar("Key", bound=Hashable)


class WriteBatches(Generic[Key]):
    def __init__(self, delay: timedelta) -> None:
        self.delay = delay
        self._opened: dict[Key, datetime] = {}
        self._due: dict[Key, datetime] = {}

    def due(self, key: Key, now: datetime, delay: timedelta | None = None) -> bool:
        """Whether the write of `key` may happen now; starts a batch if none is open. The
        batch is due `delay` (default: the batches' own) after it opened; a pass may give
        another, and the latest pass's counts."""
        opened = self._opened.setdefault(key, now)
        self._due[key] = opened + (self.delay if delay is None else delay)
        return self._due[key] <= now

    def open(self, key: Key, now: datetime) -> datetime:
        """When the batch of `key` opened; opens it now if none is open."""
        return self._opened.setdefault(key, now)

    def when(self, key: Key) -> datetime | None:
        """When the open batch of `key` is due (the owner wakes the key then)."""
        return self._due.get(key)

    def written(self, key: Key) -> None:
        """The object was written (or needs no write): its batch is closed."""
        self._opened.pop(key, None)
        self._due.pop(key, None)

    def __len__(self) -> int:
        return len(self._due)


class HeldStatuses(Generic[Key]):
    """Statuses decided but not written yet. The informer's copy of the object carries the
    held status meanwhile, so every pass and reader sees it; each is kept with the status
    stored, which the eventual write's patch is made against. A newer body from the watch (a
    request in the spec, a label, a re-list) takes the held status over; one whose status
    changed (another writer) ends it, and the next pass decides again from what is stored
    (docs/design.md, "A run's start waits for news")."""

    def __init__(self) -> None:
        self._held: dict[Key, tuple[dict[str, Any], dict[str, Any]]] = {}

    def hold(self, key: Key, stored: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
        """The body for the informer: `stored` with `status` in place of its own."""
        body = {**stored, "status": status}
        self._held[key] = (body, stored.get("status") or {})
        return body

    def resolve(self, key: Key, body: dict[str, Any]) -> dict[str, Any]:
        """The body a pass works on: while a status is held, `body` (the informer's newest)
        with the held status, unless the status stored changed meanwhile (another writer):
        then the held status is given up and `body` is returned as it is."""
        held = self._held.get(key)
        if held is None or held[0] is body:
            return body
        version, held_version = resource_version(body), resource_version(held[0])
        if version is not None and held_version is not None and version < held_version:
            return held[0]  # a late event, older than what the status was decided on
        if (body.get("status") or {}) != held[1]:
            del self._held[key]
            return body
        return self.hold(key, body, held[0]["status"])

    def stored_status(self, key: Key, body: dict[str, Any]) -> dict[str, Any] | None:
        """The status stored, if `body` is the held body of `key` (else None)."""
        held = self._held.get(key)
        return held[1] if held is not None and held[0] is body else None

    def __iter__(self) -> Iterator[Key]:
        return iter(list(self._held))  # a copy: the caller's passes write and release

    def release(self, key: Key) -> None:
        """Written, or given up."""
        self._held.pop(key, None)

    def __len__(self) -> int:
        return len(self._held)
