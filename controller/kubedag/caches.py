"""In-memory views of the pods and DagRuns the controller watches, fed by watch events and
by the controller's own writes (write-through), so decisions never wait for the echo."""

from collections import defaultdict
from typing import Any

from kubedag.dag_scheduler import RunSummary
from kubedag.dates import parse_time
from kubedag.models.dagrun import RunState, RunType
from kubedag.pod_observation import PodObservation
from kubedag.schedule import DataInterval

NamespacedName = tuple[str, str]


class PodCache:
    def __init__(self) -> None:
        self._pods: dict[NamespacedName, PodObservation] = {}
        self._active_by_dag: dict[NamespacedName, set[str]] = defaultdict(set)

    def update(self, namespace: str, pod: PodObservation) -> None:
        self._pods[(namespace, pod.name)] = pod
        active = self._active_by_dag[(namespace, pod.dag)]
        if pod.active:
            active.add(pod.name)
        else:
            active.discard(pod.name)

    def remove(self, namespace: str, name: str) -> None:
        pod = self._pods.pop((namespace, name), None)
        if pod is not None:
            self._active_by_dag[(namespace, pod.dag)].discard(name)

    def get(self, namespace: str, name: str) -> PodObservation | None:
        return self._pods.get((namespace, name))

    def active_count(self, namespace: str, dag_label: str) -> int:
        return len(self._active_by_dag.get((namespace, dag_label), ()))


def owner_run(pod: dict[str, Any]) -> str | None:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == "DagRun":
            return str(ref["name"])
    return None


def summarize_run(body: dict[str, Any]) -> RunSummary:
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    start = spec.get("dataIntervalStart")
    end = spec.get("dataIntervalEnd")
    logical = status.get("logicalDate") or spec.get("logicalDate")
    return RunSummary(
        name=str(body["metadata"]["name"]),
        run_type=RunType(spec.get("runType", RunType.MANUAL.value)),
        logical_date=parse_time(logical) if logical else None,
        interval=DataInterval(parse_time(start), parse_time(end)) if start and end else None,
        state=RunState(status["state"]) if status.get("state") else None,
    )


class RunCache:
    """DagRun summaries grouped by DAG, for the scheduler."""

    def __init__(self) -> None:
        self._by_dag: dict[NamespacedName, dict[str, RunSummary]] = defaultdict(dict)

    def update(self, namespace: str, dag: str, summary: RunSummary) -> RunSummary | None:
        runs = self._by_dag[(namespace, dag)]
        old = runs.get(summary.name)
        runs[summary.name] = summary
        return old

    def remove(self, namespace: str, dag: str, name: str) -> None:
        self._by_dag.get((namespace, dag), {}).pop(name, None)

    def get(self, namespace: str, dag: str, name: str) -> RunSummary | None:
        return self._by_dag.get((namespace, dag), {}).get(name)

    def for_dag(self, namespace: str, dag: str) -> list[RunSummary]:
        return list(self._by_dag.get((namespace, dag), {}).values())


def _resource_version(body: dict[str, Any]) -> int | None:
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
        if cached is not None:
            old, new = _resource_version(cached), _resource_version(body)
            if old is not None and new is not None and old > new:
                return
        self._bodies[key] = body

    def get(self, key: NamespacedName) -> dict[str, Any] | None:
        return self._bodies.get(key)

    def drop(self, key: NamespacedName) -> None:
        self._bodies.pop(key, None)

    def __len__(self) -> int:
        return len(self._bodies)
