"""An Airflow DAG's and task's keyword arguments as kubedag's fields: schedules, dates,
durations, trigger rules, default_args. Each function returns the fields and notes of what it
could not map, as (line, message)."""

import ast
from datetime import datetime, timedelta
from typing import Any

from kubedag.models.dag import TriggerRule
from kubedag.sdk.static_eval import Evaluator, Unknown, ZonedDatetime
from kubedag.sdk.values import go_duration, timestamp_text

Notes = list[tuple[int, str]]

# Airflow's task arguments that are kubedag task fields, with their camelCase names.
TASK_FIELDS = {
    "retries": "retries",
    "retry_delay": "retryDelay",
    "retry_exponential_backoff": "retryExponentialBackoff",
    "max_retry_delay": "maxRetryDelay",
    "execution_timeout": "executionTimeout",
    "depends_on_past": "dependsOnPast",
    "wait_for_downstream": "waitForDownstream",
    "ignore_first_depends_on_past": "ignoreFirstDependsOnPast",
    "trigger_rule": "triggerRule",
    "pool": "pool",
    "pool_slots": "poolSlots",
    "priority_weight": "priorityWeight",
    "weight_rule": "weightRule",
    "max_active_tis_per_dag": "maxActiveTisPerDag",
}
# Airflow 2 names of trigger rules that Airflow 3 renamed.
_OLD_TRIGGER_RULES = {"none_failed_or_skipped": "none_failed_min_one_success", "dummy": "always"}
# Arguments that only describe (documentation, UI): dropped without a note.
QUIET = {"doc", "doc_md", "doc_rst", "doc_json", "doc_yaml", "owner_links", "task_display_name"}
_PRESETS = {
    timedelta(hours=1): "@hourly",
    timedelta(days=1): "@daily",
    timedelta(weeks=1): "@weekly",
}


def field_value(key: str, value: Any) -> Any:
    """A task field's value as the CRD spells it; ValueError when it has no kubedag form."""
    if isinstance(value, timedelta):
        return go_duration(value)
    if key == "trigger_rule":
        rule = _OLD_TRIGGER_RULES.get(str(value), str(value))
        if rule not in {r.value for r in TriggerRule}:
            raise ValueError(f"trigger rule {value!r} is not one of kubedag's")
        return rule
    return value


def task_fields(
    keywords: dict[str, ast.expr], evaluator: Evaluator, where: str
) -> tuple[dict[str, Any], Notes]:
    """The task fields among an operator's (or default_args') arguments; the rest noted."""
    fields: dict[str, Any] = {}
    notes: Notes = []
    for key, node in keywords.items():
        if key in QUIET:
            continue
        if key not in TASK_FIELDS:
            notes.append(
                (node.lineno, f"not converted: {where} argument {key}={ast.unparse(node)}")
            )
            continue
        try:
            fields[TASK_FIELDS[key]] = field_value(key, evaluator.value(node))
        except (Unknown, ValueError) as why:
            notes.append((node.lineno, f"not converted: {where} {key}={ast.unparse(node)} ({why})"))
    return fields, notes


def _timestamp(value: Any) -> tuple[str, str | None]:
    if isinstance(value, ZonedDatetime):
        return timestamp_text(value.value), value.zone
    if isinstance(value, datetime):
        return timestamp_text(value), None
    raise ValueError(f"{value!r} is not a date")


def _schedule(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, timedelta) and value in _PRESETS:
        return _PRESETS[value]
    raise ValueError("kubedag schedules are cron expressions or presets")


def _default_args(node: ast.expr, evaluator: Evaluator, spec: dict[str, Any]) -> Notes:
    if not isinstance(node, ast.Dict):
        return [(node.lineno, f"not converted: default_args={ast.unparse(node)}: not a dict")]
    items = {
        evaluator.value(k): v
        for k, v in zip(node.keys, node.values, strict=True)
        if isinstance(k, ast.Constant)
    }
    notes: Notes = []
    owner = items.pop("owner", None)
    if owner is not None:
        spec["owner"] = evaluator.value(owner)
    for date_key in ("start_date", "end_date"):
        if date_key in items:
            notes += _dag_field(date_key, items.pop(date_key), evaluator, spec, only_if_unset=True)
    defaults, more = task_fields(items, evaluator, "default_args")
    if defaults:
        spec["defaults"] = {**spec.get("defaults", {}), **defaults}
    return notes + more


def _dag_field(
    key: str,
    node: ast.expr,
    evaluator: Evaluator,
    spec: dict[str, Any],
    only_if_unset: bool = False,
) -> Notes:
    camel = {"start_date": "startDate", "end_date": "endDate"}.get(key)
    try:
        value = evaluator.value(node)
        if camel:
            if only_if_unset and camel in spec:
                return []
            spec[camel], zone = _timestamp(value)
            if zone:
                spec.setdefault("timezone", zone)
        elif key in ("schedule", "schedule_interval"):
            schedule = _schedule(value)
            if schedule is not None:
                spec["schedule"] = schedule
        elif key == "dagrun_timeout":
            spec["dagrunTimeout"] = go_duration(value)
        elif key in (
            "catchup",
            "description",
            "tags",
            "params",
            "max_active_runs",
            "max_active_tasks",
        ):
            camel_key = {"max_active_runs": "maxActiveRuns", "max_active_tasks": "maxActiveTasks"}
            spec[camel_key.get(key, key)] = value
        else:
            return [(node.lineno, f"not converted: DAG argument {key}={ast.unparse(node)}")]
    except (Unknown, ValueError, TypeError) as why:
        return [(node.lineno, f"not converted: DAG argument {key}={ast.unparse(node)} ({why})")]
    return []


def dag_fields(keywords: dict[str, ast.expr], evaluator: Evaluator) -> tuple[dict[str, Any], Notes]:
    """A DAG(...) call's arguments as the DAG spec (camelCase), with defaults for every task:
    the python-task image (bash, python3)."""
    spec: dict[str, Any] = {}
    notes: Notes = []
    default_args = keywords.pop("default_args", None)
    for key, node in keywords.items():
        if key not in QUIET:
            notes += _dag_field(key, node, evaluator, spec)
    if default_args is not None:
        notes += _default_args(default_args, evaluator, spec)
    if "catchup" not in keywords and "schedule" in spec:
        line = min((node.lineno for node in keywords.values()), default=0)
        notes.append(
            (
                line,
                "catchup not set: Airflow 3 defaults to false (Airflow 2 to true), kubedag to the"
                " controller's catchupByDefault (true); set catchup to say which",
            )
        )
    spec["defaults"] = {"image": "kubedag/python-task:0.1.0", **spec.get("defaults", {})}
    return spec, notes
