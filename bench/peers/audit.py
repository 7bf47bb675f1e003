"""Who wrote what: the API server's audit log of writes, grouped by client.

``apiserver_request_total`` has no user label, and a peer's requests share resource kinds
with kubedag's (pods, events), so the side-by-side runs count writes from an audit log
instead: one JSON line per write (metadata only, at ResponseComplete), its ``user.username``
the client certificate's common name. Each system under test gets its own certificate, so
the username alone says whose write it was.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})

POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived", "ResponseStarted"],
    "rules": [
        {"level": "None", "verbs": ["get", "list", "watch"]},
        {"level": "Metadata"},
    ],
}


NEVER_ROTATE_MB = 1 << 20  # a full run writes about 400 MB


class AuditLogRotated(RuntimeError):
    """The log is shorter than at the mark: the window's writes cannot be counted."""


def apiserver_args(folder: Path) -> list[str]:
    """kube-apiserver flags that write the audit log into ``folder``; batched, so a write is
    not held until its line is on disk."""
    folder.mkdir(parents=True, exist_ok=True)
    policy = folder / "audit-policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY, sort_keys=False))
    return [
        f"--audit-policy-file={policy}",
        f"--audit-log-path={folder / 'audit.log'}",
        "--audit-log-format=json",
        "--audit-log-mode=batch",
        # 0 is not "never": the log library then rotates at 100 MB, which a full run passes,
        # and a run's window would start in a file that is gone.
        f"--audit-log-maxsize={NEVER_ROTATE_MB}",
    ]


@dataclass(frozen=True)
class Writes:
    by_user: dict[str, int]
    by_kind: dict[str, dict[str, int]]
    """user -> "verb resource[/sub]" -> count."""

    def of(self, user: str) -> int:
        return self.by_user.get(user, 0)


def parse(lines: list[str] | str) -> Writes:
    """Writes per user among audit log lines (other verbs and stages are skipped)."""
    by_user: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = {}
    for line in lines.splitlines() if isinstance(lines, str) else lines:
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line cut by a flush in progress
        if event.get("stage") != "ResponseComplete" or event.get("verb") not in WRITE_VERBS:
            continue
        user = (event.get("user") or {}).get("username", "")
        ref = event.get("objectRef") or {}
        kind = f"{event['verb']} {ref.get('resource', '')}" + (
            f"/{ref['subresource']}" if ref.get("subresource") else ""
        )
        by_user[user] += 1
        by_kind.setdefault(user, Counter())[kind] += 1
    return Writes(dict(by_user), {u: dict(c) for u, c in by_kind.items()})


class AuditLog:
    """Reads the writes logged after ``mark()``: the window of one run."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def mark(self) -> None:
        self._offset = self.path.stat().st_size if self.path.exists() else 0

    def writes_since_mark(self) -> Writes:
        if not self.path.exists():
            return Writes({}, {})
        if self.path.stat().st_size < self._offset:
            raise AuditLogRotated(f"{self.path} was rotated after the run began")
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        return parse(data.decode("utf-8", errors="replace"))
