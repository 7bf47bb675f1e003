"""Clear, re-run and mark against a real kube-apiserver, with the controller run as users run
it and the tests playing the kubelet: requests by `kubedag clear|mark` and by a plain patch
of `spec.request`, each applied once."""

import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

from devcluster.binaries import binary_path
from kubedag.core.dates import rfc3339
from tests.integration.depends_on_past import day_two_waits_for_day_one_until_it_is_cleared
from tests.integration.harness import (  # noqa: F401 - fixtures
    GROUP,
    REPO,
    VERSION,
    Cluster,
    ControllerProcess,
    cluster,
    controller,
    crds,
    wait_for,
)


def task(name: str, *deps: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "dependsOn": list(deps), **fields}


def kubedag(kubeconfig: str, cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(REPO / ".venv/bin/kubedag"), *args, "-n", cluster.ns, "--kubeconfig", kubeconfig]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)


def patch_request(cluster: Cluster, run: str, **request: Any) -> None:
    """`kubectl patch dagrun RUN --type merge -p '{"spec": {"request": {...}}}'`."""
    body = {"spec": {"request": {"tasks": None, **request}}}
    cluster.custom.patch_namespaced_custom_object(GROUP, VERSION, cluster.ns, "dagruns", run, body)


def applied(cluster: Cluster, run: str) -> list[dict[str, Any]]:
    return list((cluster.run(run).get("status") or {}).get("requests", []))


def tries(cluster: Cluster, run: str) -> dict[str, tuple[str, int]]:
    return {t["name"]: (t["state"], t["try"]) for t in cluster.run(run)["status"]["tasks"]}


def failed_run(cluster: Cluster, dag: str) -> str:
    """A manual run of `dag` (a -> b) whose task a failed."""
    cluster.apply_dag(dag, {"tasks": [task("a"), task("b", "a")]})
    run = f"{dag}-run"
    cluster.create_run(run, {"dagName": dag})
    cluster.finish_task(run, "a", exit_code=1)
    cluster.wait_run_state(run, "failed")
    return run


def test_clear_rerun_and_mark(
    cluster: Cluster, controller: ControllerProcess, kubeconfig: str
) -> None:
    """One controller for every scenario: each test's controller costs seconds to stop."""
    clear_a_failed_task_once(cluster, kubeconfig)
    mark_tasks_and_runs(cluster, kubeconfig)
    clear_a_running_task(cluster, kubeconfig)
    clear_runs_of_a_dag_by_date(cluster, kubeconfig)
    day_two_waits_for_day_one_until_it_is_cleared(cluster)


def clear_a_failed_task_once(cluster: Cluster, kubeconfig: str) -> None:
    run = failed_run(cluster, "fix")
    assert tries(cluster, run) == {"a": ("failed", 1), "b": ("upstream_failed", 0)}
    # The input is fixed; the user clears a and what follows it.
    result = kubedag(kubeconfig, cluster, "clear", run, "--task", "a", "--downstream")
    assert result.returncode == 0, result.stderr
    assert "cleared a, b; the run is queued again" in result.stdout
    request_id = applied(cluster, run)[0]["id"]
    assert f"request {request_id} sent" in result.stdout
    cluster.wait_pod(run, "a", try_number=2)
    assert [p.metadata.name for p in cluster.pods(dagrun=run, task="a")] == [
        f"{run}-a-1",  # the failed try's pod stays, with its logs, beside the new try
        f"{run}-a-2",
    ]
    cluster.finish_task(run, "a", try_number=2)
    cluster.finish_task(run, "b")
    done = cluster.wait_run_state(run, "success")
    assert tries(cluster, run) == {"a": ("success", 2), "b": ("success", 1)}
    # The run succeeded: podGC OnRunSuccess (the default) lets its pods go, and the failed
    # try's outcome stays in the run's status.
    wait_for(lambda: not cluster.pods(dagrun=run), "the successful run's pods collected")
    record_a = cluster.run(run)["status"]["tasks"][0]
    assert [(t["try"], t["state"], t["exitCode"]) for t in record_a["tries"]] == [(1, "failed", 1)]
    assert done["status"]["requests"][0]["tasks"] == ["a", "b"]
    assert done["status"]["observedGeneration"] == done["metadata"]["generation"]

    # The same request again, delivered with another change to the run: nothing happens.
    again = {
        "metadata": {"labels": {"touched": "yes"}},
        "spec": {"request": done["spec"]["request"]},
    }
    cluster.custom.patch_namespaced_custom_object(GROUP, VERSION, cluster.ns, "dagruns", run, again)
    # A typo is refused, naming the task and what exists (and, being later, marks the point
    # by which the controller has seen the repeat).
    patch_request(cluster, run, id="typo", action="clear", tasks=["lod"])
    wait_for(lambda: len(applied(cluster, run)) == 2, "the refused request recorded")
    refused = applied(cluster, run)[1]
    assert "no task 'lod' in this run; its tasks: a, b" in refused["refused"]
    assert cluster.wait_event_reasons(run, "RequestRefused").count("Cleared") == 1
    assert cluster.run_state(run) == "success"


def mark_tasks_and_runs(cluster: Cluster, kubeconfig: str) -> None:
    # Mark success unblocks the downstream of a failed task (rule 16).
    run = failed_run(cluster, "marks")
    result = kubedag(kubeconfig, cluster, "mark", run, "--task", "a", "success")
    assert result.returncode == 0, result.stderr
    assert "marked a success; cleared b; the run is queued again" in result.stdout
    cluster.finish_task(run, "b")
    cluster.wait_run_state(run, "success")
    assert tries(cluster, run) == {"a": ("success", 1), "b": ("success", 1)}

    # Marking a whole run failed stops its running task and skips the rest (rule 17).
    cluster.create_run("marks-stop", {"dagName": "marks"})
    pod = cluster.wait_pod("marks-stop", "a")
    cluster.set_pod(pod.metadata.name, "Running")
    cluster.wait_task_state("marks-stop", "a", "running")
    patch_request(cluster, "marks-stop", id="stop", action="markFailed")
    cluster.wait_run_state("marks-stop", "failed")
    assert tries(cluster, "marks-stop") == {"a": ("failed", 1), "b": ("skipped", 0)}
    wait_for(lambda: not cluster.pods(dagrun="marks-stop"), "the running pod stopped")


def clear_a_running_task(cluster: Cluster, kubeconfig: str) -> None:
    """Its pod is stopped, then the task runs again (rule 12)."""
    cluster.apply_dag("long", {"tasks": [task("a")]})
    cluster.create_run("long-run", {"dagName": "long"})
    first = cluster.wait_pod("long-run", "a")
    cluster.set_pod(first.metadata.name, "Running")
    cluster.wait_task_state("long-run", "a", "running")
    # The README's kubectl form that replaces the whole request.
    value = '{"id": "restart", "action": "clear"}'
    kubectl = [str(binary_path("kubectl")), "--kubeconfig", kubeconfig, "-n", cluster.ns]
    subprocess.run(
        [*kubectl, "patch", "dagrun", "long-run", "--type", "json",
         "-p", f'[{{"op": "add", "path": "/spec/request", "value": {value}}}]'],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    second = cluster.wait_pod("long-run", "a", try_number=2)
    assert [p.metadata.name for p in cluster.pods(dagrun="long-run")] == [second.metadata.name]
    cluster.finish_task("long-run", "a", try_number=2)
    cluster.wait_run_state("long-run", "success")


def clear_runs_of_a_dag_by_date(cluster: Cluster, kubeconfig: str) -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=3)
    cluster.apply_dag(
        "daily",
        {"schedule": "@daily", "startDate": rfc3339(start), "maxActiveRuns": 1,
         "tasks": [task("a")]},
    )  # fmt: skip
    runs = [f"daily-{(start + timedelta(days=i)):%Y%m%d}-0000" for i in range(3)]
    for run, exit_code in zip(runs, (1, 0, 1), strict=True):  # one at a time: maxActiveRuns 1
        cluster.finish_task(run, "a", exit_code=exit_code)
        cluster.wait_run_state(run, "failed" if exit_code else "success")
    # The first two days, failed tasks only: the first run again; the second had none.
    window = ["--from", rfc3339(start), "--to", rfc3339(start + timedelta(days=1))]
    preview = kubedag(kubeconfig, cluster, "clear", "daily", "--only-failed", *window, "--dry-run")
    assert preview.returncode == 0, preview.stderr
    assert f"{runs[0]}: dry run: clear request" in preview.stdout
    assert "cleared a; the run is queued again" in preview.stdout
    assert cluster.run_state(runs[0]) == "failed" and applied(cluster, runs[0]) == []
    result = kubedag(kubeconfig, cluster, "clear", "daily", "--only-failed", *window)
    assert result.returncode == 0, result.stderr
    assert f"{runs[0]}: clear request" in result.stdout and "cleared a" in result.stdout
    assert f"{runs[1]}: clear request" in result.stdout and "changed nothing" in result.stdout
    assert runs[2] not in result.stdout
    cluster.finish_task(runs[0], "a", try_number=2)
    cluster.wait_run_state(runs[0], "success")

    # A cleared run waits for its turn under maxActiveRuns: another run is running.
    cluster.create_run("daily-manual", {"dagName": "daily"})
    cluster.wait_run_state("daily-manual", "running")
    patch_request(cluster, runs[2], id="again", action="clear")
    cluster.wait_run_state(runs[2], "queued")
    assert cluster.pods(dagrun=runs[2], task="a", **{"try": "2"}) == []
    cluster.finish_task("daily-manual", "a")
    cluster.finish_task(runs[2], "a", try_number=2)
    cluster.wait_run_state(runs[2], "success")
