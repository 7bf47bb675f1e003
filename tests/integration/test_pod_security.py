"""Task pods as kubedag renders them, against a real kube-apiserver: its Pod Security
admission (on by default) admits them in a namespace enforcing `restricted`, and refuses a
task that loosens it; the DAG CRD accepts the new pod fields and refuses kubedag's own
labels with its CEL rule. No controller is needed."""

import json
from typing import Any

import pytest
from kubernetes.client import ApiException

from kubedag.core.snapshot import build_snapshot
from kubedag.manifests import render
from kubedag.models.dag import DagSpec
from tests.integration.harness import Cluster, cluster, crds  # noqa: F401 - fixtures
from tests.unit.test_render import launch

ENFORCE = "pod-security.kubernetes.io/enforce"


def _pod(cluster: Cluster, **fields: Any) -> dict[str, Any]:
    manifest = render.task_pod(launch(**fields), namespace=cluster.ns, owner=None)
    manifest["metadata"]["name"] = f"p-{len(fields)}-{abs(hash(str(fields))) % 10**6}"
    return manifest


def test_rendered_pods_pass_restricted_and_a_loosened_one_is_refused(
    crds: None, cluster: Cluster
) -> None:
    cluster.core.patch_namespace(cluster.ns, {"metadata": {"labels": {ENFORCE: "restricted"}}})
    admitted = [
        {},
        {"securityContext": {"runAsUser": 1000, "fsGroup": 1000}},
        {"containerSecurityContext": {"readOnlyRootFilesystem": True}},
        {"initContainers": [{"name": "wait", "image": "busybox", "command": ["true"]}]},
        {"labels": {"team": "sales"}, "annotations": {"owner": "ana"}},
    ]
    for fields in admitted:
        cluster.core.create_namespaced_pod(cluster.ns, _pod(cluster, **fields))
    for fields, violation in [
        ({"containerSecurityContext": {"runAsUser": 0, "runAsNonRoot": False}}, "runAsNonRoot"),
        ({"containerSecurityContext": {"allowPrivilegeEscalation": True}}, "allowPrivilege"),
        ({"containerSecurityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}, "NET_ADMIN"),
    ]:
        with pytest.raises(ApiException) as refused:
            cluster.core.create_namespaced_pod(cluster.ns, _pod(cluster, **fields))
        message = json.loads(refused.value.body)["message"]
        assert refused.value.status == 403
        assert 'violates PodSecurity "restricted:latest"' in message and violation in message


def test_the_dag_crd_takes_pod_fields_and_refuses_kubedags_own_labels(
    crds: None, cluster: Cluster
) -> None:
    fields = {
        "containerSecurityContext": {"readOnlyRootFilesystem": True},
        "securityContext": {"runAsUser": 1000},
        "affinity": {"nodeAffinity": {}},
        "priorityClassName": "etl-high",
        "labels": {"team": "sales"},
        "annotations": {"owner": "ana"},
        "initContainers": [{"name": "wait", "image": "busybox"}],
    }
    task = {"name": "a", "image": "busybox", **fields}
    stored = cluster.apply_dag("pods", {"defaults": fields, "tasks": [task]})
    assert stored["spec"]["tasks"][0]["labels"] == {"team": "sales"}
    # What the API stored is what the controller renders.
    snapshot = build_snapshot(DagSpec.model_validate(stored["spec"]))
    assert snapshot.task("a").priority_class_name == "etl-high"
    for bad, message in [
        ({"labels": {"kubedag.io/task": "x"}}, "kubedag's own"),
        ({"annotations": {"app.kubernetes.io/managed-by": "me"}}, "kubedag's own"),
        ({"initContainers": [{"name": "task", "image": "busybox"}]}, "init container"),
        ({"initContainers": [{"name": "x"}]}, "image"),
    ]:
        with pytest.raises(ApiException) as refused:
            cluster.apply_dag("bad", {"tasks": [{"name": "a", "image": "busybox", **bad}]})
        assert refused.value.status == 422 and message in refused.value.body, refused.value.body
