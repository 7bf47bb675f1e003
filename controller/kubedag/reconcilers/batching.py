"""Status writes that may wait: the first change of an object starts a batch, and the write
happens once the batch is due, carrying every change made meanwhile."""

from collections.abc import Hashable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)


class WriteBatches(Generic[Key]):
    def __init__(self, delay: timedelta) -> None:
        self.delay = delay
        self._due: dict[Key, datetime] = {}

    def due(self, key: Key, now: datetime) -> bool:
        """Whether the write of `key` may happen now; starts a batch if none is open."""
        return self._due.setdefault(key, now + self.delay) <= now

    def when(self, key: Key) -> datetime | None:
        """When the open batch of `key` is due (the owner wakes the key then)."""
        return self._due.get(key)

    def written(self, key: Key) -> None:
        """The object was written (or needs no write): its batch is closed."""
        self._due.pop(key, None)

    def __len__(self) -> int:
        return len(self._due)
