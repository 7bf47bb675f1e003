"""`kubedag lineage` and `kubedag stale` over the three warehouse examples: golden outputs
(pure rendering from DAG objects; tests/unit/golden/, rewritten with
KUBEDAG_UPDATE_GOLDEN=1 after a deliberate change)."""

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kubedag.core.lineage import RENDERERS, lineage
from kubedag.core.stale import stale_dags, stale_table
from kubedag.manifests.documents import dag_documents, parse_dag
from kubedag.models.dag import Dag, DagStatus, RunOutcome

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def _example_dags() -> list[Dag]:
    """The examples as the cluster would hold them: the name-gender DAG last succeeded a
    day ago and is running again, the events DAG's newest run failed after an older success
    45 days back, and the summary never ran and is paused."""
    names = ["name-gender-etl.yaml", "events-incremental.yaml", "daily-summary.yaml"]
    dags = {
        dag.name: dag
        for name in names
        for dag in (parse_dag(d) for d in dag_documents(REPO / "examples" / name))
    }
    created = {"creationTimestamp": "2026-01-01T00:00:00Z"}
    dags["name-gender-etl"].metadata.update(created)
    dags["name-gender-etl"].status = DagStatus(
        active_runs=1,
        last_successful_run=RunOutcome(
            run="name-gender-etl-20261128-0000",
            finished_at=datetime(2026, 11, 29, 0, 5, tzinfo=UTC),
        ),
    )
    dags["events-incremental"].metadata.update(created)
    dags["events-incremental"].status = DagStatus(
        last_successful_run=RunOutcome(
            run="events-incremental-20261014-0000",
            finished_at=datetime(2026, 10, 15, 0, 2, tzinfo=UTC),
        ),
        last_failed_run=RunOutcome(
            run="events-incremental-20261015-0000",
            finished_at=datetime(2026, 10, 16, 0, 3, tzinfo=UTC),
        ),
    )
    summary = dags["daily-summary"]
    summary.metadata.update({"creationTimestamp": "2026-11-01T00:00:00Z"})
    summary.spec = summary.spec.model_copy(update={"paused": True})
    return list(dags.values())


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("KUBEDAG_UPDATE_GOLDEN") == "1":
        path.write_text(text + "\n")
    assert text + "\n" == path.read_text()


@pytest.mark.parametrize("output", sorted(RENDERERS))
def test_lineage_of_the_examples(output: str) -> None:
    _golden(f"lineage.{output}", RENDERERS[output](lineage(_example_dags())))


def test_lineage_around_one_dataset() -> None:
    graph = lineage(_example_dags(), "postgres://warehouse/raw_data.events")
    _golden("lineage-events.txt", RENDERERS["text"](graph))
    assert [n.name for n in graph.dags] == ["daily-summary", "events-incremental"]


def test_lineage_json_is_one_document() -> None:
    document = json.loads(RENDERERS["json"](lineage(_example_dags())))
    assert {d["name"]: d["lastRun"]["state"] for d in document["dags"]} == {
        "daily-summary": None,
        "events-incremental": "failed",
        "name-gender-etl": "running",
    }


def test_stale_of_the_examples() -> None:
    found = stale_dags(_example_dags(), days=30, now=NOW)
    _golden("stale.txt", stale_table(found))
    assert {s.name: s.reasons for s in found} == {
        "daily-summary": ["paused", "never succeeded"],
        "events-incremental": ["no success in 30 days"],
    }
    assert [s.name for s in stale_dags(_example_dags(), days=60, now=NOW)] == ["daily-summary"]
