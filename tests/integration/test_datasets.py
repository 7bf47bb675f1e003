"""Dataset scheduling against a real kube-apiserver, the controller run as users run it: a
DAG scheduled on two datasets starts once both were updated by successful runs, not
before, and its run names the runs that triggered it; a task's outlets update a dataset
when the task succeeds."""

import json
import subprocess
import time
from typing import Any

from tests.integration.harness import (  # noqa: F401 - fixtures
    GROUP,
    REPO,
    VERSION,
    Cluster,
    ControllerProcess,
    cluster,
    controller,
    crds,
    wait_for,
)

NAMES = "postgres://warehouse/raw_data.name_gender"
EVENTS = "postgres://warehouse/raw_data.events"


def datasets(cluster: Cluster) -> dict[str, dict[str, Any]]:
    items = cluster.custom.list_namespaced_custom_object(GROUP, VERSION, cluster.ns, "datasets")
    return {d["spec"]["uri"]: d.get("status") or {} for d in items["items"]}


def triggered(cluster: Cluster) -> list[dict[str, Any]]:
    return [r for r in cluster.runs("summary") if r["spec"]["runType"] == "dataset_triggered"]


def test_a_consumer_starts_once_after_all_its_datasets_were_updated(
    cluster: Cluster, controller: ControllerProcess
) -> None:
    one_task = [{"name": "load", "image": "busybox"}]
    cluster.apply_dag("names", {"outputs": [NAMES], "tasks": one_task})
    cluster.apply_dag(
        "events",
        {"tasks": [{"name": "load", "image": "busybox", "outlets": [EVENTS]}]},
    )
    cluster.apply_dag(
        "summary",
        {
            "scheduleOn": {"datasets": [NAMES, EVENTS]},
            "owner": "analytics",
            "description": "daily totals",
            "tags": ["finance"],
            "tasks": one_task,
        },
    )

    cluster.create_run("names-1", {"dagName": "names"})
    cluster.finish_task("names-1", "load")
    cluster.wait_run_state("names-1", "success")
    wait_for(lambda: datasets(cluster).get(NAMES, {}).get("sequence") == 1, "names recorded")
    time.sleep(1.5)  # the consumer's pass has seen it: one of two is not enough
    assert triggered(cluster) == []

    cluster.create_run("events-1", {"dagName": "events"})
    cluster.finish_task("events-1", "load")
    cluster.wait_run_state("events-1", "success")
    runs = wait_for(lambda: triggered(cluster) or None, "the summary's dataset-triggered run")
    time.sleep(1.5)
    runs = triggered(cluster)
    assert len(runs) == 1
    spec = runs[0]["spec"]
    by = {(e["dataset"], e["dag"], e["run"]) for e in spec["triggeredBy"]["events"]}
    assert by == {(NAMES, "names", "names-1"), (EVENTS, "events", "events-1")}
    assert spec["triggeredBy"]["count"] == 2
    names_run, events_run = cluster.run("names-1"), cluster.run("events-1")
    assert spec["dataIntervalStart"] == min(
        names_run["status"]["dataIntervalStart"], events_run["status"]["dataIntervalStart"]
    )
    event = datasets(cluster)[EVENTS]["events"][0]
    assert (event["source"], event["task"]) == ("task", "load")
    consumed = {c["dataset"]: c["consumed"] for c in cluster.dag("summary")["status"]["datasets"]}
    assert consumed == {NAMES: 1, EVENTS: 1}

    # Updates made outside kubedag: `kubedag datasets touch`, both datasets, one run.
    for uri in (NAMES, EVENTS):
        kubedag(controller, "datasets", "touch", uri, "--note", "fixed by hand", "-n", cluster.ns)
    wait_for(lambda: len(triggered(cluster)) == 2, "a second run after both were touched")
    second = [r for r in triggered(cluster) if r["metadata"]["name"] != runs[0]["metadata"]["name"]]
    events = second[0]["spec"]["triggeredBy"]["events"]
    assert [(e["dataset"], e.get("run")) for e in events] == [(NAMES, None), (EVENTS, None)]
    listing = kubedag(controller, "datasets", "-n", cluster.ns)
    assert "events/load" in listing and "summary (scheduled)" in listing
    graph = json.loads(kubedag(controller, "lineage", "-o", "json", "-n", cluster.ns))
    assert {
        (e["from"], e["kind"]) for e in graph["edges"] if e["to"] == f"{cluster.ns}/summary"
    } == {
        (NAMES, "triggers"),
        (EVENTS, "triggers"),
    }
    stale = kubedag(controller, "stale", "--days", "1")  # every namespace the admin may read
    rows = {tuple(line.split()[:2]): line for line in stale.splitlines()}
    assert "never succeeded" in rows[(cluster.ns, "summary")]
    assert (cluster.ns, "events") not in rows  # succeeded a moment ago
    tagged = cluster.custom.list_namespaced_custom_object(
        GROUP, VERSION, cluster.ns, "dags", label_selector="kubedag.io/tag-finance"
    )
    assert [d["metadata"]["name"] for d in tagged["items"]] == ["summary"]
    assert wide_row(cluster, "summary") == {
        "On Datasets": f'["{NAMES}","{EVENTS}"]',
        "Owner": "analytics",
        "Description": "daily totals",
    }
    controller.assert_alive()


def kubedag(controller: ControllerProcess, *args: str) -> str:
    """The CLI, as a user runs it; its output."""
    command = [str(REPO / ".venv/bin/kubedag"), *args, "--kubeconfig", controller.kubeconfig]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def wide_row(cluster: Cluster, dag: str) -> dict[str, str]:
    """The DAG's `kubectl get dags -o wide` cells (the API server's Table) of the columns
    this part added."""
    params = cluster.api_client.param_serialize(
        method="GET",
        resource_path=f"/apis/{GROUP}/{VERSION}/namespaces/{cluster.ns}/dags/{dag}",
        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
        auth_settings=["BearerToken"],
    )
    response = cluster.api_client.call_api(*params)
    response.read()
    table = json.loads(response.data)
    names = [c["name"] for c in table["columnDefinitions"]]
    cells = dict(zip(names, table["rows"][0]["cells"], strict=True))
    return {k: cells[k] for k in ("On Datasets", "Owner", "Description")}
