"""A DAG's tags as labels: the DAG pass patches `metadata.labels` when they differ, and
records in its status whether every tag could map (core/tags.py)."""

from datetime import datetime
from typing import Any

from kubedag.core.tags import CONDITION, labels_patch, tag_labels, tags_condition
from kubedag.kube.client import MERGE_PATCH, Kube, custom_path
from kubedag.manifests import render
from kubedag.models.common import find_condition, set_condition
from kubedag.models.dag import Dag, DagStatus


async def label_tags(
    kube: Kube, dag: Dag, body: dict[str, Any], status: DagStatus, now: datetime
) -> DagStatus:
    """Make the DAG's tag labels match its tags; returns `status` with its TagsLabelled
    condition (a Warning event names a tag that cannot map, once per message)."""
    mapped = tag_labels(dag.spec.tags)
    patch = labels_patch(dag.metadata.get("labels") or {}, mapped.labels)
    if patch:
        await kube.request(
            "PATCH",
            custom_path("dags", dag.namespace, dag.name),
            {"metadata": {"labels": patch}},
            content_type=MERGE_PATCH,
        )
    condition = tags_condition(mapped, bool(dag.spec.tags), dag.generation, now)
    old = find_condition(dag.status.conditions if dag.status else [], CONDITION)
    if condition is None:
        kept = [c for c in status.conditions if c.type != CONDITION]
        return status.model_copy(update={"conditions": kept})
    if condition.status == "False" and (old is None or old.message != condition.message):
        await kube.post_event(
            render.involved_object("DAG", body),
            type_="Warning",
            reason=condition.reason,
            message=condition.message,
            now=now,
        )
    return status.model_copy(update={"conditions": set_condition(status.conditions, condition)})
