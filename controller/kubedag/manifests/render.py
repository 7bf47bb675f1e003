"""Every object kubedag writes, rendered in one place as plain dicts: pure functions, no API
calls, table-tested in tests/unit/test_render.py. The reconcilers, the CLI and leader
election only call these."""

import base64
import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kubedag import API_VERSION
from kubedag.core.cross_dag import ANNOTATION_TRIGGERED_BY
from kubedag.core.dates import rfc3339
from kubedag.core.naming import (
    LABEL_DAG,
    LABEL_DAGRUN,
    LABEL_MANAGED_BY,
    LABEL_POOL,
    LABEL_POOL_SLOTS,
    LABEL_TASK,
    LABEL_TRY,
    MANAGED_BY,
    dagrun_name,
    label_value,
    snapshot_name,
)
from kubedag.core.schedule import DataInterval
from kubedag.core.snapshot import SNAPSHOT_KEY, Snapshot
from kubedag.core.task_launch import TaskLaunch
from kubedag.models.dagrun import RequestAction, RunRequest, RunType
from kubedag.models.pool import DEFAULT_POOL

CONTAINER_NAME = "task"
# Where a task writes its output (core/outputs.py), read as written: never the log's tail.
TERMINATION_MESSAGE = {
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
}
EVENT_SOURCE = "kubedag-controller"
EVENT_REPORTER = "kubedag.io/controller"


def owner_reference(kind: str, name: str, uid: str) -> dict[str, Any]:
    """A controller reference: the garbage collector deletes the object with its owner."""
    return {"apiVersion": API_VERSION, "kind": kind, "name": name, "uid": uid, "controller": True}


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v}


DEFAULT_TASK_UID = 65532
"""The UID a task runs as unless its securityContext says otherwise: non-root, so the pod
passes the `restricted` Pod Security Standard with images built to run as root (distroless's
`nonroot` user)."""
RESTRICTED_POD_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": DEFAULT_TASK_UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER_CONTEXT: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _over(default: dict[str, Any], own: Any) -> dict[str, Any]:
    """`own` (a model, a dict or None) merged key by key over `default`: its keys win. A
    copy: no two pods share the default's nested objects."""
    values = {} if own is None else own.to_wire() if hasattr(own, "to_wire") else dict(own)
    return copy.deepcopy({**default, **values})


def _init_containers(task: Any) -> list[dict[str, Any]]:
    return [
        {**c, "securityContext": _over(RESTRICTED_CONTAINER_CONTEXT, c.get("securityContext"))}
        for c in task.init_containers or []
    ]


def task_pod(
    launch: TaskLaunch,
    *,
    namespace: str,
    owner: dict[str, Any] | None,
) -> dict[str, Any]:
    """The pod of one task try. `owner` is the DagRun's ownerReference (uid included), so
    the garbage collector removes the pods with their run.

    A task that names no ServiceAccount runs as its namespace's `default` one, which every
    namespace has, without an API token: any namespace works with no setup, and a task
    cannot touch the cluster unless its DAG names an account for it."""
    task, ctx = launch.task, launch.context
    container: dict[str, Any] = {"name": CONTAINER_NAME, "image": task.image, "env": launch.env}
    container.update(TERMINATION_MESSAGE)
    if launch.command:
        container["command"] = launch.command
    if launch.args:
        container["args"] = launch.args
    container.update(
        _present(
            {
                "imagePullPolicy": task.image_pull_policy,
                "envFrom": task.env_from,
                "resources": task.resources,
                "volumeMounts": task.volume_mounts,
            }
        )
    )
    container["securityContext"] = _over(
        RESTRICTED_CONTAINER_CONTEXT, task.container_security_context
    )
    spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if task.service_account_name is None:
        spec["automountServiceAccountToken"] = False
    spec.update(
        _present(
            {
                "serviceAccountName": task.service_account_name,
                "volumes": task.volumes,
                "nodeSelector": task.node_selector,
                "tolerations": task.tolerations,
                "affinity": task.affinity,
                "priorityClassName": task.priority_class_name,
                "initContainers": _init_containers(task),
            }
        )
    )
    spec["securityContext"] = _over(RESTRICTED_POD_CONTEXT, task.security_context)
    metadata: dict[str, Any] = {
        "name": launch.pod_name,
        "namespace": namespace,
        "labels": {
            **(task.labels or {}),
            LABEL_DAG: label_value(ctx.dag_name),
            LABEL_DAGRUN: label_value(ctx.run_id),
            LABEL_TASK: ctx.task_name,
            LABEL_TRY: str(ctx.try_number),
            LABEL_MANAGED_BY: MANAGED_BY,
            LABEL_POOL: label_value(task.pool or DEFAULT_POOL),
            LABEL_POOL_SLOTS: str(task.pool_slots or 1),
        },
        "annotations": {
            **(task.annotations or {}),
            "kubedag.io/logical-date": rfc3339(ctx.logical_date),
        },
    }
    if owner is not None:
        metadata["ownerReferences"] = [owner]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def dagrun(
    *,
    namespace: str,
    dag_name: str,
    dag_uid: str | None,
    run_type: RunType,
    logical_date: datetime,
    interval: DataInterval | None = None,
    conf: dict[str, Any] | None = None,
    backfill: str | None = None,
) -> dict[str, Any]:
    """A DagRun, named by its DAG, type and logical date (a second create of the same run
    meets AlreadyExists), owned by its DAG and labelled with it."""
    metadata: dict[str, Any] = {
        "name": dagrun_name(dag_name, run_type, logical_date),
        "namespace": namespace,
        "labels": {LABEL_DAG: label_value(dag_name), LABEL_MANAGED_BY: MANAGED_BY},
    }
    if dag_uid:
        metadata["ownerReferences"] = [owner_reference("DAG", dag_name, dag_uid)]
    spec: dict[str, Any] = {
        "dagName": dag_name,
        "runType": run_type.value,
        "logicalDate": rfc3339(logical_date),
    }
    if interval is not None:
        spec["dataIntervalStart"] = rfc3339(interval.start)
        spec["dataIntervalEnd"] = rfc3339(interval.end)
    if conf is not None:
        spec["conf"] = conf
    if backfill is not None:
        spec["backfill"] = backfill
    return {"apiVersion": API_VERSION, "kind": "DagRun", "metadata": metadata, "spec": spec}


def triggered_dagrun(
    *,
    namespace: str,
    dag_name: str,
    dag_uid: str | None,
    logical_date: datetime,
    conf: dict[str, Any] | None,
    triggered_by: str,
) -> dict[str, Any]:
    """A manual run that a triggerDagRun task creates (named by its logical date, as
    Airflow's `manual__<date>` run id), annotated with the task try that created it: that
    try, run again after a restart, finds it rather than triggering a second run."""
    manifest = dagrun(
        namespace=namespace,
        dag_name=dag_name,
        dag_uid=dag_uid,
        run_type=RunType.MANUAL,
        logical_date=logical_date,
        conf=conf,
    )
    manifest["metadata"]["annotations"] = {ANNOTATION_TRIGGERED_BY: triggered_by}
    return manifest


def only_task_request_id(task: str) -> str:
    return f"test-only-{task}"


def throwaway_dagrun(
    *,
    namespace: str,
    dag_name: str,
    dag_uid: str | None,
    logical_date: datetime,
    conf: dict[str, Any] | None,
    only_task: str | None = None,
    tasks: Sequence[str] = (),
) -> dict[str, Any]:
    """The test run `kubedag test` makes (runType test: see core/run_types.py). With
    `only_task`, a request marks every other of the DAG's `tasks` success before anything
    starts, so that task alone runs, its dependencies taken as met (Airflow's `tasks test`)."""
    manifest = dagrun(
        namespace=namespace,
        dag_name=dag_name,
        dag_uid=dag_uid,
        run_type=RunType.TEST,
        logical_date=logical_date,
        conf=conf,
    )
    others = [t for t in tasks if t != only_task]
    if only_task is not None and others:  # an empty task list would mean every task
        manifest["spec"]["request"] = {
            "id": only_task_request_id(only_task),
            "action": RequestAction.MARK_SUCCESS.value,
            "tasks": others,
        }
    return manifest


def backfill_run(
    *,
    namespace: str,
    dag_name: str,
    dag_uid: str | None,
    backfill: str,
    interval: DataInterval,
    conf: dict[str, Any] | None,
) -> dict[str, Any]:
    """A backfill's new run: owned by the DAG, never by the Backfill, so deleting the
    Backfill leaves its runs (and their logs) alone."""
    return dagrun(
        namespace=namespace,
        dag_name=dag_name,
        dag_uid=dag_uid,
        run_type=RunType.BACKFILL,
        logical_date=interval.start,
        interval=interval,
        conf=conf,
        backfill=backfill,
    )


def backfill_rerun_patch(
    *,
    backfill: str,
    request_id: str,
    conf: dict[str, Any] | None,
    old_conf: dict[str, Any] | None,
    resource_version: str | None,
) -> dict[str, Any]:
    """The merge patch by which a backfill re-runs a finished run in place (Airflow's rule 6,
    the shared contract): it becomes a backfill run of this backfill, takes its conf (unless
    that is null) and carries a request to clear the whole run. A merge patch merges objects,
    so the old conf's other keys are removed explicitly: the conf is replaced, as Airflow's."""
    spec: dict[str, Any] = {
        "runType": RunType.BACKFILL.value,
        "backfill": backfill,
        # Every field spelled out: a merge patch keeps those it leaves out, so the previous
        # request's tasks or options would otherwise carry over.
        "request": {
            "id": request_id,
            "action": "clear",
            "tasks": None,
            "downstream": False,
            "upstream": False,
            "onlyFailed": False,
        },
    }
    if conf is not None:
        spec["conf"] = status_patch(old_conf or {}, conf)
    patch: dict[str, Any] = {"spec": spec}
    if resource_version:
        patch["metadata"] = {"resourceVersion": resource_version}
    return patch


def backfill(
    *,
    namespace: str,
    name: str | None,
    dag_name: str,
    from_: str,
    to: str,
    reprocess_behavior: str | None = None,
    max_active_runs: int | None = None,
    run_backwards: bool = False,
    conf: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """A Backfill as `kubedag backfill` creates it (`name` None: generated from the DAG's)."""
    metadata: dict[str, Any] = {"namespace": namespace}
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = f"{dag_name[:200]}-backfill-"
    spec: dict[str, Any] = {"dagName": dag_name, "from": from_, "to": to}
    optional = {
        "reprocessBehavior": reprocess_behavior,
        "maxActiveRuns": max_active_runs,
        "runBackwards": run_backwards or None,
        "conf": conf,
        "dryRun": dry_run or None,
    }
    spec.update({k: v for k, v in optional.items() if v is not None})
    return {"apiVersion": API_VERSION, "kind": "Backfill", "metadata": metadata, "spec": spec}


def run_request_patch(request: RunRequest) -> dict[str, Any]:
    """The merge patch that puts `request` on a DagRun. Every field is spelled out (`tasks:
    null` for the whole run): a merge patch keeps the fields it leaves out, so a field of the
    previous request would otherwise carry over into this one."""
    return {"spec": {"request": request.model_dump(mode="json", by_alias=True)}}


def snapshot_config_map(
    *, namespace: str, dag_name: str, dag_uid: str, generation: int, snapshot: Snapshot
) -> dict[str, Any]:
    """The immutable, content-addressed ConfigMap holding one DAG version for its runs."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": snapshot_name(dag_name, snapshot.digest()),
            "namespace": namespace,
            "labels": {LABEL_DAG: label_value(dag_name), LABEL_MANAGED_BY: MANAGED_BY},
            "annotations": {"kubedag.io/dag-generation": str(generation)},
            "ownerReferences": [owner_reference("DAG", dag_name, dag_uid)],
        },
        "immutable": True,
        "binaryData": {SNAPSHOT_KEY: snapshot.encode()},
    }


def outputs_config_map(
    *,
    namespace: str,
    name: str,
    dag_name: str,
    run_name: str,
    run_uid: str,
    outputs: dict[str, str],
) -> dict[str, Any]:
    """A ConfigMap holding task outputs the run's DagRun has no room for (task -> output
    as JSON), owned by the run, so it goes with it."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                LABEL_DAG: label_value(dag_name),
                LABEL_DAGRUN: label_value(run_name),
                LABEL_MANAGED_BY: MANAGED_BY,
            },
            "ownerReferences": [owner_reference("DagRun", run_name, run_uid)],
        },
        "data": dict(outputs),
    }


def outputs_patch(outputs: dict[str, str]) -> dict[str, Any]:
    """The merge patch that adds or replaces outputs in an existing outputs ConfigMap."""
    return {"data": dict(outputs)}


def adoption_patch(run: dict[str, Any], dag: dict[str, Any]) -> dict[str, Any] | None:
    """The merge patch that gives a run created by hand its DAG as owner and the DAG label,
    like scheduled runs (deleting the DAG then removes it, and `-l kubedag.io/dag=NAME` finds
    it); None when it has both already."""
    metadata = run["metadata"]
    dag_name, dag_uid = dag["metadata"]["name"], dag["metadata"]["uid"]
    refs = metadata.get("ownerReferences") or []
    labels = metadata.get("labels") or {}
    if any(r.get("uid") == dag_uid for r in refs) and labels.get(LABEL_DAG) == label_value(
        dag_name
    ):
        return None
    return {
        "metadata": {
            "resourceVersion": metadata["resourceVersion"],
            "labels": {LABEL_DAG: label_value(dag_name)},
            "ownerReferences": [
                *(r for r in refs if r.get("uid") != dag_uid),
                owner_reference("DAG", dag_name, dag_uid),
            ],
        }
    }


def involved_object(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata") or {}
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace"),
        "uid": metadata.get("uid"),
        "resourceVersion": metadata.get("resourceVersion"),
    }


def event(
    involved: dict[str, Any],
    *,
    type_: str,
    reason: str,
    message: str,
    now: datetime,
    unique: str,
    reporting_instance: str,
) -> dict[str, Any]:
    """A core/v1 Event on `involved`, so `kubectl describe` shows it beside the object;
    `unique` makes its name unique (events are never updated)."""
    stamp = rfc3339(now.replace(microsecond=0))
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{involved['name'][:200]}.{unique}",
            "namespace": involved["namespace"],
        },
        "involvedObject": involved,
        "type": type_,
        "reason": reason,
        "message": message,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "source": {"component": EVENT_SOURCE},
        "reportingComponent": EVENT_REPORTER,
        "reportingInstance": reporting_instance[:128],
    }


def status_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The merge patch (RFC 7386) that turns status `old` into `new`: a merge patch keeps
    fields it does not mention, so each field `new` drops is sent as null, in nested objects
    too (lists are replaced whole)."""
    patch: dict[str, Any] = dict(new)
    for key, value in old.items():
        if key not in new:
            patch[key] = None
        elif isinstance(value, dict) and isinstance(new[key], dict):
            patch[key] = status_patch(value, new[key])
    return patch


CONNECTION_KEYS = ("host", "port", "dbname", "user", "password", "options", "sslmode")
"""A connection Secret's keys, in this order; the task toolkit reads them from the environment
under the prefix KUBEDAG_CONN_<NAME>_ (docs: README "Task toolkit")."""
LABEL_CONNECTION = "kubedag.io/connection"


def connection_secret(name: str, namespace: str, values: dict[str, str]) -> dict[str, Any]:
    """A warehouse connection as an Opaque Secret (`kubedag connection create`)."""
    unknown = sorted(set(values) - set(CONNECTION_KEYS))
    if unknown:
        raise ValueError(f"unknown connection keys {unknown}; allowed: {list(CONNECTION_KEYS)}")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {LABEL_CONNECTION: "postgresql", LABEL_MANAGED_BY: MANAGED_BY},
        },
        "type": "Opaque",
        "data": {
            key: base64.b64encode(values[key].encode()).decode()
            for key in CONNECTION_KEYS
            if key in values
        },
    }
