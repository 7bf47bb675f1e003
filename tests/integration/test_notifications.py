"""Notifications against a real kube-apiserver, with the controller run as users run it and
an HTTP receiver in this process: a failing task's notification arrives with its payload,
the controller killed while sending it sends it again with the same id, and a deadline
miss is recorded and notified once. The URL (with a marker in it) never shows."""

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from kubernetes import client

from tests.integration.harness import (  # noqa: F401 - fixtures
    Cluster,
    ControllerProcess,
    cluster,
    controller,
    crds,
    wait_for,
)

MARKER = "url-marker-5d1e9a"


class Receiver(ThreadingHTTPServer):
    """Records every POST; while `holding`, answers none (the request hangs), else 200."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.release = threading.Event()
        self.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/{MARKER}"

    def events(self, event: str) -> list[tuple[str, dict[str, Any]]]:
        return [(key, doc) for key, doc in self.received if doc.get("event") == event]


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.received.append((self.headers["Idempotency-Key"], body))
        if not self.server.release.wait(timeout=30):
            return
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        return None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


def outbox(cluster: Cluster, run: str) -> list[dict[str, Any]]:
    return list((cluster.run(run).get("status") or {}).get("notifications", []))


def test_a_failure_is_notified_once_across_a_controller_kill_and_a_deadline_miss_once(
    cluster: Cluster, controller: ControllerProcess, receiver: Receiver
) -> None:
    cluster.core.create_namespaced_secret(
        cluster.ns,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name="hooks"),
            data={"url": base64.b64encode(receiver.url.encode()).decode()},
        ),
    )
    hook = {"secretKeyRef": {"name": "hooks", "key": "url"}}
    image = {"image": "busybox"}
    cluster.apply_dag("fails", {"tasks": [{"name": "a", **image, "onFailure": [hook]}]})
    cluster.apply_dag(
        "late",
        {
            "tasks": [{"name": "b", **image}],
            "deadline": {"reference": "queued", "after": "2s"},
            "onDeadlineMiss": [hook],
        },
    )
    cluster.create_run("late-run", {"dagName": "late"})

    # The failure is recorded, and its notification sent; the receiver holds the request
    # and the controller is killed before any answer.
    cluster.create_run("fails-run", {"dagName": "fails"})
    cluster.finish_task("fails-run", "a", exit_code=1)
    cluster.wait_run_state("fails-run", "failed")
    wait_for(lambda: receiver.events("taskFailure"), "the failure's notification sent")
    controller.kill()
    [pending] = outbox(cluster, "fails-run")
    assert "delivered" not in pending

    receiver.release.set()
    controller.start()
    wait_for(lambda: "delivered" in outbox(cluster, "fails-run")[0], "the delivery recorded")
    sent = receiver.events("taskFailure")
    assert len(sent) >= 2 and {key for key, _ in sent} == {pending["id"]}
    document = sent[-1][1]
    run = cluster.run("fails-run")
    assert document == {
        "apiVersion": "kubedag.io/notification/v1",
        "id": pending["id"],
        "event": "taskFailure",
        "namespace": cluster.ns,
        "dag": "fails",
        "run": "fails-run",
        "runType": "manual",
        "logicalDate": run["status"]["logicalDate"],
        "dataIntervalStart": run["status"]["dataIntervalStart"],
        "dataIntervalEnd": run["status"]["dataIntervalEnd"],
        "task": "a",
        "try": 1,
        "state": "failed",
        "message": run["status"]["tasks"][0]["message"],
        "at": pending["at"],
        "commands": {
            "run": f"kubectl get dagrun fails-run -n {cluster.ns} -o yaml",
            "events": f"kubectl describe dagrun fails-run -n {cluster.ns}",
            "logs": f"kubedag logs fails-run --task a -n {cluster.ns} --try 1",
            "clear": f"kubedag clear fails-run --task a -n {cluster.ns}",
        },
    }

    # The run that was still running 2 s after it was queued missed its deadline: once.
    missed = wait_for(lambda: receiver.events("deadlineMiss"), "the deadline miss notified")
    cluster.finish_task("late-run", "b")
    cluster.wait_run_state("late-run", "success")
    wait_for(lambda: "delivered" in outbox(cluster, "late-run")[0], "the miss's delivery")
    assert {key for key, _ in receiver.events("deadlineMiss")} == {missed[0][0]}
    status = cluster.run("late-run")["status"]
    assert len(status["deadlineMisses"]) == 1 and "task" not in status["deadlineMisses"][0]
    assert cluster.wait_event_reasons("late-run", "DeadlineMissed").count("DeadlineMissed") == 1

    shown = json.dumps([cluster.run("fails-run"), cluster.run("late-run")])
    shown += " ".join(str(e.message) for e in cluster.core.list_namespaced_event(cluster.ns).items)
    assert MARKER not in shown + controller.logs()
