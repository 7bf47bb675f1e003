"""`kubedag pause|unpause DAG`: set the DAG's `spec.paused`, as
`kubectl patch dag DAG --type merge -p '{"spec":{"paused":true}}'` does."""

import argparse
import asyncio
from typing import Any

from kubedag.commands.common import CliError, add_connection_flags, connect
from kubedag.commands.output import add_output_flag, dump
from kubedag.kube.client import MERGE_PATCH, ApiError, Kube, custom_path


def add_parsers(sub: Any) -> None:
    for verb, paused, text in (
        ("pause", True, "freeze a DAG: no new runs, no new tasks in its running runs"),
        ("unpause", False, "let a paused DAG go on exactly where it stopped"),
    ):
        p = sub.add_parser(verb, help=text)
        p.add_argument("dag", metavar="DAG")
        add_output_flag(p)
        add_connection_flags(p)
        p.set_defaults(func=lambda args, paused=paused: asyncio.run(_set_paused(args, paused)))


async def _set_paused(args: argparse.Namespace, paused: bool) -> int:
    kube, namespace = await connect(args)
    try:
        patched = await set_paused(kube, namespace, args.dag, paused)
        if args.output:
            print(dump(patched, args.output), end="")
        else:
            print(f"dag.kubedag.io/{args.dag} {'paused' if paused else 'unpaused'}")
        return 0
    finally:
        await kube.close()


async def set_paused(kube: Kube, namespace: str, dag: str, paused: bool) -> dict[str, Any]:
    """Patch the DAG's spec.paused (the CLI's and the web view's request); the DAG."""
    path = custom_path("dags", namespace, dag)
    try:
        return await kube.request(
            "PATCH", path, {"spec": {"paused": paused}}, content_type=MERGE_PATCH
        )
    except ApiError as error:
        if error.not_found:
            raise CliError(f"DAG {dag!r} not found in namespace {namespace}", 404) from None
        raise CliError(f"could not patch DAG {dag}: {error.message}", error.status) from None
