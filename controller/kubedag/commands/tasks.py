"""`kubedag tasks RUN [--state S]... [-o json|yaml]`: every task's record of a run, read
through the model, so a large run's compacted records (status.compressedTasks) are shown
like any other."""

import argparse
import asyncio
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from kubedag.commands.common import add_connection_flags, connect, read_run
from kubedag.commands.output import add_output_flag, dump
from kubedag.core.durations import format_duration
from kubedag.models.dagrun import DagRun, TaskRecord, TaskState

COLUMNS = ("TASK", "STATE", "TRY", "STARTED", "DURATION", "EXIT", "POD / MESSAGE")


def chosen(run: DagRun, states: Collection[TaskState]) -> list[TaskRecord]:
    """The run's records in its task order, only those in `states` if any are named."""
    return [r for r in run.status.tasks if not states or r.state in states]


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def row(record: TaskRecord) -> tuple[str, ...]:
    duration = "-"
    if record.started and record.finished:
        duration = format_duration(record.finished - record.started)
    detail = record.message or record.pod or ""
    return (
        record.name,
        record.state.value,
        str(record.try_number),
        _time(record.started),
        duration,
        "-" if record.exit_code is None else str(record.exit_code),
        detail,
    )


def format_table(records: Sequence[TaskRecord], total: int) -> str:
    """One line per record under a header, then how many of the run's tasks were shown."""
    rows = [COLUMNS, *(row(r) for r in records)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
    lines = [
        "  ".join([*(cell.ljust(w) for cell, w in zip(r, widths, strict=False)), r[-1]]).rstrip()
        for r in rows
    ]
    return "\n".join([*lines, f"{len(records)} of {total} tasks"])


def add_parser(sub: Any) -> None:
    p = sub.add_parser("tasks", help="print every task's record of a run")
    p.add_argument("run", metavar="RUN")
    p.add_argument(
        "--state",
        action="append",
        default=[],
        choices=[s.value for s in TaskState],
        help="only tasks in this state (repeatable)",
    )
    add_output_flag(p)
    add_connection_flags(p)
    p.set_defaults(func=lambda args: asyncio.run(_tasks(args)))


async def _tasks(args: argparse.Namespace) -> int:
    kube, namespace = await connect(args)
    try:
        run = await read_run(kube, namespace, args.run)
    finally:
        await kube.close()
    records = chosen(run, {TaskState(s) for s in args.state})
    if args.output:
        print(dump([r.to_wire() for r in records], args.output), end="")
    else:
        print(format_table(records, len(run.status.tasks)))
    return 0
