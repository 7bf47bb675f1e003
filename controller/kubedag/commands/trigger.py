"""`kubedag trigger DAG`: create a manual DagRun, as `kubectl create -f` of one does."""

from datetime import datetime
from typing import Any

from kubedag.commands.common import CliError
from kubedag.kube.client import ApiError, Kube, custom_path
from kubedag.manifests import render
from kubedag.models.dagrun import RunType


async def trigger(
    kube: Kube, namespace: str, dag: str, conf: dict[str, Any] | None, logical: datetime
) -> dict[str, Any]:
    """Create a manual run of the DAG (the CLI's and the web view's request); the run."""
    try:
        body = await kube.get(custom_path("dags", namespace, dag))
        if body is None:
            raise CliError(f"DAG {dag!r} not found in namespace {namespace}", 404)
        manifest = render.dagrun(
            namespace=namespace,
            dag_name=dag,
            dag_uid=body["metadata"]["uid"],
            run_type=RunType.MANUAL,
            logical_date=logical,
            conf=conf,
        )
        created = await kube.create(custom_path("dagruns", namespace), manifest)
    except ApiError as error:
        raise CliError(f"could not create DagRun: {error.message}", error.status) from None
    name = str(manifest["metadata"]["name"])
    if created is None:
        raise CliError(f"DagRun {name} already exists (same DAG and logical date)", 409)
    return created
