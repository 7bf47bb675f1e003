"""Persistent volumes on the local cluster: kube-controller-manager's own host-path provisioner.

A PersistentVolumeClaim needs something that makes volumes. The local cluster uses the one
Kubernetes ships for single-node development clusters (``hack/local-up-cluster.sh`` turns it on
the same way): ``kube-controller-manager --enable-hostpath-provisioner`` provisions a claim of
a StorageClass whose provisioner is ``kubernetes.io/host-path`` as a ``hostPath`` volume in a
new folder under ``/tmp/hostpath_pv/`` (a path compiled into it), and deletes that folder when
the claim goes (reclaim policy ``Delete``). No extra binary, image or pod; it works here because
the controller manager and the kubelet share one host.

The StorageClass is named ``standard`` and marked the default, as kind's (rancher's
local-path-provisioner) is, so a claim that names no class, like the warehouse's, binds on
both. New folders are ``0750 root``: a pod that runs as another user makes its data folder
its own first (the warehouse's PostgreSQL does, in an init container).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from kubernetes import client as k8s
from kubernetes.client import ApiException

STORAGE_CLASS = "standard"
PROVISIONER = "kubernetes.io/host-path"
VOLUMES_ROOT = Path("/tmp/hostpath_pv")
"""Where kube-controller-manager makes each volume's folder (not configurable upstream)."""
CONTROLLER_MANAGER_FLAGS = ("--enable-hostpath-provisioner=true",)
_DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"


def storage_class() -> k8s.V1StorageClass:
    """The default StorageClass, served by the controller manager's host-path provisioner."""
    return k8s.V1StorageClass(
        metadata=k8s.V1ObjectMeta(
            name=STORAGE_CLASS,
            annotations={_DEFAULT_CLASS_ANNOTATION: "true"},
            labels={"app.kubernetes.io/managed-by": "devcluster"},
        ),
        provisioner=PROVISIONER,
        reclaim_policy="Delete",
        volume_binding_mode="Immediate",
    )


def ensure_storage_class(api: k8s.ApiClient) -> None:
    """Create the default StorageClass; one that exists already is left as it is."""
    try:
        k8s.StorageV1Api(api).create_storage_class(storage_class())
    except ApiException as error:
        if error.status != 409:
            raise


def remove_volumes() -> None:
    """Delete the volumes' folders (the cluster's state is gone, so are its claims)."""
    shutil.rmtree(VOLUMES_ROOT, ignore_errors=True)
