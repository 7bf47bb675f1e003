"""Argo Workflows in the bench cluster: the chain, the fan-out, single-step workflows per
minute and CronWorkflows due on the same minute, each at its shipped defaults and tuned.

Every template sets ``command`` (the controller would otherwise look the image's entrypoint
up in a registry), and the workflow's ``podMetadata`` labels every pod for kwok's
pod-complete-peer stage, which terminates all its containers (``wait`` included) with
exit code 0 after the task duration."""

from __future__ import annotations

from typing import Any

import yaml

from bench.api import ApiError, core_path
from bench.peers.audit import AuditLog
from bench.peers.controllers import (
    ARGO_CONFIG,
    ARGO_CONFIGMAP,
    ARGO_DEFAULTS,
    ARGO_TUNED_LATENCY,
    ARGO_TUNED_THROUGHPUT,
    Variant,
    argo_crds_dir,
)
from bench.peers.cron import same_minute
from bench.peers.measure import (
    COMPLETE_LABEL,
    TASK_IMAGE,
    chain_hops_ms,
    chain_metrics,
    fanout_metrics,
)
from bench.peers.peerrun import PeerResult, PeerRun, peer_run
from bench.peers.scale import PeerScale
from bench.peers.single import single_runs
from bench.peers.watches import workflow_phase
from bench.session import Session
from devcluster.wait import wait_for

GROUP = "argoproj.io"
SCHEDULED_TIME = "workflows.argoproj.io/scheduled-time"
CRON_LABEL = "workflows.argoproj.io/cron-workflow"


def argo_path(plural: str, namespace: str) -> str:
    return f"/apis/{GROUP}/v1alpha1/namespaces/{namespace}/{plural}"


def install_crds(session: Session) -> None:
    """Argo's CRDs, once per cluster (as upstream's minimal install applies them)."""
    api = session.cluster.api
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    for crd in sorted(argo_crds_dir().glob("argoproj.io_*.yaml")):
        body = yaml.safe_load(crd.read_text())
        try:
            api.create(path, body)
        except ApiError as error:
            if error.status != 409:
                raise

    def served() -> bool:
        status, _ = api.raw("GET", f"/apis/{GROUP}/v1alpha1/workflows?limit=1")
        return status == 200

    wait_for(served, "the Argo CRDs served", 60, tolerate=(ApiError,))


def _configure(run: PeerRun) -> None:
    run.api.create(
        core_path("configmaps", run.namespace),
        {"metadata": {"name": ARGO_CONFIGMAP}, "data": ARGO_CONFIG},
    )


def _step_template(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "container": {"image": TASK_IMAGE, "imagePullPolicy": "Never", "command": ["true"]},
    }


def workflow_spec(tasks: list[tuple[str, list[str]]] | None) -> dict[str, Any]:
    """A DAG of ``tasks`` (name, dependencies), or one step when ``tasks`` is None."""
    templates = [_step_template("step")]
    entrypoint = "step"
    if tasks is not None:
        dag_tasks = [
            {"name": t, "template": "step", **({"dependencies": deps} if deps else {})}
            for t, deps in tasks
        ]
        templates.append({"name": "main", "dag": {"tasks": dag_tasks}})
        entrypoint = "main"
    return {
        "entrypoint": entrypoint,
        "serviceAccountName": "default",
        "podMetadata": {"labels": {COMPLETE_LABEL: "true"}},
        "templates": templates,
    }


def _workflow(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name},
        "spec": spec,
    }


def _run(session: Session, audit: AuditLog, scenario: str, variant: Variant) -> Any:
    return peer_run(
        session,
        audit,
        scenario,
        variant,
        lambda ns: argo_path("workflows", ns),
        workflow_phase,
        before_start=_configure,
    )


def _warm_up(run: PeerRun) -> None:
    """The controller's informers are up once a one-step workflow has succeeded."""
    run.api.create(argo_path("workflows", run.namespace), _workflow("warmup", workflow_spec(None)))
    if not run.wait(lambda r: r.finished_peer_runs >= 1, 120):
        raise TimeoutError(f"{run.variant}: the warm-up workflow did not finish")
    # The warm-up's pod is not part of the measurement.
    run.recorder.peer_pods.clear()
    run.recorder.peer_runs.clear()
    run.recorder.finished_peer_runs = 0


def chain(session: Session, audit: AuditLog, scale: PeerScale) -> list[PeerResult]:
    results = []
    for variant, steps in (
        (ARGO_DEFAULTS, scale.chain_steps_defaults),
        (ARGO_TUNED_LATENCY, scale.chain_steps),
    ):
        names = [f"t{i:03d}" for i in range(steps)]
        with _run(session, audit, "chain", variant) as run:
            _warm_up(run)
            run.begin()
            spec = workflow_spec([(t, [names[i - 1]] if i else []) for i, t in enumerate(names)])
            run.api.create(argo_path("workflows", run.namespace), _workflow("chain", spec))
            run.wait(lambda r: r.finished_peer_runs >= 1, scale.timeout_s)
            run.end()
            pods = list(run.recorder.peer_pods.values())
            record = run.recorder.peer_runs.get("chain")
            metrics = chain_metrics(pods, steps)
            metrics["run_wall_s"] = (
                record.finished - record.added if record and record.finished else float("nan")
            )
            results.append(
                run.result(
                    metrics,
                    {"workflow_phase": record.phase if record else None},
                    {"hop_latency_ms": chain_hops_ms(pods)},
                )
            )
    return results


def fanout(session: Session, audit: AuditLog, scale: PeerScale) -> list[PeerResult]:
    results = []
    n = scale.fanout_tasks
    for variant in (ARGO_DEFAULTS, ARGO_TUNED_THROUGHPUT):
        with _run(session, audit, "fanout", variant) as run:
            _warm_up(run)
            run.begin()
            spec = workflow_spec([(f"t{i:04d}", []) for i in range(n)])
            run.api.create(argo_path("workflows", run.namespace), _workflow("fanout", spec))
            run.wait(lambda r: r.finished_peer_runs >= 1, scale.timeout_s)
            run.end()
            pods = list(run.recorder.peer_pods.values())
            record = run.recorder.peer_runs.get("fanout")
            body = run.api.get_bytes(argo_path("workflows", run.namespace) + "/fanout")
            metrics = fanout_metrics(pods, record, n)
            metrics["run_object_bytes"] = len(body)
            results.append(
                run.result(metrics, {"workflow_phase": record.phase if record else None})
            )
    return results


def single_task(session: Session, audit: AuditLog, scale: PeerScale) -> list[PeerResult]:
    """One-step runs created as fast as they complete (at most ``backlog`` open)."""
    results = []
    for variant in (ARGO_DEFAULTS, ARGO_TUNED_THROUGHPUT):
        with _run(session, audit, "single_task", variant) as run:
            _warm_up(run)
            results.append(
                single_runs(
                    run,
                    scale,
                    argo_path("workflows", run.namespace),
                    lambda name: _workflow(name, workflow_spec(None)),
                    "workflows.argoproj.io/workflow",
                )
            )
    return results


def many_dags(session: Session, audit: AuditLog, scale: PeerScale) -> list[PeerResult]:
    """CronWorkflows on ``* * * * *``: each due minute's Workflow creation (the harness's
    watch) minus the minute (its scheduled-time annotation)."""
    results = []
    for variant in (ARGO_DEFAULTS, ARGO_TUNED_THROUGHPUT):
        with _run(session, audit, "many_dags", variant) as run:
            _warm_up(run)
            results.append(
                same_minute(
                    run,
                    scale,
                    argo_path("cronworkflows", run.namespace),
                    "cw",
                    lambda name: {
                        "apiVersion": f"{GROUP}/v1alpha1",
                        "kind": "CronWorkflow",
                        "metadata": {"name": name},
                        "spec": {"schedules": ["* * * * *"], "workflowSpec": workflow_spec(None)},
                    },
                    SCHEDULED_TIME,
                    lambda workflow: workflow.labels.get(CRON_LABEL, ""),
                )
            )
    return results
