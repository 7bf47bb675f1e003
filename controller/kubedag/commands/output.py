"""`-o json|yaml`: the objects a command prints, in a form scripts read."""

import argparse
import json
from typing import Any

import yaml

FORMATS = ("json", "yaml")


def add_output_flag(parser: argparse.ArgumentParser, *, extra: tuple[str, ...] = ()) -> None:
    """`-o/--output`: json or yaml (or one of `extra`); absent: the command's own text."""
    parser.add_argument(
        "-o",
        "--output",
        choices=[*extra, *FORMATS],
        help="print the objects as JSON or YAML instead of text",
    )


def dump(objects: Any, output: str) -> str:
    """The objects in the format asked for, ending with a newline."""
    if output == "json":
        return json.dumps(objects, indent=2, default=str) + "\n"
    return yaml.safe_dump(objects, sort_keys=False, default_flow_style=False)
