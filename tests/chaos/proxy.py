"""A TCP proxy in front of the API server that cuts connections, as a load balancer or a
flaky network does: each connection is closed after a random lifetime (watch streams,
pooled keep-alive connections, and now and then a request in flight), and `down()` refuses
and drops every connection until `up()`. TLS passes through untouched (the API server's
certificate names 127.0.0.1), so clients need only the proxy's address.

Why a proxy for this and not an API server setting: `--min-request-timeout` only sets the
timeout of a watch that asks for none, and kopf asks for `timeoutSeconds=300`; the server
keeps such a watch open for the whole 300 s."""

import asyncio
import random
import threading
from contextlib import suppress

import yaml


class CuttingProxy:
    def __init__(self, target_port: int, lifetime: tuple[float, float], seed: int) -> None:
        self.target_port = target_port
        self.lifetime = lifetime
        self.rng = random.Random(seed)
        self.port = 0
        self.cuts = 0
        self.connections = 0
        self._open: set[asyncio.Task[None]] = set()
        self._refusing = False
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cutting-proxy", daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def down(self) -> None:
        """Drop every connection and refuse new ones (the API server unreachable)."""
        self._loop.call_soon_threadsafe(self._set_down, True)

    def up(self) -> None:
        self._loop.call_soon_threadsafe(self._set_down, False)

    def kubeconfig(self, original: str, path: str) -> str:
        """A copy of the kubeconfig `original` whose server is this proxy."""
        with open(original) as source:
            config = yaml.safe_load(source)
        for cluster in config["clusters"]:
            cluster["cluster"]["server"] = f"https://127.0.0.1:{self.port}"
        with open(path, "w") as target:
            yaml.safe_dump(config, target)
        return path

    def _set_down(self, down: bool) -> None:
        self._refusing = down
        if down:
            for task in list(self._open):
                task.cancel()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._accept, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._server.close()
        for task in list(self._open):
            task.cancel()
        with suppress(Exception):
            self._loop.run_until_complete(asyncio.sleep(0.1))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refusing:
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._open.add(task)
        self.connections += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.target_port
            )
        except OSError:
            writer.close()
            self._open.discard(task)
            return
        lifetime = self.rng.uniform(*self.lifetime)
        pumps = [
            asyncio.ensure_future(_pump(reader, upstream_writer)),
            asyncio.ensure_future(_pump(upstream_reader, writer)),
        ]
        try:
            done, _ = await asyncio.wait(
                pumps, timeout=lifetime, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                self.cuts += 1
        except asyncio.CancelledError:
            self.cuts += 1
        finally:
            for pump in pumps:
                pump.cancel()
            for w in (writer, upstream_writer):
                w.close()
            self._open.discard(task)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with suppress(ConnectionError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
