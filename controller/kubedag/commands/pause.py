"""`kubedag pause|unpause DAG`: set the DAG's `spec.paused`, as
`kubectl patch dag DAG --type merge -p '{"spec":{"paused":true}}'` does."""

import argparse
import asyncio
from typing import Any

from kubedag.commands.common import CliError, add_connection_flags, connect
from kubedag.kube.client import MERGE_PATCH, ApiError, Kube, custom_path


def add_parsers(sub: Any) -> None:
    for verb, paused, text in (
        ("pause", True, "freeze a DAG: no new runs, no new tasks in its running runs"),
        ("unpause", False, "let a paused DAG go on exactly where it stopped"),
    ):
        p = sub.add_parser(verb, help=text)
        p.add_argument("dag", metavar="DAG")
        add_connection_flags(p)
        p.set_defaults(func=lambda args, paused=paused: asyncio.run(_set_paused(args, paused)))


async def _set_paused(args: argparse.Namespace, paused: bool) -> int:
    kube, namespace = await connect(args)
    try:
        print(await set_paused(kube, namespace, args.dag, paused))
        return 0
    finally:
        await kube.close()


async def set_paused(kube: Kube, namespace: str, dag: str, paused: bool) -> str:
    """Patch the DAG's spec.paused (the CLI's and the web view's request); what was done."""
    path = custom_path("dags", namespace, dag)
    try:
        await kube.request("PATCH", path, {"spec": {"paused": paused}}, content_type=MERGE_PATCH)
    except ApiError as error:
        if error.not_found:
            raise CliError(f"DAG {dag!r} not found in namespace {namespace}", 404) from None
        raise CliError(f"could not patch DAG {dag}: {error.message}", error.status) from None
    return f"dag.kubedag.io/{dag} {'paused' if paused else 'unpaused'}"
