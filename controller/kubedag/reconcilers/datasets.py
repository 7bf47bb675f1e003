"""Dataset scheduling's I/O: the Datasets the watch delivers and the DAGs scheduled on each
(`DatasetBook`), recording updates in Datasets' statuses (`record_update`, also what
`kubedag datasets touch` calls), and the two hooks: a run pass records its run's updates,
and a DAG pass of a DAG scheduled on datasets creates its dataset-triggered run."""

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from kubedag.core.datasets import (
    DatasetTrigger,
    DatasetUpdate,
    dataset_trigger,
    record,
    run_updates,
    to_record,
    with_updates,
)
from kubedag.core.dates import parse_time
from kubedag.core.naming import dataset_name
from kubedag.core.run_types import records_dataset_updates
from kubedag.core.snapshot import Snapshot
from kubedag.kube.client import ApiError, Kube, custom_path
from kubedag.manifests import datasets as manifests
from kubedag.models.dag import Dag, DagSpec
from kubedag.models.dagrun import DagRun, DagRunStatus
from kubedag.models.dataset import DatasetStatus, UnrecordedUpdate
from kubedag.reconcilers.status import StatusWriter

log = logging.getLogger(__name__)

NamespacedName = tuple[str, str]
WRITE_ATTEMPTS = 5


async def record_update(
    kube: Kube,
    namespace: str,
    update: DatasetUpdate,
    now: datetime,
    body: Mapping[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Record `update` in its Dataset's status (the Dataset made if missing), guarded by
    resourceVersion and tried again on a conflict; returns the Dataset written, or None if
    it held the update already. `body`: the newest copy known, saving a GET."""
    path = custom_path("datasets", namespace, dataset_name(update.dataset))
    current = dict(body) if body else None
    for _ in range(WRITE_ATTEMPTS):
        if current is None:
            current = await kube.get(path) or await kube.create(
                custom_path("datasets", namespace), manifests.dataset(namespace, update.dataset)
            )
            if current is None:  # made meanwhile by another writer
                current = await kube.get(path)
            assert current is not None
        status = DatasetStatus.model_validate(current.get("status") or {})
        new = record(status, update, now)
        if new is None:
            return None
        try:
            return await kube.patch_status(
                path, new.to_wire(), current["metadata"]["resourceVersion"]
            )
        except ApiError as error:
            if not error.conflict:
                raise
            current = None
    raise ApiError(
        409, "Conflict", f"dataset {update.dataset}: {WRITE_ATTEMPTS} conflicts in a row"
    )


class DatasetBook:
    """The Datasets of the watched namespaces, by URI, and the DAGs scheduled on each."""

    def __init__(self) -> None:
        self._bodies: dict[NamespacedName, dict[str, Any]] = {}  # (namespace, uri)
        self._consumers: dict[NamespacedName, set[str]] = {}  # (namespace, uri) -> DAGs
        self._schedule_of: dict[NamespacedName, tuple[str, ...]] = {}  # DAG -> its URIs

    def put_dataset(self, body: dict[str, Any]) -> list[NamespacedName]:
        """Keep a Dataset (newer than the copy held); returns the DAGs scheduled on it."""
        key = (body["metadata"]["namespace"], str(body["spec"]["uri"]))
        held = self._bodies.get(key)
        if held is None or _sequence(body) >= _sequence(held):
            self._bodies[key] = body
        return [(key[0], dag) for dag in sorted(self._consumers.get(key, ()))]

    def forget_dataset(self, body: dict[str, Any]) -> None:
        self._bodies.pop((body["metadata"]["namespace"], str(body["spec"]["uri"])), None)

    def body(self, namespace: str, uri: str) -> dict[str, Any] | None:
        return self._bodies.get((namespace, uri))

    def status(self, namespace: str, uri: str) -> DatasetStatus | None:
        body = self._bodies.get((namespace, uri))
        return None if body is None else DatasetStatus.model_validate(body.get("status") or {})

    def put_dag(self, key: NamespacedName, spec: DagSpec) -> None:
        """Note the datasets a DAG is scheduled on (each pass of it)."""
        schedule = tuple(spec.schedule_on.datasets) if spec.schedule_on else ()
        if self._schedule_of.get(key, ()) == schedule:
            return
        self.forget_dag(key)
        if schedule:
            self._schedule_of[key] = schedule
            for uri in schedule:
                self._consumers.setdefault((key[0], uri), set()).add(key[1])

    def forget_dag(self, key: NamespacedName) -> None:
        for uri in self._schedule_of.pop(key, ()):
            consumers = self._consumers.get((key[0], uri))
            if consumers is not None:
                consumers.discard(key[1])
                if not consumers:
                    del self._consumers[(key[0], uri)]


def _sequence(body: Mapping[str, Any]) -> int:
    return int((body.get("status") or {}).get("sequence") or 0)


class DatasetLinks:
    """The reconcilers' side of dataset scheduling. A recorded update reaches the DAGs
    scheduled on the dataset through the Dataset's watch event (`dataset_event`), whoever
    wrote it."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.book = DatasetBook()

    def dataset_event(
        self,
        event_type: str | None,
        body: dict[str, Any],
        wake_dag: Callable[[NamespacedName], None],
    ) -> None:
        """A Dataset's news (an update recorded, by the controller or `kubedag datasets
        touch`) wakes the DAGs scheduled on it."""
        if event_type == "DELETED":
            self.book.forget_dataset(body)
            return
        for dag in self.book.put_dataset(body):
            wake_dag(dag)

    def note(self, run: DagRun, new: DagRunStatus, snapshot: Snapshot) -> DagRunStatus:
        """The status a pass writes, with the dataset updates its change makes (a successful
        run's outputs, a successful try's outlets) kept in it until they are recorded."""
        outlets = {t.name: t.outlets for t in snapshot.tasks if t.outlets}
        if not (snapshot.outputs or outlets) or not records_dataset_updates(run.spec.run_type):
            return new
        updates = run_updates(
            dag=run.spec.dag_name,
            run=run.name,
            run_uid=run.uid,
            outputs=snapshot.outputs or [],
            outlets=outlets,
            before=run.status,
            after=new,
        )
        return with_updates(new, updates)

    async def record_stored(self, run: DagRun, now: datetime) -> DagRun:
        """Record the updates the run's stored status keeps (written with the change that
        made them), each once; returns the run without those now recorded, so the pass's
        write removes them (a failed one stays, for the next pass)."""
        left: list[UnrecordedUpdate] = []
        for entry in run.status.dataset_updates or []:
            update = to_record(entry, run.spec.dag_name, run.name)
            try:
                written = await record_update(
                    self.kube,
                    run.namespace,
                    update,
                    now,
                    self.book.body(run.namespace, entry.dataset),
                )
            except ApiError as error:
                log.warning(
                    "dataset %s: update by run %s not recorded yet: %s",
                    entry.dataset,
                    run.name,
                    error,
                )
                left.append(entry)
                continue
            if written is not None:
                log.info("dataset %s updated by run %s/%s", entry.dataset, run.namespace, run.name)
                self.book.put_dataset(written)
        if len(left) == len(run.status.dataset_updates or []):
            return run
        status = run.status.model_copy(update={"dataset_updates": left or None})
        return run.model_copy(update={"status": status})

    async def idle_pass(
        self, run: DagRun, body: dict[str, Any], writer: StatusWriter, now: datetime
    ) -> datetime | None:
        """A finished run whose status keeps unrecorded updates: record them and write the
        status without them; returns when to look again (at once if some are left)."""
        recorded = await self.record_stored(run, now)
        if recorded is not run:
            await writer.write(
                run.key, recorded.status.to_wire(), body["metadata"]["resourceVersion"]
            )
        return now if recorded.status.dataset_updates else None

    def trigger(self, dag: Dag) -> DatasetTrigger | None:
        """For a DAG scheduled on datasets: whether it is due (None for any other DAG)."""
        if dag.spec.schedule_on is None:
            return None
        created = dag.metadata.get("creationTimestamp")
        return dataset_trigger(
            datasets=dag.spec.schedule_on.datasets,
            statuses={u: self.book.status(dag.namespace, u) for u in dag.spec.schedule_on.datasets},
            consumed=dag.status.datasets if dag.status else None,
            dag_created=parse_time(created) if created else None,
        )

    async def create_run(
        self, dag: Dag, trigger: DatasetTrigger
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Create the run `trigger` asks for: its manifest, and the created object (None when
        it exists already, made by a pass whose status write did not happen: done)."""
        assert trigger.run is not None
        manifest = manifests.dataset_triggered_run(
            namespace=dag.namespace, dag_name=dag.name, dag_uid=dag.uid or None, run=trigger.run
        )
        created = await self.kube.create(custom_path("dagruns", dag.namespace), manifest)
        log.info(
            "created dataset-triggered run %s/%s (%d updates)",
            dag.namespace,
            manifest["metadata"]["name"],
            trigger.run.triggered_by.count,
        )
        return manifest, created
