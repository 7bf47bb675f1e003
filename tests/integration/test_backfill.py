"""Backfills against a real kube-apiserver and the controller as users run it: 30 daily
dates with maxActiveRuns 3 against existing successful and failed runs, for each reprocess
behaviour (no date missed or doubled, never more than 3 of its runs at once, a re-run run
cleared in place really runs again), a dry run, a refusal, cancel midway, and
`kubedag backfill --wait`. A stand-in kubelet finishes pods."""

import subprocess
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes.client import ApiException

from kubedag.core.dates import rfc3339
from tests.integration.harness import (  # noqa: F401 - fixtures
    GROUP,
    REPO,
    VERSION,
    Background,
    Cluster,
    ControllerProcess,
    cluster,
    controller,
    crds,
    wait_for,
)

FIRST = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = 30
EXISTING_SUCCESS = range(21, 26)  # days of January 2025 with a successful run before
EXISTING_FAILED = range(26, 31)  # and with a failed one
LIMIT = 3


def day(d: int) -> datetime:
    return FIRST + timedelta(days=d - 1)


def dag_spec() -> dict[str, Any]:
    # startDate far ahead: the schedule creates nothing; a backfill ignores startDate.
    return {
        "schedule": "@daily",
        "startDate": "2030-01-01",
        "maxActiveRuns": 16,
        "maxActiveTasks": 64,
        "tasks": [{"name": "a", "image": "busybox"}],
    }


class Kubelet(Background):
    """Finishes every pod as soon as it exists: exit 1 for the pods of the runs that must
    fail, and holds the pods of `held` DAGs until released."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster)
        self.failing: set[str] = set()  # run names whose first try fails (a re-run succeeds)
        self.held: set[str] = set()  # DAG names whose pods wait
        self.error: BaseException | None = None

    def loop(self) -> None:
        try:
            while not self.stopping(0.2):
                for pod in self.cluster.pods():
                    if pod.status and pod.status.phase in ("Succeeded", "Failed"):
                        continue
                    labels = pod.metadata.labels or {}
                    if labels.get("kubedag.io/dag") in self.held:
                        continue
                    fail = (
                        labels.get("kubedag.io/dagrun") in self.failing
                        and labels.get("kubedag.io/try") == "1"
                    )
                    self.cluster.set_pod(
                        pod.metadata.name, "Failed" if fail else "Succeeded", int(fail)
                    )
        except BaseException as error:  # surfaced by the test
            self.error = error


class Sampler(Background):
    """Counts, many times a second, each backfill's runs in flight."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster)
        self.most: Counter[str] = Counter()

    def loop(self) -> None:
        while not self.stopping(0.1):
            now: Counter[str] = Counter()
            for run in self.cluster.runs():
                backfill = run["spec"].get("backfill")
                if backfill and in_flight(run):
                    now[backfill] += 1
            for name, count in now.items():
                self.most[name] = max(self.most[name], count)


def in_flight(run: dict[str, Any]) -> bool:
    status = run.get("status") or {}
    request = (run["spec"].get("request") or {}).get("id")
    pending = request and all(r.get("id") != request for r in status.get("requests") or [])
    return status.get("state") not in ("success", "failed") or bool(pending)


def apply_backfill(cluster: Cluster, name: str, dag: str, **spec: Any) -> None:
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Backfill",
        "metadata": {"name": name},
        "spec": {
            "dagName": dag,
            "from": "2025-01-01",
            "to": "2025-01-30",
            "maxActiveRuns": LIMIT,
            **spec,
        },
    }
    cluster.custom.create_namespaced_custom_object(GROUP, VERSION, cluster.ns, "backfills", body)


def backfill_status(cluster: Cluster, name: str) -> dict[str, Any]:
    body = cluster.custom.get_namespaced_custom_object(
        GROUP, VERSION, cluster.ns, "backfills", name
    )
    return body.get("status") or {}  # type: ignore[no-any-return]


def wait_status(cluster: Cluster, name: str, what: str, check: Any, timeout: float = 120) -> Any:
    def probe() -> Any:
        status = backfill_status(cluster, name)
        return status if check(status) else None

    return wait_for(probe, f"backfill {name}: {what}", timeout)


def count(status: dict[str, Any], what: str) -> int:
    return int((status.get(what) or {}).get("count", 0))


def existing_runs(cluster: Cluster, kubelet: Kubelet, dag: str) -> None:
    for d in [*EXISTING_SUCCESS, *EXISTING_FAILED]:
        name = f"{dag}-{day(d):%Y%m%d}-0000"
        if d in EXISTING_FAILED:
            kubelet.failing.add(name)
        cluster.create_run(
            name,
            {
                "dagName": dag,
                "runType": "scheduled",
                "logicalDate": rfc3339(day(d)),
                "dataIntervalStart": rfc3339(day(d)),
                "dataIntervalEnd": rfc3339(day(d + 1)),
            },
        )


def runs_by_date(cluster: Cluster, dag: str) -> dict[str, list[dict[str, Any]]]:
    dates: dict[str, list[dict[str, Any]]] = {}
    for run in cluster.runs(dag):
        dates.setdefault(run["spec"]["logicalDate"], []).append(run)
    return dates


def test_backfill_30_days_for_each_reprocess_behaviour(
    cluster: Cluster, controller: ControllerProcess
) -> None:
    behaviours = ("none", "failed", "completed")
    with Kubelet(cluster) as kubelet, Sampler(cluster) as sampler:
        for behaviour in behaviours:
            cluster.apply_dag(f"d-{behaviour}", dag_spec())
            existing_runs(cluster, kubelet, f"d-{behaviour}")
        for behaviour in behaviours:
            for d in EXISTING_FAILED:
                cluster.wait_run_state(f"d-{behaviour}-{day(d):%Y%m%d}-0000", "failed")

        # Dry run: the dates a real backfill would create or re-run, and nothing else.
        apply_backfill(cluster, "dry", "d-failed", reprocessBehavior="failed", dryRun=True)
        dry = wait_status(cluster, "dry", "Completed", lambda s: s.get("state") == "Completed")
        assert dry["wouldCreate"]["count"] == 20
        assert dry["wouldCreate"]["dates"] == [rfc3339(day(d)) for d in range(1, 21)]
        assert dry["wouldRerun"]["dates"] == [rfc3339(day(d)) for d in EXISTING_FAILED]
        assert len(cluster.runs("d-failed")) == 10

        for behaviour in behaviours:
            apply_backfill(
                cluster, f"bf-{behaviour}", f"d-{behaviour}", reprocessBehavior=behaviour
            )
        # One backfill of a DAG at a time (Airflow's AlreadyRunningBackfill).
        apply_backfill(cluster, "second", "d-none")
        refused = wait_status(cluster, "second", "refused", lambda s: s.get("state") == "Refused")
        assert refused["conditions"][0]["reason"] == "AlreadyRunningBackfill"
        wait_for(lambda: "AlreadyRunningBackfill" in cluster.event_reasons("second"), "event")
        # What a backfill is cannot change once applied.
        with pytest.raises(ApiException) as error:
            cluster.custom.patch_namespaced_custom_object(
                GROUP, VERSION, cluster.ns, "backfills", "bf-none", {"spec": {"to": "2025-02-01"}}
            )
        assert error.value.status == 422 and "immutable" in str(error.value.body)

        none = wait_status(cluster, "bf-none", "Completed", lambda s: s.get("state") == "Completed")
        assert (none["planned"], count(none, "created"), count(none, "succeeded")) == (30, 20, 20)
        assert none["skipped"] == [
            {
                "reason": "already exists",
                "count": 10,
                "dates": [rfc3339(day(d)) for d in [*EXISTING_SUCCESS, *EXISTING_FAILED]],
            }
        ]
        # failed: 20 new dates, then the failed runs re-run in place, 3 at a time.
        # completed: 20 new dates, then every finished run re-run in place.
        expected_reruns = {
            "failed": list(EXISTING_FAILED),
            "completed": [*EXISTING_SUCCESS, *EXISTING_FAILED],
        }
        for behaviour, reruns in expected_reruns.items():
            name = f"bf-{behaviour}"
            status = wait_status(
                cluster, name, "Completed", lambda s: s.get("state") == "Completed"
            )
            assert count(status, "created") == count(status, "succeeded") == 20 + len(reruns)
            assert count(status, "failed") == 0
            uid = cluster.custom.get_namespaced_custom_object(
                GROUP, VERSION, cluster.ns, "backfills", name
            )["metadata"]["uid"]
            rerun = [r for r in cluster.runs(f"d-{behaviour}") if r["spec"].get("request")]
            assert sorted(int(r["spec"]["logicalDate"][8:10]) for r in rerun) == reruns
            for run in rerun:  # cleared in place and run again: a second try, now a success
                assert (run["spec"]["runType"], run["spec"]["backfill"]) == ("backfill", name)
                assert run["spec"]["request"]["id"] == f"backfill/{name}/{uid}"
                assert run["spec"]["request"].get("tasks") is None  # the whole run
                applied = run["status"]["requests"][-1]
                assert (applied["id"], applied.get("by")) == (
                    f"backfill/{name}/{uid}",
                    f"backfill/{name}",
                )
                assert run["status"]["state"] == "success"
                assert run["status"]["tasks"][0]["try"] == 2
            if behaviour == "failed":
                assert status["skipped"][0]["dates"] == [rfc3339(day(d)) for d in EXISTING_SUCCESS]
            else:
                assert status.get("skipped", []) == []

        for behaviour in behaviours:
            dates = runs_by_date(cluster, f"d-{behaviour}")
            assert sorted(dates) == [rfc3339(day(d)) for d in range(1, DAYS + 1)]  # none missed
            assert all(len(runs) == 1 for runs in dates.values())  # none doubled
            for run in cluster.runs(f"d-{behaviour}"):
                if run["metadata"]["name"].startswith(f"d-{behaviour}-backfill-"):
                    assert run["metadata"]["ownerReferences"][0]["kind"] == "DAG"
        assert max(sampler.most.values()) <= LIMIT, sampler.most
        assert sampler.most["bf-none"] == sampler.most["bf-completed"] == LIMIT  # it was used
        assert kubelet.error is None


def test_cancel_midway_and_the_cli(cluster: Cluster, controller: ControllerProcess) -> None:
    with Kubelet(cluster) as kubelet:
        kubelet.held.add("held")
        cluster.apply_dag("held", dag_spec())
        apply_backfill(cluster, "bf-held", "held")
        wait_for(lambda: len(cluster.pods(dag="held")) == LIMIT, "3 pods of the backfill")
        cluster.custom.patch_namespaced_custom_object(
            GROUP, VERSION, cluster.ns, "backfills", "bf-held", {"spec": {"cancel": True}}
        )
        wait_status(cluster, "bf-held", "Cancelled", lambda s: s.get("state") == "Cancelled")
        kubelet.held.clear()  # the running runs finish
        status = wait_status(
            cluster, "bf-held", "its runs done", lambda s: count(s, "succeeded") == LIMIT
        )
        assert count(status, "created") == LIMIT and len(cluster.runs("held")) == LIMIT
        # Deleting a Backfill never deletes its runs.
        cluster.custom.delete_namespaced_custom_object(
            GROUP, VERSION, cluster.ns, "backfills", "bf-held"
        )
        wait_for(
            lambda: not any(b["metadata"]["name"] == "bf-held" for b in list_backfills(cluster)),
            "gone",
        )
        assert len(cluster.runs("held")) == LIMIT

        cluster.apply_dag("cli", dag_spec())
        command = [
            str(REPO / ".venv/bin/kubedag"),
            "backfill",
            "cli",
            "--from",
            "2025-01-01",
            "--to",
            "2025-01-04",
            "--max-active-runs",
            "2",
            "--run-backwards",
            "--wait",
            "--kubeconfig",
            controller.kubeconfig,
            "-n",
            cluster.ns,
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith("backfill.kubedag.io/cli-backfill-")
        assert "4/4 created" in result.stdout and "Completed" in result.stdout
        assert sorted(r["status"]["state"] for r in cluster.runs("cli")) == ["success"] * 4


def list_backfills(cluster: Cluster) -> list[dict[str, Any]]:
    return cluster.custom.list_namespaced_custom_object(GROUP, VERSION, cluster.ns, "backfills")[  # type: ignore[no-any-return]
        "items"
    ]
