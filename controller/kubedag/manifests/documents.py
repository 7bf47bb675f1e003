"""Reading DAG manifests from files: YAML documents, possibly several per file."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubedag.models.dag import Dag


@dataclass(frozen=True)
class Loaded:
    source: str  # "file.yaml" or "file.yaml#2" for the second document
    body: dict[str, Any]


def load_documents(path: Path) -> Iterator[Loaded]:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    for i, document in enumerate(documents, start=1):
        source = str(path) if len(documents) == 1 else f"{path}#{i}"
        if not isinstance(document, dict):
            raise ValueError(f"{source}: not a Kubernetes object")
        yield Loaded(source, document)


def dag_documents(path: Path) -> Iterator[Loaded]:
    """The DAG objects in a file (other kinds are skipped, so a bundle can be validated)."""
    for loaded in load_documents(path):
        if loaded.body.get("kind") == "DAG":
            yield loaded


def parse_dag(loaded: Loaded) -> Dag:
    body = dict(loaded.body)
    body.setdefault("metadata", {})
    body["metadata"] = {"namespace": "default", **body["metadata"]}
    return Dag.model_validate(body)
