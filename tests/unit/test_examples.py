"""Every manifest in examples/ is what `kubedag validate` accepts (invalid-dag.yaml excepted:
it shows the messages), and its other kubedag objects are what the models accept, so a user
can copy any of them."""

from pathlib import Path

import pytest
import yaml

from kubedag.cli import main
from kubedag.models.backfill import Backfill
from kubedag.models.dagrun import DagRun
from kubedag.models.dataset import Dataset
from kubedag.models.pool import Pool

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MEANT_TO_FAIL = {"invalid-dag.yaml"}
OTHER_KINDS = {"Backfill": Backfill, "DagRun": DagRun, "Pool": Pool, "Dataset": Dataset}


def _documents(path: Path) -> list[dict[str, object]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_validates(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    documents = _documents(path)
    for document in documents:
        model = OTHER_KINDS.get(str(document["kind"]))
        if model is not None:
            model.model_validate({"metadata": {}, **document})
    if not any(d["kind"] == "DAG" for d in documents):
        return
    code = main(["validate", str(path)])
    out = capsys.readouterr().out
    if path.name in MEANT_TO_FAIL:
        assert code == 1, out
    else:
        assert code == 0, out
        assert "invalid" not in out


def test_the_warehouse_examples_are_there() -> None:
    names = {p.name for p in EXAMPLES.glob("*.yaml")}
    assert {"name-gender-etl.yaml", "events-incremental.yaml", "daily-summary.yaml"} <= names
