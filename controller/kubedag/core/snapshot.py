"""The immutable snapshot of a DAG version that its runs execute.

A run pins the snapshot that was current when it started, so editing a DAG never changes a
run in flight. Snapshots are content-addressed: every run of one DAG version shares one.
"""

import base64
import gzip
import hashlib
import json
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from pydantic import Field

from kubedag.core.durations import parse_duration
from kubedag.core.pools import Candidate
from kubedag.models.common import Duration, FreeForm, KubeModel
from kubedag.models.dag import DagSpec, EnvVar, TaskSpec, TriggerRule
from kubedag.models.notifications import Deadline, Notifiers

SNAPSHOT_KEY = "snapshot.json.gz"


class ResolvedTask(TaskSpec):
    """A task with the DAG's defaults applied and built-in defaults filled in."""

    image: str = ""  # empty for a task that runs in the controller (no pod)
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS
    retries: int = 0
    retry_delay: Duration = "5m"
    retry_exponential_backoff: bool = False
    depends_on: list[str] = Field(default_factory=list)
    depends_on_past: bool = False
    wait_for_downstream: bool = False
    ignore_first_depends_on_past: bool = False
    branch: bool = False
    short_circuit: bool = False
    ignore_downstream_trigger_rules: bool = True
    setup: bool = False
    teardown: bool = False
    on_failure_fail_dagrun: bool = False

    # Durations parsed once per snapshot, not on every pass (not fields: never serialised).
    @cached_property
    def retry_delay_span(self) -> timedelta:
        return parse_duration(self.retry_delay)

    @cached_property
    def max_retry_delay_span(self) -> timedelta | None:
        return parse_duration(self.max_retry_delay) if self.max_retry_delay else None

    @cached_property
    def execution_timeout_span(self) -> timedelta | None:
        return parse_duration(self.execution_timeout) if self.execution_timeout else None

    @cached_property
    def deadline_span(self) -> timedelta | None:
        return parse_duration(self.deadline.after) if self.deadline else None


class Snapshot(KubeModel):
    """What a run needs of its DAG version."""

    schedule: str | None = None
    timezone: str = "UTC"
    dagrun_timeout: Duration | None = None
    params: FreeForm = Field(default_factory=dict)
    tasks: list[ResolvedTask]
    outputs: list[str] | None = None
    """The datasets a successful run updates."""
    on_run_failure: Notifiers | None = None
    on_run_success: Notifiers | None = None
    deadline: Deadline | None = None
    on_deadline_miss: Notifiers | None = None

    @cached_property
    def dagrun_timeout_span(self) -> timedelta | None:
        return parse_duration(self.dagrun_timeout) if self.dagrun_timeout else None

    @cached_property
    def notifies(self) -> bool:
        """Whether any task or the run has a notifier or a deadline: a DAG without any
        skips the notification checks on every pass."""
        own = (self.on_run_failure, self.on_run_success, self.deadline, self.on_deadline_miss)
        return any(own) or any(
            t.on_failure or t.on_retry or t.on_success or t.deadline or t.on_deadline_miss
            for t in self.tasks
        )

    @cached_property
    def deadline_span(self) -> timedelta | None:
        return parse_duration(self.deadline.after) if self.deadline else None

    # A snapshot is never changed once built, and the controller keeps one object per DAG
    # version: what is derived from it is computed once. Cached properties live in the
    # instance's own dict, read at plain attribute speed (a pass at 10,000 tasks reads them
    # hundreds of thousands of times; pydantic's private attributes cost ten times more).
    @cached_property
    def task_index(self) -> dict[str, ResolvedTask]:
        return {t.name: t for t in self.tasks}

    @cached_property
    def task_positions(self) -> dict[str, int]:
        """Each task's place in the DAG's list of tasks."""
        return {t.name: i for i, t in enumerate(self.tasks)}

    @cached_property
    def canonical_text(self) -> str:
        return json.dumps(self.to_wire(), sort_keys=True, separators=(",", ":"))

    @cached_property
    def content_digest(self) -> str:
        return hashlib.sha256(self.canonical_text.encode()).hexdigest()

    @cached_property
    def candidates(self) -> dict[tuple[str, str, str, datetime, str], Candidate]:
        """Memo of the engine's slot candidates of this version's runs (core/run_engine.py:
        each is a pure function of the snapshot and the key)."""
        return {}

    def task(self, name: str) -> ResolvedTask:
        return self.task_index[name]

    def __eq__(self, other: object) -> bool:
        # By content: pydantic's own equality would compare the private memos too.
        if not isinstance(other, Snapshot):
            return NotImplemented
        return self.canonical_json() == other.canonical_json()

    def digest(self) -> str:
        return self.content_digest

    def canonical_json(self) -> str:
        return self.canonical_text

    def encode(self) -> str:
        """Gzipped, base64 for a ConfigMap's binaryData: thousands of similar tasks shrink
        well below the 1 MiB object limit."""
        packed = gzip.compress(self.canonical_json().encode(), mtime=0)
        return base64.b64encode(packed).decode()

    @classmethod
    def decode(cls, data: str) -> "Snapshot":
        return cls.model_validate_json(gzip.decompress(base64.b64decode(data)))


def _merge_env(defaults: list[EnvVar] | None, own: list[EnvVar] | None) -> list[EnvVar] | None:
    if not defaults:
        return own
    merged = {e.name: e for e in defaults}
    merged.update({e.name: e for e in own or []})
    return list(merged.values())


def resolve_task(task: TaskSpec, spec: DagSpec) -> ResolvedTask:
    """Task fields win over the DAG's defaults; unset ones fall back to built-in defaults."""
    values: dict[str, Any] = {}
    if spec.defaults is not None:
        values.update(spec.defaults.model_dump(exclude_none=True))
    values.update(task.model_dump(exclude_none=True))
    if values.get("wait_for_downstream"):  # own or from defaults
        values["depends_on_past"] = True  # as Airflow's BaseOperator forces it
    if task.teardown and task.trigger_rule is None:
        # Airflow's as_teardown() sets this rule over whatever default_args said.
        values["trigger_rule"] = TriggerRule.ALL_DONE_SETUP_SUCCESS
    env = _merge_env(spec.defaults.env if spec.defaults else None, task.env)
    if env is not None:
        values["env"] = env
    return ResolvedTask.model_validate(values)


def build_snapshot(spec: DagSpec) -> Snapshot:
    return Snapshot(
        schedule=spec.schedule,
        timezone=spec.timezone,
        dagrun_timeout=spec.dagrun_timeout,
        params=dict(spec.params or {}),
        tasks=[resolve_task(task, spec) for task in spec.tasks],
        outputs=spec.outputs or None,
        on_run_failure=spec.on_run_failure,
        on_run_success=spec.on_run_success,
        deadline=spec.deadline,
        on_deadline_miss=spec.on_deadline_miss,
    )
