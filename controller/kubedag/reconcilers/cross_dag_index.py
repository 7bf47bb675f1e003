"""What the informer knows between DAGs: which runs wait (deferred tasks) on which DAG's
runs, which run each trigger task's try created, and which DAGs have sensors on which
DAG (for a recursive clear). Fed from watch events like the rest of the informer, and
evicted with the objects."""

from typing import Any

from kubedag.core.cross_dag import ANNOTATION_TRIGGERED_BY, TriggeredRun, parse_triggered_by
from kubedag.reconcilers.caches import NamespacedName


class CrossDagIndex:
    def __init__(self) -> None:
        self._waiting: dict[NamespacedName, set[NamespacedName]] = {}  # DAG -> runs
        self._waits: dict[NamespacedName, set[NamespacedName]] = {}  # run -> DAGs
        # Triggering run -> task -> the run its newest try created; and back, for eviction.
        self._triggered: dict[NamespacedName, dict[str, TriggeredRun]] = {}
        self._trigger_of: dict[NamespacedName, tuple[NamespacedName, str]] = {}
        self._sensors_on: dict[NamespacedName, set[NamespacedName]] = {}  # DAG -> DAGs
        self._sensed: dict[NamespacedName, set[NamespacedName]] = {}  # DAG -> DAGs

    # Runs waiting on a DAG's runs ---------------------------------------------------------

    def wait_on(self, run: NamespacedName, dags: set[NamespacedName]) -> None:
        """Record the DAGs whose run changes wake `run` (empty: none)."""
        old = self._waits.get(run, set())
        if old == dags:
            return
        for dag in old - dags:
            self._discard(self._waiting, dag, run)
        for dag in dags - old:
            self._waiting.setdefault(dag, set()).add(run)
        if dags:
            self._waits[run] = set(dags)
        else:
            self._waits.pop(run, None)

    def waiting_on(self, dag: NamespacedName) -> list[NamespacedName]:
        return sorted(self._waiting.get(dag, ()))

    # Runs a trigger task created ----------------------------------------------------------

    def note_run(self, key: NamespacedName, body: dict[str, Any]) -> None:
        annotations = (body.get("metadata") or {}).get("annotations") or {}
        value = annotations.get(ANNOTATION_TRIGGERED_BY)
        parsed = parse_triggered_by(value) if isinstance(value, str) else None
        if parsed is None or key in self._trigger_of:
            return
        by, task, try_number = parsed
        known = self._triggered.setdefault(by, {}).get(task)
        if known is None or known.try_number <= try_number:
            self._triggered[by][task] = TriggeredRun(key[0], key[1], try_number)
            self._trigger_of[key] = (by, task)

    def triggered(self, run: NamespacedName) -> dict[str, TriggeredRun]:
        return self._triggered.get(run, {})

    # DAGs with sensors on a DAG -----------------------------------------------------------

    def note_dag(self, key: NamespacedName, body: dict[str, Any]) -> None:
        sensed = set()
        for task in (body.get("spec") or {}).get("tasks") or []:
            sensor = task.get("externalTaskSensor") if isinstance(task, dict) else None
            if isinstance(sensor, dict) and sensor.get("dagName"):
                sensed.add((str(sensor.get("namespace") or key[0]), str(sensor["dagName"])))
        self._set_sensed(key, sensed)

    def sensors_on(self, dag: NamespacedName) -> list[NamespacedName]:
        """The DAGs with an externalTaskSensor task on `dag`."""
        return sorted(self._sensors_on.get(dag, ()))

    # Eviction -----------------------------------------------------------------------------

    def forget_run(self, key: NamespacedName) -> None:
        self.wait_on(key, set())
        for task_run in self._triggered.pop(key, {}).values():
            self._trigger_of.pop((task_run.namespace, task_run.name), None)
        trigger = self._trigger_of.pop(key, None)
        if trigger is not None:
            by, task = trigger
            tasks = self._triggered.get(by, {})
            if (known := tasks.get(task)) is not None and (known.namespace, known.name) == key:
                del tasks[task]
                if not tasks:
                    del self._triggered[by]

    def forget_dag(self, key: NamespacedName) -> None:
        self._set_sensed(key, set())

    def sizes(self) -> dict[str, int]:
        return {
            "cross_dag_waiting": len(self._waits),
            "cross_dag_triggered": len(self._trigger_of),
            "cross_dag_sensors": len(self._sensed),
        }

    def _set_sensed(self, key: NamespacedName, sensed: set[NamespacedName]) -> None:
        for target in self._sensed.get(key, set()) - sensed:
            self._discard(self._sensors_on, target, key)
        for target in sensed:
            self._sensors_on.setdefault(target, set()).add(key)
        if sensed:
            self._sensed[key] = sensed
        else:
            self._sensed.pop(key, None)

    @staticmethod
    def _discard(
        index: dict[NamespacedName, set[NamespacedName]],
        key: NamespacedName,
        value: NamespacedName,
    ) -> None:
        values = index.get(key)
        if values is not None:
            values.discard(value)
            if not values:
                del index[key]
