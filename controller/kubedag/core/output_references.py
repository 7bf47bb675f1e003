"""Which tasks' outputs a template reads, found in its syntax tree (never by pattern): the
`tasks.<name>` (or `tasks['<name>']`) it looks up and the `ti.xcom_pull(task_ids=...)` calls
whose task names are constants. Validation refuses a template that reads the output of a
task not upstream of its own."""

import difflib
from collections.abc import Iterator
from functools import lru_cache

from jinja2 import meta, nodes

from kubedag.core.graph import ancestors, build_graph
from kubedag.core.templating import TemplateError, is_template, parse_template
from kubedag.models.dag import DagSpec

_TASK_INSTANCE_NAMES = ("ti", "task_instance")
_OUTPUT_VARIABLES = frozenset({"tasks", *_TASK_INSTANCE_NAMES})


def _constant_names(node: nodes.Expr) -> Iterator[str]:
    """Task names a task_ids argument spells out: a string, or a list or tuple of them."""
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, nodes.Const) and isinstance(node.value, list | tuple):
        yield from (item for item in node.value if isinstance(item, str))
    elif isinstance(node, nodes.List | nodes.Tuple):
        for item in node.items:
            if isinstance(item, nodes.Const) and isinstance(item.value, str):
                yield item.value


def _task_ids_argument(call: nodes.Call) -> nodes.Expr | None:
    for keyword in call.kwargs:
        if keyword.key == "task_ids":
            return keyword.value
    return call.args[0] if call.args else None


def _is_name(node: nodes.Node, names: tuple[str, ...]) -> bool:
    return isinstance(node, nodes.Name) and node.name in names


def reads_outputs(text: str) -> bool:
    """Whether the template uses the variables that read outputs (`tasks`, `ti`) at all."""
    return bool(_reads(text)[0])


def referenced_outputs(text: str) -> list[str]:
    """The tasks whose outputs the template reads by constant name, in order, once each.
    A template that does not parse reads none (rendering reports its syntax error)."""
    return list(_reads(text)[1])


@lru_cache(maxsize=4096)
def _reads(text: str) -> tuple[bool, tuple[str, ...]]:
    if not is_template(text):
        return False, ()
    try:
        return _read_tree(parse_template(text))
    except (TemplateError, RecursionError):  # too deep to walk: rendering refuses it
        return False, ()


def _read_tree(tree: nodes.Template) -> tuple[bool, tuple[str, ...]]:
    found: list[str] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Call)):
        if isinstance(node, nodes.Getattr) and _is_name(node.node, ("tasks",)):
            found.append(node.attr)
        elif isinstance(node, nodes.Getitem) and _is_name(node.node, ("tasks",)):
            found.extend(_constant_names(node.arg))
        elif (
            isinstance(node, nodes.Call)
            and isinstance(node.node, nodes.Getattr)
            and node.node.attr == "xcom_pull"
            and _is_name(node.node.node, _TASK_INSTANCE_NAMES)
        ):
            argument = _task_ids_argument(node)
            if argument is not None:
                found.extend(_constant_names(argument))
    # After the walk: finding the variables compiles the tree, which folds its constants.
    uses_outputs = bool(_OUTPUT_VARIABLES & meta.find_undeclared_variables(tree))
    return uses_outputs, tuple(dict.fromkeys(found)) if uses_outputs else ()


class UpstreamTasks:
    """Each task's upstream tasks, transitively, computed only for the tasks whose templates
    read outputs (a 5,000-task chain has 12.5 million such pairs). Unknown dependencies are
    left out: the graph's own problems report them."""

    def __init__(self, spec: DagSpec) -> None:
        names = {t.name for t in spec.tasks}
        self.graph = build_graph(
            (t.name, [d for d in t.depends_on or [] if d in names]) for t in spec.tasks
        )
        self._found: dict[str, set[str]] = {}

    def of(self, task: str) -> set[str]:
        if task not in self._found:
            self._found[task] = ancestors(self.graph, [task])
        return self._found[task]


def unreachable_outputs(
    task: str, where: str, text: str, upstream: set[str], names: list[str]
) -> list[str]:
    """A message for each output the template (field `where` of `task`) reads from a task
    not upstream of `task`: that output does not exist when the task starts (a stated
    difference from Airflow, whose xcom_pull returns None or a stale value)."""
    problems = []
    for read in referenced_outputs(text):
        if read in upstream:
            continue
        if read == task:
            why = "its own (a task's output exists only once it has finished)"
        elif read in names:
            why = (
                f"not upstream of {task!r}; add {read!r} to its dependsOn (or to the dependsOn "
                "of a task it depends on)"
            )
        else:
            close = difflib.get_close_matches(read, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            why = f"not a task of this DAG{hint}"
        problems.append(f"tasks[{task}].{where}: reads the output of task {read!r}, which is {why}")
    return problems
