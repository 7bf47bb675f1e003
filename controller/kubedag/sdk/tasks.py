"""Tasks and their dependencies: `Task` (a container), `BashTask` (a shell command), and
Airflow's `>>`, `<<`, `set_downstream`, `set_upstream` and `chain`."""

from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Union

from pydantic import ValidationError

from kubedag.core.suggestions import did_you_mean
from kubedag.models.dag import TaskDefaults, TaskSpec
from kubedag.sdk.values import Location, SdkError, caller_location, plain

if TYPE_CHECKING:
    from kubedag.sdk.dag import DAG

# The fields a task sets by keyword: every field of the CRD's task but its name and
# dependsOn, which come from the positional name and from `>>`.
TASK_FIELDS = frozenset(TaskSpec.model_fields) - {"name", "depends_on"}
DEFAULT_FIELDS = frozenset(TaskDefaults.model_fields)
BASH_IMAGE = "kubedag/python-task:0.1.0"

Tasks = Union["Task", Sequence["Task"]]


def check_fields(kind: str, given: Iterable[str], allowed: frozenset[str]) -> None:
    for name in given:
        if name not in allowed:
            raise TypeError(
                f"{kind} got an unexpected keyword argument {name!r}"
                f"{did_you_mean(name, allowed)}; allowed: {', '.join(sorted(allowed))}"
            )


def validation_message(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        lines.append(f"{where}: {item['msg']}" if where else item["msg"])
    return "; ".join(lines)


class Task:
    """One task of a DAG: a container run as one pod per try (Hera's `Container`, Airflow's
    `KubernetesPodOperator`). Keywords are the CRD's task fields in snake_case (`image`,
    `command`, `args`, `env`, `retries`, `retry_delay`, `trigger_rule`, ...); timedeltas may
    stand for durations."""

    def __init__(self, name: str, *, dag: "DAG | None" = None, **fields: Any) -> None:
        from kubedag.sdk.dag import current_dag

        self.location: Location = caller_location()
        check_fields(f"{type(self).__name__}()", fields, TASK_FIELDS)
        self.name = name
        self.fields: dict[str, Any] = {k: plain(v) for k, v in fields.items()}
        self.upstream: list[Task] = []
        try:
            TaskSpec.model_validate({"name": name, **self.fields})
        except ValidationError as error:
            raise SdkError(f"task {name!r}: {validation_message(error)}", self.location) from None
        owner = dag or current_dag()
        if owner is None:
            raise SdkError(
                f"task {name!r} belongs to no DAG: make it inside `with DAG(...):` or pass dag=",
                self.location,
            )
        self.dag = owner
        owner.add_task(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

    def spec(self) -> dict[str, Any]:
        """The task as the CRD's TaskSpec takes it (snake_case keys)."""
        body: dict[str, Any] = {"name": self.name, **self.fields}
        if self.upstream:
            body["depends_on"] = [t.name for t in self.upstream]
        return body

    def set_upstream(self, other: Tasks) -> None:
        for task in _as_list(other):
            if task.dag is not self.dag:
                raise SdkError(
                    f"{task.name!r} and {self.name!r} belong to different DAGs", caller_location()
                )
            if task not in self.upstream:
                self.upstream.append(task)

    def set_downstream(self, other: Tasks) -> None:
        for task in _as_list(other):
            task.set_upstream(self)

    def __rshift__(self, other: Tasks) -> Tasks:
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Tasks) -> Tasks:
        self.set_upstream(other)
        return other

    def __rrshift__(self, other: Sequence["Task"]) -> "Task":
        """[a, b] >> self"""
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Sequence["Task"]) -> "Task":
        """[a, b] << self"""
        self.set_downstream(other)
        return self


class BashTask(Task):
    """A shell command, as Airflow's BashOperator: `bash -c COMMAND` in an image with bash
    (default the python-task image, unless the task or the DAG's defaults name another)."""

    def __init__(
        self, name: str, bash_command: str, *, dag: "DAG | None" = None, **fields: Any
    ) -> None:
        fields.setdefault("command", ["bash", "-c", bash_command])
        super().__init__(name, dag=dag, **fields)
        if "image" not in self.fields and not self.dag.default_image():
            self.fields["image"] = BASH_IMAGE


def _as_list(tasks: Tasks) -> list[Task]:
    if isinstance(tasks, Task):
        return [tasks]
    items = list(tasks)
    if not all(isinstance(t, Task) for t in items):
        raise TypeError(f"dependencies are between tasks, got {items!r}")
    return items


def chain(*steps: Tasks) -> None:
    """chain(a, [b, c], d): a >> [b, c] >> d, as Airflow's chain (two lists side by side
    must be of one length and are joined pairwise)."""
    for left, right in pairwise(steps):
        if isinstance(left, Task) or isinstance(right, Task):
            if isinstance(left, Task):
                left.set_downstream(right)
            else:
                for task in _as_list(left):
                    task.set_downstream(right)
            continue
        lefts, rights = _as_list(left), _as_list(right)
        if len(lefts) != len(rights):
            raise SdkError(
                f"chain: lists of {len(lefts)} and {len(rights)} tasks side by side",
                caller_location(),
            )
        for up, down in zip(lefts, rights, strict=True):
            up.set_downstream(down)
