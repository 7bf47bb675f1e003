"""What the web view knows: the DAGs, DagRuns and Backfills the watches deliver, as plain
bodies keyed by (namespace, name), and the open event streams to tell of each change."""

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import ValidationError

from kubedag.models.backfill import Backfill
from kubedag.models.compact_tasks import task_records
from kubedag.models.dag import Dag
from kubedag.models.dagrun import DagRun

Kind = Literal["DAG", "DagRun", "Backfill"]
Key = tuple[str, str]
SUBSCRIBER_BACKLOG = 256
M = TypeVar("M", Dag, DagRun, Backfill)


@dataclass
class Store:
    dags: dict[Key, dict[str, Any]] = field(default_factory=dict)
    runs: dict[Key, dict[str, Any]] = field(default_factory=dict)
    backfills: dict[Key, dict[str, Any]] = field(default_factory=dict)
    synced: set[Kind] = field(default_factory=set)
    """The kinds whose first list has arrived (the server is ready when all have)."""
    _subscribers: set["asyncio.Queue[str]"] = field(default_factory=set)

    def _table(self, kind: Kind) -> dict[Key, dict[str, Any]]:
        return {"DAG": self.dags, "DagRun": self.runs, "Backfill": self.backfills}[kind]

    def put(self, kind: Kind, body: dict[str, Any]) -> None:
        key = (body["metadata"].get("namespace", "default"), body["metadata"]["name"])
        self._table(kind)[key] = body
        self._publish(kind, body, deleted=False)

    def delete(self, kind: Kind, body: dict[str, Any]) -> None:
        key = (body["metadata"].get("namespace", "default"), body["metadata"]["name"])
        self._table(kind).pop(key, None)
        self._publish(kind, body, deleted=True)

    def replace(self, kind: Kind, bodies: list[dict[str, Any]]) -> None:
        """A fresh list: what it lacks was deleted while no watch ran."""
        table = self._table(kind)
        table.clear()
        for body in bodies:
            table[(body["metadata"].get("namespace", "default"), body["metadata"]["name"])] = body
        self.synced.add(kind)
        self._broadcast({"kind": kind, "resync": True})

    # Event streams -----------------------------------------------------------------------

    def subscribe(self) -> "asyncio.Queue[str]":
        queue: asyncio.Queue[str] = asyncio.Queue(SUBSCRIBER_BACKLOG)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: "asyncio.Queue[str]") -> None:
        self._subscribers.discard(queue)

    def _publish(self, kind: Kind, body: dict[str, Any], *, deleted: bool) -> None:
        metadata = body["metadata"]
        spec = body.get("spec") or {}
        status = body.get("status") or {}
        event: dict[str, Any] = {
            "kind": kind,
            "namespace": metadata.get("namespace", "default"),
            "name": metadata["name"],
            "dag": metadata["name"] if kind == "DAG" else spec.get("dagName", ""),
            "deleted": deleted,
        }
        if kind == "DagRun":
            event["state"] = status.get("state")
            event["tasks"] = {t["name"]: t.get("state", "none") for t in task_records(status)}
        self._broadcast(event)

    def _broadcast(self, event: dict[str, Any]) -> None:
        data = json.dumps(event, separators=(",", ":"))
        for queue in list(self._subscribers):
            if queue.full():  # a stalled page: it reloads when it reconnects
                self._subscribers.discard(queue)
                continue
            queue.put_nowait(data)

    # Models for the views ----------------------------------------------------------------

    def dag(self, namespace: str, name: str) -> Dag | None:
        body = self.dags.get((namespace, name))
        return _model(Dag, body) if body else None

    def run(self, namespace: str, name: str) -> DagRun | None:
        body = self.runs.get((namespace, name))
        return _model(DagRun, body) if body else None

    def all_dags(self, namespace: str | None) -> list[Dag]:
        return list(_models(Dag, self.dags, namespace))

    def all_runs(self, namespace: str | None, dag: str | None = None) -> list[DagRun]:
        runs = _models(DagRun, self.runs, namespace)
        return [r for r in runs if dag is None or r.spec.dag_name == dag]

    def all_backfills(self, namespace: str | None) -> list[Backfill]:
        return list(_models(Backfill, self.backfills, namespace))


def _model(model: type[M], body: dict[str, Any]) -> M | None:
    """None for a body this version cannot read (e.g. written by a newer controller)."""
    try:
        return model.model_validate(body)
    except ValidationError:
        return None


def _models(model: type[M], table: dict[Key, dict[str, Any]], namespace: str | None) -> Iterator[M]:
    for (ns, _), body in list(table.items()):
        if namespace is None or ns == namespace:
            found = _model(model, body)
            if found is not None:
                yield found
