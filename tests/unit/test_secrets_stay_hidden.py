"""A Secret's value never reaches a run's status, its events or the controller's log: task
pods read their Secrets through references (env valueFrom, envFrom, volumes) that the
kubelet resolves; the controller renders the references and never reads the values."""

import base64
import logging

import pytest

from kubedag.kube.client import core_path
from tests.unit.builders import task
from tests.unit.test_reconcilers import NS, World, pod_path, run_async, run_path

MARKER = "s3cr3t-task-env-9d41"


def test_task_env_from_a_secret_never_shows_its_value(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    encoded = base64.b64encode(MARKER.encode()).decode()

    async def scenario() -> None:
        world = World()
        world.api.put(
            core_path("secrets", NS, "warehouse"),
            {"metadata": {"name": "warehouse"}, "data": {"password": encoded}},
        )
        world.controller.start()
        from_secret = {"secretKeyRef": {"name": "warehouse", "key": "password"}}
        world.apply_dag(
            task(
                "a",
                env=[{"name": "PGPASSWORD", "valueFrom": from_secret}],
                envFrom=[{"secretRef": {"name": "warehouse"}}],
                retries=1,
                retryDelay="0s",
            )
        )
        world.create_run("r1")
        await world.settle()
        pod = world.api.objects[pod_path("r1-a-1")]
        env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
        assert env["PGPASSWORD"] == {"name": "PGPASSWORD", "valueFrom": from_secret}
        world.finish_pod("r1-a-1", "Failed")
        await world.settle()
        world.now = world.now.replace(minute=world.now.minute + 1)
        await world.controller.runs.reconcile((NS, "r1"))
        await world.settle()
        world.finish_pod("r1-a-2")
        await world.settle()
        assert world.state("r1") == "success"
        shown = repr(world.api.objects[run_path("r1")]) + repr(world.api.events) + caplog.text
        shown += repr([o for p, o in world.api.objects.items() if "/pods/" in p])
        assert MARKER not in shown and encoded not in shown
        await world.controller.stop()

    run_async(scenario)
