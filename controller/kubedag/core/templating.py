"""Airflow-style templates in task commands, args and env values, rendered by Jinja2's
sandbox with strict undefined variables: no code execution, and an unknown variable is an
error rather than an empty string."""

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from kubedag.core.dates import utc
from kubedag.core.earlier_runs import PastRun


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


def ds_add(ds: str, days: int) -> str:
    """Airflow's macros.ds_add: add (or subtract) days to a YYYY-MM-DD date; adding zero
    days returns the input untouched, as Airflow's does."""
    if not days:
        return str(ds)
    return (datetime.strptime(str(ds), "%Y-%m-%d") + timedelta(days=days)).strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """Airflow's macros.ds_format: reformat a date string."""
    return datetime.strptime(str(ds), input_format).strftime(output_format)


MACROS = MappingProxyType(
    {"ds_add": ds_add, "ds_format": ds_format, "datetime": datetime, "timedelta": timedelta}
)


@dataclass(frozen=True)
class _Named:
    name: str

    @property
    def dag_id(self) -> str:  # Airflow's spelling, so copied templates keep working
        return self.name

    @property
    def task_id(self) -> str:
        return self.name


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
    """Airflow's `ti` in templates: the try's identity and `xcom_pull` over upstream
    outputs."""

    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    outputs: Mapping[str, Any]

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

    def variables(self) -> dict[str, Any]:
        logical = _as_template_datetime(self.logical_date)
        outputs: dict[str, Any] = {name: _AnyOutput() for name in self.unknown_outputs}
        outputs.update((name, _Output(name, output)) for name, output in self.outputs.items())
        return {
            "ds": logical.strftime("%Y-%m-%d"),
            "ds_nodash": logical.strftime("%Y%m%d"),
            "ts": logical.isoformat(),
            "ts_nodash": logical.strftime("%Y%m%dT%H%M%S"),
            "ts_nodash_with_tz": logical.strftime("%Y%m%dT%H%M%S%z"),
            "logical_date": logical,
            "data_interval_start": _as_template_datetime(self.data_interval_start),
            "data_interval_end": _as_template_datetime(self.data_interval_end),
            "run_id": self.run_id,
            "dag": _Named(self.dag_name),
            "task": _Named(self.task_name),
            "task_instance_key_str": f"{self.dag_name}__{self.task_name}__{logical:%Y%m%d}",
            "try_number": self.try_number,
            # Airflow's dag_run_conf_overrides_params: a run's conf wins over DAG params.
            "params": {**self.params, **self.conf},
            "dag_run": {
                "run_id": self.run_id,
                "run_type": self.run_type,
                "conf": dict(self.conf),
                "logical_date": logical,
            },
            "macros": MACROS,
            "tasks": _UpstreamTasks(self.task_name, outputs),
            "ti": _TaskInstance(
                self.dag_name, self.task_name, self.run_id, self.try_number, outputs
            ),
        }


# Airflow's template environment, sandboxed and strict: its defaults otherwise (a trailing
# newline is dropped, as Airflow drops it).
_ENVIRONMENT = ImmutableSandboxedEnvironment(undefined=_StrictUndefined, autoescape=False)


@lru_cache(maxsize=4096)
def _compile(text: str) -> jinja2.Template:
    return _ENVIRONMENT.from_string(text)


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def parse_template(text: str) -> jinja2.nodes.Template:
    """A template's syntax tree (for checks that read it without rendering it)."""
    try:
        return _ENVIRONMENT.parse(text)
    except jinja2.TemplateSyntaxError as error:
        raise TemplateError(f"syntax error: {error.message} (line {error.lineno})") from None


def render(text: str, variables: Mapping[str, Any]) -> str:
    """Render one template string; raises TemplateError with Jinja's reason."""
    if not is_template(text):
        return text
    try:
        return _compile(text).render(variables)
    except jinja2.TemplateSyntaxError as error:
        raise TemplateError(f"syntax error: {error.message} (line {error.lineno})") from None
    except jinja2.UndefinedError as error:
        raise TemplateError(str(error.message)) from None
    except jinja2.exceptions.SecurityError as error:
        raise TemplateError(f"not allowed: {error}") from None
    except Exception as error:
        raise TemplateError(f"{type(error).__name__}: {error}") from None
