"""The harness's own watches on pods and DagRuns: when each change reached the harness.

Object timestamps are whole seconds (``creationTimestamp``, ``managedFields[].time``, a
container's ``finishedAt``), too coarse for hops of tens of milliseconds. So the harness
keeps its own watch, as an informer would, and stamps every event with the local clock as
it arrives: a pod's creation is its ADDED event, its completion the first event showing
phase Succeeded or Failed. Events of one resource arrive in resourceVersion order on one
stream, and both ends of a hop travel the same way (API server -> watch -> harness), so the
watch's own delivery delay cancels out of the differences. Nothing is read from the
controller's logs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.api import Api, ApiError, core_path, custom_path

log = logging.getLogger(__name__)

TERMINAL_POD_PHASES = frozenset({"Succeeded", "Failed"})
TERMINAL_RUN_STATES = frozenset({"success", "failed"})


@dataclass
class PodRecord:
    name: str
    dag: str
    run: str
    task: str
    try_number: int
    added: float
    bound: float | None = None
    running: float | None = None
    finished: float | None = None
    phase: str = "Pending"


@dataclass
class RunRecord:
    name: str
    dag: str
    run_type: str
    interval_end: str | None
    added: float
    created: str = ""
    queued: float | None = None
    running: float | None = None
    finished: float | None = None
    state: str | None = None
    progress: str | None = None
    finished_tasks: list[tuple[float, int]] = field(default_factory=list)
    """(time, tasks finished) each time the run's recorded progress changed."""
    largest_bytes: int = 0
    """The largest the object was, as the API server served it on the watch (its stored
    JSON, managedFields included)."""


@dataclass
class _Stream:
    path: str
    handle: Callable[[str, dict[str, Any], float, int], None]
    resource_version: str = ""
    thread: threading.Thread | None = None
    conn: Any = None
    events: int = 0
    errors: list[str] = field(default_factory=list)
    failure: str | None = None
    """Why the stream's thread ended for good (an exception in its handler)."""


class WatchFailed(RuntimeError):
    """A watch of the harness stopped: what it was to record will never come."""


class Recorder:
    """Watches pods and DagRuns of one namespace from a background thread each."""

    def __init__(self, api: Api, namespace: str, clock: Callable[[], float] = time.time) -> None:
        self.api = api
        self.namespace = namespace
        self.clock = clock
        self.pods: dict[str, PodRecord] = {}
        self.runs: dict[str, RunRecord] = {}
        self.finished_count: Counter[str] = Counter()
        """Finished runs per DAG: what a wait checks on every event, without a walk of the
        runs (a walk per event costs the harness seconds of CPU over thousands of runs)."""
        self.changed = threading.Condition()
        self._stopping = threading.Event()
        self._streams = [
            _Stream(core_path("pods", namespace), self._on_pod),
            _Stream(custom_path("dagruns", namespace), self._on_run),
        ]

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        for stream in self._streams:
            listing = self.api.request("GET", stream.path)
            now = self.clock()
            for item in listing.get("items", []):
                stream.handle("ADDED", item, now, 0)
            stream.resource_version = listing["metadata"]["resourceVersion"]
            stream.thread = threading.Thread(
                target=self._run, args=(stream,), name=f"watch {stream.path}", daemon=True
            )
            stream.thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for stream in self._streams:
            conn = stream.conn
            if conn is not None and conn.sock is not None:
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)
        for stream in self._streams:
            if stream.thread is not None:
                stream.thread.join(timeout=10)

    @property
    def errors(self) -> list[str]:
        return [e for s in self._streams for e in s.errors]

    def _run(self, stream: _Stream) -> None:
        try:
            self._follow(stream)
        except Exception as error:
            # A handler's bug: the stream is gone, and a wait on it would last its whole
            # timeout (half an hour at the full scale) before saying anything.
            stream.failure = f"{type(error).__name__}: {error}"
            with self.changed:
                self.changed.notify_all()
            raise

    def _follow(self, stream: _Stream) -> None:
        while not self._stopping.is_set():
            query = {
                "watch": "1",
                "resourceVersion": stream.resource_version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": "3600",
            }
            try:
                with self.api.stream(stream.path, query) as (conn, response):
                    stream.conn = conn
                    while not self._stopping.is_set():
                        line = response.readline()
                        if not line:
                            break
                        now = self.clock()
                        event = json.loads(line)
                        kind, obj = event.get("type"), event.get("object") or {}
                        if kind == "ERROR":
                            stream.errors.append(str(obj.get("message")))
                            stream.resource_version = ""  # expired: start over from now
                            break
                        version = (obj.get("metadata") or {}).get("resourceVersion")
                        if version:
                            stream.resource_version = version
                        if kind == "BOOKMARK":
                            continue
                        stream.events += 1
                        # The event's line less its envelope: the object's JSON as served.
                        size = len(line) - len(f'{{"type":"{kind}","object":}}\n')
                        stream.handle(kind, obj, now, size)
            except (OSError, ValueError, ApiError) as error:
                if self._stopping.is_set():
                    return
                stream.errors.append(f"{type(error).__name__}: {error}")
                log.warning("watch %s broke (%s); resuming", stream.path, error)
                time.sleep(0.2)
            finally:
                stream.conn = None

    # -- events -------------------------------------------------------------------------------

    def _on_pod(self, kind: str, pod: dict[str, Any], now: float, _size: int) -> None:
        metadata = pod.get("metadata") or {}
        labels = metadata.get("labels") or {}
        name = metadata.get("name", "")
        with self.changed:
            record = self.pods.get(name)
            if record is None:
                if kind == "DELETED":
                    return
                record = self.pods[name] = PodRecord(
                    name=name,
                    dag=labels.get("kubedag.io/dag", ""),
                    run=labels.get("kubedag.io/dagrun", ""),
                    task=labels.get("kubedag.io/task", ""),
                    try_number=int(labels.get("kubedag.io/try", "0") or 0),
                    added=now,
                )
            if (pod.get("spec") or {}).get("nodeName") and record.bound is None:
                record.bound = now
            phase = (pod.get("status") or {}).get("phase") or "Pending"
            record.phase = phase
            if phase == "Running" and record.running is None:
                record.running = now
            if phase in TERMINAL_POD_PHASES and record.finished is None:
                record.finished = now
            self.changed.notify_all()

    def _on_run(self, kind: str, run: dict[str, Any], now: float, size: int) -> None:
        metadata = run.get("metadata") or {}
        spec = run.get("spec") or {}
        status = run.get("status") or {}
        name = metadata.get("name", "")
        with self.changed:
            record = self.runs.get(name)
            if record is None:
                if kind == "DELETED":
                    return
                record = self.runs[name] = RunRecord(
                    name=name,
                    dag=spec.get("dagName", ""),
                    run_type=spec.get("runType", "manual"),
                    interval_end=spec.get("dataIntervalEnd"),
                    added=now,
                    created=metadata.get("creationTimestamp", ""),
                )
            record.largest_bytes = max(record.largest_bytes, size)
            state = status.get("state")
            record.state = state
            record.progress = status.get("progress")
            done = _finished_tasks(record.progress)
            if done is not None and (
                not record.finished_tasks or record.finished_tasks[-1][1] != done
            ):
                record.finished_tasks.append((now, done))
            if state == "queued" and record.queued is None:
                record.queued = now
            if state == "running" and record.running is None:
                record.running = now
            if state in TERMINAL_RUN_STATES and record.finished is None:
                record.finished = now
                self.finished_count[record.dag] += 1
            self.changed.notify_all()

    # -- waiting ------------------------------------------------------------------------------

    def wait_for(self, predicate: Callable[[Recorder], bool], timeout: float) -> bool:
        """Block until ``predicate(self)`` holds (checked on every event) or the timeout."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate(self):
                for stream in self._streams:
                    if stream.failure is not None:
                        raise WatchFailed(f"watch {stream.path} stopped: {stream.failure}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.changed.wait(min(remaining, 1.0))
            return True

    def finished_runs(self, dag: str | None = None) -> list[RunRecord]:
        return [
            r
            for r in list(self.runs.values())
            if r.finished is not None and (dag is None or r.dag == dag)
        ]


def _finished_tasks(progress: str | None) -> int | None:
    """The finished count of a run's ``progress`` ("12/50")."""
    if not progress or "/" not in progress:
        return None
    head = progress.split("/", 1)[0]
    return int(head) if head.isdigit() else None
