"""Every object kubedag writes, as manifests.render makes it: one table case each."""

from datetime import UTC, datetime
from typing import Any

import pytest

from kubedag.core.schedule import DataInterval
from kubedag.core.snapshot import build_snapshot
from kubedag.core.task_launch import prepare_launch
from kubedag.core.templating import RunContext
from kubedag.manifests import render
from kubedag.models.dagrun import RequestAction, RunRequest, RunType
from tests.unit.builders import dag_spec, task

JAN1 = datetime(2026, 1, 1, tzinfo=UTC)
JAN2 = datetime(2026, 1, 2, tzinfo=UTC)
DAG_LABELS = {"kubedag.io/dag": "sales", "app.kubernetes.io/managed-by": "kubedag"}
OWNED_BY_DAG = [
    {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "DAG",
        "name": "sales",
        "uid": "dag-uid",
        "controller": True,
    }
]


def launch(**fields: Any) -> Any:
    snapshot = build_snapshot(dag_spec(task("load", **fields)))
    context = RunContext(
        dag_name="sales",
        run_id="sales-20260101-0000",
        run_type="scheduled",
        task_name="load",
        try_number=2,
        logical_date=JAN1,
        data_interval_start=JAN1,
        data_interval_end=JAN2,
        params={},
        conf={},
    )
    return prepare_launch(snapshot.task("load"), context)


@pytest.mark.parametrize(
    ("name", "manifest", "expected"),
    [
        (
            "scheduled run: named by its logical date, owned and labelled by its DAG",
            render.dagrun(namespace="etl", dag_name="sales", dag_uid="dag-uid",
                          run_type=RunType.SCHEDULED, logical_date=JAN1,
                          interval=DataInterval(JAN1, JAN2)),
            {
                "apiVersion": "kubedag.io/v1alpha1",
                "kind": "DagRun",
                "metadata": {
                    "name": "sales-20260101-0000",
                    "namespace": "etl",
                    "labels": DAG_LABELS,
                    "ownerReferences": OWNED_BY_DAG,
                },
                "spec": {
                    "dagName": "sales",
                    "runType": "scheduled",
                    "logicalDate": "2026-01-01T00:00:00Z",
                    "dataIntervalStart": "2026-01-01T00:00:00Z",
                    "dataIntervalEnd": "2026-01-02T00:00:00Z",
                },
            },
        ),
        (
            "manual run with conf: the controller fills in its interval",
            render.dagrun(namespace="etl", dag_name="sales", dag_uid="dag-uid",
                          run_type=RunType.MANUAL, logical_date=JAN1, conf={"table": "x"}),
            {
                "apiVersion": "kubedag.io/v1alpha1",
                "kind": "DagRun",
                "metadata": {
                    "name": "sales-manual-20260101-0000",
                    "namespace": "etl",
                    "labels": DAG_LABELS,
                    "ownerReferences": OWNED_BY_DAG,
                },
                "spec": {"dagName": "sales", "runType": "manual",
                         "logicalDate": "2026-01-01T00:00:00Z", "conf": {"table": "x"}},
            },
        ),
        (
            "a run a triggerDagRun task creates: manual, annotated with the try that made it",
            render.triggered_dagrun(namespace="etl", dag_name="sales", dag_uid="dag-uid",
                                    logical_date=JAN1, conf={"day": "2026-01-01"},
                                    triggered_by="team/etl-20260101-0000/trigger/1"),
            {
                "apiVersion": "kubedag.io/v1alpha1",
                "kind": "DagRun",
                "metadata": {
                    "name": "sales-manual-20260101-0000",
                    "namespace": "etl",
                    "labels": DAG_LABELS,
                    "ownerReferences": OWNED_BY_DAG,
                    "annotations": {
                        "kubedag.io/triggered-by": "team/etl-20260101-0000/trigger/1"
                    },
                },
                "spec": {"dagName": "sales", "runType": "manual",
                         "logicalDate": "2026-01-01T00:00:00Z", "conf": {"day": "2026-01-01"}},
            },
        ),
        (
            "backfill run: its name, backfill and conf, owned by the DAG (never the Backfill)",
            render.backfill_run(namespace="etl", dag_name="sales", dag_uid="dag-uid",
                                backfill="bf", interval=DataInterval(JAN1, JAN2),
                                conf={"full": True}),
            {
                "apiVersion": "kubedag.io/v1alpha1",
                "kind": "DagRun",
                "metadata": {
                    "name": "sales-backfill-20260101-0000",
                    "namespace": "etl",
                    "labels": DAG_LABELS,
                    "ownerReferences": OWNED_BY_DAG,
                },
                "spec": {
                    "dagName": "sales",
                    "runType": "backfill",
                    "logicalDate": "2026-01-01T00:00:00Z",
                    "dataIntervalStart": "2026-01-01T00:00:00Z",
                    "dataIntervalEnd": "2026-01-02T00:00:00Z",
                    "conf": {"full": True},
                    "backfill": "bf",
                },
            },
        ),
        (
            "re-run by a backfill: the shared contract's merge patch, guarded by the version",
            render.backfill_rerun_patch(backfill="bf", request_id="backfill/bf/u1",
                                        conf={"full": True, "opts": {"a": 1}},
                                        old_conf={"day": 1, "opts": {"b": 2}},
                                        resource_version="42"),
            {
                "metadata": {"resourceVersion": "42"},
                "spec": {
                    "runType": "backfill",
                    "backfill": "bf",
                    # replaces the conf: the old keys are removed
                    "conf": {"day": None, "full": True, "opts": {"b": None, "a": 1}},
                    "request": {"id": "backfill/bf/u1", "action": "clear", "tasks": None,
                                "downstream": False, "upstream": False, "onlyFailed": False},
                },
            },
        ),
        (
            "re-run by a backfill whose conf is null keeps the run's conf",
            render.backfill_rerun_patch(backfill="bf", request_id="backfill/bf/u1", conf=None,
                                        old_conf={"day": 1}, resource_version=None),
            {"spec": {"runType": "backfill", "backfill": "bf",
                      "request": {"id": "backfill/bf/u1", "action": "clear", "tasks": None,
                                  "downstream": False, "upstream": False,
                                  "onlyFailed": False}}},
        ),
        (
            "a Backfill as `kubedag backfill` creates it",
            render.backfill(namespace="etl", name=None, dag_name="sales", from_="2026-01-01",
                            to="2026-01-31", reprocess_behavior="failed", max_active_runs=3,
                            run_backwards=True),
            {
                "apiVersion": "kubedag.io/v1alpha1",
                "kind": "Backfill",
                "metadata": {"namespace": "etl", "generateName": "sales-backfill-"},
                "spec": {"dagName": "sales", "from": "2026-01-01", "to": "2026-01-31",
                         "reprocessBehavior": "failed", "maxActiveRuns": 3,
                         "runBackwards": True},
            },
        ),
        (
            "an event on a run",
            render.event(
                render.involved_object("DagRun", {"metadata": {
                    "name": "r1", "namespace": "etl", "uid": "u1", "resourceVersion": "7"}}),
                type_="Warning", reason="TaskFailed", message="task a failed",
                now=datetime(2026, 1, 1, 0, 0, 0, 123, tzinfo=UTC), unique="abc",
                reporting_instance="host-1",
            ),
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": "r1.abc", "namespace": "etl"},
                "involvedObject": {"apiVersion": "kubedag.io/v1alpha1", "kind": "DagRun",
                                   "name": "r1", "namespace": "etl", "uid": "u1",
                                   "resourceVersion": "7"},
                "type": "Warning",
                "reason": "TaskFailed",
                "message": "task a failed",
                "firstTimestamp": "2026-01-01T00:00:00Z",
                "lastTimestamp": "2026-01-01T00:00:00Z",
                "count": 1,
                "source": {"component": "kubedag-controller"},
                "reportingComponent": "kubedag.io/controller",
                "reportingInstance": "host-1",
            },
        ),
        (
            "outputs the DagRun has no room for: owned by the run, labelled with it and its DAG",
            render.outputs_config_map(namespace="etl", name="sales-20260101-0000-outputs-0",
                                      dag_name="sales", run_name="sales-20260101-0000",
                                      run_uid="run-uid", outputs={"extract": '{"rows":42}'}),
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": "sales-20260101-0000-outputs-0",
                    "namespace": "etl",
                    "labels": {**DAG_LABELS, "kubedag.io/dagrun": "sales-20260101-0000"},
                    "ownerReferences": [{"apiVersion": "kubedag.io/v1alpha1", "kind": "DagRun",
                                         "name": "sales-20260101-0000", "uid": "run-uid",
                                         "controller": True}],
                },
                "data": {"extract": '{"rows":42}'},
            },
        ),
        (
            "more outputs for an outputs ConfigMap that exists: a merge patch of its data",
            render.outputs_patch({"load": '{"n":1}'}),
            {"data": {"load": '{"n":1}'}},
        ),
        (
            "a clear request of the whole run: every field spelled out, so none carries over",
            render.run_request_patch(RunRequest(id="r1", action=RequestAction.CLEAR)),
            {"spec": {"request": {"id": "r1", "action": "clear", "tasks": None,
                                  "downstream": False, "upstream": False,
                                  "onlyFailed": False, "recursive": False,
                                  "recursionDepth": None}}},
        ),
        (
            "a mark request of one task and its downstream",
            render.run_request_patch(RunRequest(id="r2", action=RequestAction.MARK_SUCCESS,
                                                tasks=["load"], downstream=True)),
            {"spec": {"request": {"id": "r2", "action": "markSuccess", "tasks": ["load"],
                                  "downstream": True, "upstream": False,
                                  "onlyFailed": False, "recursive": False,
                                  "recursionDepth": None}}},
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)  # fmt: skip
def test_rendered_objects(name: str, manifest: dict[str, Any], expected: dict[str, Any]) -> None:
    assert manifest == expected


def test_task_pod_carries_labels_owner_env_and_rendered_args() -> None:
    owner = render.owner_reference("DagRun", "sales-20260101-0000", "run-uid")
    pod = render.task_pod(
        launch(args=["--date={{ ds }}"], serviceAccountName=None),
        namespace="etl",
        owner=owner,
    )
    assert pod["metadata"]["name"] == "sales-20260101-0000-load-2"
    assert pod["metadata"]["labels"] == {
        "kubedag.io/dag": "sales",
        "kubedag.io/dagrun": "sales-20260101-0000",
        "kubedag.io/task": "load",
        "kubedag.io/try": "2",
        "app.kubernetes.io/managed-by": "kubedag",
    }
    assert pod["metadata"]["ownerReferences"] == [owner]
    assert pod["metadata"]["annotations"] == {"kubedag.io/logical-date": "2026-01-01T00:00:00Z"}
    assert pod["spec"]["restartPolicy"] == "Never"
    # The namespace's own default account, without an API token.
    assert "serviceAccountName" not in pod["spec"]
    assert pod["spec"]["automountServiceAccountToken"] is False
    container = pod["spec"]["containers"][0]
    assert (container["name"], container["image"]) == ("task", "busybox")
    assert container["args"] == ["--date=2026-01-01"] and "command" not in container
    # The task's output is the file it writes, set explicitly (never the log's tail).
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["terminationMessagePolicy"] == "File"
    assert {e["name"]: e["value"] for e in container["env"]}["KUBEDAG_TRY_NUMBER"] == "2"


def test_snapshot_config_map_is_immutable_and_named_by_content() -> None:
    snapshot = build_snapshot(dag_spec(task("a")))
    config_map = render.snapshot_config_map(
        namespace="etl", dag_name="sales", dag_uid="dag-uid", generation=4, snapshot=snapshot
    )
    assert config_map["metadata"]["name"] == f"sales-v{snapshot.digest()[:10]}"
    assert config_map["immutable"] is True
    assert config_map["metadata"]["ownerReferences"] == OWNED_BY_DAG
    assert config_map["metadata"]["annotations"] == {"kubedag.io/dag-generation": "4"}
    assert list(config_map["binaryData"]) == ["snapshot.json.gz"]


@pytest.mark.parametrize(
    ("refs", "labels", "expected_refs"),
    [
        ([], {}, OWNED_BY_DAG),
        ([{"uid": "other", "kind": "Thing", "name": "t"}], {},
         [{"uid": "other", "kind": "Thing", "name": "t"}, *OWNED_BY_DAG]),
        (OWNED_BY_DAG, {"kubedag.io/dag": "sales"}, None),
    ],
)  # fmt: skip
def test_adoption_patch(
    refs: list[dict[str, Any]], labels: dict[str, str], expected_refs: list[Any] | None
) -> None:
    run = {"metadata": {"name": "r", "namespace": "etl", "resourceVersion": "5",
                        "ownerReferences": refs, "labels": labels}}  # fmt: skip
    dag = {"metadata": {"name": "sales", "uid": "dag-uid"}}
    patch = render.adoption_patch(run, dag)
    if expected_refs is None:
        assert patch is None
    else:
        assert patch == {
            "metadata": {
                "resourceVersion": "5",
                "labels": {"kubedag.io/dag": "sales"},
                "ownerReferences": expected_refs,
            }
        }


def test_status_patch_nulls_what_the_new_status_drops_at_every_level() -> None:
    old = {"nextRunAfter": "t1", "backlog": {"due": 500, "estimated": True, "oldest": "t0"}}
    assert render.status_patch(old, {"backlog": {"due": 3, "oldest": "t0"}}) == {
        "nextRunAfter": None,
        "backlog": {"due": 3, "estimated": None, "oldest": "t0"},
    }
    assert render.status_patch(old, {"nextRunAfter": "t2"}) == {
        "nextRunAfter": "t2",
        "backlog": None,
    }
    assert render.status_patch({}, {"a": [1]}) == {"a": [1]}
