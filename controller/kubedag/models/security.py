"""Security settings of task pods: the pod's and the container's security contexts (core/v1
PodSecurityContext and SecurityContext, the fields kubedag checks typed, the rest free-form)
and the pod labels and annotations a task adds, which never touch kubedag's own."""

import re
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field

from kubedag.models.common import FreeForm, KubeModel

OWN_PREFIX = "kubedag.io/"
# Kubernetes label values: at most 63 characters, alphanumeric at both ends.
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
# A qualified name, optionally prefixed by a DNS subdomain (label and annotation keys).
QUALIFIED_NAME_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
MAX_POD_METADATA_ENTRIES = 64


def _not_kubedag_keys(values: dict[str, str]) -> dict[str, str]:
    """Keys are checked here and kubedag's own also by the CRD's CEL rule (structural schemas
    allow no key pattern; the API server checks the keys again when it creates the pod)."""
    own = sorted(
        k for k in values if k.startswith(OWN_PREFIX) or k == "app.kubernetes.io/managed-by"
    )
    if own:
        raise ValueError(f"keys {own} are kubedag's own; choose keys outside {OWN_PREFIX}")
    bad = sorted(k for k in values if len(k) > 316 or not re.match(QUALIFIED_NAME_PATTERN, k))
    if bad:
        raise ValueError(
            f"keys {bad} are not valid label or annotation keys (an optional DNS subdomain"
            " prefix and `/`, then a name of at most 63 alphanumerics, `-`, `_` or `.`)"
        )
    return values


def _metadata_rules(what: str) -> dict[str, object]:
    return {
        "maxProperties": MAX_POD_METADATA_ENTRIES,
        "x-kubernetes-validations": [
            {
                "rule": "self.all(k, !k.startsWith('kubedag.io/')"
                " && k != 'app.kubernetes.io/managed-by')",
                "message": f"pod {what} under kubedag.io/ and app.kubernetes.io/managed-by are"
                " kubedag's own",
            }
        ],
    }


PodLabels = Annotated[
    dict[str, Annotated[str, Field(max_length=63, pattern=LABEL_VALUE_PATTERN)]],
    Field(json_schema_extra=_metadata_rules("labels")),
    AfterValidator(_not_kubedag_keys),
]
PodAnnotations = Annotated[
    dict[str, Annotated[str, Field(max_length=65536)]],
    Field(json_schema_extra=_metadata_rules("annotations")),
    AfterValidator(_not_kubedag_keys),
]


class SeccompProfile(KubeModel):
    type: Annotated[str, Field(pattern=r"^(RuntimeDefault|Localhost|Unconfined)$")]
    localhost_profile: str | None = None


class Capabilities(KubeModel):
    add: list[str] | None = None
    drop: list[str] | None = None


class _IdentityContext(KubeModel):
    """Fields both security contexts share."""

    model_config = ConfigDict(extra="forbid")

    run_as_user: int | None = Field(default=None, ge=0, le=2**31 - 1)
    """UID the processes run as; kubedag's default is 65532 (non-root)."""
    run_as_group: int | None = Field(default=None, ge=0, le=2**31 - 1)
    run_as_non_root: bool | None = None
    """The kubelet refuses to start a container that would run as UID 0."""
    seccomp_profile: SeccompProfile | None = None
    se_linux_options: FreeForm | None = None
    windows_options: FreeForm | None = None
    app_armor_profile: FreeForm | None = None


class PodSecurityContext(_IdentityContext):
    """core/v1 PodSecurityContext, merged key by key over kubedag's restricted default."""

    fs_group: int | None = Field(default=None, ge=0, le=2**31 - 1)
    fs_group_change_policy: str | None = None
    supplemental_groups: list[int] | None = None
    supplemental_groups_policy: str | None = None
    sysctls: list[FreeForm] | None = None
    se_linux_change_policy: str | None = None


class ContainerSecurityContext(_IdentityContext):
    """core/v1 SecurityContext of the task's container, merged key by key over kubedag's
    restricted default."""

    allow_privilege_escalation: bool | None = None
    capabilities: Capabilities | None = None
    privileged: bool | None = None
    proc_mount: str | None = None
    read_only_root_filesystem: bool | None = None
