"""Deterministic names for the objects kubedag creates, so every create is idempotent: a
repeated create meets AlreadyExists instead of making a duplicate."""

import hashlib
import re
from datetime import datetime

from kubedag.core.dates import utc
from kubedag.models.dagrun import RunType

MAX_NAME = 253  # DNS subdomain: DagRun and ConfigMap names
MAX_LABEL = 63  # DNS label and label values: pod names (their hostnames) and label values

LABEL_DAG = "kubedag.io/dag"
LABEL_DAGRUN = "kubedag.io/dagrun"
LABEL_TASK = "kubedag.io/task"
LABEL_TRY = "kubedag.io/try"
LABEL_POOL = "kubedag.io/pool"  # the Pool whose slots the pod holds (its label value)
LABEL_POOL_SLOTS = "kubedag.io/pool-slots"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "kubedag"  # the value of LABEL_MANAGED_BY on every object kubedag creates


def _digest(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def fit(name: str, limit: int) -> str:
    """`name` if it fits, else a prefix of it plus a hash of the whole (still unique)."""
    if len(name) <= limit:
        return name
    digest = _digest(name)
    return f"{name[: limit - len(digest) - 1].rstrip('-.')}-{digest}"


def label_value(name: str) -> str:
    return fit(name, MAX_LABEL)


def _stamp(moment: datetime) -> str:
    moment = utc(moment)
    stamp = moment.strftime("%Y%m%d-%H%M")
    if moment.second or moment.microsecond:
        stamp += moment.strftime("%S")
    if moment.microsecond:
        stamp += f"{moment.microsecond:06d}"
    return stamp


# Run types whose value is not a DNS label.
_RUN_INFIX = {RunType.DATASET_TRIGGERED: "dataset"}


def dagrun_name(dag: str, run_type: RunType, logical_date: datetime) -> str:
    """`daily-sales-20260101-0000` for a scheduled run; manual and backfill runs say so."""
    infix = "" if run_type is RunType.SCHEDULED else f"-{_RUN_INFIX.get(run_type, run_type.value)}"
    suffix = f"{infix}-{_stamp(logical_date)}"
    return fit(dag, MAX_NAME - len(suffix)) + suffix


def pod_name(run: str, task: str, try_number: int) -> str:
    """`<run>-<task>-<try>`, shortened with a hash so it stays a valid hostname."""
    suffix = f"-{try_number}"
    return fit(f"{run}-{task}", MAX_LABEL - len(suffix)) + suffix


def snapshot_name(dag: str, content_digest: str) -> str:
    suffix = f"-v{content_digest[:10]}"
    return fit(dag, MAX_NAME - len(suffix)) + suffix


def dataset_name(uri: str) -> str:
    """The Dataset object of a dataset URI: its letters and digits, lower case, joined by
    `-`, then a hash of the whole URI (two URIs that differ only in punctuation or case get
    two objects): `postgres-warehouse-raw-data-events-1a2b3c4d`."""
    slug = "-".join(re.findall(r"[a-z0-9]+", uri.lower())) or "dataset"
    digest = _digest(uri)
    return f"{slug[: MAX_NAME - len(digest) - 1].strip('-')}-{digest}"
