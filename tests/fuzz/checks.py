"""What the fuzz tests check of a refusal, and `kubedag validate` run as the CLI runs it."""

import argparse
import contextlib
import functools
import io
import tempfile
from pathlib import Path
from typing import Any

import yaml

from kubedag.cli import build_parser
from tests.fuzz.manifests import Refusal

_FOLDER = Path(tempfile.mkdtemp(prefix="kubedag-fuzz-"))


@functools.cache
def _parser() -> argparse.ArgumentParser:
    return build_parser()


def validate(body: dict[str, Any]) -> tuple[int, list[str]]:
    """`kubedag validate FILE` from the YAML file on: its exit code and the problems it
    printed (the parser is built once: building it costs more than validating)."""
    path = _FOLDER / "dag.yaml"
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: 10,000 tasks in a second
    path.write_text(yaml.dump(body, Dumper=dumper, allow_unicode=True))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        args = _parser().parse_args(["validate", str(path)])
        code = args.func(args)
    lines = out.getvalue().splitlines() + err.getvalue().splitlines()
    return code, [line.removeprefix("  - ") for line in lines if line.startswith("  - ")]


def refusal_problems(refusal: Refusal, messages: list[str]) -> list[str]:
    """What the messages fail to say of the refusal: one of them names the field, quotes
    the value and (if the refusal has one) says what is allowed. Empty: all is said."""
    naming = [m for m in messages if all(part in m for part in refusal.field)]
    if not naming:
        return [f"{refusal.mutation}: no message names {refusal.field}: {messages}"]
    problems = []
    if refusal.value and not any(refusal.value in m for m in naming):
        problems.append(f"{refusal.mutation}: no message quotes {refusal.value!r}: {naming}")
    if refusal.allowed and not any(refusal.allowed in m for m in naming):
        problems.append(
            f"{refusal.mutation}: no message says what is allowed ({refusal.allowed}): {naming}"
        )
    return problems
