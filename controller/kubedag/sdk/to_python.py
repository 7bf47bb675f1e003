"""A DAG manifest as kubedag.sdk Python source: what `kubedag import-airflow --python` prints,
a starting point to edit (the source, run, emits the manifest back)."""

import json
import keyword
import re
from typing import Any

from pydantic import BaseModel

from kubedag.models.dag import DagSpec, TaskDefaults, TaskSpec

_INDENT = "    "


def _python_names(model: type[BaseModel]) -> dict[str, str]:
    return {(info.alias or name): name for name, info in model.model_fields.items()}


def variable(task_name: str) -> str:
    """extract-orders -> extract_orders, a Python name for the task."""
    name = re.sub(r"\W", "_", task_name)
    return f"task_{name}" if keyword.iskeyword(name) or name[:1].isdigit() else name


def _string(value: str) -> str:
    """The most readable Python literal of a string: scripts as triple-quoted blocks (raw
    when they hold backslashes), double quotes unless the text holds some."""
    if "\n" in value and '"""' not in value and not value.endswith(("\\", '"')):
        return ('r"""' if "\\" in value else '"""\\\n') + value + '"""'
    if '"' in value and "'" not in value and value.isprintable() and not value.endswith("\\"):
        return ("r'" if "\\" in value else "'") + value + "'"
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a Python literal


def literal(value: Any, depth: int) -> str:
    """A Python literal of a JSON value; scripts as triple-quoted strings."""
    pad = _INDENT * (depth + 1)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [
            f"{pad}{literal(k, depth + 1)}: {literal(v, depth + 1)}," for k, v in value.items()
        ]
        return "{\n" + "\n".join(items) + "\n" + _INDENT * depth + "}"
    if isinstance(value, list):
        one_line = "[" + ", ".join(literal(v, depth + 1) for v in value) + "]"
        if len(one_line) <= 60 and "\n" not in one_line:
            return one_line
        items = [f"{pad}{literal(v, depth + 1)}," for v in value]
        return "[\n" + "\n".join(items) + "\n" + _INDENT * depth + "]"
    return repr(value)


def _keywords(body: dict[str, Any], names: dict[str, str], depth: int) -> list[str]:
    pad = _INDENT * depth
    return [f"{pad}{names.get(k, k)}={literal(v, depth)}," for k, v in body.items()]


def dag_source(manifest: dict[str, Any], used: set[str]) -> str:
    """`with DAG(...):` and its tasks and edges, for one manifest; adds the SDK names it
    uses to `used`."""
    metadata, spec = dict(manifest["metadata"]), dict(manifest["spec"])
    tasks, defaults = spec.pop("tasks"), spec.pop("defaults", None)
    lines = ["with DAG(", f"{_INDENT}{literal(metadata.pop('name'), 1)},"]
    lines += [f"{_INDENT}{k}={literal(v, 1)}," for k, v in metadata.items() if k != "namespace"]
    if "namespace" in metadata:
        lines.append(f"{_INDENT}namespace={literal(metadata['namespace'], 1)},")
    lines += _keywords(spec, _python_names(DagSpec), 1)
    if defaults is not None:
        names = _python_names(TaskDefaults)
        default_args = {names.get(k, k): v for k, v in defaults.items()}
        lines.append(f"{_INDENT}default_args={literal(default_args, 1)},")
    lines.append("):")
    edges: list[str] = []
    followers: dict[str, list[str]] = {}  # tasks with one upstream task, by it
    task_names = _python_names(TaskSpec)
    for task in tasks:
        body = dict(task)
        name, upstream = body.pop("name"), body.pop("dependsOn", [])
        command = body.get("command") or []
        bash = (
            len(command) == 3
            and command[:2] == ["bash", "-c"]
            and "args" not in body
            and bool(body.get("image") or (defaults or {}).get("image"))
        )
        lines.append(f"{_INDENT}{variable(name)} = {'BashTask' if bash else 'Task'}(")
        lines.append(f"{_INDENT * 2}{literal(name, 2)},")
        if bash:
            lines.append(f"{_INDENT * 2}{literal(body.pop('command')[2], 2)},")
            used.add("BashTask")
        else:
            used.add("Task")
        lines += _keywords(body, task_names, 2)
        lines.append(f"{_INDENT})")
        if len(upstream) == 1:
            followers.setdefault(upstream[0], []).append(name)
        elif upstream:
            sources = ", ".join(variable(u) for u in upstream)
            edges.append(f"{_INDENT}[{sources}] >> {variable(name)}")
    for up, downs in reversed(followers.items()):
        targets = variable(downs[0]) if len(downs) == 1 else f"[{', '.join(map(variable, downs))}]"
        edges.insert(0, f"{_INDENT}{variable(up)} >> {targets}")
    return "\n".join(lines + edges) + "\n"


def python_source(manifests: list[dict[str, Any]], header: str = "") -> str:
    """A Python DAG file for `kubedag build`, making every one of the manifests' DAGs."""
    used = {"DAG"}
    bodies = ["\n" + dag_source(m, used) for m in manifests]
    return "".join([header, f"from kubedag.sdk import {', '.join(sorted(used))}\n", *bodies])
