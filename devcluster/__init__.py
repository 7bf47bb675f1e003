"""A local Kubernetes control plane for the integration tests, built from pinned upstream sources.

``ControlPlane`` runs etcd and kube-apiserver as child processes on loopback ports; the binaries
come from ``hack/build-go-binaries.sh`` (see ``binaries.ensure_binaries``) and the certificates
from ``pki``.
"""
