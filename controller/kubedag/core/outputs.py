"""Task outputs (Airflow's XCom, for small values): a task writes one JSON object to its
termination message (/dev/termination-log). Parsing it and its byte budgets, as pure
functions."""

import json
from typing import Any

from kubedag.models.dagrun import TaskRecord

TASK_OUTPUT_LIMIT = 4096
"""The kubelet keeps at most 4096 bytes of a termination message and cuts the rest: a
message of this size may have been cut, so an output must stay below it."""


class OutputError(ValueError):
    """A termination message that is not a valid output: the try fails with this message."""


def _preview(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def parse_output(message: str | None) -> dict[str, Any] | None:
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
        value = json.loads(message)
    except ValueError:
        raise OutputError(f"output is not JSON: {_preview(message.strip())}") from None
    if not isinstance(value, dict):
        raise OutputError(
            f"output is not a JSON object: {_preview(message.strip())} "
            f'(write an object, e.g. {{"rows": 42}})'
        )
    return value


def take_output(record: TaskRecord, message: str | None) -> str | None:
    """Record in `record` the output of its finished try (success, skip or failure alike);
    returns the error that fails the try when the output is not valid."""
    try:
        record.outputs = parse_output(message)
    except OutputError as error:
        record.outputs = None
        return str(error)
    return None
