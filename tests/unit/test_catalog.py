"""`kubedag datasets` over the three warehouse examples: a golden output (pure rendering
from DAG and Dataset objects)."""

from datetime import UTC, datetime
from pathlib import Path

from kubedag.core.catalog import catalog, catalog_table
from kubedag.core.datasets import DatasetUpdate, record
from kubedag.manifests.documents import dag_documents, parse_dag
from kubedag.models.dataset import Dataset, DatasetSpec

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = ["name-gender-etl.yaml", "events-incremental.yaml", "daily-summary.yaml"]
GOLDEN = Path(__file__).parent / "golden" / "datasets.txt"


def test_catalog_of_the_examples() -> None:
    dags = [parse_dag(d) for name in EXAMPLES for d in dag_documents(REPO / "examples" / name)]
    at = datetime(2026, 11, 30, 1, 2, 3, tzinfo=UTC)
    status = record(None, DatasetUpdate("x", "uid@t", "run", "events-incremental", "r"), at)
    events = Dataset(
        metadata={"name": "d", "namespace": "default"},
        spec=DatasetSpec(uri="postgres://warehouse/raw_data.events"),
        status=status,
    )
    text = catalog_table(catalog(dags, [events]), namespaces=False) + "\n"
    assert text == GOLDEN.read_text()
