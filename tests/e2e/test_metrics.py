"""The controller's /metrics, scraped through its Service as Prometheus would (by the API
server's service proxy): every series README "Observability" lists moves when a scheduled
run with a failing task runs; and the JSON log lines of its passes name the run."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.kube import IMAGE, RELEASE_NAMESPACE, Kubectl, wait_for

METRICS = f"/api/v1/namespaces/{RELEASE_NAMESPACE}/services/kubedag-metrics:metrics/proxy/metrics"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def ns(kubedag: None, kubectl: Kubectl) -> Iterator[str]:
    name = "e2e-metrics"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false")


def scrape(kubectl: Kubectl) -> Samples:
    """The samples, once the controller answers (a restarted pod counts as started before
    its process listens)."""
    text = wait_for(lambda: kubectl("get", "--raw", METRICS, check=False), "/metrics", 30)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def task(name: str, code: str, **fields: object) -> dict[str, object]:
    command = ["python3", "-c", code]
    return {"name": name, "image": IMAGE, "imagePullPolicy": "Never", "command": command, **fields}


def test_every_listed_series_moves_when_a_scheduled_run_runs(ns: str, kubectl: Kubectl) -> None:
    before = scrape(kubectl)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    dag = {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "DAG",
        "metadata": {"name": "observed"},
        "spec": {
            "schedule": "@daily",
            "startDate": yesterday,
            "catchup": False,  # one scheduled run: the interval that ended at midnight
            "tasks": [
                task("ok", "import time; time.sleep(3)"),  # a moment to see it running
                task("broken", "import sys; sys.exit(1)"),
            ],
        },
    }
    kubectl("apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump(dag))

    during: list[Samples] = []  # one scrape while the run runs: its task instances

    def finished() -> str | None:
        items = kubectl.json("get", "dagruns", "-n", ns)["items"]
        states = [(r.get("status") or {}).get("state") for r in items]
        if states == ["running"] and not during:
            during.append(scrape(kubectl))
        return states[0] if len(states) == 1 and states[0] in ("success", "failed") else None

    assert wait_for(finished, "the scheduled run to finish", timeout=120) == "failed"
    after = scrape(kubectl)

    def moved(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after.get(key, 0.0) - before.get(key, 0.0)

    def present(name: str) -> bool:
        return any(sample == name for sample, _ in after)

    mine = {"namespace": ns}
    assert moved("kubedag_dagrun_transitions_total", **mine, state="running") == 1
    assert moved("kubedag_dagrun_transitions_total", **mine, state="failed") == 1
    assert moved("kubedag_dagrun_duration_seconds_count", **mine, state="failed") == 1
    failed_runs = frozenset({**mine, "dag": "observed", "state": "failed"}.items())
    assert after[("kubedag_dagruns", failed_runs)] == 1
    # Both tasks queued, one succeeded, one failed (`running` may never be written: a short
    # task can go from queued to finished in one status write).
    for state, count in {"queued": 2, "success": 1, "failed": 1}.items():
        assert moved("kubedag_task_transitions_total", **mine, state=state) == count, state
    for state in ("success", "failed"):
        assert moved("kubedag_task_try_duration_seconds_count", **mine, state=state) == 1, state
    assert moved("kubedag_scheduling_lag_seconds_count", **mine) == 1
    assert moved("kubedag_scheduling_lag_seconds_sum", **mine) > 0
    for queue in ("dags", "dagruns"):
        assert moved("kubedag_workqueue_adds_total", queue=queue) >= 1, queue
        assert moved("kubedag_workqueue_work_duration_seconds_count", queue=queue) >= 1, queue
        assert moved("kubedag_workqueue_queue_duration_seconds_count", queue=queue) >= 1, queue
    assert present("kubedag_workqueue_depth")
    assert any(
        name == "kubedag_task_instances" and ("namespace", ns) in labels
        for name, labels in during[0]
    )
    assert moved("kubedag_kube_requests_total", verb="create", resource="pods", code="201") == 2
    status_writes = {"verb": "patch", "resource": "dagruns/status", "code": "200"}
    assert moved("kubedag_kube_requests_total", **status_writes) >= 2
    assert moved("kubedag_kube_request_duration_seconds_count", verb="create", resource="pods") == 2
    assert moved("kubedag_kube_requests_total", verb="update", resource="leases", code="200") >= 1
    assert after[("kubedag_leader", frozenset())] == 1
    assert after[("process_resident_memory_bytes", frozenset())] > 0
    # The session installs the chart with `logFormat: json`: every line is an object, and
    # the lines of this run's passes name it and its DAG.
    lines = kubectl("logs", "-n", RELEASE_NAMESPACE, "deployment/kubedag").splitlines()
    parsed = [json.loads(line) for line in lines if line.strip()]
    ours = [line for line in parsed if line.get("namespace") == ns and line.get("run")]
    assert ours and all(line["dag"] == "observed" for line in ours), parsed[-20:]
    assert any(line["message"].endswith("is failed") for line in ours)
