"""The API server's own request counters (``apiserver_request_total``) and who made them.

The counter has no user label, so the controller's share is attributed by request kind:
in the bench control plane each (verb, resource, subresource) below has exactly one client.
kube-scheduler binds pods (``pods/binding``) and posts ``events.k8s.io`` events; kwok
patches ``pods/status`` and ``nodes``, and deletes once more every pod the controller
deleted (its pod-delete stage sees the pod's last state, with a deletionTimestamp, and gets
a 404: such DELETEs are counted apart, as verb ``DELETE(404)``); the harness creates DAGs
and manual DagRuns (it reports how many) and opens its own watches. Lists and watches are
long-lived streams shared by every client and are counted apart, never per task try.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

RequestKey = tuple[str, str, str, str]
"""(verb, group, resource, subresource), e.g. ("PATCH", "kubedag.io", "dagruns", "status")."""

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')

KUBEDAG = "kubedag.io"
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION", "APPLY"})
STREAM_VERBS = frozenset({"LIST", "WATCH", "WATCHLIST"})

# Writes only the controller makes here (the harness's own DagRun creates are subtracted).
CONTROLLER_WRITES: frozenset[tuple[str, str, str]] = frozenset(
    {
        ("", "pods", ""),  # create task pods; delete them on timeouts
        ("", "events", ""),  # core/v1 Events on DAGs and runs (kube-scheduler uses events.k8s.io)
        ("", "configmaps", ""),  # DAG-version snapshots
        (KUBEDAG, "dagruns", ""),  # scheduled and backfill runs; a backfill's re-run patch
        (KUBEDAG, "dagruns", "status"),
        (KUBEDAG, "dags", "status"),  # the DAG object itself is the harness's (create, pause)
        (KUBEDAG, "backfills", "status"),  # the Backfill itself is the harness's
    }
)
# Single-object GETs only the controller makes (others use informers).
CONTROLLER_READS: frozenset[tuple[str, str, str]] = frozenset(
    {
        ("", "pods", ""),
        ("", "configmaps", ""),
        (KUBEDAG, "dagruns", ""),
        (KUBEDAG, "dags", ""),
        (KUBEDAG, "backfills", ""),
    }
)


def parse_request_totals(text: str) -> Counter[RequestKey]:
    """``apiserver_request_total`` from a Prometheus text exposition, summed over codes."""
    totals: Counter[RequestKey] = Counter()
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = {m["key"]: m["value"] for m in _LABEL.finditer(match["labels"] or "")}
        verb = labels.get("verb", "")
        if (verb, labels.get("resource"), labels.get("code")) == ("DELETE", "pods", "404"):
            verb = "DELETE(404)"
        key = (
            verb,
            labels.get("group", ""),
            labels.get("resource", ""),
            labels.get("subresource", ""),
        )
        totals[key] += int(float(match["value"]))
    return totals


def delta(before: Counter[RequestKey], after: Counter[RequestKey]) -> Counter[RequestKey]:
    """Requests made between two scrapes (counters only grow; a restart would reset them)."""
    return Counter({k: after[k] - before.get(k, 0) for k in after if after[k] > before.get(k, 0)})


@dataclass(frozen=True)
class ControllerRequests:
    writes: int
    reads: int
    streams: int
    """LIST and WATCH requests by anyone on kubedag's resources and pods (not per try)."""
    by_kind: dict[str, int]
    """Every request kind in the window, "VERB group/resource[/sub]" -> count, for the report."""


def describe(key: RequestKey) -> str:
    verb, group, resource, sub = key
    path = f"{group or 'core'}/{resource}" + (f"/{sub}" if sub else "")
    return f"{verb} {path}"


def attribute(
    requests: Counter[RequestKey], *, harness_dagrun_creates: int = 0
) -> ControllerRequests:
    """The controller's writes and reads among ``requests`` (a delta between two scrapes)."""
    writes = reads = streams = 0
    for (verb, group, resource, sub), count in requests.items():
        kind = (group, resource, sub)
        if verb in WRITE_VERBS and kind in CONTROLLER_WRITES:
            writes += count
        elif verb == "GET" and kind in CONTROLLER_READS:
            reads += count
        elif verb in STREAM_VERBS and (group == KUBEDAG or (group, resource) == ("", "pods")):
            streams += count
    writes -= harness_dagrun_creates
    return ControllerRequests(
        writes=max(0, writes),
        reads=reads,
        streams=streams,
        by_kind={describe(k): v for k, v in sorted(requests.items()) if k[2]},
    )


def total(requests: Iterable[tuple[RequestKey, int]]) -> int:
    return sum(count for _, count in requests)
