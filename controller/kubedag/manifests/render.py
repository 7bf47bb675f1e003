"""The pod manifest of one task try: pure rendering, no API calls."""

from typing import Any

from kubedag import API_VERSION
from kubedag.core.dates import rfc3339
from kubedag.core.naming import (
    LABEL_DAG,
    LABEL_DAGRUN,
    LABEL_MANAGED_BY,
    LABEL_TASK,
    LABEL_TRY,
    label_value,
    pod_name,
)
from kubedag.core.snapshot import ResolvedTask
from kubedag.core.templating import RunContext, TemplateError, render

CONTAINER_NAME = "task"


def _render_list(items: list[str] | None, variables: dict[str, Any], where: str) -> list[str]:
    rendered = []
    for i, item in enumerate(items or []):
        try:
            rendered.append(render(item, variables))
        except TemplateError as error:
            raise TemplateError(f"{where}[{i}]: {error}") from None
    return rendered


def _env(task: ResolvedTask, ctx: RunContext, variables: dict[str, Any]) -> list[dict[str, Any]]:
    builtin = {
        "KUBEDAG_DAG": ctx.dag_name,
        "KUBEDAG_RUN_ID": ctx.run_id,
        "KUBEDAG_TASK": ctx.task_name,
        "KUBEDAG_TRY_NUMBER": str(ctx.try_number),
        "KUBEDAG_LOGICAL_DATE": rfc3339(ctx.logical_date),
        "KUBEDAG_DATA_INTERVAL_START": rfc3339(ctx.data_interval_start),
        "KUBEDAG_DATA_INTERVAL_END": rfc3339(ctx.data_interval_end),
    }
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in builtin.items()]
    for var in task.env or []:
        item = var.to_wire()
        if var.value is not None:
            try:
                item["value"] = render(var.value, variables)
            except TemplateError as error:
                raise TemplateError(f"env {var.name}: {error}") from None
        env.append(item)
    return env


def render_pod(
    task: ResolvedTask,
    ctx: RunContext,
    *,
    namespace: str,
    owner: dict[str, Any] | None,
    default_service_account: str | None = None,
) -> dict[str, Any]:
    """The pod for try ctx.try_number of `task`; raises TemplateError naming the field.

    `owner` is the DagRun's ownerReference (uid included) so the garbage collector removes
    the pods with their run.
    """
    variables = ctx.variables()
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": task.image,
        "env": _env(task, ctx, variables),
    }
    if task.command:
        container["command"] = _render_list(task.command, variables, "command")
    if task.args:
        container["args"] = _render_list(task.args, variables, "args")
    optional_container = {
        "imagePullPolicy": task.image_pull_policy,
        "envFrom": task.env_from,
        "resources": task.resources,
        "volumeMounts": task.volume_mounts,
    }
    container.update({k: v for k, v in optional_container.items() if v})

    spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    optional_pod = {
        "serviceAccountName": task.service_account_name or default_service_account,
        "volumes": task.volumes,
        "nodeSelector": task.node_selector,
        "tolerations": task.tolerations,
        "securityContext": task.security_context,
    }
    spec.update({k: v for k, v in optional_pod.items() if v})

    metadata: dict[str, Any] = {
        "name": pod_name(ctx.run_id, ctx.task_name, ctx.try_number),
        "namespace": namespace,
        "labels": {
            LABEL_DAG: label_value(ctx.dag_name),
            LABEL_DAGRUN: label_value(ctx.run_id),
            LABEL_TASK: ctx.task_name,
            LABEL_TRY: str(ctx.try_number),
            LABEL_MANAGED_BY: "kubedag",
        },
        "annotations": {"kubedag.io/logical-date": rfc3339(ctx.logical_date)},
    }
    if owner is not None:
        metadata["ownerReferences"] = [owner]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def owner_reference(kind: str, name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
    }
