"""Status writes that may wait: the first change of an object starts a batch, and the write
happens once the batch is due, carrying every change made meanwhile."""

from collections.abc import Hashable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

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

    def when(self, key: Key) -> datetime | None:
        """When the open batch of `key` is due (the owner wakes the key then)."""
        return self._due.get(key)

    def written(self, key: Key) -> None:
        """The object was written (or needs no write): its batch is closed."""
        self._opened.pop(key, None)
        self._due.pop(key, None)

    def __len__(self) -> int:
        return len(self._due)
