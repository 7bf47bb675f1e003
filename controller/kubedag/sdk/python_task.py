"""`@task`: a Python function as a task (Airflow's TaskFlow, Hera's `@script`). Its source
runs in the python-task image; its arguments are constants or upstream tasks' outputs,
passed as JSON through the task's templates; the dict it returns is its output."""

import ast
import inspect
import json
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, overload

from kubedag.sdk.dag import current_dag
from kubedag.sdk.tasks import Task
from kubedag.sdk.values import SdkError, caller_location

PYTHON_TASK_IMAGE = "kubedag/python-task:0.1.0"

# The container's program: run the function's source, call it with the JSON arguments, write
# the dict it returns as the task's output (the termination message; $KUBEDAG_OUTPUTS_FILE
# instead when set, as the task toolkit does). Kept free of '{{' and '{%': it is a template.
ENTRYPOINT = """\
import __future__, json, os, sys
source, name, arguments = sys.argv[1:4]
scope = {"__name__": "kubedag_task"}
lazy = __future__.annotations.compiler_flag  # type hints are never evaluated in the pod
exec(compile(source, "<task function " + name + ">", "exec", flags=lazy), scope)
result = scope[name](**json.loads(arguments))
if result is not None:
    if not isinstance(result, dict):
        sys.exit("%s returned a %s: a task function returns a dict (its output) or None"
                 % (name, type(result).__name__))
    text = json.dumps(result, sort_keys=True)
    print("outputs:", text, flush=True)
    path = os.environ.get("KUBEDAG_OUTPUTS_FILE") or "/dev/termination-log"
    if os.environ.get("KUBEDAG_OUTPUTS_FILE") or os.path.exists(path):
        with open(path, "w") as out:
            out.write(text)
"""

# Parameters filled from the run when the call leaves them out, as TaskFlow passes context
# variables by name: (template of the JSON value).
CONTEXT_ARGUMENTS = {
    "ds": '"{{ ds }}"',
    "ds_nodash": '"{{ ds_nodash }}"',
    "ts": '"{{ ts }}"',
    "ts_nodash": '"{{ ts_nodash }}"',
    "logical_date": '"{{ ts }}"',
    "data_interval_start": '"{{ data_interval_start }}"',
    "data_interval_end": '"{{ data_interval_end }}"',
    "run_id": '"{{ run_id }}"',
    "try_number": "{{ try_number }}",
    "params": "{{ params | tojson }}",
}


@dataclass(frozen=True)
class Output:
    """An upstream task's output, or one key of it, passed as an argument."""

    task: "PythonTask | Task"
    key: str | None = None

    def template(self) -> str:
        name = self.task.name
        if self.key is None:
            return f"{{{{ ti.xcom_pull(task_ids={name!r}) | tojson }}}}"
        return f"{{{{ tasks[{name!r}].outputs[{self.key!r}] | tojson }}}}"


def output(task: Task, key: str | None = None) -> Output:
    """The output of any task (a container writing JSON to its termination log), to pass to a
    task function: `load(rows=output(extract, "rows"))`."""
    return Output(task, key)


class PythonTask(Task):
    """A call of a task function in a DAG; `task["key"]` is one key of its output."""

    def __getitem__(self, key: str) -> Output:
        return Output(self, key)


def function_source(function: Callable[..., Any]) -> str:
    """The function's own text, without its decorators, dedented."""
    source = textwrap.dedent(inspect.getsource(function))
    tree = ast.parse(source)
    definition = tree.body[0]
    if not isinstance(definition, ast.FunctionDef):
        raise SdkError(f"@task applies to a plain function (def), not {type(definition).__name__}")
    lines = source.splitlines(keepends=True)
    return "".join(lines[definition.lineno - 1 : definition.end_lineno])


def _raw(text: str) -> str:
    """Text the template engine leaves as it is."""
    if "{% endraw %}" in text:
        raise SdkError("a task function's source cannot contain '{% endraw %}'")
    return "{% raw %}" + text + "{% endraw %}"


def _argument(value: Any, upstream: list[Task]) -> str:
    if isinstance(value, Output):
        upstream.append(value.task)
        return value.template()
    if isinstance(value, PythonTask):
        upstream.append(value)
        return Output(value).template()
    try:
        text = json.dumps(value, sort_keys=True)
    except TypeError:
        raise TypeError(f"argument {value!r} is not JSON (nor an upstream task's output)") from None
    # A string with {{ }} is a template, as Airflow renders op_kwargs; any other constant
    # is kept as it is.
    return text if isinstance(value, str) and "{{" in value else _raw(text)


class TaskFunction:
    """What `@task` makes: calling it inside a DAG adds a task that runs the function."""

    def __init__(self, function: Callable[..., Any], fields: dict[str, Any]) -> None:
        self.function = function
        self.fields = fields
        self.name = fields.pop("name", None) or function.__name__.replace("_", "-")
        self.source = function_source(function)
        self.signature = inspect.signature(function)

    def __repr__(self) -> str:
        return f"<task function {self.function.__name__}>"

    def _unique_name(self) -> str:
        dag = current_dag()
        taken = {t.name for t in dag.tasks} if dag else set()
        if self.name not in taken:
            return self.name
        number = 2
        while f"{self.name}-{number}" in taken:
            number += 1
        return f"{self.name}-{number}"

    def __call__(self, *args: Any, **kwargs: Any) -> PythonTask:
        location = caller_location()
        try:
            bound = self.signature.bind_partial(*args, **kwargs)
        except TypeError as error:
            raise SdkError(f"{self.function.__name__}(): {error}", location) from None
        upstream: list[Task] = []
        pieces = [
            f"{json.dumps(name)}: {_argument(value, upstream)}"
            for name, value in bound.arguments.items()
        ]
        for name, parameter in self.signature.parameters.items():
            if name in bound.arguments:
                continue
            if name in CONTEXT_ARGUMENTS:
                pieces.append(f"{json.dumps(name)}: {CONTEXT_ARGUMENTS[name]}")
            elif parameter.default is inspect.Parameter.empty:
                raise SdkError(
                    f"{self.function.__name__}() needs argument {name!r}: a constant, an upstream"
                    f" task's output, or one of the run's values ({', '.join(CONTEXT_ARGUMENTS)})",
                    location,
                )
        fields = {"image": PYTHON_TASK_IMAGE, **self.fields}
        made = PythonTask(
            self._unique_name(),
            command=["python3", "-c", ENTRYPOINT],
            args=[_raw(self.source), self.function.__name__, "{" + ", ".join(pieces) + "}"],
            **fields,
        )
        made.location = location
        made.set_upstream(upstream)
        return made


@overload
def task(function: Callable[..., Any]) -> TaskFunction: ...
@overload
def task(function: None = None, **fields: Any) -> Callable[[Callable[..., Any]], TaskFunction]: ...
def task(
    function: Callable[..., Any] | None = None, **fields: Any
) -> TaskFunction | Callable[[Callable[..., Any]], TaskFunction]:
    """`@task` or `@task(retries=2, image=..., name=...)`: keywords are task fields."""
    if function is not None:
        return TaskFunction(function, fields)
    return lambda f: TaskFunction(f, dict(fields))
