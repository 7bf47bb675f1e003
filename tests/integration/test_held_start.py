"""A run's start waits for news, against a real kube-apiserver (docs/design.md, "A run's start
waits for news"): its first pod is made at once, its status is written two seconds after its
task is seen running (ten after the pod at most), and a run whose task ends sooner is
written once, finished.

No kubelet runs here: the test plays it by writing the pod's status through the API."""

import threading
import time
from typing import Any

from kubernetes import watch

from tests.integration.harness import (  # noqa: F401 - fixtures
    GROUP,
    VERSION,
    Cluster,
    ControllerProcess,
    cluster,
    controller,
    crds,
)

HOLD_S = 2.0  # write_timing.STARTED_WRITE_DELAY


class RunStatuses:
    """The run's stored states as the watch delivers them, with when each arrived, until it
    finishes."""

    def __init__(self, cluster: Cluster, name: str) -> None:
        self.seen: list[tuple[float, str | None]] = []
        self._thread = threading.Thread(target=self._follow, args=(cluster, name), daemon=True)
        self._thread.start()

    def _follow(self, cluster: Cluster, name: str) -> None:
        stream = watch.Watch().stream(
            cluster.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            cluster.ns,
            "dagruns",
            field_selector=f"metadata.name={name}",
            timeout_seconds=60,
        )
        for event in stream:
            body: dict[str, Any] = event["object"]
            state = (body.get("status") or {}).get("state")
            if not self.seen or self.seen[-1][1] != state:
                self.seen.append((time.monotonic(), state))
            if state in ("success", "failed"):
                stream.close()
                return

    def finished(self) -> list[tuple[float, str | None]]:
        self._thread.join(timeout=30)
        return self.seen


def one_task_run(cluster: Cluster, dag: str) -> tuple[RunStatuses, str]:
    """A one-task DAG's run `{dag}-1`, followed from its creation; returns its pod's name."""
    cluster.apply_dag(dag, {"tasks": [{"name": "a", "image": "busybox"}]})
    statuses = RunStatuses(cluster, f"{dag}-1")
    time.sleep(0.5)  # the watch is open
    cluster.create_run(f"{dag}-1", {"dagName": dag})
    return statuses, cluster.wait_pod(f"{dag}-1", "a", timeout=30).metadata.name


def run_and_end(cluster: Cluster, pod: str, run: str) -> dict[str, Any]:
    cluster.set_pod(pod, "Running")
    cluster.set_pod(pod, "Succeeded", 0)
    return cluster.wait_run_state(run, "success", timeout=30)


def test_a_runs_first_status_comes_with_news_or_two_seconds_after_its_pod(
    cluster: Cluster, controller: ControllerProcess
) -> None:
    statuses, pod = one_task_run(cluster, "short")
    pod_seen = time.monotonic()
    finished = run_and_end(cluster, pod, "short-1")
    seen = statuses.finished()
    written = [(at, state) for at, state in seen if state is not None]
    first_at, first_state = written[0]
    # Written with the news of its end, or once the hold was over: never at the pod's making.
    assert first_state == "success" or first_at - pod_seen >= HOLD_S * 0.75, seen
    assert [state for _, state in written][-1] == "success"
    assert len(written) <= 2, seen
    status = finished["status"]
    assert status["startTime"] and status["endTime"]
    assert [(t["name"], t["state"]) for t in status["tasks"]] == [("a", "success")]


def test_a_run_whose_pod_starts_late_is_still_written_once(
    cluster: Cluster, controller: ControllerProcess
) -> None:
    statuses, pod = one_task_run(cluster, "late")
    time.sleep(HOLD_S * 1.5)  # the pod waits for a node, past the delay a running task gets
    run_and_end(cluster, pod, "late-1")
    written = [state for _, state in statuses.finished() if state is not None]
    assert written == ["success"], written
