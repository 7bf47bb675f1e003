"""The compact form of a large run's task records (`status.compressedTasks`).

A run of more than `threshold()` tasks (1,000 unless the controller's setting says otherwise)
stores its records gzipped and base64-encoded in one string, as Argo Workflows stores a large
workflow's `status.compressedNodes`: 10,000 records of about 320 bytes each (3.2 MB, over
etcd's 1.5 MiB) take about 240 KB (docs/design.md, "Huge runs"). Only the active records
(scheduled, queued, running, up for retry, restarting, deferred), at most PLAIN_ACTIVE_LIMIT
of them, stay readable in `status.tasks`, so `kubectl get dr -o yaml` shows what runs.

The compressed part holds the other records, field by field, and where among them the plain
ones go. Readers never see this form: `DagRunStatus` expands it when it is read, and code
that reads a run's raw body calls `task_records`."""

import base64
import gzip
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_THRESHOLD = 1000
PLAIN_ACTIVE_LIMIT = 100
"""Active records kept readable in a compacted run's `status.tasks` (the first in the run's
order): enough to see what runs, few enough that the plain part stays small at any width."""
COMPRESSED_FIELD = "compressedTasks"
_ACTIVE_STATES = frozenset(
    {"scheduled", "queued", "running", "up_for_retry", "restarting", "deferred"}
)
# Level 1: 10,000 records take 240 KB in about 30 ms; level 9 saves 60 KB for 4x the time.
_LEVEL = 1

_threshold = DEFAULT_THRESHOLD

_Unpacked = tuple[tuple[int, ...], tuple[Mapping[str, Any], ...]]
# Several readers look at the same stored body (the caches, the metrics, the pass), and the
# status just written comes back on the watch: each string is decoded once, or not at all
# when this process encoded it. The records are shared: readers must not change them.
_unpacked: OrderedDict[str, _Unpacked] = OrderedDict()
_UNPACKED_KEPT = 16


def _remember(data: str, unpacked: _Unpacked) -> _Unpacked:
    _unpacked[data] = unpacked
    _unpacked.move_to_end(data)
    while len(_unpacked) > _UNPACKED_KEPT:
        _unpacked.popitem(last=False)
    return unpacked


def threshold() -> int:
    """Runs of more tasks than this store them compacted."""
    return _threshold


def set_threshold(tasks: int) -> None:
    """The controller's setting (KUBEDAG_COMPACT_TASKS_OVER); tests lower it."""
    global _threshold
    if tasks < 0:
        raise ValueError(f"the compaction threshold must be 0 or more tasks, not {tasks}")
    _threshold = tasks


def encode(records: Sequence[Mapping[str, Any]], plain_at: Sequence[int]) -> str:
    """The compressed form of the packed records, which go around the places `plain_at` of
    the run's plain records. Field by field (each field's values of every record in one
    list): like values side by side shrink 20% more than record by record, and compress
    faster. Deterministic: the same records make the same string, so a status that did not
    change compares equal to the stored one."""
    keys = sorted({key for record in records for key in record})
    payload = {
        "count": len(records),
        "plainAt": list(plain_at),
        "fields": {key: [record.get(key) for record in records] for key in keys},
    }
    text = json.dumps(payload, separators=(",", ":")).encode()
    data = base64.b64encode(gzip.compress(text, compresslevel=_LEVEL, mtime=0)).decode()
    _remember(data, (tuple(plain_at), tuple(records)))
    return data


def _decode(data: str) -> _Unpacked:
    known = _unpacked.get(data)
    if known is not None:
        _unpacked.move_to_end(data)
        return known
    payload = json.loads(gzip.decompress(base64.b64decode(data)))
    count, fields = int(payload["count"]), payload["fields"]
    records = tuple(
        {key: values[i] for key, values in fields.items() if values[i] is not None}
        for i in range(count)
    )
    return _remember(data, (tuple(payload["plainAt"]), records))


def compact(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """(plain records, compressed string or None) for a run's records in wire form: all of
    them plain while the run is at most `threshold()` tasks."""
    if len(records) <= _threshold:
        return records, None
    plain: list[dict[str, Any]] = []
    plain_at: list[int] = []
    packed: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        if len(plain) < PLAIN_ACTIVE_LIMIT and record.get("state") in _ACTIVE_STATES:
            plain.append(record)
            plain_at.append(index)
        else:
            packed.append(record)
    return plain, encode(packed, plain_at)


def expand(plain: Sequence[Mapping[str, Any]], data: str | None) -> list[Mapping[str, Any]]:
    """Every record of the run, in its order, from the two parts `compact` made."""
    if not data:
        return list(plain)
    plain_at, packed = _decode(data)
    if len(plain_at) != len(plain):
        raise ValueError(
            f"{COMPRESSED_FIELD} has {len(plain_at)} places for the {len(plain)} records"
            " of status.tasks"
        )
    merged: list[Mapping[str, Any]] = []
    rest, places = iter(packed), dict(zip(plain_at, plain, strict=True))
    for index in range(len(packed) + len(plain)):
        merged.append(places[index] if index in places else next(rest))
    return merged


def task_records(status: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every task record of a DagRun's raw status (wire form), compacted or not."""
    return expand(status.get("tasks") or (), status.get(COMPRESSED_FIELD))
