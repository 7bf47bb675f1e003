"""`kubedag-task`: the command task pods run against a PostgreSQL warehouse.

    kubedag-task extract --source URL|PATH [--format csv|json] (--to-table T | --to-file F)
    kubedag-task load --table T --primary-key K[,K] [--mode full|incremental]
        (--source S | --from-table T)
    kubedag-task sql FILE [--ctas TABLE [--primary-key K]]
    kubedag-task check --table T [--min-rows N] [--unique K] [--no-duplicate-rows] ...

Every subcommand reads the run's dates from KUBEDAG_DATA_INTERVAL_START/END (set in every
kubedag task pod) or the flags, the connection from KUBEDAG_CONN_<NAME>_* (a Secret through
envFrom), writes its outputs as one JSON object to the termination log, and exits 1 with a
readable message when it fails. See the README's "Task toolkit".
"""

from __future__ import annotations

import argparse
import http.client
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from kubedag.toolkit import checks
from kubedag.toolkit.connection import Connection, connect, read_connection
from kubedag.toolkit.context import RunInterval, parse_params, render, resolve_interval
from kubedag.toolkit.errors import ToolkitError
from kubedag.toolkit.extract import extract_to_file, extract_to_table
from kubedag.toolkit.feeds import SourceSpec
from kubedag.toolkit.load import LoadRequest, load
from kubedag.toolkit.outputs import write_outputs
from kubedag.toolkit.statements import build_and_swap, run_script


def _columns(text: str | None) -> list[str] | None:
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--conn",
        metavar="NAME",
        help="the connection: variables KUBEDAG_CONN_<NAME>_HOST, ... (default: the only one)",
    )
    parser.add_argument("--logical-date", help="default: $KUBEDAG_LOGICAL_DATE")
    parser.add_argument("--data-interval-start", help="default: $KUBEDAG_DATA_INTERVAL_START")
    parser.add_argument("--data-interval-end", help="default: $KUBEDAG_DATA_INTERVAL_END")
    parser.add_argument(
        "--param", action="append", metavar="KEY=VALUE", help="{{ params.KEY }} in templates"
    )


def _source_flags(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument(
        "--source",
        required=required,
        help="http(s)://..., file://..., a path or - (stdin); a template: {{ ds }} etc.",
    )
    parser.add_argument("--format", choices=["csv", "json"], default="csv")
    parser.add_argument("--delimiter", default=",", help="CSV delimiter (default ,)")
    parser.add_argument(
        "--no-header", dest="header", action="store_false", help="the CSV has no header line"
    )
    parser.add_argument(
        "--columns", help="column names, comma-separated (instead of the header / JSON keys)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubedag-task", description=(__doc__ or "").split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("extract", help="a CSV or JSON source into a staging table or a file")
    _common(p)
    _source_flags(p, required=True)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--to-table", help="staging table (text columns), replaced whole")
    target.add_argument("--to-file", type=Path, help="a file (on a shared volume)")

    p = sub.add_parser("load", help="rows into a table with a primary key, idempotently")
    _common(p)
    _source_flags(p, required=False)
    p.add_argument("--from-table", help="load from this (staging) table instead of --source")
    p.add_argument("--table", required=True)
    p.add_argument("--primary-key", required=True, help="the table's key columns, k1,k2")
    p.add_argument("--mode", choices=["full", "incremental"], default="full")
    p.add_argument("--interval-column", help="incremental: the row's date/time column")
    p.add_argument("--upsert", action="store_true", help="incremental: merge on the key")
    p.add_argument("--outside-interval", choices=["fail", "skip"], default="fail")
    p.add_argument("--create", metavar="COLUMNS", help="make a missing table: 'a text, b int'")

    p = sub.add_parser("sql", help="a templated SQL file in one transaction")
    _common(p)
    p.add_argument("file", type=Path, help="the SQL file (Jinja2 template); - for stdin")
    p.add_argument("--ctas", metavar="TABLE", help="the file is a SELECT: build TABLE from it")
    p.add_argument("--primary-key", help="--ctas: the new table's key columns")

    p = sub.add_parser("check", help="data-quality checks; exit 1 with a report if one fails")
    _common(p)
    p.add_argument("--table", required=True)
    p.add_argument("--min-rows", type=int)
    p.add_argument("--expect-rows", type=int, help="rows the input had (input vs output)")
    p.add_argument("--expect-rows-from", metavar="TABLE", help="as many rows as this table")
    p.add_argument("--unique", action="append", default=[], metavar="K1[,K2]")
    p.add_argument("--no-duplicate-rows", action="store_true")
    p.add_argument("--not-null", metavar="C1,C2")
    p.add_argument("--fresh-column", help="at least one row of the run's interval")
    p.add_argument("--interval-column", help="check only the rows of the run's interval")
    p.add_argument(
        "--assert",
        dest="assertions",
        action="append",
        default=[],
        metavar="[NAME=]SQL",
        help="passes when the query returns true or no rows (a template)",
    )
    return parser


def _interval(args: argparse.Namespace) -> RunInterval | None:
    return resolve_interval(args.logical_date, args.data_interval_start, args.data_interval_end)


def _spec(
    args: argparse.Namespace, interval: RunInterval | None, params: dict[str, str]
) -> SourceSpec:
    return SourceSpec(
        location=render(args.source, "--source", interval, params),
        format=args.format,
        delimiter=args.delimiter,
        header=args.header,
        columns=_columns(args.columns),
    )


def _read_sql(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text()
    except OSError as error:
        raise ToolkitError(f"cannot read {path}: {error.strerror}") from None


def _execute(args: argparse.Namespace, connection: Connection | None) -> tuple[int, dict[str, Any]]:
    interval = _interval(args)
    params = parse_params(args.param)
    if connection is None:
        return 0, extract_to_file(_spec(args, interval, params), args.to_file)
    with connect(connection, args.command) as conn:
        if args.command == "extract":
            return 0, extract_to_table(conn, _spec(args, interval, params), args.to_table)
        if args.command == "load":
            if (args.source is None) == (args.from_table is None):
                raise ToolkitError("load needs one of --source and --from-table")
            request = LoadRequest(
                table=args.table,
                primary_key=_columns(args.primary_key) or [],
                mode=args.mode,
                source=_spec(args, interval, params) if args.source else None,
                from_table=args.from_table,
                create=args.create,
                interval_column=args.interval_column,
                upsert=args.upsert,
                outside_interval=args.outside_interval,
            )
            return 0, load(conn, request, interval)
        if args.command == "sql":
            text = render(_read_sql(args.file), str(args.file), interval, params)
            if args.ctas:
                return 0, build_and_swap(conn, args.ctas, text, _columns(args.primary_key))
            return 0, run_script(conn, text)
        return _check(conn, args, interval, params)


_ASSERTION_NAME = re.compile(
    r"^\s*([A-Za-z0-9 _-]+?)\s*=\s*((?:SELECT|WITH|VALUES|TABLE)\b.*)$", re.IGNORECASE | re.DOTALL
)


def _named_assertion(text: str, number: int) -> tuple[str, str]:
    """`NAME=SQL` (a plain name, then a query) or just `SQL`, named by its place."""
    match = _ASSERTION_NAME.match(text)
    if match:
        return match.group(1), match.group(2)
    return f"assertion {number}", text


def _check(
    conn: psycopg.Connection,
    args: argparse.Namespace,
    interval: RunInterval | None,
    params: dict[str, str],
) -> tuple[int, dict[str, Any]]:
    assertions = []
    for number, text in enumerate(args.assertions, start=1):
        name, query = _named_assertion(text, number)
        assertions.append((name, render(query, f"--assert {number}", interval, params)))
    request = checks.CheckRequest(
        table=args.table,
        min_rows=args.min_rows,
        expect_rows=args.expect_rows,
        expect_rows_from=args.expect_rows_from,
        unique=[_columns(u) or [] for u in args.unique],
        no_duplicate_rows=args.no_duplicate_rows,
        not_null=_columns(args.not_null) or [],
        fresh_column=args.fresh_column,
        interval_column=args.interval_column,
        assertions=assertions,
    )
    results = checks.run_checks(conn, request, interval)
    if not results:
        raise ToolkitError("no check asked for: give --min-rows, --unique, --assert, ...")
    print(checks.report(args.table, results, interval), flush=True)
    return (0 if all(r.ok for r in results) else 1), checks.outputs(args.table, results)


def describe_database_error(error: psycopg.Error) -> str:
    """The server's message with its detail and hint, as psql shows them."""
    diag = error.diag
    text = diag.message_primary or str(error).strip()
    if diag.message_detail:
        text += f"\n  DETAIL: {diag.message_detail}"
    if diag.message_hint:
        text += f"\n  HINT: {diag.message_hint}"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.monotonic()
    connection: Connection | None = None
    try:
        if not (args.command == "extract" and args.to_file is not None):
            connection = read_connection(args.conn)
            print(f"kubedag-task {args.command}: connection {connection.describe()}", flush=True)
        code, values = _execute(args, connection)
    except ToolkitError as error:
        message = str(error)
        code, values = 1, {"error": message}
    except psycopg.Error as error:
        message = describe_database_error(error)
        code, values = 1, {"error": message}
    except (OSError, http.client.HTTPException) as error:  # a source cut off while read
        message = f"{type(error).__name__}: {error}"
        code, values = 1, {"error": message}
    else:
        message = ""
    if connection is not None:
        message = connection.redact(message)
        values = {k: connection.redact(v) if isinstance(v, str) else v for k, v in values.items()}
    values["seconds"] = round(time.monotonic() - started, 3)
    write_outputs(values)
    if message:
        print(f"kubedag-task {args.command}: error: {message}", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
