"""Airflow-style templates in task commands, args and env values, rendered by Jinja2's
sandbox with strict undefined variables: no code execution, and an unknown variable is an
error rather than an empty string.

The variables are Airflow 2.10's template context (TaskInstance.get_template_context), less
what needs Airflow's database or configuration (`var`, `conn`, `conf`, dataset events); the
filters are Airflow's (`ds`, `ds_nodash`, `ts`, `ts_nodash`, `ts_nodash_with_tz`)."""

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jinja2

from kubedag.core.dates import utc
from kubedag.core.earlier_runs import PastRun
from kubedag.core.macros import MACROS, MacroError
from kubedag.core.suggestions import did_you_mean
from kubedag.core.template_bounds import BoundedSandbox, TemplateLimitError, render_bounded


class TemplateError(ValueError):
    """A template that does not parse or refers to something unknown."""


class TemplateDateTime(datetime):
    """Renders as ISO 8601 ("2026-01-01T00:00:00+00:00"), as Airflow's pendulum dates do."""

    def __str__(self) -> str:
        return self.isoformat()


def _as_template_datetime(value: datetime) -> TemplateDateTime:
    value = utc(value)
    return TemplateDateTime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=UTC,
    )


def _optional_datetime(value: datetime | None) -> TemplateDateTime | None:
    return None if value is None else _as_template_datetime(value)


# Airflow's template filters (airflow/templates.py), None passing through as there.
def _ds(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%d")


def _ds_nodash(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y%m%d")


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _ts_nodash(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y%m%dT%H%M%S")


def _ts_nodash_with_tz(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("-", "").replace(":", "")


FILTERS = {
    "ds": _ds,
    "ds_nodash": _ds_nodash,
    "ts": _ts,
    "ts_nodash": _ts_nodash,
    "ts_nodash_with_tz": _ts_nodash_with_tz,
}


@dataclass(frozen=True)
class _Dag:
    """Airflow's `dag` in templates, as far as a DAG resource has it."""

    dag_id: str
    schedule: str | None
    timezone: str

    @property
    def name(self) -> str:
        return self.dag_id


@dataclass(frozen=True)
class _Task:
    """Airflow's `task` in templates: its identity."""

    task_id: str
    dag_id: str

    @property
    def name(self) -> str:
        return self.task_id


class _Output(dict[str, Any]):
    """One task's output as templates see it: reading a key it lacks names the task."""

    def __init__(self, task: str, output: Mapping[str, Any]) -> None:
        super().__init__(output)
        self._task = task  # private: a template reading `.task` gets the output's key


class _UpstreamTasks:
    """`tasks` in templates: `tasks.<name>.outputs` of the upstream tasks with an output. Not
    a dict, so a task named like a dict method (`get`, `update`) reads as the task."""

    def __init__(self, reader: str, outputs: Mapping[str, Any]) -> None:
        self._tasks = {name: {"outputs": output} for name, output in outputs.items()}
        self._reader = reader

    def __getattr__(self, name: str) -> dict[str, Any]:
        if name.startswith("_") or name not in self._tasks:
            raise AttributeError(name)
        return self._tasks[name]

    def __getitem__(self, name: str) -> dict[str, Any]:
        return self._tasks[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tasks)

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)


class _StrictUndefined(jinja2.StrictUndefined):
    """Jinja's strict undefined, with messages that name the task for missing outputs."""

    @property
    def _undefined_message(self) -> str:
        holder, name = self._undefined_obj, self._undefined_name
        if isinstance(holder, _Output):
            keys = ", ".join(sorted(holder)) or "none"
            return f"the output of task {holder._task!r} has no key {name!r} (its keys: {keys})"
        if isinstance(holder, _UpstreamTasks):
            return (
                f"no output of task {name!r}: it wrote none, or it is not upstream of task "
                f"{holder._reader!r}"
            )
        return str(super()._undefined_message)


class _AnyOutput(jinja2.ChainableUndefined):
    """An upstream output at validation time, when none exists yet: any key of it, and any
    operation on that, reads as an empty stand-in."""

    __slots__ = ()

    def _same(self, *_: Any, **__: Any) -> "_AnyOutput":
        return self

    def _false(self, *_: Any) -> bool:
        return False

    # Jinja's Undefined types these as raising; here they answer.
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _same  # type: ignore[assignment]
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = _same  # type: ignore[assignment]
    __mod__ = __rmod__ = __pos__ = __neg__ = __call__ = __getitem__ = _same  # type: ignore[assignment]
    __lt__ = __le__ = __gt__ = __ge__ = _false  # type: ignore[assignment]

    def __int__(self) -> int:  # type: ignore[override]
        return 0

    def __float__(self) -> float:  # type: ignore[override]
        return 0.0


@dataclass(frozen=True)
class _TaskInstance:
    """Airflow's `ti` (and `task_instance`) in templates: the try's identity and
    `xcom_pull` over upstream outputs."""

    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    outputs: Mapping[str, Any]
    logical_date: datetime | None = None
    map_index: int = -1  # kubedag has no mapped tasks

    @property
    def execution_date(self) -> datetime | None:
        return self.logical_date

    def xcom_pull(self, task_ids: str | list[str] | None = None, key: str | None = None) -> Any:
        """An upstream task's output object, or one key of it; a list of task names gives a
        list. A task with no output (or without that key) gives None, as in Airflow."""
        if task_ids is None:
            raise TemplateError("xcom_pull needs task_ids: kubedag has no implicit XCom")
        if isinstance(task_ids, str):
            return self._pull(task_ids, key)
        return [self._pull(name, key) for name in task_ids]

    def _pull(self, task_id: str, key: str | None) -> Any:
        output = self.outputs.get(task_id)
        if output is None or key is None:
            return output
        return output.get(key)


@dataclass(frozen=True)
class RunContext:
    """What a template can see about the run and task it renders for."""

    dag_name: str
    run_id: str
    run_type: str
    task_name: str
    try_number: int
    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime
    params: Mapping[str, Any]
    conf: Mapping[str, Any]
    outputs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Outputs of the task's upstream tasks that have one, by task name."""
    previous_success: PastRun | None = None
    """The latest earlier successful run of the DAG (prev_*_success variables)."""
    unknown_outputs: Collection[str] = ()
    """At validation: the upstream tasks, whose outputs do not exist yet (any key reads as a
    stand-in)."""
    prev_execution_date: datetime | None = None
    """Airflow 2's prev_execution_date: the schedule's tick before the logical date (a
    manual run's own logical date); None without a cron schedule. See
    schedule.adjacent_logical_dates."""
    next_execution_date: datetime | None = None
    """Airflow 2's next_execution_date: the logical date of the scheduled run after this
    one (a manual run's own logical date); None without a cron schedule."""
    schedule: str | None = None
    timezone: str = "UTC"
    run_start_date: datetime | None = None
    """When the run started (dag_run.start_date)."""

    def variables(self) -> dict[str, Any]:
        logical = _as_template_datetime(self.logical_date)
        ds = logical.strftime("%Y-%m-%d")
        ds_nodash = ds.replace("-", "")
        ts = logical.isoformat()
        yesterday = (logical - timedelta(days=1)).strftime("%Y-%m-%d")
        tomorrow = (logical + timedelta(days=1)).strftime("%Y-%m-%d")
        prev_date = _optional_datetime(self.prev_execution_date)
        next_date = _optional_datetime(self.next_execution_date)
        success = self.previous_success
        outputs: dict[str, Any] = {name: _AnyOutput() for name in self.unknown_outputs}
        outputs.update((name, _Output(name, output)) for name, output in self.outputs.items())
        ti = _TaskInstance(
            self.dag_name, self.task_name, self.run_id, self.try_number, outputs, logical
        )
        return {
            "ds": ds,
            "ds_nodash": ds_nodash,
            "ts": ts,
            "ts_nodash": logical.strftime("%Y%m%dT%H%M%S"),
            "ts_nodash_with_tz": ts.replace("-", "").replace(":", ""),
            "logical_date": logical,
            "execution_date": logical,
            "data_interval_start": _as_template_datetime(self.data_interval_start),
            "data_interval_end": _as_template_datetime(self.data_interval_end),
            "prev_execution_date": prev_date,
            "prev_ds": _ds(prev_date),
            "prev_ds_nodash": _ds_nodash(prev_date),
            "next_execution_date": next_date,
            "next_ds": _ds(next_date),
            "next_ds_nodash": _ds_nodash(next_date),
            "yesterday_ds": yesterday,
            "yesterday_ds_nodash": yesterday.replace("-", ""),
            "tomorrow_ds": tomorrow,
            "tomorrow_ds_nodash": tomorrow.replace("-", ""),
            "prev_data_interval_start_success": _optional_datetime(
                success.data_interval_start if success else None
            ),
            "prev_data_interval_end_success": _optional_datetime(
                success.data_interval_end if success else None
            ),
            "prev_start_date_success": _optional_datetime(success.start_time if success else None),
            "prev_end_date_success": _optional_datetime(success.end_time if success else None),
            "prev_execution_date_success": _optional_datetime(
                success.logical_date if success else None
            ),
            "run_id": self.run_id,
            "dag": _Dag(self.dag_name, self.schedule, self.timezone),
            "task": _Task(self.task_name, self.dag_name),
            "task_instance_key_str": f"{self.dag_name}__{self.task_name}__{ds_nodash}",
            "try_number": self.try_number,
            # Airflow's dag_run_conf_overrides_params: a run's conf wins over DAG params.
            "params": {**self.params, **self.conf},
            "dag_run": {
                "dag_id": self.dag_name,
                "run_id": self.run_id,
                "run_type": self.run_type,
                "conf": dict(self.conf),
                "logical_date": logical,
                "execution_date": logical,
                "data_interval_start": _as_template_datetime(self.data_interval_start),
                "data_interval_end": _as_template_datetime(self.data_interval_end),
                "start_date": _optional_datetime(self.run_start_date),
                "external_trigger": self.run_type == "manual",
            },
            "macros": MACROS,
            "tasks": _UpstreamTasks(self.task_name, outputs),
            "ti": ti,
            "task_instance": ti,
            "test_mode": False,
            "expanded_ti_count": None,
        }


# Airflow context names kubedag does not offer, with why (an unknown name gets this as its
# message rather than a bare "undefined").
_NOT_OFFERED = {
    "conf": "Airflow's configuration; a run's conf is {{ dag_run.conf }}",
    "var": "Airflow Variables live in its database; use env with valueFrom (a ConfigMap or Secret)",
    "conn": "Airflow Connections live in its database; use env with valueFrom (a Secret)",
    "inlets": "kubedag tasks declare no inlets; the DAG's lineage is spec.inputs",
    "outlets": "kubedag tasks declare no outlets; the DAG's lineage is spec.outputs",
    "triggering_dataset_events": "kubedag has no dataset-triggered runs",
    "outlet_events": "kubedag has no datasets",
    "inlet_events": "kubedag has no datasets",
}
_UNDEFINED_NAME = re.compile(r"^'([^']+)' is undefined$")
# Names a template can see besides the context (Jinja's globals).
_JINJA_GLOBALS = ("range", "dict", "lipsum", "cycler", "joiner", "namespace")


def _explain_undefined(message: str, variables: Mapping[str, Any]) -> str:
    match = _UNDEFINED_NAME.match(message)
    if match is None:
        return message
    name = match.group(1)
    if name in _NOT_OFFERED:
        return f"{message}: kubedag does not offer {name} ({_NOT_OFFERED[name]})"
    suggestion = did_you_mean(name, [*variables, *_JINJA_GLOBALS])
    return f"{message}{suggestion}" if suggestion else message


# Airflow's template environment, sandboxed and strict: its defaults otherwise (a trailing
# newline is dropped, as Airflow drops it). Bounded in size and work (core/template_bounds.py).
_ENVIRONMENT = BoundedSandbox(undefined=_StrictUndefined, autoescape=False)
_ENVIRONMENT.filters.update(FILTERS)
_ENVIRONMENT.guard_filters()


def _json_stand_in(value: Any) -> Any:
    """`| tojson` of an upstream output at validation time (none exists yet) checks as null."""
    if isinstance(value, _AnyOutput):
        return None
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_ENVIRONMENT.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": _json_stand_in}


@lru_cache(maxsize=4096)
def _compile(text: str) -> jinja2.Template:
    return _ENVIRONMENT.from_string(text)


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


# Jinja's parser and compiler recurse once per level of nesting (brackets, operators, blocks),
# a few Python frames each: past Python's recursion limit they raise RecursionError, which
# must reach the user as a template's refusal, never as the checker's own crash. Python's
# compiler refuses the module Jinja generates for blocks nested 20 (loops) or 100 (ifs)
# deep with a SyntaxError of its own.
TOO_DEEP = (
    "RecursionError: the template nests (or a macro recurses) too deeply; flatten the"
    " expression, or split it with {% set %}"
)


def parse_template(text: str) -> jinja2.nodes.Template:
    """A template's syntax tree (for checks that read it without rendering it)."""
    try:
        return _ENVIRONMENT.parse(text)
    except jinja2.TemplateSyntaxError as error:
        raise TemplateError(f"syntax error: {error.message} (line {error.lineno})") from None
    except RecursionError:
        raise TemplateError(TOO_DEEP) from None


def render(text: str, variables: Mapping[str, Any]) -> str:
    """Render one template string; raises TemplateError with Jinja's reason."""
    if not is_template(text):
        return text
    try:
        return render_bounded(_compile(text), variables)
    except TemplateLimitError as error:
        raise TemplateError(str(error)) from None
    except jinja2.TemplateSyntaxError as error:
        raise TemplateError(f"syntax error: {error.message} (line {error.lineno})") from None
    except jinja2.UndefinedError as error:
        raise TemplateError(_explain_undefined(str(error.message), variables)) from None
    except jinja2.exceptions.SecurityError as error:
        raise TemplateError(f"not allowed: {error}") from None
    except (TemplateError, MacroError) as error:
        raise TemplateError(str(error)) from None
    except (RecursionError, SyntaxError):
        raise TemplateError(TOO_DEEP) from None
    except Exception as error:
        raise TemplateError(f"{type(error).__name__}: {error}") from None
