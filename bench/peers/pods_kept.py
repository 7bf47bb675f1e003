"""kubedag's single-step runs doing the peers' work: the Job controller keeps a finished
Job's pod, and Argo keeps a workflow's pods by default, while kubedag deletes a run's pods
once it succeeds (podGC OnRunSuccess, as Airflow's Kubernetes executor deletes its worker
pods). This row keeps them too (the DAG's `podGC: Never`), in the peers' window and backlog,
beside kubedag's own row at its defaults."""

from __future__ import annotations

from dataclasses import replace

from bench import scenarios
from bench.peers.audit import AuditLog
from bench.peers.peerrun import PeerResult
from bench.peers.scale import PeerScale
from bench.session import Session

VARIANT = "pods kept"
SETTINGS = "the DAG's podGC: Never (its pods stay until the run is deleted, as Jobs' do)"


def single_task(session: Session, _audit: AuditLog, scale: PeerScale) -> list[PeerResult]:
    own = replace(
        scenarios.SCALES["full"],
        single_task_window_s=scale.window_s,
        single_task_backlog=scale.backlog,
        single_task_creators=scale.creators,
        timeout_s=scale.timeout_s,
    )
    result = scenarios.single_task(session, own, pod_gc="Never")
    details = {"parameters": result.parameters, **result.details}
    return [
        PeerResult(
            "single_task", "kubedag", VARIANT, SETTINGS, result.metrics, details, result.samples
        )
    ]
