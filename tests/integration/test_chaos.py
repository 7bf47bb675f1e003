"""The small chaos run of `make test` (the full one is `make chaos`, docs/reliability.md):
20 runs of 5 tasks on a control plane of its own, two controller replicas, three SIGKILLs
(one of the leader, so the other replica takes over), task pods deleted, and one API server
restart; then nothing lost or doubled (tests/chaos/checks.py)."""

import os
from pathlib import Path

from tests.chaos.scenario import SMOKE_FAULTS, run
from tests.chaos.workload import SMOKE


def test_a_small_workload_survives_kills_a_leader_change_pod_deletions_and_an_api_restart(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("KUBEDAG_CHAOS_SEED", "14"))
    report = run(SMOKE, SMOKE_FAULTS, seed, tmp_path, settle=90)
    print("\n".join(report.lines()))
    assert report.violations == [], f"logs in {tmp_path}"
    assert report.runs == SMOKE.runs
    assert report.kills == SMOKE_FAULTS.kills
    assert report.leader_changes >= 1
    assert report.pods_deleted >= 1
    assert report.apiserver_restarts == 1
