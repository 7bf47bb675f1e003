"""The run's data interval, from kubedag's (or Airflow's) environment or the command line, and
the toolkit's templates: Jinja2 with Airflow's names for the same values."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from kubedag.toolkit.errors import ToolkitError

# Each value from the first variable set, kubedag's first (every task pod has them), then the
# ones Airflow gives a task's subprocesses, so a task written for Airflow reads the same dates.
LOGICAL_DATE_ENV = (
    "KUBEDAG_LOGICAL_DATE",
    "AIRFLOW_CTX_LOGICAL_DATE",
    "AIRFLOW_CTX_EXECUTION_DATE",
)
INTERVAL_START_ENV = ("KUBEDAG_DATA_INTERVAL_START", "AIRFLOW_CTX_DATA_INTERVAL_START")
INTERVAL_END_ENV = ("KUBEDAG_DATA_INTERVAL_END", "AIRFLOW_CTX_DATA_INTERVAL_END")


@dataclass(frozen=True)
class RunInterval:
    """A run's logical date and data interval [start, end), in UTC."""

    logical_date: datetime
    start: datetime
    end: datetime

    def describe(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


def parse_instant(text: str, what: str) -> datetime:
    """RFC 3339 (`2026-01-01T00:00:00Z`) or a date (`2026-01-01`, midnight); naive means UTC."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ToolkitError(
            f"{what}: {text!r} is not a date or time (expected 2026-01-01 or 2026-01-01T00:00:00Z)"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _first(environ: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        if environ.get(name):
            return name, environ[name]
    return None


def resolve_interval(
    logical_date: str | None,
    start: str | None,
    end: str | None,
    environ: Mapping[str, str] | None = None,
) -> RunInterval | None:
    """The interval from the flags, else the environment; None when neither names one.

    A logical date alone stands for the day from it (a manual run outside kubedag).
    """
    env = os.environ if environ is None else environ
    found: dict[str, datetime] = {}
    for key, flag, value, names in (
        ("logical", "--logical-date", logical_date, LOGICAL_DATE_ENV),
        ("start", "--data-interval-start", start, INTERVAL_START_ENV),
        ("end", "--data-interval-end", end, INTERVAL_END_ENV),
    ):
        if value:
            found[key] = parse_instant(value, flag)
        elif (named := _first(env, names)) is not None:
            found[key] = parse_instant(named[1], named[0])
    if not found:
        return None
    if "start" in found and "end" in found:
        if found["end"] < found["start"]:
            raise ToolkitError(
                f"data interval ends ({found['end'].isoformat()}) before it starts "
                f"({found['start'].isoformat()})"
            )
        return RunInterval(found.get("logical", found["start"]), found["start"], found["end"])
    if "start" in found or "end" in found:
        raise ToolkitError(
            "a data interval needs both ends: --data-interval-start and --data-interval-end "
            "(or KUBEDAG_DATA_INTERVAL_START and KUBEDAG_DATA_INTERVAL_END)"
        )
    day = found["logical"]
    return RunInterval(day, day, day + timedelta(days=1))


def parse_params(pairs: list[str] | None) -> dict[str, str]:
    """`--param key=value`, repeatable: the templates' `params`."""
    params: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ToolkitError(f"--param {pair!r}: expected KEY=VALUE")
        params[key] = value
    return params


def sql_literal(value: Any) -> str:
    """A string constant for SQL (standard_conforming_strings, PostgreSQL's default)."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_identifier(value: Any) -> str:
    """A quoted identifier; `schema.table` quotes each part."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in str(value).split("."))


def _ds(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    return str(value)[:10]


def template_context(interval: RunInterval | None, params: Mapping[str, str]) -> dict[str, Any]:
    """Airflow's names for the run's dates (a subset of its template context), and `params`."""
    context: dict[str, Any] = {"params": dict(params)}
    if interval is not None:
        logical = interval.logical_date
        context.update(
            logical_date=logical,
            execution_date=logical,
            data_interval_start=interval.start,
            data_interval_end=interval.end,
            ds=logical.strftime("%Y-%m-%d"),
            ds_nodash=logical.strftime("%Y%m%d"),
            ts=logical.isoformat(),
            ts_nodash=logical.strftime("%Y%m%dT%H%M%S"),
        )
    return context


_ENVIRONMENT = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)
_ENVIRONMENT.filters.update(ds=_ds, sql_literal=sql_literal, sql_identifier=sql_identifier)


def render(text: str, what: str, interval: RunInterval | None, params: Mapping[str, str]) -> str:
    """`text` rendered; an unknown name fails with what was being rendered and why."""
    if "{{" not in text and "{%" not in text:
        return text
    try:
        return _ENVIRONMENT.from_string(text).render(template_context(interval, params))
    except TemplateError as error:
        hint = (
            " (no data interval: the task runs outside a kubedag run; give --logical-date or "
            "--data-interval-start and --data-interval-end)"
            if interval is None
            else ""
        )
        raise ToolkitError(f"{what}: template error: {error}{hint}") from None
