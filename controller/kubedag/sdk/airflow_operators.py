"""Airflow operators as kubedag tasks: BashOperator, KubernetesPodOperator, EmptyOperator.
Any other operator keeps its place in the graph as a task that fails, saying it was not
converted, so the dependencies stay as the file declares them."""

import ast
from typing import Any

from kubedag.sdk.airflow_values import QUIET, TASK_FIELDS, Notes, task_fields
from kubedag.sdk.static_eval import Evaluator, Unknown

EMPTY = {"EmptyOperator", "DummyOperator"}
# KubernetesPodOperator arguments about the pod's identity or Airflow's handling of it, with
# no kubedag counterpart to fill: the pod is the task's, named and deleted by kubedag.
_POD_HANDLING = {
    "name",
    "random_name_suffix",
    "get_logs",
    "in_cluster",
    "config_file",
    "cluster_context",
    "is_delete_operator_pod",
    "on_finish_action",
    "startup_timeout_seconds",
    "log_events_on_failure",
}
_XCOM_NOTE = (
    "a kubedag task's output is the JSON object it writes to /dev/termination-log,"
    " not /airflow/xcom/return.json"
)
_POD_FIELDS = {
    "image": "image",
    "cmds": "command",
    "arguments": "args",
    "image_pull_policy": "imagePullPolicy",
    "service_account_name": "serviceAccountName",
    "node_selector": "nodeSelector",
}


def is_operator(name: str) -> bool:
    last = name.split(".")[-1]
    return last.endswith(("Operator", "Sensor")) and last[:1].isupper()


def _env(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, dict):
        raise ValueError("env is converted from a dict of names to values")
    return [{"name": str(k), "value": str(v)} for k, v in value.items()]


def _bash(
    keywords: dict[str, ast.expr], evaluator: Evaluator, task_id: str
) -> tuple[dict[str, Any], Notes]:
    body: dict[str, Any] = {}
    notes: Notes = []
    command = keywords.pop("bash_command", None)
    try:
        if command is None:
            raise ValueError("no bash_command")
        body["command"] = ["bash", "-c", str(evaluator.value(command))]
    except (Unknown, ValueError) as why:
        notes.append(
            (getattr(command, "lineno", 0), f"not converted: task {task_id!r} bash_command ({why})")
        )
        body["command"] = _failing(task_id, "BashOperator with an unknown bash_command")
    # A pod's env adds to the image's environment: Airflow's append_env=True. Without it,
    # Airflow's env replaces the worker's environment, which a pod has no equivalent of.
    append = keywords.pop("append_env", None)
    if "env" in keywords:
        node = keywords.pop("env")
        try:
            body["env"] = _env(evaluator.value(node))
        except (Unknown, ValueError) as why:
            notes.append((node.lineno, f"not converted: task {task_id!r} env ({why})"))
        if append is None or ast.unparse(append) != "True":
            notes.append(
                (
                    node.lineno,
                    f"task {task_id!r} env: added to the image's environment (append_env=True),"
                    " not replacing it",
                )
            )
    skip = keywords.pop("skip_on_exit_code", None)
    if skip is not None and ast.unparse(skip) != "99":
        notes.append(
            (
                skip.lineno,
                f"not converted: task {task_id!r} skip_on_exit_code: kubedag skips on 99 only",
            )
        )
    return body, notes


def _pod(
    keywords: dict[str, ast.expr], evaluator: Evaluator, task_id: str
) -> tuple[dict[str, Any], Notes]:
    body: dict[str, Any] = {}
    notes: Notes = []
    for key in list(keywords):
        if key in _POD_HANDLING:
            keywords.pop(key)
        elif key in _POD_FIELDS or key == "env_vars":
            node = keywords.pop(key)
            try:
                value = evaluator.value(node)
                body[_POD_FIELDS.get(key, "env")] = _env(value) if key == "env_vars" else value
            except (Unknown, ValueError) as why:
                notes.append((node.lineno, f"not converted: task {task_id!r} {key} ({why})"))
        elif key == "do_xcom_push":
            node = keywords.pop(key)
            notes.append((node.lineno, f"task {task_id!r}: do_xcom_push: {_XCOM_NOTE}"))
    return body, notes


def _failing(task_id: str, what: str) -> list[str]:
    message = f"{what} {task_id!r} was not converted by kubedag import-airflow: write its container"
    return ["sh", "-c", f"echo {message!r} >&2; exit 1"]


def convert_operator(
    kind: str, task_id: str, keywords: dict[str, ast.expr], evaluator: Evaluator, line: int
) -> tuple[dict[str, Any], Notes]:
    """The task's fields (camelCase) and notes; `keywords` without task_id and dag."""
    notes: Notes = []
    keywords = dict(keywords)
    if kind == "BashOperator":
        body, notes = _bash(keywords, evaluator, task_id)
    elif kind == "KubernetesPodOperator":
        body, notes = _pod(keywords, evaluator, task_id)
    elif kind in EMPTY:
        body = {"command": ["true"]}
    else:
        body = {"command": _failing(task_id, kind)}
        if kind.startswith("Branch"):
            body["branch"] = True
        elif kind == "ShortCircuitOperator":
            body["shortCircuit"] = True
        what = f"not converted: task {task_id!r} ({kind}): it fails until its container is written"
        notes.append((line, what))
        known = {k: v for k, v in keywords.items() if k in TASK_FIELDS or k in QUIET}
        fields, _ = task_fields(known, evaluator, f"task {task_id!r}")
        return {**body, **fields}, notes
    fields, more = task_fields(keywords, evaluator, f"task {task_id!r}")
    return {**body, **fields}, notes + more
