"""The task's outputs: one JSON object in the termination message, as kubedag reads it (the
README's "Task outputs"), and the same line in the log."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

TERMINATION_LOG = Path("/dev/termination-log")
# kubedag refuses a message of 4,096 bytes or more; room is left for what a caller adds.
LIMIT_BYTES = 3072


def _encode(values: dict[str, Any]) -> str:
    return json.dumps(values, separators=(",", ":"), sort_keys=True, default=str)


def fit(values: dict[str, Any], limit: int = LIMIT_BYTES) -> str:
    """The outputs as JSON under `limit` bytes: the `details` members go first, then every
    member that is not a number, boolean or short string, and `truncated: true` says so."""
    text = _encode(values)
    if len(text.encode()) <= limit:
        return text

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "details"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    smaller = {**strip(values), "truncated": True}
    text = _encode(smaller)
    if len(text.encode()) <= limit:
        return text
    scalars = {
        k: v
        for k, v in smaller.items()
        if isinstance(v, bool | int | float) or (isinstance(v, str) and len(v) <= 200)
    }
    return _encode(scalars)


def destination() -> Path | None:
    """`$KUBEDAG_OUTPUTS_FILE`, else the termination log when it exists (in a task pod the
    kubelet makes it; elsewhere nothing is written beside the log line)."""
    explicit = os.environ.get("KUBEDAG_OUTPUTS_FILE")
    if explicit:
        return Path(explicit)
    return TERMINATION_LOG if TERMINATION_LOG.exists() else None


def write_outputs(values: dict[str, Any]) -> str:
    text = fit(values)
    print(f"outputs: {text}", file=sys.stdout, flush=True)
    path = destination()
    if path is not None:
        path.write_text(text)
    return text
