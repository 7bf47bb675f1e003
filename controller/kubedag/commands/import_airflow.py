"""`kubedag import-airflow FILE...`: Airflow DAG files into DAG manifests, statically."""

import argparse
import sys
from pathlib import Path
from typing import Any

from kubedag.commands.common import CliError
from kubedag.sdk.airflow_import import import_airflow
from kubedag.sdk.dag import dump_yaml


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "import-airflow",
        help="convert simple Airflow DAG files into DAG manifests (never runs them)",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("-o", "--output", metavar="DIR", help="write DIR/<dag>.yaml instead of printing")
    p.set_defaults(func=cmd_import_airflow)


def cmd_import_airflow(args: argparse.Namespace) -> int:
    documents: list[tuple[str, str]] = []
    for name in args.files:
        path = Path(name)
        if not path.is_file():
            raise CliError(f"{path}: no such file")
        try:
            result = import_airflow(path.read_text(), str(path))
        except SyntaxError as error:
            raise CliError(f"{path}:{error.lineno}: {error.msg}") from None
        if not result.manifests:
            raise CliError(f"{path}: no DAG found (a `with DAG(...)` or `dag = DAG(...)`)")
        for note in result.notes:
            print(f"{path}:{note.line}: {note.message}", file=sys.stderr)
        header = f"# Converted by kubedag import-airflow from {path}\n"
        documents += [(m["metadata"]["name"], header + dump_yaml(m)) for m in result.manifests]
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        for name, text in documents:
            (out / f"{name}.yaml").write_text(text)
            print(f"wrote {out / f'{name}.yaml'}", file=sys.stderr)
    else:
        print("---\n".join(text for _, text in documents), end="")
    return 0
