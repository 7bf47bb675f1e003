"""What the controller needs to know of a task pod, read from its status: pure parsing."""

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from kubedag.core.naming import (
    LABEL_DAG,
    LABEL_DAGRUN,
    LABEL_POOL,
    LABEL_POOL_SLOTS,
    LABEL_TASK,
)
from kubedag.core.unrunnable import unrunnable

TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
GONE = "Gone"
SKIP_EXIT_CODE = 99  # a task that exits with it is skipped (it decided there is nothing to do)
# Terminated containers that never ran: their message is the runtime's error, not the task's.
_NEVER_RAN = frozenset({"StartError", "ContainerCannotRun"})
# The kubelet's waiting reasons on every pod's way to running (its image pulled, its init
# containers run): progress, not a reason to show on the task, which would cost its run a
# status write and another to clear it. A pull that fails (ErrImagePull, ImagePullBackOff)
# or a container that cannot be made (CreateContainerConfigError) is shown.
ROUTINE_WAITS = frozenset({"ContainerCreating", "PodInitializing"})


@dataclass(frozen=True)
class PodObservation:
    name: str
    phase: str  # Pending, Running, Succeeded, Failed, Unknown, or GONE when confirmed absent
    dag: str = ""
    run: str = ""
    task: str = ""
    started: datetime | None = None
    finished: datetime | None = None
    exit_code: int | None = None
    reason: str | None = None
    output: str | None = None
    """The terminated container's termination message as the task wrote it (its output,
    see core/outputs.py); never part of `reason`."""
    deleting: bool = False  # deletion requested (deletionTimestamp set)
    pool: str = ""  # the pool label ("" for a pod from before pools: the default pool)
    pool_slots: int = 1
    unrunnable: str | None = None
    """Why the pod's container will never start, and how to fix it (core/unrunnable.py)."""
    version: int | None = None
    """The pod's resourceVersion (etcd's, an increasing integer; None if unreadable): of two
    observations of a pod, a cache keeps the newer (reconcilers/caches.py)."""

    @property
    def failure(self) -> str:
        """Why a failed pod failed, as a try's message: its exit code and reason."""
        if self.exit_code is None:
            return self.reason or "failed"
        return f"exit code {self.exit_code}" + (f" ({self.reason})" if self.reason else "")

    @property
    def active(self) -> bool:
        """Holds one of the DAG's task slots (maxActiveTasks)."""
        return self.phase not in TERMINAL_PHASES and self.phase != GONE

    @classmethod
    def gone(cls, name: str) -> "PodObservation":
        return cls(name=name, phase=GONE, reason="pod disappeared")


def has_news(known: PodObservation | None, seen: PodObservation) -> bool:
    """Whether `seen` tells a run's pass anything `known` did not: a pass reads pods only
    through their observations, so one that differs in the resourceVersion alone (the
    watch's echo of a pod the controller created, the pod's binding to a node) would
    decide what the last pass decided."""
    return known is None or replace(known, version=seen.version) != seen


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def observe_pod(pod: dict[str, Any]) -> PodObservation:
    """Summarise a pod (as the API returns it) for the run engine."""
    metadata = pod.get("metadata") or {}
    status = pod.get("status") or {}
    labels = metadata.get("labels") or {}
    phase = status.get("phase") or "Pending"
    started = finished = None
    exit_code = None
    output = None
    never: str | None = None
    reason = status.get("reason")
    message = status.get("message")
    for init in status.get("initContainerStatuses") or []:
        waiting = (init.get("state") or {}).get("waiting") or {}
        never = never or unrunnable(waiting.get("reason"), waiting.get("message"))
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        if "running" in state:
            started = _time(state["running"].get("startedAt"))
        elif "terminated" in state:
            term = state["terminated"]
            started = _time(term.get("startedAt"))
            finished = _time(term.get("finishedAt"))
            exit_code = term.get("exitCode")
            if phase != "Pending":  # ended before the kubelet's status caught up: no wait
                reason = reason or term.get("reason")
            if term.get("reason") in _NEVER_RAN:
                message = message or term.get("message")
            else:
                output = term.get("message")
        elif "waiting" in state and phase == "Pending":
            waiting = state["waiting"]
            if waiting.get("reason") not in ROUTINE_WAITS:
                reason = reason or waiting.get("reason")
                message = message or waiting.get("message")
            never = never or unrunnable(waiting.get("reason"), waiting.get("message"))
    if metadata.get("deletionTimestamp") and phase not in TERMINAL_PHASES:
        reason = reason or "Terminating"
    text = ": ".join(part for part in (reason, message) if part) or None
    return PodObservation(
        name=str(metadata.get("name", "")),
        phase=phase,
        dag=str(labels.get(LABEL_DAG, "")),
        run=str(labels.get(LABEL_DAGRUN, "")),
        task=str(labels.get(LABEL_TASK, "")),
        started=started,
        finished=finished,
        exit_code=exit_code,
        reason=text,
        output=output,
        deleting=bool(metadata.get("deletionTimestamp")),
        pool=str(labels.get(LABEL_POOL, "")),
        pool_slots=_slots(labels.get(LABEL_POOL_SLOTS)),
        unrunnable=never,
        version=_version(metadata.get("resourceVersion")),
    )


def _version(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _slots(value: Any) -> int:
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1
