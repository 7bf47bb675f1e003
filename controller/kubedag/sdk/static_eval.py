"""The values a Python expression stands for, worked out from its syntax tree alone (never
by running it): literals, f-strings, names bound to such values, loop variables, and the few
calls DAG files use for dates and text. Anything else is `Unknown`."""

import ast
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


class Unknown(Exception):
    """An expression whose value cannot be known without running the file."""

    def __init__(self, node: ast.AST, why: str = "") -> None:
        super().__init__(why or ast.unparse(node))
        self.node = node


@dataclass(frozen=True)
class ZonedDatetime:
    """pendulum.datetime(2021, 1, 1, tz="UTC"): a wall time and the zone it is read in."""

    value: datetime
    zone: str


def _datetime(args: list[Any], kwargs: dict[str, Any]) -> Any:
    zone = kwargs.pop("tz", None) or kwargs.pop("tzinfo", None)
    value = datetime(*args, **kwargs)
    return ZonedDatetime(value, zone) if isinstance(zone, str) else value


# The calls whose value is known from constant arguments, by the dotted name they are made
# with (`datetime(...)`, `datetime.datetime(...)`, `pendulum.datetime(...)`).
KNOWN_CALLS: Mapping[str, Callable[[list[Any], dict[str, Any]], Any]] = {
    "datetime": _datetime,
    "datetime.datetime": _datetime,
    "pendulum.datetime": _datetime,
    "timedelta": lambda a, k: timedelta(*a, **k),
    "datetime.timedelta": lambda a, k: timedelta(*a, **k),
    "duration": lambda a, k: timedelta(*a, **k),
    "pendulum.duration": lambda a, k: timedelta(*a, **k),
    "textwrap.dedent": lambda a, k: textwrap.dedent(*a, **k),
    "dedent": lambda a, k: textwrap.dedent(*a, **k),
    "range": lambda a, k: list(range(*a, **k)),
    "list": lambda a, k: list(*a),
    "str": lambda a, k: str(*a),
    "dict": lambda a, k: dict(*a, **k),
}


def dotted_name(node: ast.AST) -> str | None:
    """`a.b.c` for a chain of names and attributes, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted_name(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


class Evaluator:
    """Values of expressions over a scope of names already known (constants and loops)."""

    def __init__(self, scope: dict[str, Any]) -> None:
        self.scope = scope

    def value(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in self.scope and not isinstance(self.scope[node.id], Unknown):
                return self.scope[node.id]
            raise Unknown(node, f"the value of {node.id!r} is not known without running the file")
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            return [self.value(item) for item in node.elts]
        if isinstance(node, ast.Dict):
            if any(key is None for key in node.keys):
                raise Unknown(node)
            return {
                self.value(k): self.value(v)
                for k, v in zip(node.keys, node.values, strict=True)
                if k
            }
        if isinstance(node, ast.JoinedStr):
            return "".join(self._piece(part) for part in node.values)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mult):
            left, right = self.value(node.left), self.value(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self.value(node.operand)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, ast.Attribute):
            name = dotted_name(node)
            if name and name.split(".")[0] == "TriggerRule":
                return node.attr.lower()  # TriggerRule.ALL_DONE is "all_done"
            if name == "sys.executable":
                raise Unknown(node, "sys.executable is the Airflow worker's Python")
        raise Unknown(node)

    def _piece(self, part: ast.expr) -> str:
        if isinstance(part, ast.Constant):
            return str(part.value)
        if isinstance(part, ast.FormattedValue) and part.format_spec is None:
            return str(self.value(part.value))
        raise Unknown(part)

    def _call(self, node: ast.Call) -> Any:
        name = dotted_name(node.func)
        function = KNOWN_CALLS.get(name or "")
        if function is None:
            raise Unknown(node, f"a call of {name or ast.unparse(node.func)}()")
        args = [self.value(a) for a in node.args]
        kwargs = {k.arg: self.value(k.value) for k in node.keywords if k.arg}
        try:
            return function(args, kwargs)
        except (TypeError, ValueError) as error:
            raise Unknown(node, f"{ast.unparse(node)}: {error}") from None
