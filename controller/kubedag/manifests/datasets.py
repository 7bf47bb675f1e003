"""The objects dataset scheduling writes: a Dataset, and a dataset-triggered DagRun."""

from typing import Any

from kubedag import API_VERSION
from kubedag.core.datasets import TriggeredRun
from kubedag.core.naming import LABEL_MANAGED_BY, MANAGED_BY, dataset_name
from kubedag.manifests import render
from kubedag.models.dagrun import RunType


def dataset(namespace: str, uri: str) -> dict[str, Any]:
    """The Dataset of `uri`, named from it (a second create meets AlreadyExists)."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Dataset",
        "metadata": {
            "name": dataset_name(uri),
            "namespace": namespace,
            "labels": {LABEL_MANAGED_BY: MANAGED_BY},
        },
        "spec": {"uri": uri},
    }


def dataset_triggered_run(
    *, namespace: str, dag_name: str, dag_uid: str | None, run: TriggeredRun
) -> dict[str, Any]:
    """A dataset-triggered DagRun, named by its DAG and logical date (the newest triggering
    update's time), recording the updates that started it."""
    manifest = render.dagrun(
        namespace=namespace,
        dag_name=dag_name,
        dag_uid=dag_uid,
        run_type=RunType.DATASET_TRIGGERED,
        logical_date=run.logical_date,
        interval=run.interval,
    )
    manifest["spec"]["triggeredBy"] = run.triggered_by.to_wire()
    return manifest
