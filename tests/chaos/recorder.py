"""What the chaos run observes without trusting the controller: every pod created (a watch
started before the workload, completed by a final listing), and every notification
received (an HTTP endpoint in this process)."""

import json
import logging
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kubernetes import client, watch
from kubernetes.client import ApiException

from tests.chaos.checks import PodCreation

log = logging.getLogger(__name__)
MANAGED = "app.kubernetes.io/managed-by=kubedag"


class PodWatch:
    """Records each pod's uid once (ADDED, or first seen in a re-list after a watch gap)
    and hands new pods to `on_new`. Survives API server and etcd restarts: a broken stream
    is resumed from the last resourceVersion, a 410 Gone starts over with a list."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self.core = client.CoreV1Api(api_client)
        self.ns = namespace
        self.creations: dict[str, PodCreation] = {}
        self.new_pods: queue.Queue[client.V1Pod] = queue.Queue()
        self.relists = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pod-watch", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> None:
        self._list()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def complete(self) -> list[PodCreation]:
        """The record, with the pods a final listing holds that the watch missed."""
        self._list()
        with self._lock:
            return list(self.creations.values())

    def _note(self, pod: client.V1Pod) -> None:
        labels = pod.metadata.labels or {}
        uid = pod.metadata.uid
        with self._lock:
            if uid in self.creations:
                return
            self.creations[uid] = PodCreation(
                uid=uid,
                name=pod.metadata.name,
                run=labels.get("kubedag.io/dagrun", ""),
                task=labels.get("kubedag.io/task", ""),
                try_number=int(labels.get("kubedag.io/try", "0")),
            )
        self.new_pods.put(pod)

    def _list(self) -> str:
        while True:
            try:
                listed = self.core.list_namespaced_pod(self.ns, label_selector=MANAGED)
                break
            except Exception as error:  # the API server is restarting
                log.debug("pod list failed: %s", error)
                if self._stop.wait(0.5):
                    return ""
        for pod in listed.items:
            self._note(pod)
        return str(listed.metadata.resource_version)

    def _loop(self) -> None:
        version = self._list()
        while not self._stop.is_set():
            try:
                for event in watch.Watch().stream(
                    self.core.list_namespaced_pod,
                    self.ns,
                    label_selector=MANAGED,
                    resource_version=version,
                    timeout_seconds=5,
                    _request_timeout=30,
                ):
                    pod = event["object"]
                    version = pod.metadata.resource_version
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._note(pod)
                    if self._stop.is_set():
                        return
            except ApiException as error:
                if error.status == 410:
                    self.relists += 1
                    version = self._list()
                else:
                    time.sleep(0.5)
            except Exception as error:  # a cut stream: resume from `version`
                log.debug("pod watch broke: %s", error)
                time.sleep(0.5)


class Receiver(ThreadingHTTPServer):
    """A webhook endpoint: records (Idempotency-Key, body) of every POST, answers 200."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.daemon_threads = True
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.received.append((self.headers["Idempotency-Key"], body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        return None
