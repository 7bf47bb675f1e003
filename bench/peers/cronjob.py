"""Kubernetes' CronJob and Job controllers (kube-controller-manager) in the bench cluster:
CronJobs due on the same minute, and Jobs of one pod completed per minute, at the shipped
defaults and tuned."""

from __future__ import annotations

from typing import Any

from bench.peers.audit import AuditLog
from bench.peers.controllers import KCM_DEFAULTS, KCM_TUNED, Variant
from bench.peers.cron import same_minute
from bench.peers.measure import (
    COMPLETE_LABEL,
    TASK_IMAGE,
)
from bench.peers.peerrun import PeerResult, PeerRun, peer_run
from bench.peers.scale import PeerScale
from bench.peers.single import single_runs
from bench.peers.watches import job_phase
from bench.session import Session

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"


def jobs_path(namespace: str) -> str:
    return f"/apis/batch/v1/namespaces/{namespace}/jobs"


def job_spec() -> dict[str, Any]:
    return {
        "backoffLimit": 0,
        "template": {
            "metadata": {"labels": {COMPLETE_LABEL: "true"}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "main",
                        "image": TASK_IMAGE,
                        "imagePullPolicy": "Never",
                        "command": ["true"],
                    }
                ],
            },
        },
    }


def _run(session: Session, audit: AuditLog, scenario: str, variant: Variant) -> Any:
    return peer_run(session, audit, scenario, variant, jobs_path, job_phase)


def _warm_up(run: PeerRun) -> None:
    run.api.create(jobs_path(run.namespace), {"metadata": {"name": "warmup"}, "spec": job_spec()})
    if not run.wait(lambda r: r.finished_peer_runs >= 1, 120):
        raise TimeoutError(f"{run.variant}: the warm-up Job did not complete")
    run.recorder.peer_pods.clear()
    run.recorder.peer_runs.clear()
    run.recorder.finished_peer_runs = 0


def many_dags(session: Session, audit: AuditLog, scale: PeerScale) -> list[PeerResult]:
    """CronJobs on ``* * * * *``: each due minute's Job creation (the harness's watch) minus
    the minute (the Job's scheduled-timestamp annotation), and the minutes without a Job."""
    results = []
    for variant in (KCM_DEFAULTS, KCM_TUNED):
        with _run(session, audit, "many_dags", variant) as run:
            _warm_up(run)
            results.append(
                same_minute(
                    run,
                    scale,
                    f"/apis/batch/v1/namespaces/{run.namespace}/cronjobs",
                    "cj",
                    lambda name: {
                        "metadata": {"name": name},
                        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": job_spec()}},
                    },
                    SCHEDULED_TIMESTAMP,
                    lambda job: job.name.rsplit("-", 1)[0],  # <cronjob>-<minutes since 1970>
                )
            )
    return results


def single_task(session: Session, audit: AuditLog, scale: PeerScale) -> list[PeerResult]:
    """One-step runs created as fast as they complete (at most ``backlog`` open)."""
    results = []
    for variant in (KCM_DEFAULTS, KCM_TUNED):
        with _run(session, audit, "single_task", variant) as run:
            _warm_up(run)
            results.append(
                single_runs(
                    run,
                    scale,
                    jobs_path(run.namespace),
                    lambda name: {"metadata": {"name": name}, "spec": job_spec()},
                    "batch.kubernetes.io/job-name",
                )
            )
    return results
