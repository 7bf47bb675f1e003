"""`kubedag datasets`: each dataset's producers, consumers and last update; `kubedag datasets
touch URI`: record an update made outside kubedag, which starts the DAGs scheduled on it as
a run's update would (Airflow's dataset event through its API)."""

import argparse
import asyncio
import re
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from kubedag import GROUP, VERSION
from kubedag.commands.common import CliError, add_connection_flags, connect
from kubedag.commands.output import add_output_flag, dump
from kubedag.core.catalog import catalog, catalog_table
from kubedag.core.datasets import DatasetUpdate
from kubedag.core.dates import rfc3339
from kubedag.kube.client import ApiError, Kube, custom_path
from kubedag.models.dag import Dag
from kubedag.models.dataset import DATASET_URI_PATTERN, Dataset
from kubedag.reconcilers.datasets import record_update


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "datasets", help="list datasets with their producers, consumers and last update"
    )
    add_connection_flags(p)
    p.add_argument("-A", "--all-namespaces", action="store_true")
    add_output_flag(p)
    p.set_defaults(func=lambda args: asyncio.run(_list(args)))
    verbs = p.add_subparsers(dest="verb")
    touch = verbs.add_parser("touch", help="record an update of a dataset made outside kubedag")
    touch.add_argument("uri", metavar="URI")
    touch.add_argument("--note", help="what the update was (kept with it)")
    add_output_flag(touch)
    add_connection_flags(touch)
    touch.set_defaults(func=lambda args: asyncio.run(_touch(args)))


async def list_objects(kube: Kube, plural: str, namespace: str | None) -> list[dict[str, Any]]:
    """Every object of a kubedag kind in `namespace` (None: all namespaces)."""
    path = custom_path(plural, namespace) if namespace else f"/apis/{GROUP}/{VERSION}/{plural}"
    return list((await kube.request("GET", path)).get("items") or [])


async def _list(args: argparse.Namespace) -> int:
    kube, namespace = await connect(args)
    scope = None if args.all_namespaces else namespace
    try:
        dags = [Dag.model_validate(b) for b in await list_objects(kube, "dags", scope)]
        datasets = [Dataset.model_validate(b) for b in await list_objects(kube, "datasets", scope)]
    except ApiError as error:
        raise CliError(f"could not list DAGs and Datasets: {error.message}") from None
    finally:
        await kube.close()
    entries = catalog(dags, datasets)
    if args.output:
        print(dump([asdict(e) for e in entries], args.output), end="")
    else:
        print(catalog_table(entries, namespaces=args.all_namespaces))
    return 0


async def _touch(args: argparse.Namespace) -> int:
    if not re.match(DATASET_URI_PATTERN, args.uri):
        raise CliError(f"{args.uri!r} is not a dataset URI: it must not be empty or hold spaces")
    kube, namespace = await connect(args)
    now = datetime.now(UTC)
    update = DatasetUpdate(
        dataset=args.uri, id=f"touch/{rfc3339(now)}", source="external", note=args.note
    )
    try:
        written = await record_update(kube, namespace, update, now)
    except ApiError as error:
        raise CliError(f"could not record the update of {args.uri}: {error.message}") from None
    finally:
        await kube.close()
    if args.output:
        print(dump(written, args.output), end="")
        return 0
    sequence = (written or {}).get("status", {}).get("sequence", "?")
    print(f"dataset {args.uri} updated in namespace {namespace} (update {sequence})")
    return 0
