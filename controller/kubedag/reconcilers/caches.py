"""In-memory views of the pods and DagRuns the controller watches, fed by watch events and
by the controller's own writes (write-through), so decisions never wait for the echo."""

from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from kubedag.core.dag_scheduler import RunSummary
from kubedag.core.dates import parse_time
from kubedag.core.pod_observation import PodObservation
from kubedag.core.schedule import DataInterval
from kubedag.models.compact_tasks import task_records
from kubedag.models.dagrun import RunState, RunType, TaskState
from kubedag.reconcilers.run_index import Among, DagRunIndex

NamespacedName = tuple[str, str]

# Pod deletions remembered: a late response is handled within a pass (milliseconds), and the
# busiest benchmark deletes a few thousand pods a minute.
DELETIONS_REMEMBERED = 10_000


class PodCache:
    def __init__(self) -> None:
        self._pods: dict[NamespacedName, PodObservation] = {}
        self._by_run: dict[NamespacedName, set[str]] = defaultdict(set)  # (ns, run label)
        # Each update is numbered: a pod no update touched since a re-list began, and that
        # the re-list did not deliver, may have been deleted unseen (reconcilers/relist.py).
        self.sequence = 0
        self._touched: dict[NamespacedName, int] = {}
        # The resourceVersions of the latest pods the watch saw deleted, oldest first: a
        # response read before a deletion and handled after it must not bring the pod back.
        self._deleted: OrderedDict[NamespacedName, int] = OrderedDict()

    def update(self, namespace: str, pod: PodObservation) -> bool:
        """Store `pod` unless a newer observation of it is known, or its deletion; returns
        whether stored. The response to a pod's create can be handled after the watch
        delivered the pod further on (finished, even): it must not take the pod back to
        Pending."""
        key = (namespace, pod.name)
        known = self._pods.get(key)
        if known is not None and _older(pod.version, known.version):
            return False
        deleted = self._deleted.get(key)
        if deleted is not None:
            if pod.version is not None and pod.version <= deleted:
                return False
            del self._deleted[key]  # made again since
        self._pods[key] = pod
        self.sequence += 1
        self._touched[key] = self.sequence
        if pod.run:
            self._by_run[(namespace, pod.run)].add(pod.name)
        return True

    def remove(self, namespace: str, name: str, deleted_at: int | None = None) -> None:
        """Forget a pod; `deleted_at`: the resourceVersion of its deletion, as the watch
        delivered it."""
        if deleted_at is not None:
            self._deleted[(namespace, name)] = deleted_at
            self._deleted.move_to_end((namespace, name))
            if len(self._deleted) > DELETIONS_REMEMBERED:
                self._deleted.popitem(last=False)
        self._touched.pop((namespace, name), None)
        pod = self._pods.pop((namespace, name), None)
        if pod is not None:
            of_run = self._by_run.get((namespace, pod.run))
            if of_run is not None:
                of_run.discard(name)
                if not of_run:
                    del self._by_run[(namespace, pod.run)]

    def get(self, namespace: str, name: str) -> PodObservation | None:
        return self._pods.get((namespace, name))

    def touched_at(self, namespace: str, name: str) -> int | None:
        return self._touched.get((namespace, name))

    def untouched_since(self, sequence: int, namespaces: set[str]) -> list[NamespacedName]:
        """The pods of `namespaces` whose newest update is older than `sequence`."""
        return [
            key for key, seq in self._touched.items() if seq < sequence and key[0] in namespaces
        ]

    def of_run(self, namespace: str, run_label: str) -> list[PodObservation]:
        """Every pod of the run (all tries) the watch has delivered."""
        names = self._by_run.get((namespace, run_label), ())
        return [self._pods[(namespace, n)] for n in sorted(names)]

    def __len__(self) -> int:
        return len(self._pods) + len(self._by_run)


def owner_run(pod: dict[str, Any]) -> str | None:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == "DagRun":
            return str(ref["name"])
    return None


def request_pending(body: dict[str, Any]) -> bool:
    """Whether the run's `spec.request` has not been applied (nor refused) yet."""
    request = (body.get("spec") or {}).get("request") or {}
    if not request.get("id"):
        return False
    applied = (body.get("status") or {}).get("requests") or []
    return all(done.get("id") != request["id"] for done in applied)


def summarize_run(body: dict[str, Any]) -> RunSummary:
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    # A manual run without a data interval in its spec gets one in its status when pinned.
    start = spec.get("dataIntervalStart") or status.get("dataIntervalStart")
    end = spec.get("dataIntervalEnd") or status.get("dataIntervalEnd")
    logical = status.get("logicalDate") or spec.get("logicalDate")
    finished = status.get("endTime")
    state = RunState(status["state"]) if status.get("state") else None
    started = status.get("startTime")
    return RunSummary(
        name=str(body["metadata"]["name"]),
        run_type=RunType(spec.get("runType", RunType.MANUAL.value)),
        logical_date=parse_time(logical) if logical else None,
        interval=DataInterval(parse_time(start), parse_time(end)) if start and end else None,
        state=state,
        snapshot=status.get("snapshot"),
        finished_at=parse_time(finished) if finished else None,
        backfill=spec.get("backfill"),
        created=parse_time(created)
        if (created := body["metadata"].get("creationTimestamp"))
        else None,
        pending_request=_pending_request(spec, status),
        started=parse_time(started) if started else None,
        unsuccessful=_unsuccessful(status) if state is not None and state.finished else (),
    )


def _unsuccessful(status: dict[str, Any]) -> tuple[tuple[str, TaskState], ...]:
    return tuple(
        (str(record["name"]), TaskState(record["state"]))
        for record in task_records(status)
        if record.get("state", "none") not in ("success", "skipped")
    )


def _pending_request(spec: dict[str, Any], status: dict[str, Any]) -> str | None:
    request = (spec.get("request") or {}).get("id")
    if request and all(r.get("id") != request for r in status.get("requests") or []):
        return str(request)
    return None


class RunCache:
    """DagRun summaries grouped by DAG, for the scheduler.

    Fed from watch events and from the responses to the controller's own writes, which
    race: a run's create response can be handled after the watch already delivered the
    run pinned. So a summary never replaces one from a newer resourceVersion, and one
    without a version (a manifest, a reservation) never replaces one that has a version,
    unless it is given the version it derives from."""

    def __init__(self) -> None:
        self._by_dag: dict[NamespacedName, DagRunIndex] = {}

    def update(
        self, namespace: str, dag: str, summary: RunSummary, version: int | None = None
    ) -> RunSummary | None:
        """Store `summary` unless a newer one is known; returns the summary known before."""
        index = self._by_dag.get((namespace, dag))
        if index is None:
            index = self._by_dag[(namespace, dag)] = DagRunIndex()
        known = index.summaries.get(summary.name)
        if known is not None and known[0] is not None and (version is None or version < known[0]):
            return known[1]
        index.put(summary, version)
        return known[1] if known is not None else None

    def remove(self, namespace: str, dag: str, name: str) -> None:
        index = self._by_dag.get((namespace, dag))
        if index is not None:
            index.remove(name)
            if not index:
                del self._by_dag[(namespace, dag)]

    def newest_before(
        self, namespace: str, dag: str, date: datetime, among: Among = "all"
    ) -> Iterator[RunSummary]:
        """The DAG's runs with a logical date before `date`, newest first (by logical date,
        then name), found by bisection (`DagRunIndex.newest_before`)."""
        index = self._by_dag.get((namespace, dag))
        if index is not None:
            yield from index.newest_before(date, among)

    def get(self, namespace: str, dag: str, name: str) -> RunSummary | None:
        index = self._by_dag.get((namespace, dag))
        known = index.summaries.get(name) if index is not None else None
        return known[1] if known is not None else None

    def for_dag(self, namespace: str, dag: str) -> list[RunSummary]:
        """Every run of the DAG (a walk of its history: the passes read the views below)."""
        index = self._by_dag.get((namespace, dag))
        return [summary for _, summary in index.summaries.values()] if index is not None else []

    def scheduler_view(self, namespace: str, dag: str) -> list[RunSummary]:
        """The runs the DAG's scheduler reads (`dag_scheduler.scheduler_view`)."""
        index = self._by_dag.get((namespace, dag))
        return index.scheduler_view() if index is not None else []

    def unfinished(self, namespace: str, dag: str) -> list[RunSummary]:
        index = self._by_dag.get((namespace, dag))
        return index.unfinished() if index is not None else []

    def snapshots(self, namespace: str, dag: str) -> set[str]:
        """The DAG snapshots its runs reference."""
        index = self._by_dag.get((namespace, dag))
        return index.snapshots() if index is not None else set()

    def has_test_runs(self, namespace: str, dag: str) -> bool:
        index = self._by_dag.get((namespace, dag))
        return index is not None and index.has_test_runs()

    def states(self) -> Iterator[tuple[NamespacedName, Counter[RunState | None]]]:
        """Each DAG's runs counted by state (read by the metrics at scrape time)."""
        for dag, index in self._by_dag.items():
            yield dag, Counter(summary.state for _, summary in index.summaries.values())

    def __len__(self) -> int:
        return sum(len(index) + index.index_sizes() for index in self._by_dag.values())


def _older(version: int | None, than: int | None) -> bool:
    return version is not None and than is not None and version < than


def resource_version(body: dict[str, Any]) -> int | None:
    try:
        return int(body["metadata"]["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return None


class BodyCache:
    """The newest body seen of each object, from watch events and from the responses to the
    controller's own writes, so a pass starts without a GET, as an informer's lister serves
    client-go controllers. A stale copy is harmless: status writes carry its resourceVersion
    as a precondition, and a Conflict drops the copy."""

    def __init__(self) -> None:
        self._bodies: dict[NamespacedName, dict[str, Any]] = {}

    def put(self, key: NamespacedName, body: dict[str, Any]) -> None:
        # resourceVersions are opaque by contract but etcd's are increasing integers: a watch
        # event that arrives after the response to a newer write of ours must not replace it.
        cached = self._bodies.get(key)
        if cached is not None and _older(resource_version(body), resource_version(cached)):
            return
        self._bodies[key] = body

    def get(self, key: NamespacedName) -> dict[str, Any] | None:
        return self._bodies.get(key)

    def drop(self, key: NamespacedName) -> None:
        self._bodies.pop(key, None)

    def values(self) -> Iterable[dict[str, Any]]:
        return self._bodies.values()

    def __len__(self) -> int:
        return len(self._bodies)
