"""`kubedag web`: start the watches, then serve the web view until stopped."""

import argparse
import asyncio
import logging
import os
import signal
from typing import Any

from aiohttp import web

from kubedag.kube.client import Kube, load_configuration
from kubedag.web.server import build_app
from kubedag.web.settings import WebSettings
from kubedag.web.store import Store
from kubedag.web.watch import PLURALS, keep_watching

log = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("web", help="serve the web view (DAGs, grid, graph, runs, logs, backfills)")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--address", default="0.0.0.0")
    p.add_argument(
        "-n", "--namespace", action="append", help="show only this namespace (repeatable)"
    )
    p.add_argument("--kubeconfig")
    p.add_argument(
        "--actions",
        action="store_true",
        default=os.environ.get("KUBEDAG_WEB_ACTIONS") == "true",
        help="offer trigger, clear, mark, pause and backfill, made with the caller's identity",
    )
    p.add_argument(
        "--proxy-user-header",
        default=os.environ.get("KUBEDAG_WEB_PROXY_USER_HEADER") or None,
        help="take the user from this header of an authenticating proxy (no sign-in)",
    )
    p.add_argument(
        "--proxy-groups-header",
        default=os.environ.get("KUBEDAG_WEB_PROXY_GROUPS_HEADER") or None,
        help="the user's groups, comma-separated, from this header of the proxy",
    )
    p.add_argument("--secure-cookies", action="store_true", help="always mark cookies Secure")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_web)


def cmd_web(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = WebSettings(
        namespaces=tuple(args.namespace or ()),
        actions=args.actions,
        proxy_user_header=args.proxy_user_header,
        proxy_groups_header=args.proxy_groups_header,
        secure_cookies=args.secure_cookies,
    )
    return asyncio.run(serve(args.kubeconfig, settings, args.address, args.port))


async def serve(kubeconfig: str | None, settings: WebSettings, address: str, port: int) -> int:
    kube = await Kube.connect(kubeconfig)
    base = await load_configuration(kubeconfig)
    store = Store()
    scopes = settings.namespaces or (None,)
    watches = [
        asyncio.create_task(keep_watching(kube, store, kind, namespace))
        for kind in PLURALS
        for namespace in scopes
    ]
    runner = web.AppRunner(
        build_app(store, kube, settings, base), access_log=None, shutdown_timeout=2
    )
    await runner.setup()
    await web.TCPSite(runner, address, port).start()
    log.info("serving the web view on %s:%d (actions %s)", address, port, settings.actions)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for task in watches:
        task.cancel()
    await asyncio.gather(*watches, return_exceptions=True)
    await runner.cleanup()
    await kube.close()
    return 0
