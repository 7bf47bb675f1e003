"""Fuzzed DAG manifests and templates through `kubedag validate` (the CLI's own code path,
from a YAML file to its exit code): it never raises, accepts every valid DAG, and every
refusal names the field, the bad value and, for a closed set of values, what is allowed.

The API server's side of the same manifests (its schema and CEL rules agree with validate)
is tests/integration/test_fuzz_apply.py. Counts: tests/fuzz/profiles.py."""

import contextlib
import time

from hypothesis import given
from hypothesis import strategies as st

from kubedag.core.templating import TemplateError, render
from kubedag.core.validation import validate_dag
from kubedag.models.dag import DagSpec
from tests.fuzz.checks import refusal_problems, validate
from tests.fuzz.manifests import Case, dag_cases, good_templates
from tests.fuzz.profiles import TEMPLATE_EXAMPLES, VALIDATE_EXAMPLES, fuzz_settings


@fuzz_settings(VALIDATE_EXAMPLES)
@given(dag_cases())
def test_validate_never_raises_and_names_every_refusal(case: Case) -> None:
    code, messages = validate(case.body)
    if case.refusal is None:
        assert code == 0, f"a valid DAG was refused: {messages}"
        assert messages == []
    else:
        assert code == 1, f"{case.refusal.mutation}: accepted"
        assert not refusal_problems(case.refusal, messages)


# Text that looks like templates: braces, operators, names and filters in any order.
_TEMPLATE_ALPHABET = st.sampled_from(
    [
        "{{",
        "}}",
        "{%",
        "%}",
        "{#",
        "#}",
        "(",
        ")",
        "[",
        "]",
        "'",
        '"',
        "|",
        ".",
        ",",
        "~",
        "+",
        "*",
        "**",
        "-",
        "/",
        "%",
        " ",
        "ds",
        "params",
        "p",
        "1",
        "9" * 30,
        "x",
        "é",
        "upper",
        "join",
        "for",
        "in",
        "if",
        "else",
        "endif",
        "endfor",
        "set",
        "=",
        "range",
        "__class__",
        "_",
        "attr",
        "macros",
        "ds_add",
        "lipsum",
        "loop",
        "self",
        "namespace",
    ]
)
arbitrary_templates = st.lists(_TEMPLATE_ALPHABET, max_size=40).map("".join)


@fuzz_settings(TEMPLATE_EXAMPLES)
@given(st.one_of(arbitrary_templates, good_templates()))
def test_any_template_renders_or_is_refused_with_a_template_error(text: str) -> None:
    spec = DagSpec.model_validate(
        {"params": {"p": 1}, "tasks": [{"name": "t", "image": "busybox", "args": [text]}]}
    )
    started = time.process_time()
    problems = validate_dag("fuzz", spec)  # renders with the sample run's variables
    assert time.process_time() - started < 3.0
    for problem in problems:
        assert problem.reason in ("InvalidTemplate",), problem
        assert problem.message.startswith("task 't' args[0]: "), problem
    with contextlib.suppress(TemplateError):
        render(text, {"params": {"p": 1}, "ds": "2026-01-01"})
