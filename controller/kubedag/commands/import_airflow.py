"""`kubedag import-airflow FILE...`: Airflow DAG files into DAG manifests, statically."""

import argparse
import sys
from pathlib import Path
from typing import Any

from kubedag.commands.common import CliError
from kubedag.sdk.airflow_import import import_airflow
from kubedag.sdk.dag import dump_yaml
from kubedag.sdk.to_python import python_source


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "import-airflow",
        help="convert simple Airflow DAG files into DAG manifests (never runs them)",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("-o", "--output", metavar="DIR", help="write DIR/<dag>.yaml instead of printing")
    p.add_argument(
        "--python",
        action="store_true",
        help="print kubedag.sdk Python (for `kubedag build`) instead of YAML manifests",
    )
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
        if args.python:
            name = path.stem.replace("-", "_") + ".py"
            documents.append((name, python_source(result.manifests, header + "\n")))
        else:
            documents += [
                (f"{m['metadata']['name']}.yaml", header + dump_yaml(m)) for m in result.manifests
            ]
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        for name, text in documents:
            (out / name).write_text(text)
            print(f"wrote {out / name}", file=sys.stderr)
    else:
        separator = "\n\n" if args.python else "---\n"
        print(separator.join(text for _, text in documents), end="")
    return 0
