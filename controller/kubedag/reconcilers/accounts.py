"""Whether the ServiceAccounts DAGs name exist: looked up on demand and remembered for a
while, rather than watching every account of the cluster."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from kubedag.kube.client import Kube, core_path

# A missing account is looked up again this often while a DAG waits for it; an existing one
# is trusted this long (an account deleted meanwhile makes the API refuse the pods).
RECHECK_MISSING = timedelta(seconds=5)
TRUST_FOUND = timedelta(minutes=5)


@dataclass(frozen=True)
class _Lookup:
    exists: bool
    at: datetime


class ServiceAccounts:
    def __init__(self, kube: Kube, now: Callable[[], datetime]) -> None:
        self.kube = kube
        self.now = now
        self._known: dict[tuple[str, str], _Lookup] = {}

    async def missing(self, namespace: str, names: Iterable[str]) -> set[str]:
        now = self.now()
        self._expire(now)
        missing = set()
        for name in names:
            key = (namespace, name)
            known = self._known.get(key)
            if known is None:
                body = await self.kube.get(core_path("serviceaccounts", namespace, name))
                known = self._known[key] = _Lookup(body is not None, now)
            if not known.exists:
                missing.add(name)
        return missing

    def _expire(self, now: datetime) -> None:
        stale = [
            key
            for key, known in self._known.items()
            if now - known.at >= (TRUST_FOUND if known.exists else RECHECK_MISSING)
        ]
        for key in stale:
            del self._known[key]

    def __len__(self) -> int:
        return len(self._known)
