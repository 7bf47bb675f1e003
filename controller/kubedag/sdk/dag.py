"""`DAG`: a pipeline written in Python, emitted as the DAG manifest `kubectl apply` takes.
The CRD's pydantic models validate it, and the controller's own checks, so a DAG the SDK
emits is one `kubedag validate` accepts."""

import re
from contextvars import ContextVar
from datetime import datetime
from typing import Any

import yaml
from pydantic import ValidationError

from kubedag import API_VERSION
from kubedag.core.validation import validate_dag
from kubedag.models.common import DNS_SUBDOMAIN_PATTERN
from kubedag.models.dag import DagSpec
from kubedag.sdk.tasks import DEFAULT_FIELDS, Task, check_fields, validation_message
from kubedag.sdk.values import Location, SdkError, caller_location, plain, timestamp_text, zone_name

# Every field of the CRD's DAG spec but the tasks (made with Task) and the defaults (given
# as default_args or defaults).
DAG_FIELDS = frozenset(DagSpec.model_fields) - {"tasks", "defaults"}
_ACTIVE: ContextVar[tuple["DAG", ...]] = ContextVar("kubedag_sdk_active_dags", default=())
_CREATED: ContextVar[list["DAG"] | None] = ContextVar("kubedag_sdk_created_dags", default=None)
# default_args keys Airflow users write that are DAG fields in kubedag.
_DAG_LEVEL_DEFAULT_ARGS = {"owner"}


def current_dag() -> "DAG | None":
    active = _ACTIVE.get()
    return active[-1] if active else None


def collect_dags() -> list["DAG"]:
    """Start recording every DAG made from now on (by `kubedag build`); returns the list."""
    created: list[DAG] = []
    _CREATED.set(created)
    return created


class DAG:
    """`with DAG("etl", schedule="@daily", start_date=date(2026, 1, 1)) as dag:` then tasks.

    Keywords are the CRD's DAG spec fields in snake_case (`schedule`, `start_date`,
    `end_date`, `catchup`, `timezone`, `params`, `max_active_runs`, `dagrun_timeout`, ...);
    `default_args` (or `defaults`) holds the task fields every task takes unless it sets
    them; `namespace`, `labels` and `annotations` go to the manifest's metadata."""

    def __init__(
        self,
        dag_id: str,
        *,
        default_args: dict[str, Any] | None = None,
        defaults: dict[str, Any] | None = None,
        namespace: str | None = None,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        **fields: Any,
    ) -> None:
        self.location: Location = caller_location()
        check_fields("DAG()", fields, DAG_FIELDS)
        if default_args is not None and defaults is not None:
            raise SdkError("give default_args or defaults, not both", self.location)
        if not re.fullmatch(DNS_SUBDOMAIN_PATTERN, dag_id) or len(dag_id) > 253:
            suggestion = re.sub(r"[^a-z0-9.-]+", "-", dag_id.lower()).strip("-.")
            raise SdkError(
                f"DAG name {dag_id!r} is not a Kubernetes object name (lower-case letters,"
                f" digits, '-' and '.'); try {suggestion!r}",
                self.location,
            )
        self.dag_id = dag_id
        self.metadata: dict[str, Any] = {"name": dag_id}
        for key, value in (("namespace", namespace), ("labels", labels)):
            if value is not None:
                self.metadata[key] = value
        if annotations is not None:
            self.metadata["annotations"] = annotations
        task_defaults = dict(default_args if default_args is not None else defaults or {})
        for key in _DAG_LEVEL_DEFAULT_ARGS & task_defaults.keys():
            fields.setdefault(key, task_defaults.pop(key))
        check_fields("default_args", task_defaults, DEFAULT_FIELDS)
        zone = zone_name(fields.get("start_date"))
        if zone is not None and "timezone" not in fields:
            fields["timezone"] = zone  # Airflow takes the DAG's timezone from start_date's
        self.fields: dict[str, Any] = {k: plain(v) for k, v in fields.items()}
        self.defaults: dict[str, Any] | None = (
            {k: plain(v) for k, v in task_defaults.items()}
            if default_args is not None or defaults is not None
            else None
        )
        self.tasks: list[Task] = []
        self._spec(placeholder=True)  # refuse a bad field here, at the line that set it
        created = _CREATED.get()
        if created is not None:
            created.append(self)

    def __repr__(self) -> str:
        return f"<DAG {self.dag_id}: {len(self.tasks)} tasks>"

    def __enter__(self) -> "DAG":
        _ACTIVE.set((*_ACTIVE.get(), self))
        return self

    def __exit__(self, *_: object) -> None:
        _ACTIVE.set(_ACTIVE.get()[:-1])

    def add_task(self, task: Task) -> None:
        clash = next((t for t in self.tasks if t.name == task.name), None)
        if clash is not None:
            raise SdkError(
                f"DAG {self.dag_id!r} already has a task {task.name!r} (made at {clash.location})",
                task.location,
            )
        self.tasks.append(task)

    def default_image(self) -> str | None:
        return (self.defaults or {}).get("image")

    def task(self, name: str) -> Task:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)

    def _spec(self, placeholder: bool = False) -> DagSpec:
        body: dict[str, Any] = dict(self.fields)
        if self.defaults is not None:
            body["defaults"] = self.defaults
        body["tasks"] = (
            [{"name": "placeholder", "image": "placeholder"}]
            if placeholder
            else [t.spec() for t in self.tasks]
        )
        try:
            return DagSpec.model_validate(body)
        except ValidationError as error:
            raise SdkError(
                f"DAG {self.dag_id!r}: {validation_message(error)}", self.location
            ) from None

    def to_manifest(self) -> dict[str, Any]:
        """The DAG manifest (a dict, camelCase), after every check `kubedag validate` makes."""
        if not self.tasks:
            raise SdkError(f"DAG {self.dag_id!r} has no task", self.location)
        spec = self._spec()
        problems = validate_dag(self.dag_id, spec)
        if problems:
            raise SdkError(
                f"DAG {self.dag_id!r} is invalid:\n  " + "\n  ".join(p.message for p in problems),
                self.location,
            )
        wire = spec.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
        for field, key in (("start_date", "startDate"), ("end_date", "endDate")):
            value = getattr(spec, field)
            if isinstance(value, datetime):
                wire[key] = timestamp_text(value)
        wire["tasks"] = [_task_first_keys(task) for task in wire["tasks"]]
        return {"apiVersion": API_VERSION, "kind": "DAG", "metadata": self.metadata, "spec": wire}

    def to_yaml(self) -> str:
        return dump_yaml(self.to_manifest())


_FIRST_TASK_KEYS = ("name", "image", "command", "args", "dependsOn")


def _task_first_keys(task: dict[str, Any]) -> dict[str, Any]:
    """A task's name, image, command, args and dependsOn first, as people read a task."""
    first = {key: task[key] for key in _FIRST_TASK_KEYS if key in task}
    return {**first, **{k: v for k, v in task.items() if k not in first}}


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (scripts) as `|` blocks and short lists of words on one line, the
    way people write them."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    short = (
        all(isinstance(item, str | int | float | bool) and "\n" not in str(item) for item in value)
        and sum(len(str(item)) + 2 for item in value) <= 60
    )
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=short)


_BlockDumper.add_representer(str, _represent_str)
_BlockDumper.add_representer(list, _represent_list)


def dump_yaml(manifest: dict[str, Any]) -> str:
    return yaml.dump(manifest, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)
