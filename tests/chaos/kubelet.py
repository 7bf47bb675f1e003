"""The stand-in kubelet of the chaos run: it writes pod status through the API as a kubelet
would (Running, then Succeeded or Failed as the workload's seeded verdict says, after the
try's duration), and deletes pods at random for the chaos. It decides each pod's fate once,
under one lock: a pod it deletes is never finished, and one it is finishing is never
deleted, so its ledger is the truth the checks compare the controller's records with."""

import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client import ApiException

from kubedag.core.dates import rfc3339
from tests.chaos.recorder import PodWatch
from tests.chaos.workload import Shape, verdict

log = logging.getLogger(__name__)
TICK = 0.1


@dataclass
class _Pod:
    name: str
    uid: str
    starts_at: float
    ends_at: float
    phase: str  # the verdict
    running: bool = False
    fate: str | None = None  # Succeeded, Failed or Deleted, once decided


class StandInKubelet:
    def __init__(
        self, api_client: client.ApiClient, namespace: str, pods: PodWatch, seed: int, shape: Shape
    ) -> None:
        self.core = client.CoreV1Api(api_client)
        self.ns = namespace
        self.watch = pods
        self.seed = seed
        self.shape = shape
        self.ledger: dict[str, str] = {}  # pod uid -> Succeeded, Failed or Deleted
        self.deleted = 0
        self._pods: dict[str, _Pod] = {}  # not yet done with
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kubelet", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def delete_one(self, rng: random.Random) -> str | None:
        """Doom a random pod that runs and is not finishing; the loop deletes it."""
        with self._lock:
            candidates = sorted(
                name for name, pod in self._pods.items() if pod.running and pod.fate is None
            )
            if not candidates:
                return None
            pod = self._pods[rng.choice(candidates)]
            pod.fate = "Deleted"
            self.ledger[pod.uid] = "Deleted"
            return pod.name

    def busy(self) -> int:
        with self._lock:
            return len(self._pods)

    def _loop(self) -> None:
        while not self._stop.wait(TICK):
            self._take_new()
            now = time.monotonic()
            with self._lock:
                pods = list(self._pods.values())
            for pod in pods:
                try:
                    self._step(pod, now)
                except ApiException as error:
                    if error.status == 404:
                        with self._lock:
                            self._pods.pop(pod.name, None)
                except Exception as error:  # the API server is restarting: next tick
                    log.debug("kubelet step of %s failed: %s", pod.name, error)

    def _take_new(self) -> None:
        while not self.watch.new_pods.empty():
            body = self.watch.new_pods.get()
            labels = body.metadata.labels or {}
            phase = body.status.phase if body.status else None
            if phase in ("Succeeded", "Failed"):
                continue
            fate = verdict(
                self.seed,
                self.shape,
                labels.get("kubedag.io/dagrun", ""),
                labels.get("kubedag.io/task", ""),
                int(labels.get("kubedag.io/try", "0")),
            )
            now = time.monotonic()
            start = now + 0.1
            with self._lock:
                self._pods[body.metadata.name] = _Pod(
                    body.metadata.name, body.metadata.uid, start, start + fate.seconds, fate.phase
                )

    def _step(self, pod: _Pod, now: float) -> None:
        if pod.fate == "Deleted":
            self.core.delete_namespaced_pod(pod.name, self.ns, grace_period_seconds=0)
            with self._lock:
                self._pods.pop(pod.name, None)
                self.deleted += 1
            return
        if not pod.running and now >= pod.starts_at:
            self._write(pod.name, "Running")
            pod.running = True
            return
        if pod.running and now >= pod.ends_at:
            with self._lock:
                if pod.fate is None:
                    pod.fate = pod.phase
                    self.ledger[pod.uid] = pod.phase
            if pod.fate != "Deleted":
                self._write(pod.name, pod.phase)
                with self._lock:
                    self._pods.pop(pod.name, None)

    def _write(self, name: str, phase: str) -> None:
        now = rfc3339(datetime.now(UTC).replace(microsecond=0))
        state: dict[str, Any]
        if phase == "Running":
            state = {"running": {"startedAt": now}}
        else:
            code = 0 if phase == "Succeeded" else 1
            state = {
                "terminated": {
                    "exitCode": code,
                    "reason": "Completed" if code == 0 else "Error",
                    "startedAt": now,
                    "finishedAt": now,
                }
            }
        status = {
            "phase": phase,
            "containerStatuses": [
                {
                    "name": "task",
                    "image": "busybox",
                    "imageID": "",
                    "ready": phase == "Running",
                    "restartCount": 0,
                    "state": state,
                }
            ],
        }
        self.core.patch_namespaced_pod_status(name, self.ns, {"status": status})
