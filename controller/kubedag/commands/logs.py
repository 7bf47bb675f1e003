"""`kubedag logs RUN [--task T] [--try N] [-f]`: a task try's log, read from its pod, with
the try's recorded outcome when the pod is gone."""

import argparse
import asyncio
import sys
from dataclasses import dataclass
from typing import Any

from kubedag.commands.common import CliError, add_connection_flags, connect, read_run
from kubedag.core.naming import pod_name
from kubedag.core.suggestions import did_you_mean
from kubedag.kube.client import ApiError, Kube
from kubedag.manifests.render import CONTAINER_NAME
from kubedag.models.dagrun import DagRun, TaskRecord


@dataclass(frozen=True)
class LogTarget:
    task: str
    try_number: int
    pod: str
    record: TaskRecord
    current: bool
    """The task's newest try (whose outcome the run's status records)."""


def log_targets(run: DagRun, task: str | None, try_number: int | None) -> list[LogTarget]:
    """The task tries whose logs to show: one task's given or newest try, or the newest try
    of every task that has started, in the run's task order."""
    records = {r.name: r for r in run.status.tasks}
    if task is not None and task not in records:
        known = ", ".join(records) or "none"
        raise CliError(
            f"run {run.name} has no task {task!r}{did_you_mean(task, records)} (tasks: {known})"
        )
    if task is None and try_number is not None:
        raise CliError("--try needs --task")
    chosen = [records[task]] if task is not None else list(records.values())
    targets = []
    for record in chosen:
        if record.try_number == 0:
            if task is not None:
                raise CliError(
                    f"task {task} of run {run.name} has not started (state {record.state})"
                )
            continue
        number = try_number or record.try_number
        if not 1 <= number <= record.try_number:
            raise CliError(
                f"task {record.name} of run {run.name} has tries 1 to {record.try_number},"
                f" not {number}"
            )
        current = number == record.try_number
        earlier = next((t for t in record.tries or [] if t.try_number == number), None)
        name = record.pod if current and record.pod else None
        name = name or (earlier.pod if earlier else None) or pod_name(run.name, record.name, number)
        targets.append(LogTarget(record.name, number, name, record, current))
    if not targets:
        raise CliError(f"no task of run {run.name} has started yet")
    return targets


def gone_message(target: LogTarget) -> str:
    """What to say when the try's pod no longer exists (pod GC, history cleanup, by hand)."""
    text = f"pod {target.pod} of task {target.task} try {target.try_number} is gone"
    record = target.record
    if not target.current:
        earlier = next((t for t in record.tries or [] if t.try_number == target.try_number), None)
        if earlier is None:  # older than the tries the status keeps
            return text + "; the run's status no longer records this try"
        detail = f", exit code {earlier.exit_code}" if earlier.exit_code is not None else ""
        return f"{text}; the run's status records: state {earlier.state}{detail}"
    outcome = [f"state {record.state}"]
    if record.message:
        outcome.append(record.message)
    elif record.exit_code is not None:
        outcome.append(f"exit code {record.exit_code}")
    return f"{text}; the run's status records: {', '.join(outcome)}"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("logs", help="print a task try's log (from its pod)")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--task", help="the task (default: every task that has started)")
    p.add_argument("--try", dest="try_number", type=int, help="the try (default: the newest)")
    p.add_argument("-f", "--follow", action="store_true", help="stream until the try ends")
    add_connection_flags(p)
    p.set_defaults(func=lambda args: asyncio.run(_logs(args)))


async def _logs(args: argparse.Namespace) -> int:
    kube, namespace = await connect(args)
    try:
        run = await read_run(kube, namespace, args.run)
        targets = log_targets(run, args.task, args.try_number)
        if args.follow and len(targets) > 1:
            raise CliError("--follow needs --task (one log at a time)")
        missing = 0
        for target in targets:
            if args.task is None:
                print(f"==> task {target.task} try {target.try_number} (pod {target.pod}) <==")
            missing += not await _print_log(kube, namespace, target, args.follow)
        return 1 if missing == len(targets) else 0
    finally:
        await kube.close()


async def _print_log(kube: Kube, namespace: str, target: LogTarget, follow: bool) -> bool:
    try:
        async for chunk in kube.pod_log(
            namespace, target.pod, container=CONTAINER_NAME, follow=follow
        ):
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
    except ApiError as error:
        if error.not_found:
            print(gone_message(target), file=sys.stderr)
        else:  # e.g. the container has not started yet
            print(f"pod {target.pod}: {error.message}", file=sys.stderr)
        return False
    return True
