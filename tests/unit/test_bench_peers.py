"""The side-by-side benchmark's pure parts: the audit log grouping, the peers' measurements
and the report (no peer is built or run here; that is `make bench`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.cluster import stage_documents
from bench.peers import audit, pods_kept, sidebyside
from bench.peers.argo import workflow_spec
from bench.peers.measure import (
    COMPLETE_LABEL,
    chain_hops_ms,
    cron_lag_metrics,
    next_ticks,
)
from bench.peers.watches import ObjectRecord, PeerRecorder, job_phase, workflow_phase
from bench.watch import WatchFailed


def _event(user: str, verb: str, resource: str, sub: str = "", stage: str = "ResponseComplete"):
    ref = {"resource": resource, **({"subresource": sub} if sub else {})}
    return json.dumps({"stage": stage, "verb": verb, "user": {"username": user}, "objectRef": ref})


def test_audit_counts_each_clients_writes_once() -> None:
    lines = [
        _event("bench-peer-argo", "create", "pods"),
        _event("bench-peer-argo", "patch", "workflows"),
        _event("bench-peer-argo", "patch", "pods", "status"),
        _event("bench-peer-argo", "get", "pods"),  # not a write
        _event("bench-peer-argo", "create", "pods", stage="RequestReceived"),
        _event("admin", "create", "workflows"),
        '{"cut in the mid',
    ]
    writes = audit.parse("\n".join(lines))
    assert writes.of("bench-peer-argo") == 3
    assert writes.of("admin") == 1
    assert writes.by_kind["bench-peer-argo"]["patch pods/status"] == 1


def test_audit_log_reads_only_after_the_mark(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text(_event("a", "create", "pods") + "\n")
    log = audit.AuditLog(path)
    log.mark()
    with path.open("a") as handle:
        handle.write(_event("a", "delete", "pods") + "\n")
    assert log.writes_since_mark().by_kind == {"a": {"delete pods": 1}}


def test_a_rotated_audit_log_is_not_read_as_no_writes(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text(_event("a", "create", "pods") + "\n")
    log = audit.AuditLog(path)
    log.mark()
    path.write_text("")  # what rotation leaves at the path
    with pytest.raises(audit.AuditLogRotated):
        log.writes_since_mark()
    assert "--audit-log-maxsize=0" not in audit.apiserver_args(tmp_path)


def _pod(name: str, added: float, finished: float | None) -> ObjectRecord:
    return ObjectRecord(name, {}, {}, added, finished=finished, phase="Succeeded")


def test_chain_hops_follow_creation_order() -> None:
    pods = [_pod("b", 2.0, 3.0), _pod("a", 0.0, 1.5), _pod("c", 3.25, None)]
    assert chain_hops_ms(pods) == [500.0, 250.0]


def test_cron_lag_and_skipped_minutes() -> None:
    ticks = next_ticks(datetime(2026, 1, 1, 12, 0, 50, tzinfo=UTC), 5, 2)
    assert ticks[0] == datetime(2026, 1, 1, 12, 1, tzinfo=UTC)  # 10 s after: enough
    first = ticks[0].timestamp()
    runs = [
        ("a", ticks[0], first + 0.5),
        ("b", ticks[0], first + 1.5),
        ("a", ticks[1], first + 61.0),
        ("b", datetime(2026, 1, 1, 12, 0, tzinfo=UTC), first - 59),  # before the window
    ]
    metrics, lags = cron_lag_metrics(runs, 2, ticks)
    assert sorted(lags) == [500.0, 1000.0, 1500.0]
    assert metrics["minutes_skipped"] == 1  # b at the second minute
    assert metrics["runs_expected"] == 4


def test_peer_phases() -> None:
    assert job_phase({"status": {"conditions": [{"type": "Complete", "status": "True"}]}}) == (
        "Succeeded"
    )
    assert job_phase({"status": {"conditions": [{"type": "Suspended", "status": "True"}]}}) is None
    assert workflow_phase({"status": {"phase": "Running"}}) is None
    assert workflow_phase({"status": {"phase": "Error"}}) == "Error"


def test_peer_recorder_takes_what_its_streams_deliver() -> None:
    # The streams call every handler with the event's size too: a peer handler without it
    # killed both watch threads of every peer scenario, each of which then waited out its
    # whole timeout.
    recorder = PeerRecorder(None, "ns", "/apis/x", workflow_phase)  # type: ignore[arg-type]
    pods, runs = recorder._streams
    pods.handle("ADDED", {"metadata": {"name": "p"}, "status": {"phase": "Succeeded"}}, 1.0, 9)
    runs.handle("MODIFIED", {"metadata": {"name": "w"}, "status": {"phase": "Succeeded"}}, 2.0, 9)
    assert recorder.peer_pods["p"].finished == 1.0
    assert recorder.finished_peer_runs == 1


def test_a_wait_ends_at_once_when_a_watch_stopped_for_good() -> None:
    recorder = PeerRecorder(None, "ns", "/apis/x", workflow_phase)  # type: ignore[arg-type]
    recorder._streams[1].failure = "TypeError: boom"
    with pytest.raises(WatchFailed, match="/apis/x stopped: TypeError: boom"):
        recorder.wait_for(lambda _: False, timeout=600)


def test_argo_templates_set_command_and_the_kwok_label() -> None:
    spec = workflow_spec([("t0", []), ("t1", ["t0"])])
    assert spec["podMetadata"]["labels"] == {COMPLETE_LABEL: "true"}
    step = next(t for t in spec["templates"] if t["name"] == "step")
    assert step["container"]["command"]
    main = next(t for t in spec["templates"] if t["name"] == "main")
    assert main["dag"]["tasks"][1]["dependencies"] == ["t0"]
    # kwok completes exactly the pods carrying that label.
    stage = next(s for s in stage_documents(700, 0) if s["metadata"]["name"] == "pod-complete-peer")
    assert stage["spec"]["selector"]["matchLabels"] == {COMPLETE_LABEL: "true"}
    assert stage["spec"]["delay"]["durationMilliseconds"] == 700


def _row(system: str, variant: str, **metrics: float) -> dict[str, object]:
    return {"system": system, "variant": variant, "settings": "s", "metrics": metrics}


def test_side_by_side_table_ratios_against_the_best_peer_and_the_floor() -> None:
    document = {
        "scenarios": {
            "chain": {"metrics": {"hop_latency_p50_ms": 20.0, "hop_latency_p99_ms": 40.0}}
        },
        "peers": {
            "chain": [
                _row("argo", "defaults", hop_latency_p50_ms=9000.0, hop_latency_p99_ms=9900.0),
                _row("argo", "tuned", hop_latency_p50_ms=110.0, hop_latency_p99_ms=400.0),
                _row("bare", "", hop_latency_p50_ms=10.0, hop_latency_p99_ms=20.0),
            ]
        },
    }
    text = sidebyside.render(document, {})
    assert "### chain" in text
    ahead = next(line for line in text.splitlines() if line.startswith("| kubedag ahead"))
    assert "**5.50x** vs argo (tuned)" in ahead  # 110 / 20
    assert "**10.00x** vs argo (tuned)" in ahead  # 400 / 40
    floor = next(line for line in text.splitlines() if line.startswith("| kubedag / bare"))
    assert "2.00x" in floor


def test_single_step_runs_have_a_bare_floor_that_is_no_peer() -> None:
    """The pods alone bound every system's runs a minute: kubedag's row is measured against
    them, and they never stand as the best peer."""
    assert "bare" in sidebyside.RUNNERS["single_task"]
    document = {
        "scenarios": {"single_task": {"metrics": {"completed_runs_per_min": 3000.0}}},
        "peers": {
            "single_task": [
                _row("argo", "tuned", completed_runs_per_min=1500.0),
                _row("bare", "", completed_runs_per_min=6000.0),
            ]
        },
    }
    lines = sidebyside.render(document, {}).splitlines()
    ahead = next(line for line in lines if line.startswith("| kubedag ahead"))
    assert "**2.00x** vs argo (tuned)" in ahead
    floor = next(line for line in lines if line.startswith("| kubedag / bare"))
    assert "2.00x" in floor  # the floor makes twice as many


def test_side_by_side_tables_show_each_system_s_cpu_per_try() -> None:
    """The machine's cost of a try, the controller's and the API server's: a figure the
    load of the machine moves less than a rate does."""
    document = {
        "scenarios": {
            "single_task": {
                "metrics": {
                    "completed_runs_per_min": 2600.0,
                    "controller_cpu_ms_per_try": 6.04,
                    "apiserver_cpu_ms_per_try": 23.3,
                }
            }
        },
        "peers": {
            "single_task": [
                _row("argo", "tuned", completed_runs_per_min=1500.0, apiserver_cpu_ms_per_try=42.4)
            ]
        },
    }
    lines = sidebyside.render(document, {}).splitlines()
    header = next(line for line in lines if line.startswith("| system |"))
    assert "controller CPU/try | API server CPU/try" in header
    own = next(line for line in lines if line.startswith("| kubedag |"))
    assert "| 6.0 ms | 23.3 ms |" in own
    argo = next(line for line in lines if line.startswith("| argo (tuned) |"))
    assert "| n/a | 42.4 ms |" in argo


def test_higher_is_better_ratio() -> None:
    assert sidebyside.ratio(1400.0, 700.0, lower_is_better=False) == 2.0
    assert sidebyside.ratio(None, 700.0, lower_is_better=False) is None


def test_kubedag_doing_the_peers_work_gets_its_own_ratio_and_its_settings() -> None:
    document = {
        "settings": {"controller_env": {"KUBEDAG_RUN_WORKERS": "16"}},
        "scenarios": {
            "single_task": {
                "metrics": {"completed_runs_per_min": 2300.0, "run_latency_p50_ms": 1300}
            }
        },
        "peers": {
            "single_task": [
                _row(
                    "kubedag", "pods kept", completed_runs_per_min=2600.0, run_latency_p50_ms=1200
                ),
                _row("cronjob", "tuned", completed_runs_per_min=2500.0, run_latency_p50_ms=2600),
                _row("argo", "tuned", completed_runs_per_min=1700.0, run_latency_p50_ms=4000),
            ]
        },
    }
    lines = sidebyside.render(document, {}).splitlines()
    own = next(line for line in lines if line.startswith("| kubedag |"))
    assert "KUBEDAG_RUN_WORKERS=16" in own  # not "shipped defaults"
    ahead = next(line for line in lines if line.startswith("| kubedag ahead"))
    assert "**0.92x** vs cronjob (tuned)" in ahead  # 2300 / 2500: behind
    kept = next(line for line in lines if line.startswith("| kubedag (pods kept) ahead"))
    assert "**1.04x** vs cronjob (tuned)" in kept  # 2600 / 2500: the best peer is not kubedag
    assert "**2.17x** vs cronjob (tuned)" in kept  # latency 2600 / 1200


def test_the_single_step_side_by_side_runs_kubedag_keeping_its_pods() -> None:
    assert sidebyside.RUNNERS["single_task"]["kubedag"] is pods_kept.single_task


def test_single_step_rows_show_the_machine_s_cpu_per_run_and_the_free_controller_bound() -> None:
    """The machine is saturated, so a rate follows the inverse of the CPU a run costs it: the
    peer's whole cost over kubedag's cluster cost alone is the most a controller costing
    nothing could reach."""
    document = {
        "scenarios": {
            "single_task": {
                "metrics": {
                    "completed_runs_per_min": 3000.0,
                    "runs_completed": 1000,
                    "controller_cpu_s": 5.0,
                },
                "details": {"cluster_cpu_s": {"kube-apiserver": 20.0, "etcd": 10.0}},
            }
        },
        "peers": {
            "single_task": [
                {
                    **_row("argo", "tuned", completed_runs_per_min=1600.0, runs_completed=500),
                    "details": {"cluster_cpu_s": {"kube-apiserver": 24.0, "etcd": 3.0}},
                }
                | {
                    "metrics": {
                        "completed_runs_per_min": 1600.0,
                        "runs_completed": 500,
                        "controller_cpu_s": 3.0,
                    }
                },
                _row("argo", "defaults", completed_runs_per_min=300.0),
                _row("bare", "", completed_runs_per_min=6000.0),
            ]
        },
    }
    lines = sidebyside.render(document, {}).splitlines()
    own = next(line for line in lines if line.startswith("| kubedag |"))
    assert "| 35.0 ms | 30.0 ms |" in own  # (30 + 5) s / 1,000 runs; 30 s / 1,000
    argo = next(line for line in lines if line.startswith("| argo (tuned) |"))
    assert "| 60.0 ms | 54.0 ms |" in argo  # (27 + 3) s / 500 runs
    defaults = next(line for line in lines if line.startswith("| argo (defaults) |"))
    assert "| n/a | n/a |" in defaults  # no cluster CPU recorded
    bound = next(line for line in lines if line.startswith("With a controller that cost"))
    assert "at most **2.00x** argo (tuned)'s runs/min" in bound  # 60 / 30
    assert "cronjob" not in bound  # no CronJob row
