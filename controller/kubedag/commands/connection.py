"""`kubedag connection create NAME --from-url postgresql://...`: a warehouse connection as a
Secret (keys host, port, dbname, user, password, options, sslmode) that tasks get through
`envFrom` with the prefix `KUBEDAG_CONN_<NAME>_`. The password never reaches the output."""

import argparse
import asyncio
import json
import re
import sys
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from kubedag.commands.common import CliError, add_connection_flags, connect
from kubedag.kube.client import ApiError, core_path
from kubedag.manifests import render

SCHEMES = ("postgresql", "postgres")
QUERY_KEYS = ("options", "sslmode", "host")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def env_prefix(name: str) -> str:
    """The environment prefix the toolkit reads this connection under."""
    return "KUBEDAG_CONN_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper() + "_"


def _shown(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    return parts._replace(netloc=f"{parts.username}:***@{netloc[-1]}").geturl()


def parse_url(url: str) -> dict[str, str]:
    """A libpq URL (postgresql://user:password@host:port/dbname?options=...) as the Secret's
    keys; percent-escapes decoded. Messages show the URL with the password as ***."""
    parts = urlsplit(url.strip())
    if parts.scheme not in SCHEMES:
        raise CliError(
            f"--from-url {_shown(url)!r}: expected postgresql://user:password@host:port/dbname"
        )
    try:
        port = parts.port
    except ValueError:
        raise CliError(f"--from-url {_shown(url)!r}: the port is not a number") from None
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - set(QUERY_KEYS))
    if unknown:
        raise CliError(
            f"--from-url: unknown parameter {', '.join(unknown)}; allowed: {', '.join(QUERY_KEYS)}"
        )
    values: dict[str, str] = {}
    host = unquote(parts.hostname or "") or (query.get("host") or [""])[0]
    if not host:
        raise CliError(f"--from-url {_shown(url)!r}: no host")
    values["host"] = host
    values["port"] = str(port or 5432)
    if not parts.username:
        raise CliError(f"--from-url {_shown(url)!r}: no user (postgresql://USER:PASSWORD@...)")
    user = unquote(parts.username)
    values["dbname"] = unquote(parts.path.lstrip("/")) or user
    values["user"] = user
    if parts.password is not None:
        values["password"] = unquote(parts.password)
    for key in ("options", "sslmode"):
        if query.get(key):
            values[key] = query[key][0]
    return values


def add_parser(sub: Any) -> None:
    p = sub.add_parser("connection", help="warehouse connections (Secrets tasks read)")
    verbs = p.add_subparsers(dest="verb", required=True)
    create = verbs.add_parser(
        "create", help="write a connection Secret from a postgresql:// URL (- reads stdin)"
    )
    create.add_argument("name", metavar="NAME")
    create.add_argument("--from-url", required=True, metavar="URL")
    create.add_argument("--overwrite", action="store_true", help="replace an existing Secret")
    create.add_argument("--dry-run", action="store_true", help="print the Secret, write nothing")
    create.add_argument("-o", "--output", choices=["yaml", "json"], default="yaml")
    add_connection_flags(create)
    create.set_defaults(func=cmd_create)


def _secret(args: argparse.Namespace, namespace: str) -> dict[str, Any]:
    if not _DNS_SUBDOMAIN.match(args.name):
        raise CliError(
            f"connection name {args.name!r}: a Secret name is lower-case letters, digits, '-' "
            "and '.', starting and ending with a letter or digit"
        )
    url = sys.stdin.readline() if args.from_url == "-" else args.from_url
    return render.connection_secret(args.name, namespace, parse_url(url))


def cmd_create(args: argparse.Namespace) -> int:
    if args.dry_run:
        from kubedag.commands.common import current_namespace

        secret = _secret(args, args.namespace or current_namespace(args.kubeconfig))
        if args.output == "json":
            print(json.dumps(secret, indent=2))
        else:
            print(yaml.safe_dump(secret, sort_keys=False), end="")
        return 0
    return asyncio.run(_create(args))


async def _create(args: argparse.Namespace) -> int:
    kube, namespace = await connect(args)
    try:
        secret = _secret(args, namespace)
        path = core_path("secrets", namespace)
        verb = "created"
        try:
            created = await kube.create(path, secret)
            if created is None:
                if not args.overwrite:
                    raise CliError(
                        f"Secret {args.name!r} already exists in namespace {namespace}; "
                        "--overwrite replaces it"
                    )
                current = await kube.request("GET", core_path("secrets", namespace, args.name))
                secret["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                await kube.request("PUT", core_path("secrets", namespace, args.name), secret)
                verb = "replaced"
        except ApiError as error:
            raise CliError(f"could not write Secret {args.name}: {error.message}") from None
        keys = ", ".join(secret["data"])
        print(f"secret/{args.name} {verb} in namespace {namespace} (keys: {keys})")
        print(
            f"tasks read it with envFrom: [{{prefix: {env_prefix(args.name)}, "
            f"secretRef: {{name: {args.name}}}}}]"
        )
        return 0
    finally:
        await kube.close()
