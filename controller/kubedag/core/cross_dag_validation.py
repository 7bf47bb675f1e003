"""Checks of triggerDagRun and externalTaskSensor tasks that the CRD schema cannot make:
their templates, and a DAG that would trigger or wait for its own run. Each message names
the task, the field and the value."""

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from kubedag.core.dates import parse_time
from kubedag.core.templating import TemplateError, render
from kubedag.models.dag import TaskSpec


def _render_strings(value: Any, where: str, variables: Mapping[str, Any]) -> list[str]:
    """The template errors in a conf value, each with its path (conf.a.b[0])."""
    if isinstance(value, str):
        try:
            render(value, variables)
        except TemplateError as error:
            return [f"{where}: {error}"]
        return []
    if isinstance(value, dict):
        return [e for k, v in value.items() for e in _render_strings(v, f"{where}.{k}", variables)]
    if isinstance(value, list):
        return [
            e for i, v in enumerate(value) for e in _render_strings(v, f"{where}[{i}]", variables)
        ]
    return []


# A sample run's logical date whose day differs from the other dates of the sample context:
# a logicalDate template that renders it follows the run's own logical date.
_OWN_DATE = datetime(2000, 1, 2, tzinfo=UTC)


def cross_dag_problems(
    dag_name: str, task: TaskSpec, variables_at: Callable[[datetime], Mapping[str, Any]]
) -> list[tuple[str, str]]:
    """(reason, message) for each problem; `variables_at(date)`: a sample run's template
    variables at that logical date."""
    problems: list[tuple[str, str]] = []
    variables = variables_at(_OWN_DATE)
    trigger, sensor = task.trigger_dag_run, task.external_task_sensor
    if trigger is not None:
        where = f"task {task.name!r} triggerDagRun"
        if trigger.conf is not None:
            problems.extend(
                ("InvalidTemplate", f"{where}.{e}")
                for e in _render_strings(trigger.conf, "conf", variables)
            )
        if trigger.logical_date is not None:
            try:
                text = render(trigger.logical_date, variables)
                rendered: datetime | None = parse_time(text.strip())
            except TemplateError as error:
                problems.append(("InvalidTemplate", f"{where}.logicalDate: {error}"))
                rendered = None
            except ValueError:
                problems.append(
                    (
                        "InvalidTemplate",
                        f"{where}.logicalDate {trigger.logical_date!r} renders {text!r}:"
                        " expected an RFC 3339 time or a date",
                    )
                )
                rendered = None
            if trigger.dag_name == dag_name and trigger.namespace is None and rendered == _OWN_DATE:
                problems.append(
                    (
                        "InvalidTask",
                        f"{where}.dagName {dag_name!r} with logicalDate"
                        f" {trigger.logical_date!r}: a DAG cannot trigger itself at its own"
                        " run's logical date (each run would trigger the next, forever);"
                        " use another logicalDate",
                    )
                )
    own = sensor is not None and sensor.dag_name == dag_name and sensor.namespace is None
    if sensor is not None and own and (not sensor.execution_delta or sensor.same_data_interval):
        problems.append(
            (
                "InvalidTask",
                f"task {task.name!r} externalTaskSensor.dagName {dag_name!r}: a sensor"
                " cannot wait for its own run; set executionDelta to wait for an earlier"
                " run, or use dependsOn within the run",
            )
        )
    return problems
