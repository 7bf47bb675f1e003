"""The controller against a real kube-apiserver and etcd, run as users run it (`kubedag run`).

No kubelet runs here: the tests play it by writing pod status through the API.
"""

import json
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes.client import ApiException

from kubedag.core.dates import rfc3339
from tests.integration.harness import (  # noqa: F401 - fixtures
    REPO,
    Cluster,
    ControllerProcess,
    cluster,
    controller,
    crds,
    wait_for,
)


def task(name: str, *deps: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "dependsOn": list(deps), **fields}


def manual(cluster: Cluster, dag: str, run: str = "", **spec: Any) -> str:
    name = run or f"{dag}-manual"
    cluster.create_run(name, {"dagName": dag, **spec})
    return name


def midnight(days_ago: int) -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def test_catchup_creates_a_run_per_missed_day_as_max_active_runs_leaves_room(
    cluster: Cluster, controller: ControllerProcess
) -> None:
    start = midnight(3)
    cluster.apply_dag(
        "daily",
        {
            "schedule": "@daily",
            "startDate": rfc3339(start),
            "tasks": [task("a")],
            "maxActiveRuns": 2,
        },
    )
    # As Airflow: a scheduled run is created only while queued + running < maxActiveRuns;
    # the rest of the backlog is counted in the status.
    runs = wait_for(lambda: len(cluster.runs("daily")) == 2 and cluster.runs("daily"), "2 runs")

    def backlog() -> dict[str, Any] | None:
        return cluster.dag("daily").get("status", {}).get("backlog")

    assert wait_for(backlog, "the backlog in status") == {"due": 1, "oldest": rfc3339(midnight(1))}
    for i, run in enumerate(runs):
        day = start + timedelta(days=i)
        assert run["metadata"]["name"] == f"daily-{day:%Y%m%d}-0000"
        assert run["spec"]["dataIntervalStart"] == rfc3339(day)
        assert run["spec"]["dataIntervalEnd"] == rfc3339(day + timedelta(days=1))
        assert run["spec"]["runType"] == "scheduled"
        assert run["metadata"]["ownerReferences"][0]["kind"] == "DAG"
    assert cluster.dag("daily")["status"]["conditions"][0]["status"] == "True"

    first, second = (r["metadata"]["name"] for r in runs)
    cluster.wait_run_state(first, "running")
    cluster.wait_run_state(second, "running")
    cluster.finish_task(first, "a")
    cluster.wait_run_state(first, "success")
    third = f"daily-{midnight(1):%Y%m%d}-0000"
    cluster.wait_run_state(third, "running")
    wait_for(lambda: backlog() is None, "the backlog worked off")
    status = wait_for(lambda: cluster.dag("daily")["status"].get("nextRunAfter"), "status")
    assert status == rfc3339(midnight(-1))
    assert cluster.dag("daily")["status"]["lastScheduledRun"] == rfc3339(midnight(1))
    assert cluster.dag("daily")["status"]["lastScheduledIntervalEnd"] == rfc3339(midnight(0))


def test_scheduled_run_appears_once_its_interval_ends(
    cluster: Cluster, controller: ControllerProcess
) -> None:
    now = datetime.now(UTC)
    cluster.apply_dag(
        "minutely",
        {
            "schedule": "* * * * *",
            "catchup": False,
            "startDate": rfc3339(now - timedelta(minutes=5)),
            "tasks": [task("a")],
        },
    )
    first = wait_for(lambda: cluster.runs("minutely"), "the latest complete interval's run")
    assert len(first) == 1
    end = datetime.fromisoformat(first[0]["spec"]["dataIntervalEnd"].replace("Z", "+00:00"))
    assert end <= now + timedelta(minutes=1)
    # The next run is created when its interval ends, not before, by the controller's own wake-up.
    nxt = wait_for(
        lambda: len(cluster.runs("minutely")) == 2 and cluster.runs("minutely"),
        "the next minute's run",
        timeout=90,
    )
    created = datetime.fromisoformat(nxt[1]["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    interval_end = datetime.fromisoformat(nxt[1]["spec"]["dataIntervalEnd"].replace("Z", "+00:00"))
    assert created >= interval_end - timedelta(seconds=1)  # timestamps are whole seconds
    assert nxt[1]["spec"]["dataIntervalStart"] == first[0]["spec"]["dataIntervalEnd"]


def test_chain_runs_in_order_and_records_pods(
    cluster: Cluster, controller: ControllerProcess
) -> None:
    cluster.apply_dag("chain", {"tasks": [task("a"), task("b", "a"), task("c", "b")]})
    run = manual(cluster, "chain")
    cluster.wait_run_state(run, "running")
    pod_a = cluster.wait_pod(run, "a")
    assert pod_a.metadata.owner_references[0].kind == "DagRun"
    assert pod_a.spec.restart_policy == "Never"
    assert cluster.pods(dagrun=run, task="b") == []
    cluster.set_pod(pod_a.metadata.name, "Running")
    cluster.wait_task_state(run, "a", "running")
    cluster.finish_task(run, "a")
    cluster.finish_task(run, "b")
    cluster.finish_task(run, "c")
    done = cluster.wait_run_state(run, "success")
    assert done["status"]["progress"] == "3/3"
    assert {t["name"]: t["pod"] for t in done["status"]["tasks"]} == {
        "a": f"{run}-a-1",
        "b": f"{run}-b-1",
        "c": f"{run}-c-1",
    }
    reasons = cluster.wait_event_reasons(run, "RunSucceeded")
    assert "TaskStarted" not in reasons  # the pods' own events say when each task started


def test_failed_task_is_retried_then_fails_the_run(
    cluster: Cluster, controller: ControllerProcess
) -> None:
    cluster.apply_dag("flaky", {"tasks": [task("a", retries=1, retryDelay="1s")]})
    run = manual(cluster, "flaky")
    cluster.finish_task(run, "a", exit_code=2)
    cluster.finish_task(run, "a", exit_code=3, try_number=2)
    failed = cluster.wait_run_state(run, "failed")
    record = failed["status"]["tasks"][0]
    assert (record["state"], record["try"], record["exitCode"]) == ("failed", 2, 3)
    assert len(cluster.pods(dagrun=run)) == 2
    cluster.wait_event_reasons(run, "TaskRetry", "TaskFailed", "RunFailed")
    condition = failed["status"]["conditions"][0]
    assert condition["type"] == "Succeeded" and condition["status"] == "False"


def test_trigger_rules_across_a_diamond_and_the_skip_exit_code(
    cluster: Cluster, controller: ControllerProcess
) -> None:
    cluster.apply_dag(
        "diamond",
        {
            "tasks": [
                task("start"),
                task("left", "start"),
                task("right", "start"),
                task("join", "left", "right", triggerRule="none_failed"),
                task("on-failure", "left", "right", triggerRule="one_failed"),
            ]
        },
    )
    run = manual(cluster, "diamond")
    cluster.finish_task(run, "start")
    cluster.finish_task(run, "left", exit_code=99)  # skip
    cluster.finish_task(run, "right")
    cluster.finish_task(run, "join")
    done = cluster.wait_run_state(run, "success")
    states = {t["name"]: t["state"] for t in done["status"]["tasks"]}
    assert states == {
        "start": "success",
        "left": "skipped",
        "right": "success",
        "join": "success",
        "on-failure": "skipped",
    }
    assert cluster.pods(dagrun=run, task="on-failure") == []


def test_execution_timeout_fails_a_try_stuck_pending(
    cluster: Cluster, controller: ControllerProcess
) -> None:
    cluster.apply_dag("slow", {"tasks": [task("a", executionTimeout="2s")]})
    run = manual(cluster, "slow")
    pod = cluster.wait_pod(run, "a")
    cluster.set_pod(pod.metadata.name, "Pending", reason="ImagePullBackOff")
    failed = cluster.wait_run_state(run, "failed")
    assert "execution timeout" in failed["status"]["tasks"][0]["message"]
    wait_for(
        lambda: (
            not cluster.pods(dagrun=run) or cluster.pods(dagrun=run)[0].metadata.deletion_timestamp
        ),
        "timed-out pod deleted",
    )


def test_a_pod_deleted_mid_run_is_a_failed_try(
    cluster: Cluster, controller: ControllerProcess
) -> None:
    cluster.apply_dag("gone", {"tasks": [task("a", retries=1, retryDelay="1s")]})
    run = manual(cluster, "gone")
    pod = cluster.wait_pod(run, "a")
    cluster.set_pod(pod.metadata.name, "Running")
    cluster.core.delete_namespaced_pod(pod.metadata.name, cluster.ns, grace_period_seconds=0)
    second = cluster.wait_pod(run, "a", try_number=2)
    assert second.metadata.name == f"{run}-a-2"
    cluster.set_pod(second.metadata.name, "Succeeded", 0)
    done = cluster.wait_run_state(run, "success")
    assert done["status"]["tasks"][0]["try"] == 2


def test_invalid_dag_is_reported_and_does_not_stop_a_valid_one(
    cluster: Cluster, controller: ControllerProcess
) -> None:
    cluster.apply_dag(
        "cyclic",
        {
            "schedule": "@daily",
            "startDate": rfc3339(midnight(2)),
            "tasks": [task("a", "b"), task("b", "a")],
        },
    )
    cluster.apply_dag(
        "fine", {"schedule": "@daily", "startDate": rfc3339(midnight(2)), "tasks": [task("a")]}
    )

    def ready(name: str) -> dict[str, Any] | None:
        conditions = cluster.dag(name).get("status", {}).get("conditions", [])
        return next((c for c in conditions if c["type"] == "Ready"), None)

    condition = wait_for(lambda: ready("cyclic"), "Ready condition on the cyclic DAG")
    assert condition["status"] == "False"
    assert condition["reason"] == "InvalidGraph"
    assert "dependency cycle: 'a' -> 'b' -> 'a'" in condition["message"]
    warnings = wait_for(
        lambda: [e for e in cluster.events("cyclic") if e.type == "Warning"], "a Warning event"
    )
    assert "dependency cycle" in warnings[0].message
    wait_for(lambda: len(cluster.runs("fine")) == 2, "runs of the valid DAG")
    assert cluster.runs("cyclic") == []
    # A manual run of the invalid DAG fails with the reason instead of hanging.
    run = manual(cluster, "cyclic")
    failed = cluster.wait_run_state(run, "failed")
    assert failed["status"]["conditions"][0]["reason"] == "DagNotReady"


def test_controller_restart_mid_run_loses_nothing_and_duplicates_nothing(
    cluster: Cluster, controller: ControllerProcess
) -> None:
    # podGC Never: the pods stay after the run succeeds, to count them.
    cluster.apply_dag(
        "restart", {"tasks": [task("a"), task("b", "a"), task("c", "a")], "podGC": "Never"}
    )
    run = manual(cluster, "restart")
    pod_a = cluster.wait_pod(run, "a")
    cluster.set_pod(pod_a.metadata.name, "Running")
    cluster.wait_task_state(run, "a", "running")
    controller.kill()
    cluster.set_pod(pod_a.metadata.name, "Succeeded", 0)  # finishes while nobody watches
    controller.start()
    cluster.finish_task(run, "b")
    cluster.finish_task(run, "c")
    cluster.wait_run_state(run, "success")
    controller.stop()
    controller.start()  # a second restart after the run ended changes nothing
    names = [p.metadata.name for p in cluster.pods(dagrun=run)]
    assert names == [f"{run}-a-1", f"{run}-b-1", f"{run}-c-1"]
    wait_for(lambda: cluster.run_state(run) == "success", "run still success")


def test_manual_run_with_conf_renders_templates_and_pins_the_dag_version(
    cluster: Cluster, controller: ControllerProcess
) -> None:
    cluster.apply_dag(
        "tmpl",
        {
            "params": {"table": "sales"},
            "tasks": [
                task("a", args=["{{ ds }}", "{{ params.table }}", "{{ run_id }}"]),
                task("b", "a"),
            ],
        },
    )
    run = manual(cluster, "tmpl", logicalDate="2026-03-04T05:06:07Z", conf={"table": "refunds"})
    pod = cluster.wait_pod(run, "a")
    assert pod.spec.containers[0].args == ["2026-03-04", "refunds", run]
    env = {e.name: e.value for e in pod.spec.containers[0].env}
    assert env["KUBEDAG_LOGICAL_DATE"] == "2026-03-04T05:06:07Z"
    # Editing the DAG mid-run does not change the run in flight.
    cluster.patch_dag(
        "tmpl", {"tasks": [task("a", args=["changed"]), task("b", "a", image="other")]}
    )
    cluster.finish_task(run, "a")
    pod_b = cluster.wait_pod(run, "b")
    assert pod_b.spec.containers[0].image == "busybox"
    # Written just after b's pod is made: the run's start was held until then.
    cluster.wait_task_state(run, "b", "queued")
    pinned = cluster.run(run)
    assert pinned["status"]["snapshot"].startswith("tmpl-v")
    # A run created by hand is adopted by its DAG, so deleting the DAG removes it.
    assert pinned["metadata"]["labels"]["kubedag.io/dag"] == "tmpl"
    owner = pinned["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("DAG", "tmpl")
    assert owner["uid"] == cluster.dag("tmpl")["metadata"]["uid"]


def test_dag_and_run_columns_for_kubectl_get(
    cluster: Cluster, controller: ControllerProcess
) -> None:
    cluster.apply_dag(
        "cols",
        {
            "schedule": "@daily",
            "startDate": rfc3339(midnight(1)),
            "owner": "data-team",
            "tasks": [task("a")],
        },
    )
    run = wait_for(lambda: cluster.runs("cols"), "a run")[0]["metadata"]["name"]
    cluster.wait_run_state(run, "running")

    def table(plural: str) -> dict[str, Any]:
        """What `kubectl get` asks for: the server-side table with the printer columns."""
        api = cluster.api_client
        request = api.param_serialize(
            "GET",
            f"/apis/kubedag.io/v1alpha1/namespaces/{cluster.ns}/{plural}",
            header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
            auth_settings=["BearerToken"],
        )
        response = api.call_api(*request)
        response.read()
        return json.loads(response.data)  # type: ignore[no-any-return]

    dags = table("dags")
    columns = [c["name"] for c in dags["columnDefinitions"]]
    assert columns[:7] == [
        "Name", "Schedule", "Paused", "Last Run", "Next Run", "Backlog", "Ready"
    ]  # fmt: skip
    assert dags["rows"][0]["cells"][:3] == ["cols", "@daily", False]
    runs = table("dagruns")
    columns = [c["name"] for c in runs["columnDefinitions"]]
    assert columns[:8] == [
        "Name",
        "DAG",
        "Logical Date",
        "Type",
        "State",
        "Tasks",
        "Started",
        "Duration",
    ]
    cells = runs["rows"][0]["cells"]
    assert cells[1:6] == ["cols", rfc3339(midnight(1)), "scheduled", "running", "0/1"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"schedule": "61 * * * *", "startDate": "2026-01-01", "tasks": [task("a")]},
            "spec.schedule: Invalid value",
        ),
        ({"tasks": [task("a", triggerRule="sometimes")]}, "triggerRule"),
        ({"tasks": [{"name": "a"}]}, "every task needs an image"),
        ({"tasks": [task("a"), task("a")]}, "Duplicate value"),
        ({"tasks": [task("Not_A_Label")]}, "spec.tasks[0].name"),
        ({"schedule": "@daily", "tasks": [task("a")]}, "startDate is required"),
        ({"tasks": [task("a", "a")]}, "cannot depend on itself"),
        ({"tasks": [task("a", retryDelay="5 minutes")]}, "retryDelay"),
    ],
    ids=[
        "bad-cron",
        "unknown-trigger-rule",
        "missing-image",
        "duplicate-task",
        "task-name-not-dns-label",
        "schedule-without-start",
        "self-dependency",
        "bad-duration",
    ],
)
def test_invalid_dags_are_refused_at_apply_time(
    cluster: Cluster, crds: None, spec: dict[str, Any], message: str
) -> None:
    with pytest.raises(ApiException) as refused:
        cluster.apply_dag("bad", spec)
    assert refused.value.status == 422
    assert message in refused.value.body


# What the API server answers for a bad schedule: the field, the value, what it takes (the
# CRD's CEL rules), never the grammar's regular expression.
SCHEDULE_REFUSALS = [
    ("61 * * * *", "schedule '61 * * * *': the minute field '61' is not valid: it takes 0-59"),
    ("0 24 * * *", "the hour field '24' is not valid: it takes 0-23"),
    ("0 0 32 * *", "the day-of-month field '32' is not valid: it takes 1-31"),
    ("0 0 1 jna *", "the month field 'jna' is not valid: it takes 1-12 or jan-dec"),
    ("0 0 * * 8", "the day-of-week field '8' is not valid: it takes 0-7 or sun-sat"),
    ("0 0 * *", "schedule '0 0 * *' does not have 5 fields: a cron expression is minute hour"),
    ("@quaterly", "unknown schedule preset '@quaterly': expected one of @once, @hourly"),
    ("@continuous", "@continuous (Airflow's ContinuousTimetable"),
    (" 0 0 * * *", "schedule must not start or end with whitespace"),
]


def test_a_bad_schedule_is_refused_naming_the_cron_field(cluster: Cluster, crds: None) -> None:
    for schedule, message in SCHEDULE_REFUSALS:
        spec = {"schedule": schedule, "startDate": "2026-01-01", "tasks": [task("a")]}
        with pytest.raises(ApiException) as refused:
            cluster.apply_dag("bad", spec)
        assert refused.value.status == 422
        details = json.loads(refused.value.body)["details"]["causes"]
        messages = [cause["message"] for cause in details]
        assert len(messages) == 1 and message in messages[0], (schedule, messages)
        assert details[0]["field"] == "spec.schedule"
        assert "(?:" not in refused.value.body
    for name, schedule in (("q", "@quarterly"), ("tabs", "*/15\t9-17 * * mon-fri")):
        cluster.apply_dag(
            name, {"schedule": schedule, "startDate": "2026-01-01", "tasks": [task("a")]}
        )


def test_kubedag_trigger_creates_a_manual_run_with_conf(
    cluster: Cluster, controller: ControllerProcess, kubeconfig: str
) -> None:
    cluster.apply_dag("trig", {"params": {"n": 1}, "tasks": [task("a", args=["{{ params.n }}"])]})
    command = [str(REPO / ".venv/bin/kubedag"), "trigger", "trig", "-n", cluster.ns,
               "--kubeconfig", kubeconfig, "--conf", '{"n": 7}',
               "--logical-date", "2026-05-01T12:00:00Z"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "dagrun.kubedag.io/trig-manual-20260501-1200 created"
    pod = cluster.wait_pod("trig-manual-20260501-1200", "a")
    assert pod.spec.containers[0].args == ["7"]
    again = subprocess.run(command, capture_output=True, text=True, check=False)
    assert again.returncode == 1 and "already exists" in again.stderr
    missing = subprocess.run([*command[:2], "nope", *command[3:]], capture_output=True, text=True,
                             check=False)  # fmt: skip
    assert missing.returncode == 1 and "DAG 'nope' not found" in missing.stderr


def test_a_task_account_that_does_not_exist_is_a_dag_condition_not_failed_tries(
    cluster: Cluster, controller: ControllerProcess
) -> None:
    cluster.apply_dag(
        "loader", {"tasks": [task("a"), task("b", "a", serviceAccountName="loader", retries=3)]}
    )

    def not_ready() -> dict[str, Any] | None:
        conditions = cluster.dag("loader").get("status", {}).get("conditions", [])
        return next((c for c in conditions if c["status"] == "False"), None)

    ready = wait_for(not_ready, "the DAG not Ready")
    assert ready["reason"] == "ServiceAccountNotFound"
    assert 'spec.tasks[1].serviceAccountName: serviceaccount "loader" not found' in ready["message"]
    wait_for(lambda: "ServiceAccountNotFound" in cluster.event_reasons("loader"), "an event")
    first = manual(cluster, "loader", "loader-1")
    failed = cluster.wait_run_state(first, "failed")
    assert "serviceaccount" in failed["status"]["conditions"][0]["message"]
    assert cluster.pods() == []  # no try was spent

    cluster.core.create_namespaced_service_account(
        cluster.ns, {"metadata": {"name": "loader"}, "automountServiceAccountToken": False}
    )
    wait_for(lambda: not_ready() is None, "the DAG Ready once the account exists", timeout=30)
    second = manual(cluster, "loader", "loader-2")
    cluster.finish_task(second, "a")
    pod = cluster.wait_pod(second, "b")
    assert pod.spec.service_account_name == "loader"
    first_pod = cluster.pods(dagrun=second, task="a")[0]
    assert first_pod.spec.service_account_name == "default"
    assert first_pod.spec.automount_service_account_token is False


def test_pause_freezes_a_running_run_and_unpause_completes_it(
    cluster: Cluster, controller: ControllerProcess, kubeconfig: str
) -> None:
    cluster.apply_dag(
        "frozen",
        {"schedule": "@daily", "startDate": rfc3339(midnight(2)), "catchup": False,
         "tasks": [task("a"), task("b", "a")]},
    )  # fmt: skip
    run = wait_for(lambda: cluster.runs("frozen") and cluster.runs("frozen")[0], "the run")
    name = run["metadata"]["name"]
    pod_a = cluster.wait_pod(name, "a")
    kubedag = [str(REPO / ".venv/bin/kubedag"), "-n", cluster.ns, "--kubeconfig", kubeconfig]

    def cli(verb: str) -> str:
        result = subprocess.run([kubedag[0], verb, "frozen", *kubedag[1:]], capture_output=True,
                                text=True, check=False)  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert cli("pause") == "dag.kubedag.io/frozen paused"
    wait_for(lambda: cluster.dag("frozen")["spec"]["paused"] is True, "paused")
    # The pod already running finishes and is recorded; nothing new starts.
    cluster.set_pod(pod_a.metadata.name, "Succeeded", 0)
    wait_for(lambda: cluster.task_states(name).get("a") == "success", "a recorded")
    manual(cluster, "frozen", "frozen-manual")
    wait_for(lambda: cluster.run_state("frozen-manual") == "queued", "the manual run queued")
    controller.assert_alive()
    assert cluster.pods(dagrun=name, task="b") == []
    assert cluster.run_state(name) == "running"
    assert cluster.run_state("frozen-manual") == "queued"

    assert cli("unpause") == "dag.kubedag.io/frozen unpaused"
    cluster.finish_task(name, "b")
    cluster.wait_run_state(name, "success")
    cluster.wait_run_state("frozen-manual", "running")
