"""The dataset catalog, as a pure function of DAGs and Datasets: for each dataset (per
namespace), the DAGs and tasks that update it, the DAGs that read it or are scheduled on
it, and its last update. `kubedag datasets` prints it."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from kubedag.core.dates import rfc3339
from kubedag.models.dag import Dag
from kubedag.models.dataset import Dataset


@dataclass
class CatalogEntry:
    namespace: str
    uri: str
    producers: list[str] = field(default_factory=list)
    """`dag` (its outputs) or `dag/task` (the task's outlets)."""
    consumers: list[str] = field(default_factory=list)
    """`dag (scheduled)` for a DAG scheduled on it, `dag` for one that lists it in inputs."""
    updates: int = 0
    last_update: datetime | None = None


def catalog(dags: Sequence[Dag], datasets: Sequence[Dataset]) -> list[CatalogEntry]:
    """Every dataset a DAG names or a Dataset records, ordered by namespace and URI."""
    entries: dict[tuple[str, str], CatalogEntry] = {}

    def entry(namespace: str, uri: str) -> CatalogEntry:
        return entries.setdefault((namespace, uri), CatalogEntry(namespace, uri))

    for dag in sorted(dags, key=lambda d: (d.namespace, d.name)):
        spec, ns = dag.spec, dag.namespace
        for uri in spec.outputs or []:
            entry(ns, uri).producers.append(dag.name)
        for task in spec.tasks:
            for uri in task.outlets or []:
                entry(ns, uri).producers.append(f"{dag.name}/{task.name}")
        scheduled = set(spec.schedule_on.datasets) if spec.schedule_on else set()
        for uri in sorted(scheduled):
            entry(ns, uri).consumers.append(f"{dag.name} (scheduled)")
        for uri in spec.inputs or []:
            if uri not in scheduled:
                entry(ns, uri).consumers.append(dag.name)
    for dataset in datasets:
        found = entry(dataset.namespace, dataset.spec.uri)
        if dataset.status is not None:
            found.updates = dataset.status.sequence
            found.last_update = dataset.status.last_update
    return [entries[key] for key in sorted(entries)]


def catalog_table(entries: Sequence[CatalogEntry], *, namespaces: bool) -> str:
    """`kubedag datasets`: one line per dataset."""
    header = ["DATASET", "PRODUCERS", "CONSUMERS", "UPDATES", "LAST UPDATE"]
    rows = [
        [
            e.uri,
            ", ".join(e.producers) or "-",
            ", ".join(e.consumers) or "-",
            str(e.updates),
            rfc3339(e.last_update) if e.last_update else "-",
        ]
        for e in entries
    ]
    if namespaces:
        header.insert(0, "NAMESPACE")
        rows = [[e.namespace, *row] for e, row in zip(entries, rows, strict=True)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )
