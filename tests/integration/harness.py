"""What the controller integration tests share: the CRDs installed in the real API server,
the controller running as users run it (`kubedag run`, a separate process), a stand-in
kubelet that writes pod status through the API, and waiting helpers."""

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import pytest
import yaml
from kubernetes import client
from kubernetes.client import ApiException

from devcluster.wait import wait_for
from kubedag.core.dates import rfc3339
from kubedag.models.compact_tasks import task_records

REPO = Path(__file__).resolve().parents[2]
GROUP, VERSION = "kubedag.io", "v1alpha1"


@pytest.fixture(scope="session")
def crds(api_client: client.ApiClient) -> None:
    """The CRDs from crds/ (what the chart ships), established in the API server."""
    install_crds(api_client)


def install_crds(api_client: client.ApiClient) -> None:
    """Create (or replace) the CRDs from crds/ and wait until they are served."""
    ext = client.ApiextensionsV1Api(api_client)
    for path in sorted((REPO / "crds").glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        try:
            ext.create_custom_resource_definition(body)
        except ApiException as error:
            if error.status != 409:
                raise
            existing = ext.read_custom_resource_definition(body["metadata"]["name"])
            body["metadata"]["resourceVersion"] = existing.metadata.resource_version
            ext.replace_custom_resource_definition(body["metadata"]["name"], body)

        def established(name: str = body["metadata"]["name"]) -> bool:
            crd = ext.read_custom_resource_definition(name)
            return any(
                c.type == "Established" and c.status == "True"
                for c in (crd.status.conditions or [])
            )

        wait_for(established, f"CRD {body['metadata']['name']} established")
    # Discovery of new resources lags establishment by a moment.
    custom = client.CustomObjectsApi(api_client)
    wait_for(lambda: _listable(custom), "DAG resources served")


def _listable(custom: client.CustomObjectsApi) -> bool:
    try:
        custom.list_namespaced_custom_object(GROUP, VERSION, "default", "dags")
        custom.list_namespaced_custom_object(GROUP, VERSION, "default", "dagruns")
        return True
    except ApiException:
        return False


class ControllerProcess:
    """`kubedag run` against the test API server, watching one namespace."""

    def __init__(
        self,
        kubeconfig: str,
        namespace: str,
        log_dir: Path,
        flags: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """`flags` replace `-n namespace` (e.g. a shard's flags); `env` adds variables."""
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.log_dir = log_dir
        self.flags = flags if flags is not None else ["-n", namespace]
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.log_dir / f"controller-{self.starts}.log").open("wb")
        command = [
            str(REPO / ".venv/bin/kubedag"),
            "run",
            "--kubeconfig",
            self.kubeconfig,
            *self.flags,
            "--log-level",
            "debug",
        ]
        self.process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Stop abruptly, as a crash or an OOM kill would."""
        self.stop(signal.SIGKILL)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("*.log")))

    def assert_alive(self) -> None:
        assert self.process is not None and self.process.poll() is None, self.logs()[-5000:]


@pytest.fixture
def controller(
    crds: None, kubeconfig: str, namespace: str, tmp_path: Path
) -> Iterator[ControllerProcess]:
    yield from running_controller(ControllerProcess(kubeconfig, namespace, tmp_path))


def running_controller(process: ControllerProcess) -> Iterator[ControllerProcess]:
    """A fixture's body: the controller started, checked alive at the end, its logs printed
    (pytest shows them on failure)."""
    process.start()
    try:
        yield process
        process.assert_alive()
    finally:
        process.stop()
        print(f"--- controller logs ({process.log_dir}) ---\n{process.logs()[-20000:]}")


class Cluster:
    """Typed-enough access to kubedag's objects, pods and events in one namespace."""

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self.ns = namespace
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.api_client = api_client

    # DAGs and runs
    def apply_dag(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "DAG",
            "metadata": {"name": name},
            "spec": spec,
        }
        return self.custom.create_namespaced_custom_object(GROUP, VERSION, self.ns, "dags", body)  # type: ignore[no-any-return]

    def patch_dag(self, name: str, spec: dict[str, Any]) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.ns, "dags", name, {"spec": spec}
        )

    def dag(self, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, self.ns, "dags", name)  # type: ignore[no-any-return]

    def create_run(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "DagRun",
            "metadata": {"name": name},
            "spec": spec,
        }
        return self.custom.create_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, self.ns, "dagruns", body
        )

    def runs(self, dag: str | None = None) -> list[dict[str, Any]]:
        items = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.ns, "dagruns")[
            "items"
        ]
        runs = [r for r in items if dag is None or r["spec"]["dagName"] == dag]
        return sorted(runs, key=lambda r: r["metadata"]["name"])

    def run(self, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, self.ns, "dagruns", name)  # type: ignore[no-any-return]

    def run_state(self, name: str) -> str | None:
        return (self.run(name).get("status") or {}).get("state")

    def task_states(self, run: str) -> dict[str, str]:
        records = task_records(self.run(run).get("status") or {})
        return {t["name"]: t.get("state", "none") for t in records}

    def wait_run_state(self, name: str, state: str, timeout: float = 60) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            try:
                run = self.run(name)
            except ApiException as error:
                if error.status == 404:  # a run the controller is about to create
                    return None
                raise
            return run if (run.get("status") or {}).get("state") == state else None

        return wait_for(check, f"run {name} {state}", timeout)

    def wait_task_state(self, run: str, task: str, state: str, timeout: float = 60) -> None:
        wait_for(
            lambda: self.task_states(run).get(task) == state,
            f"task {task} of {run} {state} (now {self.task_states(run)})",
            timeout,
        )

    # Pods: the stand-in kubelet
    def pods(self, **labels: str) -> list[client.V1Pod]:
        selector = ",".join(f"kubedag.io/{k}={v}" for k, v in labels.items())
        pods = self.core.list_namespaced_pod(self.ns, label_selector=selector).items
        return sorted(pods, key=lambda p: p.metadata.name)

    def wait_pod(
        self, run: str, task: str, try_number: int = 1, timeout: float = 60
    ) -> client.V1Pod:
        def check() -> client.V1Pod | None:
            pods = self.pods(dagrun=run, task=task, **{"try": str(try_number)})
            return pods[0] if pods else None

        return wait_for(check, f"pod of {run}/{task} try {try_number}", timeout)

    def set_pod(
        self, name: str, phase: str, exit_code: int | None = None, reason: str = ""
    ) -> None:
        """Write pod status as a kubelet would: phase and the container's state."""
        now = rfc3339(datetime.now(UTC).replace(microsecond=0))
        state: dict[str, Any]
        if phase == "Running":
            state = {"running": {"startedAt": now}}
        elif phase in ("Succeeded", "Failed"):
            state = {
                "terminated": {
                    "exitCode": exit_code if exit_code is not None else 0,
                    "reason": reason or ("Completed" if phase == "Succeeded" else "Error"),
                    "startedAt": now,
                    "finishedAt": now,
                }
            }
        else:
            state = {"waiting": {"reason": reason or "ContainerCreating"}}
        status = {
            "phase": phase,
            "containerStatuses": [
                {
                    "name": "task",
                    "image": "busybox",
                    "imageID": "",
                    "ready": phase == "Running",
                    "restartCount": 0,
                    "state": state,
                }
            ],
        }
        self.core.patch_namespaced_pod_status(name, self.ns, {"status": status})

    def finish_task(self, run: str, task: str, exit_code: int = 0, try_number: int = 1) -> None:
        pod = self.wait_pod(run, task, try_number)
        self.set_pod(pod.metadata.name, "Succeeded" if exit_code == 0 else "Failed", exit_code)

    def events(self, name: str) -> list[client.CoreV1Event]:
        return [
            e
            for e in self.core.list_namespaced_event(self.ns).items
            if e.involved_object.name == name
        ]

    def event_reasons(self, name: str) -> list[str]:
        return [e.reason for e in self.events(name)]

    def wait_event_reasons(self, name: str, *expected: str) -> list[str]:
        """The reasons of `name`'s events once all of `expected` are among them: the
        controller posts a pass's events after its status write, in the background."""

        def all_there() -> list[str] | None:
            reasons = self.event_reasons(name)
            return reasons if set(expected) <= set(reasons) else None

        return wait_for(all_there, f"events {', '.join(expected)} of {name}")


class Background:
    """Work on the cluster on a thread while a `with` block runs (a recorder, a stand-in
    kubelet): subclasses implement `loop`, which returns once `stopping()` is true."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.loop, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def stopping(self, wait: float = 0.0) -> bool:
        return self._stop.wait(wait)

    def loop(self) -> None:
        raise NotImplementedError


@pytest.fixture
def cluster(api_client: client.ApiClient, namespace: str) -> Cluster:
    return Cluster(api_client, namespace)
