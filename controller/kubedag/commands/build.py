"""`kubedag build DIR -o OUT`: Python DAG files into DAG manifests (see kubedag.sdk)."""

import argparse
import os
from pathlib import Path
from typing import Any

from kubedag.commands.common import CliError
from kubedag.sdk.build import build


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "build", help="run the Python DAG files of a folder and write their DAG manifests"
    )
    p.add_argument("folder", metavar="DIR", help="folder of Python DAG files (read recursively)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="folder of manifests")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, help="files run at once")
    p.set_defaults(func=cmd_build)


def cmd_build(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    if not folder.is_dir():
        raise CliError(f"{folder}: not a folder")
    result = build(folder, Path(args.output), parallel=args.jobs)
    if result.errors:
        for error in result.errors:
            print(f"error: {error}")
        print(f"nothing written to {args.output}: {len(result.errors)} error(s)")
        return 1
    for verb, paths in (
        ("wrote", result.written),
        ("unchanged", result.unchanged),
        ("removed", result.removed),
    ):
        for path in paths:
            print(f"{verb} {path}")
    if not (result.written or result.unchanged):
        print(f"no DAG found in {folder}")
    return 0
