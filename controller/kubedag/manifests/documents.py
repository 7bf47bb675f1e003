"""Reading DAG manifests from files: YAML documents, possibly several per file."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from kubedag.models.dag import Dag


@dataclass(frozen=True)
class Loaded:
    source: str  # "file.yaml" or "file.yaml#2" for the second document
    body: dict[str, Any]


# libyaml's loader when PyYAML was built with it: a 10,000-task DAG loads in a second, not
# ten (the same safe schema).
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_documents(path: Path) -> Iterator[Loaded]:
    documents = [d for d in yaml.load_all(path.read_text(), Loader=_LOADER) if d]
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
    """The DAG, typed as the API server types it: strictly, from JSON, so a value of the
    wrong type (`retries: "3"`, `paused: "yes"`, `retries: 2.5`) is refused here as
    `kubectl apply` refuses it, not converted. YAML's own dates and times (unquoted
    `startDate: 2026-01-01`) are the strings kubectl sends for them."""
    body = json.loads(json.dumps(loaded.body, default=_yaml_time))
    metadata = body.get("metadata")
    body["metadata"] = {"namespace": "default", **(metadata if isinstance(metadata, dict) else {})}
    spec = body.get("spec")
    for key in ("startDate", "endDate") if isinstance(spec, dict) else ():
        # Strict validation takes no date alone; the CRD does, and lax validation reads it
        # as its midnight.
        if isinstance(spec.get(key), str) and _is_date(spec[key]):
            spec[key] += "T00:00:00"
    return Dag.model_validate_json(json.dumps(body), strict=True)


def _is_date(text: str) -> bool:
    try:
        return len(text) == 10 and bool(date.fromisoformat(text))
    except ValueError:
        return False


def _yaml_time(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a JSON value")
