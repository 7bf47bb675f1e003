"""What the controller knows of the objects it watches, as client-go's informers and listers
know it: fed by watch events and by the responses to its own writes (write-through), so
decisions never wait for a GET or for the echo. Every per-object entry is evicted when its
object is deleted (`forget_dag`, `forget_run`, `forget_pod`), so a long-running controller
holds entries only for objects that exist."""

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from kubedag.core import outbox
from kubedag.core.dag_scheduler import RunChange, RunSummary
from kubedag.core.naming import label_value
from kubedag.core.pod_observation import PodObservation, has_news
from kubedag.core.validation import Problem, validate_dag
from kubedag.models.dag import DEFAULT_MAX_ACTIVE_TASKS, Dag, PodGC
from kubedag.models.dagrun import RunState
from kubedag.reconcilers.caches import (
    BodyCache,
    NamespacedName,
    PodCache,
    RunCache,
    request_pending,
    resource_version,
    summarize_run,
)
from kubedag.reconcilers.cross_dag_index import CrossDagIndex
from kubedag.reconcilers.slots import SlotBook

Kind = Literal["DAG", "DagRun", "Backfill"]


@dataclass
class _DagEntry:
    """Per-DAG facts derived from its body, kept for its current generation only."""

    pod_gc: PodGC | None = None  # the DAG's own podGC, if it sets one
    validated: tuple[str, int] | None = None  # (uid, generation) the problems are for
    problems: list[Problem] = field(default_factory=list)


class Informer:
    def __init__(self, slots: SlotBook | None = None) -> None:
        self.slots = slots or SlotBook(default_pool_slots=None, parallelism=None)
        self.pods = PodCache()
        self.runs = RunCache()  # one summary per existing run, grouped by DAG
        self._dag_bodies = BodyCache()
        # Unfinished runs, and finished ones with a request to apply or a notification to send:
        # no other finished run is worked on.
        self._run_bodies = BodyCache()
        self._dags: dict[NamespacedName, _DagEntry] = {}
        self._run_dag: dict[NamespacedName, str] = {}
        self._written: dict[tuple[Kind, str, str], str] = {}  # resourceVersions of own writes
        self._backfills = BodyCache()
        self._backfills_by_dag: dict[NamespacedName, set[str]] = {}
        self._unfinished_backfills: set[NamespacedName] = set()
        # Runs held by dependsOnPast: run -> (its DAG, the previous run it waits on).
        self._held_for_past: dict[NamespacedName, tuple[str, str]] = {}
        self.cross_dag = CrossDagIndex()

    # DAGs ----------------------------------------------------------------------------------

    def put_dag(self, key: NamespacedName, body: dict[str, Any]) -> None:
        self._dag_bodies.put(key, body)
        spec = body.get("spec") or {}
        entry = self._dags.setdefault(key, _DagEntry())
        limit = int(spec.get("maxActiveTasks", DEFAULT_MAX_ACTIVE_TASKS))
        self.slots.put_dag_limit(key[0], label_value(key[1]), limit)
        pod_gc = spec.get("podGC")
        entry.pod_gc = PodGC(pod_gc) if pod_gc in set(PodGC) else None
        self.cross_dag.note_dag(key, body)

    def dag(self, key: NamespacedName) -> dict[str, Any] | None:
        return self._dag_bodies.get(key)

    def pod_gc(self, key: NamespacedName) -> PodGC | None:
        entry = self._dags.get(key)
        return entry.pod_gc if entry else None

    async def problems(self, dag: Dag) -> list[Problem]:
        """The whole-DAG checks, computed once per DAG generation, in a worker thread: they
        render every template of the DAG, and a DAG near the render bounds must not hold up
        the event loop (core/template_bounds.py)."""
        entry = self._dags.setdefault((dag.namespace, dag.name), _DagEntry())
        version = (str(dag.metadata.get("uid")), dag.generation)
        if entry.validated != version:
            problems = await asyncio.to_thread(validate_dag, dag.name, dag.spec)
            entry = self._dags.setdefault((dag.namespace, dag.name), _DagEntry())
            entry.problems, entry.validated = problems, version
        return entry.problems

    def forget_dag(self, key: NamespacedName) -> None:
        self._dag_bodies.drop(key)
        self._dags.pop(key, None)
        self.slots.put_dag_limit(key[0], label_value(key[1]), None)
        self._written.pop(("DAG", *key), None)
        self.cross_dag.forget_dag(key)

    # Runs ----------------------------------------------------------------------------------

    def put_run(self, key: NamespacedName, body: dict[str, Any]) -> RunChange | None:
        """Store a run's newest body and summary; the change if its summary changed (its
        DAG's scheduler then has news)."""
        dag = str((body.get("spec") or {}).get("dagName", ""))
        self._run_dag[key] = dag
        self.cross_dag.note_run(key, body)
        status = body.get("status") or {}
        state = status.get("state")
        waits = request_pending(body) or _sends(status)
        if state and RunState(state).finished and not waits:
            self._run_bodies.drop(key)
            self.slots.set_waiting(key, [])
            self._held_for_past.pop(key, None)
            self.cross_dag.wait_on(key, set())
        else:
            self._run_bodies.put(key, body)
        summary = summarize_run(body)
        before = self.runs.update(key[0], dag, summary, resource_version(body))
        after = self.runs.get(key[0], dag, key[1])  # a stale body changes nothing
        return None if before == after else RunChange(before, after)

    def has_newer_run(self, key: NamespacedName, body: dict[str, Any]) -> bool:
        """Whether the cached body of the run is newer than `body`."""
        cached = self._run_bodies.get(key)
        if cached is None:
            return False
        old, new = resource_version(cached), resource_version(body)
        return old is not None and new is not None and old > new

    def run(self, key: NamespacedName) -> dict[str, Any] | None:
        return self._run_bodies.get(key)

    def run_bodies(self) -> Iterable[dict[str, Any]]:
        return self._run_bodies.values()

    def request_pending(self, key: NamespacedName) -> bool:
        """A clear or mark request waits to be applied (also on a finished run)."""
        body = self._run_bodies.get(key)
        return body is not None and request_pending(body)

    def outbox_waits(self, key: NamespacedName) -> bool:
        """A notification of the run waits to be sent, or a dataset update it made to be
        recorded (also on a finished run)."""
        body = self._run_bodies.get(key)
        return body is not None and _sends(body.get("status") or {})

    def run_dag(self, key: NamespacedName) -> str:
        """The DAG of a run the informer knows ("" if none)."""
        return self._run_dag.get(key, "")

    def runs_labelled(self, namespace: str, label: str) -> list[NamespacedName]:
        """The runs whose pods carry `label` as their run label (a pod names its run only
        by label; a name longer than a label is shortened)."""
        return [
            key for key in self._run_dag if key[0] == namespace and label_value(key[1]) == label
        ]

    def run_summary(self, key: NamespacedName) -> RunSummary | None:
        return self.runs.get(key[0], self._run_dag.get(key, ""), key[1])

    def drop_stale(self, kind: Kind, key: NamespacedName) -> None:
        """The copy was stale (a write met Conflict): the next pass reads it afresh."""
        {"DAG": self._dag_bodies, "DagRun": self._run_bodies, "Backfill": self._backfills}[
            kind
        ].drop(key)

    def forget_run(self, key: NamespacedName) -> str:
        """Evict a deleted run; returns its DAG's name."""
        dag = self._run_dag.pop(key, "")
        self.runs.remove(key[0], dag, key[1])
        self._run_bodies.drop(key)
        self._written.pop(("DagRun", *key), None)
        self.slots.set_waiting(key, [])
        self.slots.unreserve_run(key)
        self._held_for_past.pop(key, None)
        self.cross_dag.forget_run(key)
        return dag

    # Backfills -----------------------------------------------------------------------------

    def put_backfill(self, key: NamespacedName, body: dict[str, Any]) -> None:
        self._backfills.put(key, body)
        state = (body.get("status") or {}).get("state")
        self.backfill_progress(key, state not in ("Completed", "Cancelled", "Refused"))
        dag = str((body.get("spec") or {}).get("dagName", ""))
        self._backfills_by_dag.setdefault((key[0], dag), set()).add(key[1])

    def backfill(self, key: NamespacedName) -> dict[str, Any] | None:
        return self._backfills.get(key)

    def backfills_of(self, namespace: str, dag: str) -> list[dict[str, Any]]:
        names = self._backfills_by_dag.get((namespace, dag), ())
        return [b for n in names if (b := self._backfills.get((namespace, n))) is not None]

    def forget_backfill(self, key: NamespacedName) -> dict[str, Any] | None:
        """Evict a deleted Backfill; returns its last body."""
        body = self._backfills.get(key)
        self._backfills.drop(key)
        self.backfill_progress(key, False)
        self._written.pop(("Backfill", *key), None)
        if body is not None:
            dag = (key[0], str((body.get("spec") or {}).get("dagName", "")))
            names = self._backfills_by_dag.get(dag, set())
            names.discard(key[1])
            if not names:
                self._backfills_by_dag.pop(dag, None)
        return body

    # Pods ----------------------------------------------------------------------------------

    def put_pod(self, namespace: str, pod: PodObservation) -> bool:
        """Store what is known of a pod; True if it freed slots (it stopped). An observation
        older than the one known changes nothing."""
        if not self.pods.update(namespace, pod):
            return False
        return self.slots.pod_seen(namespace, pod)

    def forget_pod(self, namespace: str, name: str, deleted_at: int | None = None) -> bool:
        """Evict a deleted pod (`deleted_at`: its deletion's resourceVersion, when the watch
        delivered it); True if it freed slots."""
        self.pods.remove(namespace, name, deleted_at)
        return self.slots.pod_gone(namespace, name)

    def knows(self, kind: Kind, key: NamespacedName) -> bool:
        """Whether the DAG or run is known, not deleted (a Backfill: not tracked, True)."""
        return {"DagRun": key in self._run_dag, "DAG": key in self._dags}.get(kind, True)

    # Echoes of the controller's own writes -------------------------------------------------

    def remember_write(self, kind: Kind, key: NamespacedName, body: dict[str, Any]) -> None:
        version = (body.get("metadata") or {}).get("resourceVersion")
        if version:
            self._written[(kind, *key)] = version

    def is_own_write(self, kind: Kind, key: NamespacedName, body: dict[str, Any]) -> bool:
        """The echo of our own status write carries nothing new: skip a needless pass."""
        version = body["metadata"].get("resourceVersion")
        return version is not None and self._written.get((kind, *key)) == version

    # Runs held by dependsOnPast ----------------------------------------------------------

    def hold_for_past(self, run: NamespacedName, dag: str, previous: str | None) -> None:
        """Record that `run` waits on its previous run (None: it waits on nothing)."""
        if previous is None:
            self._held_for_past.pop(run, None)
        else:
            self._held_for_past[run] = (dag, previous)

    def held_by(self, run: NamespacedName) -> list[NamespacedName]:
        """The runs waiting on `run` (it is their previous run)."""
        return [
            held
            for held, (_, previous) in self._held_for_past.items()
            if held[0] == run[0] and previous == run[1]
        ]

    def held_in_dag(self, namespace: str, dag: str) -> list[NamespacedName]:
        return [
            held
            for held, (of_dag, _) in self._held_for_past.items()
            if held[0] == namespace and of_dag == dag
        ]

    # Backfills in progress: history cleanup keeps their runs -----------------------------

    def backfill_progress(self, key: NamespacedName, unfinished: bool) -> None:
        """Whether a Backfill is still in progress (its watch reports it; deleted: False)."""
        if unfinished:
            self._unfinished_backfills.add(key)
        else:
            self._unfinished_backfills.discard(key)

    def unfinished_backfills(self, namespace: str) -> set[str]:
        return {name for ns, name in self._unfinished_backfills if ns == namespace}

    def sizes(self) -> dict[str, int]:
        """Entries per cache, for the `kubedag_cache_entries` gauge."""
        return {
            "dag_bodies": len(self._dag_bodies),
            "dag_facts": len(self._dags),
            "run_bodies": len(self._run_bodies),
            "run_summaries": len(self.runs),
            "run_dags": len(self._run_dag),
            "pods": len(self.pods),
            "written_versions": len(self._written),
            **self.slots.sizes(),
            "backfills": len(self._backfills),
            "unfinished_backfills": len(self._unfinished_backfills),
            "held_for_past": len(self._held_for_past),
            **self.cross_dag.sizes(),
        }


def keep_run_answer(
    informer: Informer, key: NamespacedName, body: dict[str, Any]
) -> RunChange | None:
    """Cache the answer to a write to a run, unless the watch delivered the run's deletion
    while the write was out: cached, the deleted run would stay in the caches for good."""
    return informer.put_run(key, body) if informer.knows("DagRun", key) else None


def _sends(status: dict[str, Any]) -> bool:
    """Whether a stored run status has something to send: a notification, or a dataset
    update not recorded in its Dataset yet."""
    return outbox.has_pending(status) or bool(status.get("datasetUpdates"))


def take_pod_event(
    informer: Informer, namespace: str, pod: PodObservation, *, deleted: bool
) -> tuple[bool, bool]:
    """A pod as the watch delivered it, stored or forgotten: (whether its run's pass has
    news of it, whether it freed slots)."""
    news = deleted or has_news(informer.pods.get(namespace, pod.name), pod)
    if deleted:
        return news, informer.forget_pod(namespace, pod.name, pod.version)
    return news, informer.put_pod(namespace, pod)
