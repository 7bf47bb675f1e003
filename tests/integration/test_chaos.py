"""The small chaos run of `make test` (the full one is `make chaos`, docs/reliability.md):
12 runs of 5 tasks on the API fault tests' control plane (conftest.py), the controller
SIGKILLed three times and started again at once, task pods deleted, and one API server
restart; then nothing lost or doubled (tests/chaos/checks.py). A lone controller: a leader
change waits for the Lease to expire (15 s), which `make chaos` pays 12 times over."""

import os
from pathlib import Path

import pytest

from devcluster.controlplane import ControlPlane
from tests.chaos.scenario import SMOKE_FAULTS, run
from tests.chaos.workload import SMOKE

# Both share the faulty control plane: one worker under pytest-xdist, so it starts once.
pytestmark = pytest.mark.xdist_group("faulty-plane")


def test_a_small_workload_survives_controller_kills_pod_deletions_and_an_api_restart(
    faulty_plane: ControlPlane, tmp_path: Path
) -> None:
    seed = int(os.environ.get("KUBEDAG_CHAOS_SEED", "14"))
    report = run(SMOKE, SMOKE_FAULTS, seed, tmp_path, settle=90, plane=faulty_plane)
    print("\n".join(report.lines()))
    assert report.violations == [], f"logs in {tmp_path}"
    assert report.runs == SMOKE.runs
    assert report.kills == SMOKE_FAULTS.kills
    assert report.pods_deleted >= 1
    assert report.apiserver_restarts == 1
