"""Bounds on what one template render may build and how much work it may do, so that a DAG
cannot exhaust the controller that renders it: `{{ 'x' * 10**9 }}` is refused before the
string exists, and a loop that runs on and on is stopped.

Two budgets, both counted inside Jinja's sandbox (deterministic: the same template is
refused on every machine, at apply and at run time alike):
- size: no string, list or other sized value a template builds, and not its output, holds
  more than MAX_OUTPUT characters (items); no integer more than MAX_INT_BITS bits. Operations
  whose result size is known beforehand (`*`, `**`, padding widths, `replace`) are refused
  before they run; the others are checked on their result, which their bounded inputs
  bound.
- work: every operation the sandbox sees (a call, an attribute read, an operator, a loop
  iteration, a piece of output) costs steps in proportion to the Python work behind it,
  plus one per WORK_PER_UNIT characters (one per item) of what it reads and builds; a
  render may spend MAX_WORK steps, under a second of CPU even on a loaded machine (the
  table in tests/unit/test_template_bounds.py times the worst cases); a real template
  spends under a hundred."""

import re
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from functools import wraps
from typing import Any

from jinja2 import nodes
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_OUTPUT = 1 << 20  # characters of a render's output, and of any value it builds
MAX_INT_BITS = 1 << 16
MAX_WORK = 500_000
WORK_PER_UNIT = 64
# Steps an operation costs, in proportion to the Python work behind it: a call (of a
# function, method, filter or test) does the most, an operator less, reading an attribute or
# an item or taking one more loop iteration least.
CALL_COST, OPERATOR_COST = 8, 4
MAX_LIPSUM_WORDS = 1000
# Reading the clock would render a template differently each time (macros.datetime.now()).
CLOCK_READS = frozenset({"now", "utcnow", "today"})
GUARD_FILTER = "_kubedag_guard"
OPERAND_FILTER = "_kubedag_operand"
# Widths and precisions in %-formats and str.format specs ("%99999999s", "{:>99999999}").
_FORMAT_NUMBERS = re.compile(r"[%:][^a-zA-Z%{}]*?(\d+)")


class TemplateLimitError(ValueError):
    """A render went past a bound: the message says which."""


@dataclass
class _Budget:
    work: int = 0
    output: int = 0


_BUDGET: ContextVar[_Budget | None] = ContextVar("kubedag_template_budget", default=None)


def _budget() -> _Budget:
    budget = _BUDGET.get()
    if budget is None:  # compile-time constant folding, outside a render
        budget = _Budget()
    return budget


def _charge(units: int = 1) -> None:
    budget = _budget()
    budget.work += units
    if budget.work > MAX_WORK:
        raise TemplateLimitError(
            f"the template does more than {MAX_WORK} steps of work (a loop or a chain of"
            " operations too long for one render)"
        )


def _too_big(size: int, what: str) -> TemplateLimitError:
    return TemplateLimitError(
        f"the template would build {what} of {size} characters or items; at most"
        f" {MAX_OUTPUT} are allowed"
    )


def deep_size(value: Any, limit: int = MAX_OUTPUT) -> int:
    """Characters of a value's strings plus one per item, nested containers included (a list
    holding one long string many times is as big as it prints); stops counting past
    `limit`."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list | tuple | set | frozenset):
        total = 0
        for item in value:
            total += 1 + deep_size(item, limit - total)
            if total > limit:
                break
        return total
    return 1


def checked(value: Any) -> Any:
    """`value`, charged for and refused if it is too big."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() > MAX_INT_BITS:
            raise TemplateLimitError(
                f"the template would build an integer of {value.bit_length()} bits; at most"
                f" {MAX_INT_BITS} are allowed"
            )
        _charge()
        return value
    size = deep_size(value)
    if size > MAX_OUTPUT:
        raise _too_big(size, f"a {type(value).__name__}")
    _charge(1 + size // WORK_PER_UNIT + _input_cost(value))
    return value


def _input_cost(value: Any) -> int:
    """What an operation reading `value` costs beyond its own step (O(1) to compute): one
    per WORK_PER_UNIT characters of a string, one per item of a container (Python-level
    work such as sorting or comparing goes item by item)."""
    if isinstance(value, str | bytes):
        return len(value) // WORK_PER_UNIT
    if isinstance(value, list | tuple | dict | set | frozenset):
        return len(value)
    return 0


def _charge_inputs(values: Iterable[Any], base: int = CALL_COST) -> None:
    _charge(base + sum(_input_cost(v) for v in values))


def _operand(value: Any) -> Any:
    _charge(_input_cost(value))
    return value


def _check_repeat(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        bits = left.bit_length() + right.bit_length()
        if bits > MAX_INT_BITS:
            raise TemplateLimitError(
                f"the template would build an integer of about {bits} bits; at most"
                f" {MAX_INT_BITS} are allowed"
            )
        return
    for seq, times in ((left, right), (right, left)):
        if isinstance(times, int) and not isinstance(seq, int):
            size = deep_size(seq) * times
            if size > MAX_OUTPUT:
                raise _too_big(size, f"a {type(seq).__name__}")


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        bits = max(base.bit_length() - 1, 0) * exponent + 1
        if abs(base) > 1 and bits > MAX_INT_BITS:
            raise TemplateLimitError(
                f"the template would build an integer of about {bits} bits; at most"
                f" {MAX_INT_BITS} are allowed"
            )


def _check_format(spec: Any) -> None:
    """Refuses a format whose fields' widths and precisions add up past the bound (each
    pads its field to at least that size)."""
    if isinstance(spec, str):
        padding = sum(int(number[:8]) for number in _FORMAT_NUMBERS.findall(spec))
        if padding > MAX_OUTPUT:
            raise _too_big(padding, "formatted fields")


def _check_width(width: Any) -> None:
    if isinstance(width, int) and width > MAX_OUTPUT:
        raise _too_big(width, "a padded string")


def _check_replace(text: Any, old: Any, new: Any, count: Any = -1) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        times = text.count(old) if old else len(text) + 1
        if isinstance(count, int) and count >= 0:
            times = min(times, count)
        size = len(text) + times * (len(new) - len(old))
        if size > MAX_OUTPUT:
            raise _too_big(size, "a str")


def _check_join(items: Any, separator: Any) -> None:
    if isinstance(items, list | tuple) and isinstance(separator, str):
        size = deep_size(items) + len(separator) * len(items)
        if size > MAX_OUTPUT:
            raise _too_big(size, "a joined str")


def _check_str_method(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Pre-checks for str methods whose result can dwarf their inputs."""
    owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
    if not isinstance(owner, str):
        return
    if name in ("center", "ljust", "rjust", "zfill") and args:
        _check_width(args[0])
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(size, int):
            _check_width(owner.count("\t") * size + len(owner))
    elif name == "replace" and len(args) >= 2:
        _check_replace(owner, *args[:3])
    elif name in ("format", "format_map"):
        _check_format(owner)
    elif name == "join" and args:
        _check_join(args[0], owner)


def _guard_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _charge_inputs([*args, *kwargs.values()])
        # Filters marked pass_context & co. take the context first: the value follows it.
        values = [a for a in args if not isinstance(a, Context)]
        if name in ("center", "indent") and len(values) >= 2:
            lines = values[0].count("\n") + 1 if isinstance(values[0], str) else 1
            width = values[1] if isinstance(values[1], int) else 0
            _check_width(width * (lines if name == "indent" else 1))
        elif name == "replace" and len(values) >= 3:
            _check_replace(*values[:4])
        elif name == "format" and values:
            _check_format(values[0])
        elif name == "join" and values:
            _check_join(values[0], values[1] if len(values) > 1 else "")
        return checked(function(*args, **kwargs))

    return guarded


def _guard_test(function: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _charge_inputs([*args, *kwargs.values()])
        return function(*args, **kwargs)

    return guarded


def _iterate(items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        _charge()
        yield item


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    from jinja2.utils import generate_lorem_ipsum

    if n * max > MAX_LIPSUM_WORDS:
        raise TemplateLimitError(f"lipsum of {n} x {max} words; at most {MAX_LIPSUM_WORDS}")
    return str(generate_lorem_ipsum(n=n, html=html, min=min, max=max))


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with the size and work budgets of this module."""

    intercepted_binops = frozenset({"*", "**", "+", "%", "//", "/", "-"})
    intercepted_unops = frozenset({"-", "+"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals["lipsum"] = _lipsum
        self.filters[GUARD_FILTER] = _iterate
        self.filters[OPERAND_FILTER] = _operand

    def guard_filters(self) -> None:
        """Wrap every filter and test (call once the environment's are all in)."""
        for name, function in list(self.filters.items()):
            if name not in (GUARD_FILTER, OPERAND_FILTER):
                self.filters[name] = _guard_filter(name, function)
        for name, function in list(self.tests.items()):
            self.tests[name] = _guard_test(function)  # type: ignore[arg-type]

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        reads_clock = attr in CLOCK_READS and (
            isinstance(obj, date) or (isinstance(obj, type) and issubclass(obj, date))
        )
        return not reads_clock and super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _charge_inputs((left, right), OPERATOR_COST)
        if operator == "*":
            _check_repeat(left, right)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_format(left)
        return checked(super().call_binop(context, operator, left, right))

    def call_unop(self, context: Context, operator: str, arg: Any) -> Any:
        _charge(OPERATOR_COST)
        return super().call_unop(context, operator, arg)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _charge()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _charge()
        return super().getitem(obj, argument)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        method = getattr(__obj, "__wrapped__", __obj)  # str.format, as the sandbox wraps it
        _charge_inputs([getattr(method, "__self__", None), *args, *kwargs.values()])
        _check_str_method(method, args, kwargs)
        return checked(super().call(__context, __obj, *args, **kwargs))

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """The syntax tree, with every loop's iterable, every comparison's operands, every
        sliced value and every `~` concatenation passed through the budget (the sandbox has
        no hook for them)."""
        tree = super()._parse(source, name, filename)
        for compare in tree.find_all(nodes.Compare):
            compare.expr = _through(OPERAND_FILTER, compare.expr)
            for operand in compare.ops:
                operand.expr = _through(OPERAND_FILTER, operand.expr)
        for item in tree.find_all(nodes.Getitem):
            if isinstance(item.arg, nodes.Slice):
                item.node = _through(OPERAND_FILTER, item.node)  # a plain Python slice
        for loop in tree.find_all(nodes.For):
            loop.iter = _through(GUARD_FILTER, loop.iter)
        for concat in list(tree.find_all(nodes.Concat)):
            _fold_checked(concat)
        return tree


def _through(filter_name: str, node: nodes.Node) -> nodes.Expr:
    return nodes.Filter(node, filter_name, [], [], None, None, lineno=node.lineno)


def _checked(node: nodes.Expr) -> nodes.Expr:
    return _through("string", node)


def _fold_checked(concat: nodes.Concat) -> None:
    """`a ~ b ~ c` as `((a ~ b) checked ~ c) checked`: no partial result outgrows twice the
    bound before it is checked."""
    parts = [_checked(node) for node in concat.nodes]
    folded = parts[0]
    for part in parts[1:-1]:
        folded = _checked(nodes.Concat([folded, part], lineno=concat.lineno))
    concat.nodes = [folded, parts[-1]] if len(parts) > 1 else [folded]


def render_bounded(template: Any, variables: Any) -> str:
    """Render a compiled template within the budgets; raises TemplateLimitError."""
    token = _BUDGET.set(_Budget())
    try:
        parts: list[str] = []
        budget = _budget()
        for chunk in template.generate(variables):
            budget.output += len(chunk)
            if budget.output > MAX_OUTPUT:
                raise _too_big(budget.output, "an output")
            _charge(1 + len(chunk) // WORK_PER_UNIT)
            parts.append(chunk)
        return "".join(parts)
    finally:
        _BUDGET.reset(token)
