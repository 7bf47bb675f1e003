"""What the cluster subcommands share: the connection flags, the namespace, errors."""

import argparse
import json
from typing import Any

from kubedag.kube.client import Kube, custom_path
from kubedag.models.dagrun import DagRun


class CliError(Exception):
    """A message for the user; the command exits 1 with it. `status`: the API server's HTTP
    status when a request was refused (the web view tells a 403 from the rest)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def add_connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--namespace", help="default: the kubeconfig context's")
    parser.add_argument("--kubeconfig")


def current_namespace(kubeconfig: str | None) -> str:
    from kubernetes import config as sync_config

    try:
        _, context = sync_config.list_kube_config_contexts(config_file=kubeconfig)
        return str(context.get("context", {}).get("namespace") or "default")
    except Exception:
        return "default"


async def connect(args: argparse.Namespace) -> tuple[Kube, str]:
    kube = await Kube.connect(args.kubeconfig)
    return kube, args.namespace or current_namespace(args.kubeconfig)


async def read_run(kube: Kube, namespace: str, name: str) -> DagRun:
    """The DagRun `name`, or a CliError saying it is not there."""
    body = await kube.get(custom_path("dagruns", namespace, name))
    if body is None:
        raise CliError(f"DagRun {name!r} not found in namespace {namespace}")
    return DagRun.model_validate(body)


def parse_conf(text: str | None) -> dict[str, Any] | None:
    """`--conf`: a JSON object, or None when not given."""
    try:
        conf = json.loads(text) if text else None
    except json.JSONDecodeError as error:
        raise CliError(f"--conf: not JSON: {error}") from None
    if conf is not None and not isinstance(conf, dict):
        raise CliError("--conf: must be a JSON object")
    return conf
