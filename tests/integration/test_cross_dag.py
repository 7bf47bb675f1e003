"""Between DAGs, against a real kube-apiserver with the controller run as users run it and
the test playing the kubelet: ETL A's last task triggers summary B and waits for it; a
sensor in C waits for A's run of the same date and succeeds once A succeeds; a sensor on a
DAG that never runs times out."""

from typing import Any

from tests.integration.harness import (  # noqa: F401 - fixtures
    GROUP,
    VERSION,
    Cluster,
    ControllerProcess,
    cluster,
    controller,
    crds,
)

DAY = "2026-01-01T00:00:00Z"


def task(name: str, *deps: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "dependsOn": list(deps), **fields}


def record(cluster: Cluster, run: str, name: str) -> dict[str, Any]:
    return next(t for t in cluster.run(run)["status"]["tasks"] if t["name"] == name)


def test_trigger_and_wait_and_sensors(cluster: Cluster, controller: ControllerProcess) -> None:
    trigger = {"dagName": "summary", "logicalDate": "{{ logical_date }}", "waitForCompletion": True}
    cluster.apply_dag("etl-a", {"tasks": [task("load"), {"name": "summarize", "dependsOn": ["load"],
                                                         "triggerDagRun": trigger}]})  # fmt: skip
    cluster.apply_dag("summary", {"tasks": [task("report")]})
    cluster.apply_dag(
        "reports",
        {
            "tasks": [
                {"name": "wait-a", "externalTaskSensor": {"dagName": "etl-a"}},
                {"name": "wait-ghost", "externalTaskSensor": {"dagName": "ghost", "timeout": "2s"}},
            ]
        },
    )
    # C first: its sensors wait, deferred, saying for what.
    cluster.create_run("reports-day", {"dagName": "reports", "logicalDate": DAY})
    cluster.wait_task_state("reports-day", "wait-a", "deferred")
    assert record(cluster, "reports-day", "wait-a")["message"] == (
        f"waiting for DAG etl-a run of {DAY}: none yet"
    )
    assert cluster.pods(dagrun="reports-day") == []

    cluster.create_run("etl-a-day", {"dagName": "etl-a", "logicalDate": DAY})
    cluster.finish_task("etl-a-day", "load")
    cluster.wait_task_state("etl-a-day", "summarize", "deferred")
    triggered = "summary-manual-20260101-0000"
    summarize = record(cluster, "etl-a-day", "summarize")
    assert summarize["outputs"]["trigger_run_id"] == triggered
    assert summarize["message"].startswith(f"waiting for run {triggered} of DAG summary")
    assert cluster.run(triggered)["spec"]["logicalDate"] == DAY
    assert record(cluster, "reports-day", "wait-a")["message"].startswith(
        "waiting for DAG etl-a run of"
    )

    # The sensor on a DAG that never runs gives up at its timeout: failed, no retry.
    cluster.wait_task_state("reports-day", "wait-ghost", "failed", timeout=20)
    assert record(cluster, "reports-day", "wait-ghost")["message"] == (
        f"timed out after 2s waiting for DAG ghost run of {DAY}: DAG not found in namespace"
        f" {cluster.ns}"
    )

    # B's run ends: A's task, then A, then C's sensor, each woken by the change.
    cluster.finish_task(triggered, "report")
    cluster.wait_run_state("etl-a-day", "success", timeout=20)
    cluster.wait_task_state("reports-day", "wait-a", "success", timeout=20)
    assert cluster.wait_run_state("reports-day", "failed")["status"]["tasks"][1]["state"] == (
        "failed"
    )

    # Clearing A's run with `recursive` clears the sensor waiting on it: it waits again.
    request = {"id": "again", "action": "clear", "tasks": ["load"], "recursive": True}
    cluster.custom.patch_namespaced_custom_object(
        GROUP, VERSION, cluster.ns, "dagruns", "etl-a-day", {"spec": {"request": request}}
    )
    cluster.wait_task_state("reports-day", "wait-a", "deferred", timeout=20)
    assert record(cluster, "reports-day", "wait-a")["message"].startswith(
        f"waiting for DAG etl-a run of {DAY}: run etl-a-day is "
    )
    assert record(cluster, "reports-day", "wait-ghost")["state"] == "failed"  # not asked
    controller.assert_alive()
