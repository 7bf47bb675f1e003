"""A DAG manifest back into SDK objects: the DAG, its tasks and their `>>` edges."""

from typing import Any

from pydantic import BaseModel

from kubedag.models.dag import DagSpec, TaskDefaults, TaskSpec
from kubedag.sdk.dag import DAG
from kubedag.sdk.tasks import Task
from kubedag.sdk.values import SdkError


def _snake(model: type[BaseModel], body: dict[str, Any]) -> dict[str, Any]:
    """camelCase keys (as in YAML) into the models' field names (the SDK's keywords)."""
    names = {(info.alias or name): name for name, info in model.model_fields.items()}
    return {names.get(key, key): value for key, value in body.items()}


def dag_from_manifest(manifest: dict[str, Any]) -> DAG:
    metadata = dict(manifest.get("metadata") or {})
    spec = _snake(DagSpec, dict(manifest["spec"]))
    tasks = spec.pop("tasks")
    defaults = spec.pop("defaults", None)
    dag = DAG(
        metadata.pop("name"),
        default_args=_snake(TaskDefaults, defaults) if defaults is not None else None,
        **{k: metadata[k] for k in ("namespace", "labels", "annotations") if k in metadata},
        **spec,
    )
    made: dict[str, Task] = {}
    upstream: dict[str, list[str]] = {}
    for body in tasks:
        fields = _snake(TaskSpec, body)
        name = fields.pop("name")
        upstream[name] = list(fields.pop("depends_on", None) or [])
        made[name] = Task(name, dag=dag, **fields)
    for name, names in upstream.items():
        unknown = [n for n in names if n not in made]
        if unknown:
            raise SdkError(f"task {name!r} depends on unknown tasks {unknown}", dag.location)
        made[name].set_upstream([made[n] for n in names])
    return dag
