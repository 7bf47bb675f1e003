"""Task pods pass the `restricted` Pod Security Standard by default; a task loosens or adds
pod settings field by field; a pod that can never start fails its try at once."""

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from kubedag.core.pod_observation import observe_pod
from kubedag.core.unrunnable import unrunnable
from kubedag.manifests import render
from kubedag.manifests.crds import dag_crd
from kubedag.models.dagrun import TaskState
from tests.unit.builders import dag_spec, pod, snapshot_of, task
from tests.unit.test_render import launch
from tests.unit.test_run_engine import Driver

RESTRICTED_POD = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


@dataclass(frozen=True)
class RenderCase:
    name: str
    fields: dict[str, Any]
    expected_spec: dict[str, Any]
    """Keys of the pod spec and their values (the container's under `container`)."""


RENDER_CASES = [
    RenderCase(
        "nothing set: restricted at the pod and the container, UID 65532",
        {},
        {"securityContext": RESTRICTED_POD, "container": {"securityContext": RESTRICTED_CONTAINER}},
    ),
    RenderCase(
        "the task's pod context merges key by key: its UID and fsGroup, the rest kept",
        {"securityContext": {"runAsUser": 1000, "fsGroup": 2000}},
        {"securityContext": {**RESTRICTED_POD, "runAsUser": 1000, "fsGroup": 2000}},
    ),
    RenderCase(
        "a container override loosening restricted is rendered as asked",
        {"containerSecurityContext": {"runAsNonRoot": False, "runAsUser": 0}},
        {
            "container": {
                "securityContext": {**RESTRICTED_CONTAINER, "runAsNonRoot": False, "runAsUser": 0}
            }
        },
    ),
    RenderCase(
        "read-only root filesystem added to the defaults",
        {"containerSecurityContext": {"readOnlyRootFilesystem": True}},
        {
            "container": {
                "securityContext": {**RESTRICTED_CONTAINER, "readOnlyRootFilesystem": True}
            }
        },
    ),
    RenderCase(
        "affinity and priority class",
        {
            "affinity": {"nodeAffinity": {"x": 1}},
            "priorityClassName": "etl-high",
        },
        {"affinity": {"nodeAffinity": {"x": 1}}, "priorityClassName": "etl-high"},
    ),
    RenderCase(
        "init containers get the restricted container default under their own",
        {
            "initContainers": [
                {"name": "wait", "image": "busybox", "securityContext": {"runAsUser": 7}}
            ]
        },
        {
            "initContainers": [
                {
                    "name": "wait",
                    "image": "busybox",
                    "securityContext": {**RESTRICTED_CONTAINER, "runAsUser": 7},
                }
            ]
        },
    ),
]


@pytest.mark.parametrize("case", RENDER_CASES, ids=lambda c: c.name)
def test_task_pod_security_and_scheduling(case: RenderCase) -> None:
    spec = render.task_pod(launch(**case.fields), namespace="etl", owner=None)["spec"]
    for key, value in case.expected_spec.items():
        if key == "container":
            for ckey, cvalue in value.items():
                assert spec["containers"][0][ckey] == cvalue
        else:
            assert spec[key] == value


def test_defaults_apply_and_a_task_replaces_them() -> None:
    snapshot = snapshot_of(
        task("a"),
        task("b", priorityClassName="own"),
        defaults={"image": "busybox", "priorityClassName": "shared", "labels": {"team": "x"}},
    )
    assert snapshot.task("a").priority_class_name == "shared"
    assert snapshot.task("b").priority_class_name == "own"
    assert snapshot.task("b").labels == {"team": "x"}


def test_pod_labels_and_annotations_are_added_never_over_kubedags() -> None:
    pod_ = render.task_pod(
        launch(labels={"team": "sales", "tier": "etl"}, annotations={"owner": "ana@example.com"}),
        namespace="etl",
        owner=None,
    )
    labels, annotations = pod_["metadata"]["labels"], pod_["metadata"]["annotations"]
    assert labels["team"] == "sales" and labels["kubedag.io/task"] == "load"
    assert annotations == {
        "owner": "ana@example.com",
        "kubedag.io/logical-date": "2026-01-01T00:00:00Z",
    }


@pytest.mark.parametrize(
    ("fields", "refused"),
    [
        ({"labels": {"kubedag.io/task": "x"}}, "kubedag's own"),
        ({"labels": {"app.kubernetes.io/managed-by": "me"}}, "kubedag's own"),
        ({"annotations": {"kubedag.io/logical-date": "x"}}, "kubedag's own"),
        ({"labels": {"team": "not a label value"}}, "pattern"),
        ({"labels": {"bad key!": "x"}}, "not valid label or annotation keys"),
        ({"securityContext": {"runAsUser": -1}}, "greater than or equal"),
        ({"containerSecurityContext": {"privilegd": True}}, "Extra inputs"),
        ({"containerSecurityContext": {"seccompProfile": {"type": "Off"}}}, "pattern"),
        ({"initContainers": [{"image": "busybox"}]}, "needs a name"),
        ({"initContainers": [{"name": "task", "image": "busybox"}]}, "needs a name"),
        ({"priorityClassName": "Not_DNS"}, "pattern"),
    ],
)
def test_bad_pod_settings_are_refused_naming_the_field(
    fields: dict[str, Any], refused: str
) -> None:
    with pytest.raises(ValidationError, match=refused):
        dag_spec(task("a", **fields))


def test_crd_refuses_kubedag_keys_with_cel() -> None:
    text = str(dag_crd())
    assert "self.all(k, !k.startsWith('kubedag.io/')" in text
    assert "c.name != 'task'" in text
    # Structural schemas allow no key patterns (the API server refuses the CRD).
    assert "patternProperties" not in text and "propertyNames" not in text


@dataclass(frozen=True)
class WaitCase:
    reason: str | None
    message: str | None
    fails: bool


WAIT_CASES = [
    WaitCase(
        "CreateContainerConfigError",
        'container has runAsNonRoot and image will run as root (pod: "x", container: task)',
        True,
    ),
    WaitCase(
        "CreateContainerConfigError",
        "container has runAsNonRoot and image has non-numeric user (app),"
        " cannot verify user is non-root",
        True,
    ),
    WaitCase(
        "CreateContainerConfigError",
        'container\'s runAsUser breaks non-root policy (pod: "x", container: task)',
        True,
    ),
    WaitCase("CreateContainerConfigError", 'secret "db" not found', False),
    WaitCase("CreateContainerConfigError", 'configmap "cfg" not found', False),
    WaitCase("InvalidImageName", 'Failed to apply default image tag "Bad:Image"', True),
    WaitCase(
        "ErrImageNeverPull", 'Container image "x" is not present with pull policy of Never', True
    ),
    WaitCase("ImagePullBackOff", "Back-off pulling image", False),
    WaitCase("ErrImagePull", "rpc error", False),
    WaitCase("ContainerCreating", None, False),
    WaitCase(None, None, False),
]


@pytest.mark.parametrize("case", WAIT_CASES, ids=lambda c: f"{c.reason}:{c.message}")
def test_which_waiting_containers_never_start(case: WaitCase) -> None:
    verdict = unrunnable(case.reason, case.message)
    assert (verdict is not None) == case.fails
    if verdict is not None:
        assert case.reason in verdict and "; " in verdict


def _waiting_pod(reason: str, message: str, *, init: bool = False) -> dict[str, Any]:
    key = "initContainerStatuses" if init else "containerStatuses"
    return {
        "metadata": {"name": "p"},
        "status": {
            "phase": "Pending",
            key: [{"state": {"waiting": {"reason": reason, "message": message}}}],
        },
    }


def test_observed_pod_says_how_to_fix_an_image_that_runs_as_root() -> None:
    seen = observe_pod(
        _waiting_pod(
            "CreateContainerConfigError", "container has runAsNonRoot and image will run as root"
        )
    )
    assert seen.unrunnable is not None and "runAsUser" in seen.unrunnable
    init = observe_pod(
        _waiting_pod("CreateContainerConfigError", "image will run as root", init=True)
    )
    assert init.unrunnable is not None
    assert observe_pod(_waiting_pod("ImagePullBackOff", "Back-off")).unrunnable is None


def test_a_routine_wait_is_not_a_reason_to_show_and_a_failing_pull_is() -> None:
    for routine in ("ContainerCreating", "PodInitializing"):
        assert observe_pod(_waiting_pod(routine, "")).reason is None
    pulling = observe_pod(_waiting_pod("ImagePullBackOff", "Back-off pulling image"))
    assert pulling.reason == "ImagePullBackOff: Back-off pulling image"
    # A container that ended before the pod's phase did (a real kubelet reports it so).
    ended: dict[str, Any] = {"terminated": {"exitCode": 0, "reason": "Completed"}}
    body = {"metadata": {"name": "p"}, "status": {"phase": "Pending"}}
    body["status"]["containerStatuses"] = [{"state": ended}]
    assert observe_pod(body).reason is None
    body["status"]["phase"] = "Succeeded"
    assert observe_pod(body).reason == "Completed"


def test_an_unrunnable_pod_fails_its_try_at_once_and_is_deleted() -> None:
    d = Driver(snapshot_of(task("a", retries=1, retryDelay="10s")))
    d.step()
    name = d.pod_of("a")
    stuck = d.step(
        {name: pod(name, "Pending", unrunnable="the pod cannot start (X); fix it")},
        after=timedelta(seconds=3),
    )
    assert stuck.pods_to_delete == [name]
    record = stuck.status.tasks[0]
    assert record.state is TaskState.UP_FOR_RETRY
    assert record.message == "the pod cannot start (X); fix it"
    assert any(e.reason == "TaskRetry" for e in stuck.events)
