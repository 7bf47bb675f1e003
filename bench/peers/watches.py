"""The harness's watches for a peer's objects: pods and the peer's own kind (Jobs,
Workflows), stamped on arrival as bench/watch.py stamps kubedag's (same streams, same
clock), so a peer's hop and a kubedag hop are measured the same way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.api import Api, core_path
from bench.watch import TERMINAL_POD_PHASES, Recorder, _Stream


@dataclass
class ObjectRecord:
    """A pod or a peer's run object: when the harness saw it created, bound (pods), running
    and finished, with the labels and annotations of its first event."""

    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    added: float
    bound: float | None = None
    running: float | None = None
    finished: float | None = None
    phase: str = ""


FinishedTest = Callable[[dict[str, Any]], str | None]
"""An object's terminal phase ("Succeeded", "Failed") or None while it is not finished."""


def pod_phase(pod: dict[str, Any]) -> str | None:
    phase = (pod.get("status") or {}).get("phase")
    return phase if phase in TERMINAL_POD_PHASES else None


def job_phase(job: dict[str, Any]) -> str | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return "Succeeded" if condition["type"] == "Complete" else "Failed"
    return None


def workflow_phase(workflow: dict[str, Any]) -> str | None:
    phase = (workflow.get("status") or {}).get("phase")
    return phase if phase in ("Succeeded", "Failed", "Error") else None


class PeerRecorder(Recorder):
    """Pods and one more kind of one namespace (``runs``: e.g. Jobs or Workflows)."""

    def __init__(
        self, api: Api, namespace: str, runs_path: str, run_finished: FinishedTest
    ) -> None:
        super().__init__(api, namespace)
        self.peer_pods: dict[str, ObjectRecord] = {}
        self.peer_runs: dict[str, ObjectRecord] = {}
        self.finished_peer_runs = 0
        self.finished_peer_pods = 0
        self._run_finished = run_finished
        self._streams = [
            _Stream(core_path("pods", namespace), self._on_peer_pod),
            _Stream(runs_path, self._on_peer_run),
        ]

    def _record(
        self, records: dict[str, ObjectRecord], kind: str, obj: dict[str, Any], now: float
    ) -> ObjectRecord | None:
        metadata = obj.get("metadata") or {}
        name = metadata.get("name", "")
        record = records.get(name)
        if record is None and kind != "DELETED":
            record = records[name] = ObjectRecord(
                name,
                dict(metadata.get("labels") or {}),
                dict(metadata.get("annotations") or {}),
                now,
            )
        return record

    def _on_peer_pod(self, kind: str, pod: dict[str, Any], now: float, _size: int) -> None:
        with self.changed:
            record = self._record(self.peer_pods, kind, pod, now)
            if record is None:
                return
            if (pod.get("spec") or {}).get("nodeName") and record.bound is None:
                record.bound = now
            record.phase = (pod.get("status") or {}).get("phase") or "Pending"
            if record.phase == "Running" and record.running is None:
                record.running = now
            if pod_phase(pod) and record.finished is None:
                record.finished = now
                self.finished_peer_pods += 1
            self.changed.notify_all()

    def _on_peer_run(self, kind: str, obj: dict[str, Any], now: float, _size: int) -> None:
        with self.changed:
            record = self._record(self.peer_runs, kind, obj, now)
            if record is None:
                return
            phase = self._run_finished(obj)
            if phase and record.finished is None:
                record.finished = now
                record.phase = phase
                self.finished_peer_runs += 1
            self.changed.notify_all()


@dataclass
class PeerWindow:
    """The measured part of a peer run, as bench.session.Window is for kubedag's."""

    started: float = 0.0
    ended: float = 0.0
    cpu_start: float = 0.0
    cpu_end: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)
