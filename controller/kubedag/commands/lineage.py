"""`kubedag lineage` and `kubedag stale`: DAGs and their datasets across the namespaces the
user may read; the reads are here, the graph and the tables are core/lineage.py and
core/stale.py."""

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from kubedag.commands.common import CliError, add_connection_flags, connect
from kubedag.commands.datasets import list_objects
from kubedag.commands.output import add_output_flag, dump
from kubedag.core.lineage import RENDERERS, lineage
from kubedag.core.stale import stale_dags, stale_table
from kubedag.kube.client import ApiError
from kubedag.models.dag import Dag


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("lineage", help="the graph of DAGs and datasets, with owners and last runs")
    p.add_argument(
        "--dataset", metavar="URI", help="only what feeds this dataset and what it feeds"
    )
    p.add_argument("-o", "--output", choices=[*sorted(RENDERERS), "yaml"], default="text")
    add_connection_flags(p)
    p.set_defaults(func=lambda args: asyncio.run(_lineage(args)))

    p = sub.add_parser("stale", help="DAGs paused, never successful or without success in N days")
    p.add_argument("--days", type=int, default=30, help="default 30")
    add_output_flag(p)
    add_connection_flags(p)
    p.set_defaults(func=lambda args: asyncio.run(_stale(args)))


async def readable_dags(args: argparse.Namespace) -> list[Dag]:
    """The DAGs of `-n NS`; without it, of every namespace the user may list DAGs in, else
    (no cluster-wide right) of the current namespace, said on stderr."""
    kube, namespace = await connect(args)
    try:
        if args.namespace:
            bodies = await list_objects(kube, "dags", args.namespace)
        else:
            try:
                bodies = await list_objects(kube, "dags", None)
            except ApiError as error:
                if error.status != 403:
                    raise
                print(
                    f"kubedag: cannot list DAGs in all namespaces; namespace {namespace} only",
                    file=sys.stderr,
                )
                bodies = await list_objects(kube, "dags", namespace)
    except ApiError as error:
        raise CliError(f"could not list DAGs: {error.message}") from None
    finally:
        await kube.close()
    return [Dag.model_validate(b) for b in bodies]


async def _lineage(args: argparse.Namespace) -> int:
    graph = lineage(await readable_dags(args), args.dataset)
    if args.dataset and not graph.datasets:
        raise CliError(f"no DAG reads or writes dataset {args.dataset!r}")
    if args.output == "yaml":
        print(dump(json.loads(RENDERERS["json"](graph)), "yaml"), end="")
    else:
        print(RENDERERS[args.output](graph))
    return 0


async def _stale(args: argparse.Namespace) -> int:
    if args.days < 0:
        raise CliError(f"--days {args.days}: expected 0 or more")
    found = stale_dags(await readable_dags(args), days=args.days, now=datetime.now(UTC))
    if args.output:
        print(dump([asdict(s) for s in found], args.output), end="")
        return 0
    print(
        stale_table(found)
        if found
        else f"no stale DAGs (none paused, every one succeeded in the last {args.days} days)"
    )
    return 0
