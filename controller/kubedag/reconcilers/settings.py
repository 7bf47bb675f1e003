"""Controller settings: flags of `kubedag run`, with environment variables as defaults
(the Helm chart sets those)."""

import os
from dataclasses import dataclass, field
from datetime import timedelta

from kubedag.core.account_policy import AccountPolicy, parse_allowed
from kubedag.core.dag_scheduler import STATUS_BATCH_DELAY
from kubedag.core.durations import parse_duration
from kubedag.core.history import HistoryPolicy
from kubedag.core.sharding import ShardPlan
from kubedag.models.dag import PodGC


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _env_limit(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not value.isdigit():
        raise ValueError(f"{name}={value!r}: a whole number of runs (0 or more), or empty")
    return int(value)


def _env_slots(name: str) -> int | None:
    """A number of slots: unset, empty or -1 means no limit."""
    value = os.environ.get(name, "").strip()
    if value in ("", "-1"):
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{name}={value!r}: a whole number of slots (1 or more), or -1 for none")
    return int(value)


def history_from_env() -> HistoryPolicy:
    """The history defaults of DAGs that set none: unset keeps every run (the chart sets
    limits), pods are deleted once their run succeeds."""
    ttl = os.environ.get("KUBEDAG_RUN_TTL_AFTER_FINISHED", "").strip()
    pod_gc = os.environ.get("KUBEDAG_POD_GC", "").strip() or PodGC.ON_RUN_SUCCESS.value
    if pod_gc not in set(PodGC):
        allowed = ", ".join(PodGC)
        raise ValueError(f"KUBEDAG_POD_GC={pod_gc!r}: use one of {allowed}")
    try:
        ttl_span = parse_duration(ttl) if ttl else None
    except ValueError as error:
        raise ValueError(f"KUBEDAG_RUN_TTL_AFTER_FINISHED: {error}") from error
    return HistoryPolicy(
        successful_limit=_env_limit("KUBEDAG_SUCCESSFUL_RUNS_HISTORY_LIMIT"),
        failed_limit=_env_limit("KUBEDAG_FAILED_RUNS_HISTORY_LIMIT"),
        ttl=ttl_span,
        pod_gc=PodGC(pod_gc),
    )


def account_policy_from_env() -> AccountPolicy:
    """The controller's own account (KUBEDAG_SERVICE_ACCOUNT in POD_NAMESPACE, both set by
    the chart) and the accounts each namespace allows (KUBEDAG_TASK_SERVICE_ACCOUNTS)."""
    name = os.environ.get("KUBEDAG_SERVICE_ACCOUNT", "").strip()
    namespace = os.environ.get("POD_NAMESPACE", "").strip()
    try:
        allowed = parse_allowed(os.environ.get("KUBEDAG_TASK_SERVICE_ACCOUNTS", ""))
    except ValueError as error:
        raise ValueError(f"KUBEDAG_TASK_SERVICE_ACCOUNTS: {error}") from error
    return AccountPolicy(
        controller=(namespace, name) if name and namespace else None, allowed=allowed
    )


@dataclass(frozen=True)
class ControllerSettings:
    catchup_by_default: bool = field(
        default_factory=lambda: _env_bool("KUBEDAG_CATCHUP_BY_DEFAULT", True)
    )
    """Catchup for DAGs that do not set spec.catchup (Airflow's catchup_by_default)."""
    namespaces: tuple[str, ...] = field(
        default_factory=lambda: tuple(_env_list("KUBEDAG_NAMESPACES"))
    )
    """Namespaces to watch; empty means all."""
    run_workers: int = field(
        default_factory=lambda: int(os.environ.get("KUBEDAG_RUN_WORKERS", "8"))
    )
    dag_workers: int = field(
        default_factory=lambda: int(os.environ.get("KUBEDAG_DAG_WORKERS", "16"))
    )
    run_news_within: float = field(
        default_factory=lambda: float(os.environ.get("KUBEDAG_RUN_NEWS_WITHIN", "0.1"))
    )
    """Seconds news of a run (created, started, finished) may wait before its DAG's and its
    backfills' passes see it: each such pass reads every run of the DAG, so when runs change
    many times a second, one pass per interval does the work of many (docs/performance.md).
    A lone change is passed on at once."""
    pod_sweep_delay: float = field(
        default_factory=lambda: float(os.environ.get("KUBEDAG_POD_SWEEP_DELAY", "1"))
    )
    """Seconds a finished run's pods may wait for their deletion, so that the runs finishing
    meanwhile in the namespace share one DeleteCollection (core/pod_sweeps.py)."""
    dag_status_batch: timedelta = field(
        default_factory=lambda: timedelta(
            seconds=float(
                os.environ.get("KUBEDAG_DAG_STATUS_BATCH", STATUS_BATCH_DELAY.total_seconds())
            )
        )
    )
    """How long a DAG's run counts, last outcomes and schedule times may wait to be written:
    every change within it goes in one status write. Validity is written at once."""
    history: HistoryPolicy = field(default_factory=history_from_env)
    """History limits, TTL and podGC of DAGs that set none (the chart's `history` values)."""
    notify_timeout: float = field(
        default_factory=lambda: float(os.environ.get("KUBEDAG_NOTIFY_TIMEOUT", "10"))
    )
    """Seconds one attempt to send a notification may take (connect, send, answer)."""
    notify_attempts: int = field(
        default_factory=lambda: int(os.environ.get("KUBEDAG_NOTIFY_ATTEMPTS", "10"))
    )
    """Attempts per notification before it is given up (recorded as failed, with an Event)."""
    notify_backoff: float = field(
        default_factory=lambda: float(os.environ.get("KUBEDAG_NOTIFY_BACKOFF", "2"))
    )
    """Seconds before the second attempt; doubled after each failed one, at most 5 minutes
    (10 attempts: about 17 minutes)."""
    notify_concurrency: int = field(
        default_factory=lambda: int(os.environ.get("KUBEDAG_NOTIFY_CONCURRENCY", "16"))
    )
    """Notifications being sent at once (the rest wait their turn, not the runs)."""
    default_pool_slots: int | None = field(
        default_factory=lambda: _env_slots("KUBEDAG_DEFAULT_POOL_SLOTS")
    )
    """Slots of each namespace's `default-pool` where no Pool of that name sizes it; None:
    no limit (the chart sets Airflow's 128)."""
    parallelism: int | None = field(default_factory=lambda: _env_slots("KUBEDAG_PARALLELISM"))
    """Task pods queued or running at once, across every namespace (of this shard, when
    sharded: as Airflow's is per scheduler); None: no limit."""
    compact_tasks_over: int = field(
        default_factory=lambda: int(os.environ.get("KUBEDAG_COMPACT_TASKS_OVER", "1000"))
    )
    """Runs of more tasks store their records compacted (models/compact_tasks.py)."""
    accounts: AccountPolicy = field(default_factory=lambda: account_policy_from_env())
    """Which ServiceAccounts task pods may run as (core/account_policy.py)."""
    shard: str | None = field(default_factory=lambda: os.environ.get("KUBEDAG_SHARD") or None)
    """This process's shard (README "Sharding"); None: one controller for every namespace."""
    shards: tuple[str, ...] = field(default_factory=lambda: tuple(_env_list("KUBEDAG_SHARDS")))
    """Every shard of the installation, this one included."""
    shard_default: str | None = field(
        default_factory=lambda: os.environ.get("KUBEDAG_SHARD_DEFAULT") or None
    )
    """The shard that takes namespaces without the kubedag.io/shard label; None: none does."""

    @property
    def shard_plan(self) -> ShardPlan:
        return ShardPlan(self.shards, self.shard_default)
