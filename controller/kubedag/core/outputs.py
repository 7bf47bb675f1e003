"""Task outputs (Airflow's XCom, for small values): a task writes one JSON object to its
termination message (/dev/termination-log). Parsing it, its byte budgets and where each
output is kept (on the DagRun, or in a ConfigMap of the run when the DagRun has no room), as
pure functions."""

import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from kubedag.core.naming import MAX_NAME, fit
from kubedag.models.dagrun import TaskRecord

TASK_OUTPUT_LIMIT = 4096
"""The kubelet keeps at most 4096 bytes of a termination message and cuts the rest: a
message of this size may have been cut, so an output must stay below it."""
RUN_OUTPUTS_BUDGET = 256 * 1024
"""Bytes of a DagRun that outputs take, with a reference (`outputsIn`) reserved for each
task; later outputs go to the run's outputs ConfigMaps (see `inline_budget`)."""
TASKS_PER_OUTPUTS_CONFIG_MAP = 64
"""Tasks sharing an outputs ConfigMap: at most 64 x 4 KiB, far below its 1 MiB."""
OUTPUTS_CONFIG_MAP_INFIX = "-outputs-"

Output = dict[str, Any]
_NEVER = datetime.max.replace(tzinfo=UTC)


class OutputError(ValueError):
    """A termination message that is not a valid output: the try fails with this message."""


def _preview(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _without_null_members(value: Any) -> Any:
    """`value` with every object member whose value is null removed, at every depth (array
    items stay): the status is written with a JSON merge patch, which removes them, so an
    output reads the same before and after it is stored."""
    if isinstance(value, dict):
        return {k: _without_null_members(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_null_members(item) for item in value]
    return value


def _reject_constant(name: str) -> Any:
    raise OutputError(f"output is not JSON: {name} is not a JSON number")


def parse_output(message: str | None) -> Output | None:
    """The output a task wrote, or None when it wrote nothing (an empty or blank message).
    Raises OutputError for a message at the kubelet's limit, non-JSON, or a JSON value that
    is not an object."""
    if message is None or not message.strip():
        return None
    size = len(message.encode())
    if size >= TASK_OUTPUT_LIMIT:
        raise OutputError(
            f"output of {size} bytes reaches the 4 KiB limit of a termination message "
            f"(at most {TASK_OUTPUT_LIMIT - 1} bytes)"
        )
    try:
        value = json.loads(message, parse_constant=_reject_constant)
    except OutputError:
        raise
    except ValueError:
        raise OutputError(f"output is not JSON: {_preview(message.strip())}") from None
    if not isinstance(value, dict):
        raise OutputError(
            f"output is not a JSON object: {_preview(message.strip())} "
            f'(write an object, e.g. {{"rows": 42}})'
        )
    try:
        encode_output(value)
    except ValueError:  # a number too large for a float, e.g. 1e400
        raise OutputError(f"output has a number out of range: {_preview(message)}") from None
    result: Output = _without_null_members(value)
    return result


def take_output(record: TaskRecord, message: str | None) -> str | None:
    """Record in `record` the output of its finished try (success, skip or failure alike);
    returns the error that fails the try when the output is not valid."""
    record.outputs_in = None
    try:
        record.outputs = parse_output(message)
    except OutputError as error:
        record.outputs = None
        return str(error)
    return None


def encode_output(output: Mapping[str, Any]) -> str:
    """An output as stored (compact JSON, keys sorted as the API server sorts them), also
    the measure of its size."""
    return json.dumps(
        output, separators=(",", ":"), ensure_ascii=False, allow_nan=False, sort_keys=True
    )


def output_size(output: Mapping[str, Any]) -> int:
    return len(encode_output(output).encode())


def outputs_config_map_name(run: str, shard: int) -> str:
    """`<run>-outputs-<shard>`: the ConfigMap of the run holding outputs the DagRun has no
    room for, each task's always in the same one (its place in the DAG picks the shard)."""
    suffix = f"{OUTPUTS_CONFIG_MAP_INFIX}{shard}"
    return fit(run, MAX_NAME - len(suffix)) + suffix


def _reference_size(run: str, task_count: int) -> int:
    """Bytes an `outputsIn` reference takes in a task's record, at most."""
    last = outputs_config_map_name(run, max(task_count - 1, 0) // TASKS_PER_OUTPUTS_CONFIG_MAP)
    return len(',"outputsIn":""') + len(last)


def inline_budget(run: str, task_count: int) -> int:
    """Bytes of outputs the DagRun of a run of `task_count` tasks holds: RUN_OUTPUTS_BUDGET
    less a reference for every task, so outputs and references together never take more
    (a run of over about 5,000 tasks keeps only references: its records are many already)."""
    return max(0, RUN_OUTPUTS_BUDGET - task_count * _reference_size(run, task_count))


def place_outputs(
    run: str, records: Sequence[TaskRecord], fresh: Collection[str], keep_on_run: Collection[str]
) -> dict[str, dict[str, str]]:
    """Decide where the outputs of the tasks in `fresh` (just finished) are kept: on the
    DagRun while its outputs fit `inline_budget`, in order of finishing, else in an outputs
    ConfigMap, whose name goes to `outputsIn`. `records` are the run's, in the DAG's order
    (which picks the ConfigMap); outputs of tasks in `keep_on_run` always stay on the run.
    Returns the ConfigMaps' new entries: name -> task -> output."""
    waiting = set(fresh)
    used = sum(
        output_size(r.outputs) for r in records if r.outputs is not None and r.name not in waiting
    )
    index = {r.name: i for i, r in enumerate(records) if r.name in waiting}
    by_name = {r.name: r for r in records if r.name in waiting}
    finishing = sorted(index, key=lambda name: (by_name[name].finished or _NEVER, index[name]))
    budget = inline_budget(run, len(records))
    moved: dict[str, dict[str, str]] = {}
    for name in finishing:
        record = by_name[name]
        if record.outputs is None:
            continue
        encoded = encode_output(record.outputs)
        size = len(encoded.encode())
        if name in keep_on_run or used + size <= budget:
            used += size
            continue
        config_map = outputs_config_map_name(run, index[name] // TASKS_PER_OUTPUTS_CONFIG_MAP)
        moved.setdefault(config_map, {})[name] = encoded
        record.outputs, record.outputs_in = None, config_map
    return moved


class StoredOutputs(Mapping[str, Output]):
    """Outputs read back from the run's outputs ConfigMaps, by task name, decoded when
    asked for (a template reads few of them)."""

    def __init__(self, encoded: Mapping[str, str] | None = None) -> None:
        self._encoded = dict(encoded or {})

    def __getitem__(self, task: str) -> Output:
        value: Output = json.loads(self._encoded[task])
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._encoded)

    def __len__(self) -> int:
        return len(self._encoded)

    def adding(self, moved: Mapping[str, Mapping[str, str]]) -> "StoredOutputs":
        """These and the outputs just moved to ConfigMaps (`place_outputs`), which tasks
        launched in the same pass may read."""
        added = {task: text for outputs in moved.values() for task, text in outputs.items()}
        return StoredOutputs({**self._encoded, **added}) if added else self


NO_STORED_OUTPUTS = StoredOutputs()


def upstream_outputs(
    records: Mapping[str, TaskRecord], upstream: Sequence[str], stored: Mapping[str, Output]
) -> dict[str, Output]:
    """The outputs a task's templates see: those of its upstream tasks (transitively, in
    the DAG's order), from their records or, for those kept in a ConfigMap, from `stored`.
    Looked up by name: a launch in a wide run costs its upstream tasks, not the run."""
    found: dict[str, Output] = {}
    for name in upstream:
        record = records.get(name)
        if record is None:
            continue
        if record.outputs is not None:
            found[record.name] = record.outputs
        elif record.outputs_in and record.name in stored:
            found[record.name] = stored[record.name]
    return found
