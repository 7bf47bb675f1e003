"""`kubedag test` against a real kube-apiserver with the controller and a stand-in kubelet:
it exits with the run's outcome and leaves no run behind (also when interrupted), `--task`
runs only that task; shell completion gives the cluster's names; kubectl finds the plugin
and completes its commands."""

import os
import signal
import subprocess
from typing import Any

import pytest

from devcluster.binaries import binary_path
from kubedag import cli
from kubedag.cli import build_parser
from kubedag.commands.completion import candidates, live_names
from tests.integration.harness import (  # noqa: F401 - fixtures
    REPO,
    Cluster,
    ControllerProcess,
    cluster,
    controller,
    crds,
    wait_for,
)
from tests.integration.test_backfill import Kubelet

BIN = REPO / ".venv/bin"


def task(name: str, *deps: str) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "dependsOn": list(deps)}


def kubedag_test(
    kubeconfig: str, cluster: Cluster, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    """`kubedag test ...` in this process (a subprocess would add its interpreter's start)."""
    code = cli.main(["test", *args, "-n", cluster.ns, "--kubeconfig", kubeconfig])
    return code, capsys.readouterr().out


def tried(output: str) -> set[str]:
    """The tasks whose try's log the command read (here a note that there is none: the
    stand-in kubelet serves no logs)."""
    return {line[1:].split(" #")[0] for line in output.splitlines() if line.startswith("[")}


def test_kubedag_test_and_completion(
    cluster: Cluster,
    controller: ControllerProcess,
    kubeconfig: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The schedule starts far ahead: only the tests make runs.
    cluster.apply_dag(
        "etl",
        {"schedule": "@daily", "startDate": "2030-01-01", "tasks": [task("a"), task("b", "a")]},
    )
    with Kubelet(cluster) as kubelet:
        code, out = kubedag_test(kubeconfig, cluster, capsys, "etl", "--logical-date", "2026-01-01")
        assert code == 0, out
        assert "test run of DAG etl: success" in out
        assert "dagrun.kubedag.io/etl-test-20260101-0000 deleted" in out
        assert tried(out) == {"a", "b"}, out
        assert cluster.runs() == []

        # --task: that task alone (its upstream taken as met), and the task's outcome
        kubelet.failing.add("etl-test-20260102-0000")
        code, out = kubedag_test(
            kubeconfig, cluster, capsys, "etl", "--logical-date", "2026-01-02", "--task", "b"
        )
        assert code == 1, out
        assert "task b of DAG etl: failed" in out
        assert tried(out) == {"b"}, out
        assert cluster.runs() == []
        assert "lastFailedRun" not in (cluster.dag("etl").get("status") or {})

        kubelet.held.add("etl")  # the test runs until interrupted
        command = [
            str(BIN / "kubedag"),
            "test",
            "etl",
            "-n",
            cluster.ns,
            "--kubeconfig",
            kubeconfig,
        ]
        interrupted = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # SIGABRT prints every stack
        )
        runs = wait_for(lambda: cluster.runs() or None, "the test run")
        cluster.wait_pod(runs[0]["metadata"]["name"], "a")
        interrupted.send_signal(signal.SIGINT)
        try:
            out, _ = interrupted.communicate(timeout=90)  # a loaded machine starts slowly
        except subprocess.TimeoutExpired:
            interrupted.send_signal(signal.SIGABRT)
            out, _ = interrupted.communicate(timeout=30)
            raise AssertionError(f"kubedag test did not stop on SIGINT:\n{out}") from None
        assert interrupted.returncode == 130, out
        assert cluster.runs() == []

    # Completion: the cluster's names, in the namespace the command line names.
    cluster.create_run("etl-manual", {"dagName": "etl"})
    monkeypatch.setenv("KUBEDAG_COMPLETION_TIMEOUT", "60")  # a loaded test machine
    parser, names = build_parser(), live_names(kubeconfig)
    assert candidates(parser, ["test", "-n", cluster.ns, "e"], names) == ["etl"]
    assert candidates(parser, ["logs", "--namespace", cluster.ns, ""], names) == ["etl-manual"]
    assert cluster.ns in candidates(parser, ["logs", "-n", "t-"], names)
    assert candidates(parser, ["logs", "-n", "elsewhere", ""], names) == []
    script = (
        f"source <({BIN}/kubedag completion bash); COMP_WORDS=(kubedag trigger -n {cluster.ns} '')"
        "; COMP_CWORD=4; _kubedag_complete; printf '%s\\n' \"${COMPREPLY[@]}\""
    )
    env = {**os.environ, "KUBECONFIG": kubeconfig, "PATH": f"{BIN}:{os.environ['PATH']}"}
    shell = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env)
    assert shell.stdout.split() == ["etl"], shell.stderr


def test_kubectl_finds_the_plugin() -> None:
    kubectl = str(binary_path("kubectl"))
    env = {**os.environ, "PATH": f"{BIN}:/usr/bin:/bin"}
    listed = subprocess.run(
        [kubectl, "plugin", "list"], capture_output=True, text=True, env=env, timeout=90
    )
    assert f"{BIN}/kubectl-kubedag" in listed.stdout, listed.stdout + listed.stderr
    # kubectl's own completion runs kubectl_complete-kubedag for `kubectl kubedag <TAB>`
    completed = subprocess.run(
        [kubectl, "__complete", "kubedag", "lo"], capture_output=True, text=True, env=env
    )
    assert completed.stdout.split() == ["logs", ":4"], completed.stdout + completed.stderr
