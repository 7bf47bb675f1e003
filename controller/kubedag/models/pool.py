"""The Pool resource: a number of slots that task pods of any DAG in its namespace share
(Airflow's pools)."""

from pydantic import Field

from kubedag.models.common import Condition, KubeModel, KubeObject
from kubedag.models.dag import MAX_POOL_SLOTS

DEFAULT_POOL = "default-pool"
"""The pool of every task that names none; it needs no object (the controller's
`defaultPoolSlots` sizes it), and a Pool of this name in a namespace sizes it there."""
UNLIMITED = -1


class PoolSpec(KubeModel):
    """Desired state of a Pool."""

    slots: int = Field(ge=UNLIMITED, le=MAX_POOL_SLOTS)
    """Slots the pool's task pods share (a pod holds its task's poolSlots while queued or
    running); -1 for no limit."""
    description: str | None = Field(default=None, max_length=1024)


class PoolStatus(KubeModel):
    """Observed state of a Pool, written by the controller (at most once a second)."""

    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    used_slots: int | None = None
    """Slots held by task pods: queued plus running (Airflow's occupied slots)."""
    running_slots: int | None = None
    """Slots held by pods that are running."""
    queued_slots: int | None = None
    """Slots held by pods created but not running yet."""
    scheduled_slots: int | None = None
    """Slots that tasks ready to start wait for (Airflow's scheduled slots)."""
    open_slots: int | None = None
    """Slots free: slots - used (absent when the pool has no limit)."""


class Pool(KubeObject):
    spec: PoolSpec
    status: PoolStatus | None = None
