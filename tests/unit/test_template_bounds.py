"""A template cannot exhaust the controller: what one render may build is bounded (1 MiB) and
so is the work it may do; past a bound it is refused with a message naming the bound, and
the DAG's refusal names the field."""

import time
from dataclasses import dataclass

import pytest

from kubedag.core.macros import MACROS
from kubedag.core.template_bounds import MAX_OUTPUT, MAX_WORK
from kubedag.core.templating import TemplateError, render
from kubedag.core.validation import validate_dag
from tests.unit.builders import dag_spec, task

BIG = "{% set s = 'x' * 1000000 %}"
BUILD = "the template would build"
WORK = f"more than {MAX_WORK} steps of work"
# Worst cases stop well within a second of CPU here; the slack is for a loaded machine.
SECONDS = 3.0


@dataclass(frozen=True)
class Bound:
    name: str
    template: str
    refused: str | None
    """A part of the refusal's message; None: the template renders."""


BOUNDS = [
    Bound("repeat a string 10^8 times (the issue's case)", "{{ 'x' * 100000000 }}", BUILD),
    Bound("repeat by a param", "{{ 'x' * params.n }}", BUILD),
    Bound("repeat a list", "{{ ['x'] * 100000000 }}", BUILD),
    Bound("a list holding one long string many times", BIG + "{{ ([s] * 1000)|join }}", BUILD),
    Bound("concatenate past the bound", BIG + "{{ s ~ s }}", BUILD),
    Bound("concatenate in steps", BIG + "{% set t = s ~ s ~ s ~ s %}{{ t|length }}", BUILD),
    Bound("add strings", BIG + "{{ (s + s)|length }}", BUILD),
    Bound("center filter", "{{ 'x'|center(100000000) }}", BUILD),
    Bound("str.center", "{{ 'x'.center(100000000) }}", BUILD),
    Bound("str.ljust by a param", "{{ 'x'.ljust(params.n) }}", BUILD),
    Bound("%-format width", "{{ '%100000000s' % 'x' }}", BUILD),
    Bound("str.format width", "{{ '{:>100000000}'.format('x') }}", BUILD),
    Bound("many wide fields", "{{ '%900000s%900000s' % ('a', 'b') }}", BUILD),
    Bound("format filter width", "{{ '%100000000s'|format('x') }}", BUILD),
    Bound("a huge power", "{{ 10 ** 10000000 }}", "an integer"),
    Bound("squaring on and on", "{% set n = 2 ** 60000 %}{{ n * n }}", "an integer"),
    Bound("replace that grows", BIG + "{{ s.replace('x', 'xx') }}", BUILD),
    Bound("replace filter that grows", BIG + "{{ s|replace('x', 'xx') }}", BUILD),
    Bound("indent every line far", "{{ ('x\n' * 400000)|indent(100) }}", BUILD),
    Bound("expandtabs", "{{ ('\t' * 1000000).expandtabs(100) }}", BUILD),
    Bound("lipsum", "{{ lipsum(100000) }}", "lipsum"),
    Bound(
        "nested empty loops",
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
        WORK,
    ),
    Bound(
        "loops over a long string",
        BIG + "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
        WORK,
    ),
    Bound(
        "a search in a loop",
        BIG + "{% for i in range(100000) %}{{ s.count('xy') }}{% endfor %}",
        WORK,
    ),
    Bound(
        "a comparison in a loop",
        BIG + "{% for i in range(100000) %}{% if 'z' in s %}{% endif %}{% endfor %}",
        WORK,
    ),
    Bound(
        "a slice in a loop",
        BIG + "{% for i in range(100000) %}{% set t = s[1:] %}{% endfor %}",
        WORK,
    ),
    Bound(
        "a test in a loop",
        BIG + "{% for i in range(100000) %}{% if s is string %}{% endif %}{% endfor %}",
        WORK,
    ),
    Bound(
        "sorting again and again",
        "{% set l = range(60000)|list %}{% for i in range(100) %}{{ (l|sort)|length }}{% endfor %}",
        WORK,
    ),
    Bound(
        "endless recursion", "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "RecursionError"
    ),
    Bound(
        "an output past the bound", "{% for a in range(2000) %}{{ 'x' * 1000 }}{% endfor %}", BUILD
    ),
    # What real templates do stays well inside.
    Bound("a 1 MiB string", "{{ ('x' * 1048576)|length }}", None),
    Bound("a 500,000-character output", "{{ 'ab' * 250000 }}", None),
    Bound("a loop of 10,000 items", "{% for a in range(10000) %}{{ a }},{% endfor %}", None),
    Bound(
        "ordinary formats", "{{ '%05d|%-10s|%.2f' % (7, 'x', 1.5) }} {{ '{:>8}'.format(ds) }}", None
    ),
    Bound("dates and macros", "{{ macros.ds_add(ds, -7) }} {{ ds_nodash }} {{ 2 ** 64 }}", None),
]


@pytest.mark.parametrize("case", BOUNDS, ids=lambda c: c.name)
def test_renders_are_bounded_in_size_and_work(case: Bound) -> None:
    variables = {"params": {"n": 100_000_000}, "ds": "2026-01-01", "ds_nodash": "20260101"}
    variables["macros"] = MACROS
    started = time.process_time()
    if case.refused is None:
        assert len(render(case.template, variables)) <= MAX_OUTPUT
    else:
        with pytest.raises(TemplateError, match=case.refused):
            render(case.template, variables)
    assert time.process_time() - started < SECONDS


def test_a_dag_with_an_oversize_template_is_refused_naming_the_field() -> None:
    spec = dag_spec(task("load", args=["--ok={{ ds }}", "{{ 'x' * 100000000 }}"]))
    started = time.process_time()
    problems = validate_dag("sales", spec)
    assert time.process_time() - started < SECONDS
    [problem] = problems
    assert problem.reason == "InvalidTemplate"
    assert problem.message.startswith("task 'load' args[1]: the template would build a str of")
    assert f"at most {MAX_OUTPUT}" in problem.message


def test_the_budget_is_per_render() -> None:
    loop = "{% for a in range(100000) %}{% endfor %}done"
    for _ in range(6):  # 600,000 iterations: more than one budget, spent across renders
        assert render(loop, {}) == "done"
