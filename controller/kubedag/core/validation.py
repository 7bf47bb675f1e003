"""Whole-DAG checks the CRD schema cannot make: the graph, the schedule and timezone, the
templates. Each problem names the task or field and says what is wrong."""

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from pydantic import ValidationError

from kubedag.core.cross_dag_validation import cross_dag_problems
from kubedag.core.dates import localize, rfc3339
from kubedag.core.earlier_runs import PastRun
from kubedag.core.graph import validate_graph
from kubedag.core.naming import MAX_NAME
from kubedag.core.output_references import UpstreamTasks, reads_outputs, unreachable_outputs
from kubedag.core.schedule import ScheduleError, parse_timetable, parse_timezone
from kubedag.core.setup_teardown import setup_teardown_problems
from kubedag.core.snapshot import resolve_task
from kubedag.core.suggestions import did_you_mean
from kubedag.core.templating import RunContext, TemplateError, render
from kubedag.models.common import DNS_SUBDOMAIN_PATTERN
from kubedag.models.dag import DagSpec
from kubedag.models.dagrun import RunState, RunType

_SAMPLE_DATE = datetime(2000, 1, 1, tzinfo=UTC)
_SAMPLE_PREVIOUS_SUCCESS = PastRun(
    name="validate-previous",
    run_type=RunType.SCHEDULED,
    logical_date=_SAMPLE_DATE,
    state=RunState.SUCCESS,
    data_interval_start=_SAMPLE_DATE,
    data_interval_end=_SAMPLE_DATE,
    start_time=_SAMPLE_DATE,
    end_time=_SAMPLE_DATE,
)


@dataclass(frozen=True)
class Problem:
    reason: str  # CamelCase, for the Ready condition
    message: str


def validate_dag(name: str, spec: DagSpec) -> list[Problem]:
    problems = dag_name_problems(name) + size_problems(spec)
    try:
        parse_timezone(spec.timezone)
        timezone_ok = True
    except ScheduleError as error:
        problems.append(Problem("InvalidTimezone", f"spec.timezone: {error}"))
        timezone_ok = False
    if spec.schedule is not None and timezone_ok:
        try:
            parse_timetable(spec.schedule, spec.timezone)
        except ScheduleError as error:
            problems.append(Problem("InvalidSchedule", f"spec.schedule: {error}"))
    if spec.schedule is not None and spec.start_date is None:
        problems.append(Problem("InvalidSchedule", "startDate is required when schedule is set"))
    if spec.schedule is not None and spec.schedule_on is not None:
        problems.append(
            Problem(
                "InvalidSchedule",
                f"spec.scheduleOn: set with spec.schedule {spec.schedule!r}: a DAG runs on a cron"
                " (schedule) or on datasets (scheduleOn), not both",
            )
        )
    if spec.start_date and spec.end_date and timezone_ok:
        start = localize(spec.start_date, spec.timezone)
        end = localize(spec.end_date, spec.timezone)
        if end < start:
            problems.append(
                Problem(
                    "InvalidSchedule",
                    f"spec.endDate {rfc3339(end)} is before spec.startDate {rfc3339(start)}:"
                    " the end date must be at or after the start date",
                )
            )
    problems.extend(_repeated_entries(spec))
    problems.extend(
        Problem("InvalidGraph", message)
        for message in validate_graph((t.name, t.depends_on or []) for t in spec.tasks)
    )
    problems.extend(Problem("InvalidSetup", message) for message in setup_teardown_problems(spec))
    problems.extend(_template_problems(name, spec))
    return problems


def _repeated_entries(spec: DagSpec) -> list[Problem]:
    """Lists the CRD declares sets (`x-kubernetes-list-type: set`): the API server refuses
    one that names an entry twice."""
    lists = [("spec.externalNamespaces", spec.external_namespaces)]
    for index, task in enumerate(spec.tasks):
        lists.append((f"spec.tasks[{index}].dependsOn", task.depends_on))
        lists.append((f"spec.tasks[{index}].outlets", task.outlets))
    problems = []
    for field, entries in lists:
        seen: set[str] = set()
        for entry in entries or []:
            if entry in seen:
                problems.append(
                    Problem("InvalidSpec", f"{field}: {entry!r} is listed twice: name each once")
                )
            seen.add(entry)
    return problems


def _template_problems(dag_name: str, spec: DagSpec) -> list[Problem]:
    problems: list[Problem] = []
    upstream_of = UpstreamTasks(spec)
    names = [t.name for t in spec.tasks]
    for task in spec.tasks:
        if task.in_controller:
            upstream = upstream_of.of(task.name)
            problems.extend(
                Problem(reason, message)
                for reason, message in cross_dag_problems(
                    dag_name, task, partial(_sample_variables, dag_name, spec, task.name, upstream)
                )
            )
            continue
        resolved = resolve_task(task, spec) if _has_image(task.image, spec) else None
        if resolved is None:
            problems.append(Problem("InvalidTask", f"task {task.name!r} has no image"))
            continue
        # (the field as render errors name it, its path, its text)
        fields: list[tuple[str, str, str]] = [
            *(
                (f"command[{i}]", f"command[{i}]", item)
                for i, item in enumerate(resolved.command or [])
            ),
            *((f"args[{i}]", f"args[{i}]", item) for i, item in enumerate(resolved.args or [])),
            *(
                (f"env {e.name}", f"env[{e.name}]", e.value)
                for e in resolved.env or []
                if e.value is not None
            ),
        ]
        reading = any(reads_outputs(text) for _, _, text in fields)
        upstream = upstream_of.of(task.name) if reading else set()
        variables = _sample_variables(dag_name, spec, task.name, upstream)
        for where, path, text in fields:
            reads = unreachable_outputs(task.name, path, text, upstream, names)
            if reads:
                problems.extend(Problem("InvalidTemplate", message) for message in reads)
                continue
            try:
                render(text, variables)
            except TemplateError as error:
                problems.append(Problem("InvalidTemplate", f"task {task.name!r} {where}: {error}"))
    return problems


def _sample_variables(
    dag_name: str, spec: DagSpec, task: str, upstream: set[str], logical: datetime = _SAMPLE_DATE
) -> dict[str, Any]:
    """A sample run's template variables at `logical` (the other dates stay the sample's)."""
    return RunContext(
        dag_name=dag_name,
        run_id=f"{dag_name}-validate",
        run_type="manual",
        task_name=task,
        try_number=1,
        logical_date=logical,
        data_interval_start=logical,
        data_interval_end=logical,
        params=dict(spec.params or {}),
        conf={},
        unknown_outputs=upstream,
        # Every date present, so that a template using one is checked, not refused for
        # the None a first run would see.
        previous_success=_SAMPLE_PREVIOUS_SUCCESS,
        prev_execution_date=_SAMPLE_DATE,
        next_execution_date=_SAMPLE_DATE,
        schedule=spec.schedule,
        timezone=spec.timezone,
        run_start_date=_SAMPLE_DATE,
    ).variables()


def _has_image(image: str | None, spec: DagSpec) -> bool:
    return bool(image or (spec.defaults and spec.defaults.image))


def describe_validation_error(error: ValidationError) -> list[str]:
    """One line per error, located as `kubectl explain` spells paths: spec.tasks[2].args[0]."""
    messages = []
    for item in error.errors():
        where = ""
        for part in item["loc"]:
            where += f"[{part}]" if isinstance(part, int) else f".{part}" if where else str(part)
        message = item["msg"]
        if item["type"] in ("enum", "literal_error"):
            expected = str(item["ctx"]["expected"])
            value = str(item["input"])
            suggestion = did_you_mean(value, re.findall(r"'([^']*)'", expected))
            message = f"unsupported value {value!r}{suggestion}: expected one of {expected}"
        elif item["type"] not in _NO_VALUE_ERRORS:
            message += f" (got {_shown(item['input'])})"
        messages.append(f"{where}: {message}")
    return messages


# Errors whose input is not the bad value (a missing field's input is its parent object).
_NO_VALUE_ERRORS = frozenset({"missing", "model_type", "model_attributes_type"})
_SHOWN = 60


def _shown(value: Any) -> str:
    """The bad value as a refusal quotes it: its repr, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= _SHOWN else f"{text[: _SHOWN - 3]}..."


# A DAG's spec as JSON. Its version is kept gzipped in a ConfigMap (at most 1 MiB, and data
# gzip cannot shrink grows a little), and the object itself in etcd (1.5 MiB with the
# metadata the API server adds, above which it answers a bare 500 "etcdserver: request is
# too large").
MAX_SPEC_BYTES = 1_000_000


def size_problems(spec: DagSpec) -> list[Problem]:
    wire = spec.to_wire()
    size = len(json.dumps(wire, separators=(",", ":")))
    if size <= MAX_SPEC_BYTES:
        return []
    field, field_size = max(
        ((key, len(json.dumps(value, separators=(",", ":")))) for key, value in wire.items()),
        key=lambda item: item[1],
    )
    return [
        Problem(
            "TooLarge",
            f"spec.{field}: {field_size} bytes of the DAG's {size} (as JSON), over the"
            f" {MAX_SPEC_BYTES} a DAG may hold: its version must fit a 1 MiB ConfigMap; keep"
            " large data outside the DAG (a ConfigMap, a Secret, object storage)",
        )
    ]


def dag_name_problems(name: str) -> list[Problem]:
    """The API server's rule for a custom object's name (a DNS subdomain), which the DAG's
    runs and pods derive theirs from; `kubedag validate` checks it before any apply does."""
    if len(name) <= MAX_NAME and re.fullmatch(DNS_SUBDOMAIN_PATTERN, name):
        return []
    return [
        Problem(
            "InvalidName",
            f"metadata.name: {_shown(name)} is not a valid name: at most {MAX_NAME} lowercase"
            " letters, digits, '-' and '.', starting and ending with a letter or digit",
        )
    ]


def named_service_accounts(spec: DagSpec) -> dict[str, str]:
    """Each ServiceAccount a task of the DAG runs as, with the first field that names it
    (tasks that name none run as the namespace's `default` account, which always exists)."""
    accounts: dict[str, str] = {}
    default = spec.defaults.service_account_name if spec.defaults else None
    for index, task in enumerate(spec.tasks):
        if task.service_account_name:
            accounts.setdefault(
                task.service_account_name, f"spec.tasks[{index}].serviceAccountName"
            )
        elif default:
            accounts.setdefault(default, "spec.defaults.serviceAccountName")
    return accounts


def missing_account_problems(
    namespace: str, accounts: Mapping[str, str], missing: Collection[str]
) -> list[Problem]:
    """A problem per account the DAG names that its namespace lacks: the pods would be
    refused, so the DAG is not Ready rather than failing every try."""
    return [
        Problem(
            "ServiceAccountNotFound",
            f'{field}: serviceaccount "{account}" not found in namespace {namespace};'
            " create it, or leave serviceAccountName unset to run as the namespace's default"
            " account without an API token",
        )
        for account, field in sorted(accounts.items(), key=lambda item: item[1])
        if account in missing
    ]
