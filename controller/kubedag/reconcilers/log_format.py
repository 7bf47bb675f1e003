"""The controller's log lines: plain text (the default) or one JSON object a line, each with
the namespace, DAG, run, backfill and task it concerns where one applies.

Which objects a line concerns is a context variable: the work queues set it for each pass
(the DAG of a DAG pass; the run and its DAG of a run pass; the backfill and its DAG), and
asyncio copies it into the tasks a pass starts (pod creations, background requests), so a
line logged anywhere below a pass carries it without being passed along. A line about one
task names it with `extra={"task": name}`. kopf's own lines carry the object they concern
(`k8s_ref`), which fills the same fields."""

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass(frozen=True)
class LogScope:
    namespace: str | None = None
    dag: str | None = None
    run: str | None = None
    backfill: str | None = None
    task: str | None = None

    def fields(self) -> dict[str, str]:
        return {name: value for name, value in vars(self).items() if value}


NO_SCOPE = LogScope()
SCOPE: ContextVar[LogScope] = ContextVar("kubedag_log_scope", default=NO_SCOPE)


@contextmanager
def scoped(**fields: str) -> Iterator[LogScope]:
    """The lines logged inside also concern these objects (added to the current scope)."""
    token = SCOPE.set(replace(SCOPE.get(), **fields))
    try:
        yield SCOPE.get()
    finally:
        SCOPE.reset(token)


# kopf's object references: kind -> the field it fills.
_KOPF_KINDS = {"DAG": "dag", "DagRun": "run", "Backfill": "backfill", "Pod": "pod"}
_RECORD_FIELDS = ("namespace", "dag", "run", "backfill", "task", "pod")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (RFC 3339, UTC, milliseconds), level, logger, message,
    the objects the line concerns, and the traceback (`exception`) if any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(SCOPE.get().fields())
        reference = getattr(record, "k8s_ref", None)
        if isinstance(reference, dict):
            if reference.get("namespace"):
                line["namespace"] = reference["namespace"]
            field = _KOPF_KINDS.get(str(reference.get("kind")))
            if field and reference.get("name"):
                line[field] = reference["name"]
        for name in _RECORD_FIELDS:  # given with `extra=`: the most specific
            value = record.__dict__.get(name)
            if isinstance(value, str) and value:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(level: str, log_format: str) -> None:
    """The root logger's one handler (stderr) in the chosen format; kopf's lines, and with
    JSON Python's warnings, included."""
    if log_format not in FORMATS:
        raise ValueError(f"log format {log_format!r}: use one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler()
    json_lines = log_format == "json"
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
    # Python's warnings as log lines too, so no line of a JSON log is plain text.
    logging.captureWarnings(json_lines)
