"""CustomResourceDefinitions generated from the pydantic models, so the two cannot drift.

CRD schemas must be structural: no $ref, no anyOf-with-null for optional fields, free-form
objects marked with x-kubernetes-preserve-unknown-fields. This module turns pydantic's JSON
Schema into that form.
"""

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from kubedag import GROUP, VERSION
from kubedag.models.backfill import BackfillSpec, BackfillStatus
from kubedag.models.dag import DagSpec, DagStatus
from kubedag.models.dagrun import DagRunSpec, DagRunStatus
from kubedag.models.dataset import DatasetSpec, DatasetStatus
from kubedag.models.pool import PoolSpec, PoolStatus

_DROPPED_KEYS = {"title"}


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with every $ref inlined and pydantic-isms made structural."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions = raw.pop("$defs", {})

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            target = definitions[node["$ref"].rsplit("/", 1)[-1]]
            merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
            return convert(merged)
        if "anyOf" in node:
            options = [o for o in node["anyOf"] if o.get("type") != "null"]
            if len(options) == 1:
                rest = {k: v for k, v in node.items() if k not in ("anyOf", "default")}
                if node.get("default") is not None:
                    rest["default"] = node["default"]
                return convert({**options[0], **rest})
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROPPED_KEYS:
                continue
            if key == "properties":
                out[key] = {name: convert(prop) for name, prop in value.items()}
            else:
                out[key] = convert(value)
        if out.get("type") == "object":
            # Structural schemas forbid additionalProperties beside properties; unknown fields
            # are pruned instead. `true` (free-form or extra="allow") means keep them.
            extra = out.pop("additionalProperties", None)
            if extra is True:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(extra, dict) and "properties" not in out:
                out["additionalProperties"] = extra
        if out.get("default") == [] or out.get("default") == {}:
            del out["default"]
        return out

    schema: dict[str, Any] = convert(raw)
    return schema


def _crd(
    *,
    kind: str,
    plural: str,
    short_names: list[str],
    spec_model: type[BaseModel],
    status_model: type[BaseModel],
    columns: list[dict[str, Any]],
    description: str,
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short_names,
                "categories": ["kubedag"],
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": description,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": structural_schema(spec_model),
                                "status": structural_schema(status_model),
                            },
                        }
                    },
                }
            ],
        },
    }


def dag_crd() -> dict[str, Any]:
    return _crd(
        kind="DAG",
        plural="dags",
        short_names=["dag"],
        spec_model=DagSpec,
        status_model=DagStatus,
        description="A data pipeline: a schedule and a graph of tasks, each run as a pod.",
        columns=[
            {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule"},
            {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"},
            {"name": "Last Run", "type": "date", "jsonPath": ".status.lastScheduledRun"},
            {"name": "Next Run", "type": "string", "jsonPath": ".status.nextRunAfter"},
            {"name": "Backlog", "type": "integer", "jsonPath": ".status.backlog.due"},
            {
                "name": "Ready",
                "type": "string",
                "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
            },
            {
                "name": "Reason",
                "type": "string",
                "priority": 1,
                "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
            },
            {
                "name": "On Datasets",
                "type": "string",
                "priority": 1,
                "jsonPath": ".spec.scheduleOn.datasets",
            },
            {"name": "Owner", "type": "string", "priority": 1, "jsonPath": ".spec.owner"},
            {"name": "Shard", "type": "string", "priority": 1, "jsonPath": ".status.shard"},
            {
                "name": "Last Success",
                "type": "date",
                "priority": 1,
                "jsonPath": ".status.lastSuccessfulRun.finishedAt",
            },
            {
                "name": "Last Failure",
                "type": "date",
                "priority": 1,
                "jsonPath": ".status.lastFailedRun.finishedAt",
            },
            {
                "name": "Description",
                "type": "string",
                "priority": 1,
                "jsonPath": ".spec.description",
            },
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )


def dagrun_crd() -> dict[str, Any]:
    return _crd(
        kind="DagRun",
        plural="dagruns",
        short_names=["dr"],
        spec_model=DagRunSpec,
        status_model=DagRunStatus,
        description="One run of a DAG for one data interval, with the state of each task.",
        columns=[
            {"name": "DAG", "type": "string", "jsonPath": ".spec.dagName"},
            {"name": "Logical Date", "type": "string", "jsonPath": ".status.logicalDate"},
            {"name": "Type", "type": "string", "jsonPath": ".spec.runType"},
            {"name": "State", "type": "string", "jsonPath": ".status.state"},
            {"name": "Tasks", "type": "string", "jsonPath": ".status.progress"},
            {"name": "Started", "type": "date", "jsonPath": ".status.startTime"},
            {"name": "Duration", "type": "string", "jsonPath": ".status.duration"},
            {
                "name": "Message",
                "type": "string",
                "priority": 1,
                "jsonPath": '.status.conditions[?(@.type=="Succeeded")].message',
            },
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )


def backfill_crd() -> dict[str, Any]:
    return _crd(
        kind="Backfill",
        plural="backfills",
        short_names=["bf"],
        spec_model=BackfillSpec,
        status_model=BackfillStatus,
        description="Runs of a DAG for a range of past logical dates, created as its own"
        " maxActiveRuns allows.",
        columns=[
            {"name": "DAG", "type": "string", "jsonPath": ".spec.dagName"},
            {"name": "From", "type": "string", "jsonPath": ".spec.from"},
            {"name": "To", "type": "string", "jsonPath": ".spec.to"},
            {"name": "State", "type": "string", "jsonPath": ".status.state"},
            {"name": "Created/Planned", "type": "string", "jsonPath": ".status.progress"},
            {"name": "Succeeded", "type": "integer", "jsonPath": ".status.succeeded.count"},
            {"name": "Failed", "type": "integer", "jsonPath": ".status.failed.count"},
            {
                "name": "Reason",
                "type": "string",
                "priority": 1,
                "jsonPath": '.status.conditions[?(@.type=="Accepted")].reason',
            },
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )


def pool_crd() -> dict[str, Any]:
    return _crd(
        kind="Pool",
        plural="pools",
        short_names=["pl"],
        spec_model=PoolSpec,
        status_model=PoolStatus,
        description="Slots that task pods of any DAG in the namespace share (Airflow's pools):"
        " a task names its pool and the slots it takes.",
        columns=[
            {"name": "Slots", "type": "integer", "jsonPath": ".spec.slots"},
            {"name": "Used", "type": "integer", "jsonPath": ".status.usedSlots"},
            {"name": "Queued", "type": "integer", "jsonPath": ".status.queuedSlots"},
            {"name": "Scheduled", "type": "integer", "jsonPath": ".status.scheduledSlots"},
            {"name": "Open", "type": "integer", "jsonPath": ".status.openSlots"},
            {
                "name": "Running",
                "type": "integer",
                "priority": 1,
                "jsonPath": ".status.runningSlots",
            },
            {
                "name": "Description",
                "type": "string",
                "priority": 1,
                "jsonPath": ".spec.description",
            },
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )


def dataset_crd() -> dict[str, Any]:
    return _crd(
        kind="Dataset",
        plural="datasets",
        short_names=["ds"],
        spec_model=DatasetSpec,
        status_model=DatasetStatus,
        description="A dataset's recent updates (Airflow's dataset events), which start the"
        " runs of DAGs scheduled on it.",
        columns=[
            {"name": "URI", "type": "string", "jsonPath": ".spec.uri"},
            {"name": "Updates", "type": "integer", "jsonPath": ".status.sequence"},
            {"name": "Last Update", "type": "date", "jsonPath": ".status.lastUpdate"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )


CRD_FILES = {
    "kubedag.io_dags.yaml": dag_crd,
    "kubedag.io_dagruns.yaml": dagrun_crd,
    "kubedag.io_backfills.yaml": backfill_crd,
    "kubedag.io_pools.yaml": pool_crd,
    "kubedag.io_datasets.yaml": dataset_crd,
}


def render_crds() -> dict[str, str]:
    """File name -> YAML text, exactly as committed under crds/."""
    header = "# Generated by `kubedag crds` from controller/kubedag/models; do not edit.\n"
    return {
        name: header + yaml.safe_dump(build(), sort_keys=False, width=100)
        for name, build in CRD_FILES.items()
    }


def write_crds(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_crds().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written
