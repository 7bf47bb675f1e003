"""Which tasks' outputs a template reads, found in its syntax tree (never by pattern): the
`tasks.<name>` (or `tasks['<name>']`) it looks up and the `ti.xcom_pull(task_ids=...)` calls
whose task names are constants. Validation refuses a template that reads the output of a
task not upstream of its own."""

from collections.abc import Iterator

from jinja2 import nodes

from kubedag.core.templating import TemplateError, is_template, parse_template

_TASK_INSTANCE_NAMES = ("ti", "task_instance")


def _constant_names(node: nodes.Expr) -> Iterator[str]:
    """Task names a task_ids argument spells out: a string, or a list or tuple of them."""
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        yield node.value
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


def referenced_outputs(text: str) -> list[str]:
    """The tasks whose outputs the template reads by constant name, in order, once each.
    A template that does not parse reads none (rendering reports its syntax error)."""
    if not is_template(text):
        return []
    try:
        tree = parse_template(text)
    except TemplateError:
        return []
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
    return list(dict.fromkeys(found))
