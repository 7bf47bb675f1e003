"""`kubedag test DAG [--logical-date D] [--task T]`: one throwaway run of a DAG (or of one of
its tasks) on the cluster, its task logs streamed to the terminal, the command's exit status
the run's outcome; the run is deleted when it ends, or when the user stops the command.

Airflow's `dags test` and `tasks test`, but on the cluster: the controller runs the tasks as
pods, as it runs any run, and the run's type (`test`, core/run_types.py) keeps it out of
everything else (previous runs, datasets, notifications, the schedule)."""

import argparse
import asyncio
import signal
import sys
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubedag.commands.common import CliError, add_connection_flags, connect, parse_conf
from kubedag.commands.output import add_output_flag, dump
from kubedag.commands.progress import Progress
from kubedag.core.dates import parse_time
from kubedag.core.durations import format_duration
from kubedag.core.naming import pod_name
from kubedag.core.snapshot import build_snapshot
from kubedag.core.suggestions import did_you_mean
from kubedag.kube.client import ApiError, Kube, custom_path
from kubedag.manifests import render
from kubedag.manifests.render import CONTAINER_NAME
from kubedag.models.dag import Dag
from kubedag.models.dagrun import DagRun, DagRunStatus, RunState, TaskRecord, TaskState

POLL_SECONDS = 0.5
# After the run ended, how long the logs of its last tries may take to arrive (their
# containers have ended: what is left is in flight).
LOG_DRAIN_SECONDS = 3.0
# A leftover finished test run of the same date: how long its deletion may take.
REPLACE_SECONDS = 30.0
# A pod's log is read only once its container ran: these states (and the earlier tries).
_LOGGED = frozenset(
    {
        TaskState.RUNNING,
        TaskState.SUCCESS,
        TaskState.FAILED,
        TaskState.UP_FOR_RETRY,
        TaskState.RESTARTING,
    }
)
_PASSED = frozenset({TaskState.SUCCESS, TaskState.SKIPPED})


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "test",
        help="run a DAG (or one task) once on the cluster as a throwaway run, with its logs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dag", metavar="DAG")
    p.add_argument("--logical-date", default="now", help="RFC 3339 time or date (default: now)")
    p.add_argument("--task", metavar="T", help="run only this task (its upstream taken as met)")
    p.add_argument("--conf", metavar="JSON", help="JSON object overriding the DAG's params")
    add_output_flag(p)
    add_connection_flags(p)
    p.set_defaults(func=cmd_test)


class Interrupted(Exception):
    """Ctrl-C: the test run is deleted and the command exits 130."""


def cmd_test(args: argparse.Namespace) -> int:
    conf = parse_conf(args.conf)
    try:
        logical = datetime.now(UTC) if args.logical_date == "now" else None
        logical = logical or parse_time(args.logical_date)
    except ValueError:
        raise CliError(
            f"--logical-date {args.logical_date!r}: expected a date or an RFC 3339 time"
        ) from None
    try:
        return asyncio.run(_test(args, conf, logical))
    except (Interrupted, KeyboardInterrupt):
        print("interrupted: the test run was deleted", file=sys.stderr)
        return 130


# -- Pure parts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TryLog:
    task: str
    try_number: int
    pod: str
    follow: bool
    """The try may still run: stream its log until the container ends."""

    @property
    def key(self) -> tuple[str, int]:
        return (self.task, self.try_number)

    @property
    def prefix(self) -> str:
        return f"[{self.task} #{self.try_number}]"


def new_logs(run: str, status: DagRunStatus, seen: Collection[tuple[str, int]]) -> list[TryLog]:
    """The task tries whose log to start reading now: every try that ran (a current try
    running or finished, and the earlier tries the status keeps) and is not in `seen`.
    A try whose record names no pod (any more) had the pod its name gives."""
    found: list[TryLog] = []
    for record in status.tasks:
        for earlier in record.tries or []:
            if (record.name, earlier.try_number) not in seen:
                pod = earlier.pod or pod_name(run, record.name, earlier.try_number)
                found.append(TryLog(record.name, earlier.try_number, pod, False))
        current = (record.name, record.try_number)
        if record.try_number and record.state in _LOGGED and current not in seen:
            pod = record.pod or pod_name(run, record.name, record.try_number)
            running = record.state in (TaskState.RUNNING, TaskState.RESTARTING)
            found.append(TryLog(record.name, record.try_number, pod, running))
    return found


def ended(status: DagRunStatus, only_task: str | None) -> bool:
    """Whether the test is over: the run finished, or with --task, that task did."""
    if status.state is not None and status.state.finished:
        return True
    if only_task is None:
        return False
    record = next((r for r in status.tasks if r.name == only_task), None)
    return record is not None and record.state.finished


def passed(status: DagRunStatus, only_task: str | None) -> bool:
    if only_task is None:
        return status.state is RunState.SUCCESS
    record = next((r for r in status.tasks if r.name == only_task), None)
    return record is not None and record.state in _PASSED


def progress_line(run: DagRun, only_task: str | None) -> str:
    """`etl-test-20260101-0000: running 2/5  running: load, report  retrying: extract`."""
    status = run.status
    state = status.state.value if status.state else "pending"
    if only_task is not None:
        record = next((r for r in status.tasks if r.name == only_task), None)
        task_state = record.state.value if record else "none"
        return f"{run.name}: task {only_task} {task_state}"
    line = f"{run.name}: {state} {status.progress or ''}".rstrip()
    groups = (
        ("running", (TaskState.QUEUED, TaskState.RUNNING)),
        ("retrying", (TaskState.UP_FOR_RETRY, TaskState.RESTARTING)),
        ("deferred", (TaskState.DEFERRED,)),
    )
    for label, states in groups:
        names = [r.name for r in status.tasks if r.state in states]
        if names:
            line += f"  {label}: {', '.join(names)}"
    return line


def summary_lines(run: DagRun, only_task: str | None) -> list[str]:
    """The outcome, then a table of the tasks (one task's row with --task)."""
    status = run.status
    records = [r for r in status.tasks if only_task is None or r.name == only_task]
    if only_task is not None:
        record = records[0] if records else None
        outcome = record.state.value if record else "not run"
        head = f"task {only_task} of DAG {run.spec.dag_name}: {outcome}"
    else:
        condition = next((c for c in status.conditions if c.type == "Succeeded"), None)
        outcome = status.state.value if status.state else "not finished"
        detail = f" ({condition.message})" if condition and condition.message else ""
        head = f"test run of DAG {run.spec.dag_name}: {outcome}{detail}"
    rows = [["TASK", "STATE", "TRY", "DURATION", "EXIT", "MESSAGE"]]
    rows.extend(_row(r) for r in records)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    table = [
        "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return [head, *table]


def _row(record: TaskRecord) -> list[str]:
    duration = (
        format_duration(record.finished - record.started)
        if record.started and record.finished
        else ""
    )
    return [
        record.name,
        record.state.value,
        str(record.try_number or ""),
        duration,
        "" if record.exit_code is None else str(record.exit_code),
        (record.message or "").splitlines()[0] if record.message else "",
    ]


def task_names(dag: Dag, only_task: str | None) -> list[str]:
    """The DAG's tasks, after checking that `only_task` is one of them."""
    names = [t.name for t in build_snapshot(dag.spec).tasks]
    if only_task is not None and only_task not in names:
        raise CliError(
            f"DAG {dag.name} has no task {only_task!r}{did_you_mean(only_task, names)};"
            f" tasks: {', '.join(names)}"
        )
    return names


# -- Against the cluster --------------------------------------------------------------------


async def _test(args: argparse.Namespace, conf: dict[str, Any] | None, logical: datetime) -> int:
    kube, namespace = await connect(args)
    # Ctrl-C is a flag the follow loop reads, not only the cancellation asyncio.run sends:
    # a cancellation that meets a request completing at that moment can be lost (Python
    # 3.11's wait_for), which would leave the test running.
    interrupted = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, interrupted.set)
    # With -o, stdout holds only the final run: logs and progress go to stderr.
    progress = Progress(sys.stderr if args.output else sys.stdout)
    name: str | None = None
    try:
        dag_body = await kube.get(custom_path("dags", namespace, args.dag))
        if dag_body is None:
            raise CliError(f"DAG {args.dag!r} not found in namespace {namespace}")
        dag = Dag.model_validate(dag_body)
        manifest = render.throwaway_dagrun(
            namespace=namespace,
            dag_name=dag.name,
            dag_uid=dag_body["metadata"]["uid"],
            logical_date=logical,
            conf=conf,
            only_task=args.task,
            tasks=task_names(dag, args.task),
        )
        name = await _create(kube, namespace, manifest)
        progress.note(f"dagrun.kubedag.io/{name} created (a test run, deleted when it ends)")
        body = await _follow(kube, namespace, name, args.task, progress, interrupted)
        final = DagRun.model_validate(body)
        progress.finish()
        for line in summary_lines(final, args.task):
            progress.note(line)
        if args.output:
            sys.stdout.write(dump(body, args.output))
        return 0 if passed(final.status, args.task) else 1
    finally:
        progress.finish()
        if name is not None:
            await _delete(kube, namespace, name, progress)
        await kube.close()


async def _create(kube: Kube, namespace: str, manifest: dict[str, Any]) -> str:
    """Create the test run; a finished one of the same DAG and date (left by a test that
    could not delete it) is replaced, an unfinished one refused."""
    name = str(manifest["metadata"]["name"])
    path = custom_path("dagruns", namespace)
    deadline = asyncio.get_running_loop().time() + REPLACE_SECONDS
    while True:
        try:
            created = await kube.create(path, manifest)
        except ApiError as error:
            raise CliError(f"could not create DagRun {name}: {error.message}") from None
        if created is not None:
            return name
        existing = await kube.get(custom_path("dagruns", namespace, name))
        if existing is not None:
            state = (existing.get("status") or {}).get("state")
            deleting = existing["metadata"].get("deletionTimestamp")
            if state not in (RunState.SUCCESS.value, RunState.FAILED.value) and not deleting:
                raise CliError(
                    f"a test of this DAG and logical date runs already (DagRun {name});"
                    f" wait for it, or `kubectl delete dagrun {name}`"
                )
            await kube.delete(custom_path("dagruns", namespace, name))
        if asyncio.get_running_loop().time() > deadline:
            raise CliError(f"the earlier test run {name} is still being deleted; try again")
        await asyncio.sleep(POLL_SECONDS)


async def _follow(
    kube: Kube,
    namespace: str,
    name: str,
    only_task: str | None,
    progress: Progress,
    interrupted: asyncio.Event,
) -> dict[str, Any]:
    """Show progress and stream each try's log until the test ended; the run's last body."""
    path = custom_path("dagruns", namespace, name)
    readers: dict[tuple[str, int], asyncio.Task[None]] = {}
    try:
        while True:
            if interrupted.is_set():
                raise Interrupted
            body = await kube.get(path)
            if body is None:
                raise CliError(f"the test run {name} was deleted before it ended")
            run = DagRun.model_validate(body)
            for log in new_logs(name, run.status, readers):
                readers[log.key] = asyncio.create_task(_read_log(kube, namespace, log, progress))
            progress.update(progress_line(run, only_task))
            if ended(run.status, only_task):
                break
            await asyncio.sleep(POLL_SECONDS)
        if readers:
            await asyncio.wait(readers.values(), timeout=LOG_DRAIN_SECONDS)
        for (task, try_number), reader in readers.items():
            if not reader.done():
                progress.note(f"[{task} #{try_number}] (the log did not come to an end)")
        return body
    finally:
        for reader in readers.values():
            reader.cancel()


async def _read_log(kube: Kube, namespace: str, log: TryLog, progress: Progress) -> None:
    """Print the try's log, a line at a time with its task and try in front."""
    partial, empty = b"", True
    try:
        async for chunk in kube.pod_log(
            namespace, log.pod, container=CONTAINER_NAME, follow=log.follow
        ):
            partial += chunk
            empty = empty and not chunk
            *lines, partial = partial.split(b"\n")
            for line in lines:
                progress.note(f"{log.prefix} {line.decode(errors='replace')}")
        if partial:
            progress.note(f"{log.prefix} {partial.decode(errors='replace')}")
        if empty:
            progress.note(f"{log.prefix} (empty log)")
    except ApiError as error:
        reason = "gone" if error.not_found else error.message
        progress.note(f"{log.prefix} (no log: pod {log.pod}: {reason})")


async def _delete(kube: Kube, namespace: str, name: str, progress: Progress) -> None:
    try:
        if await kube.delete(custom_path("dagruns", namespace, name)):
            progress.note(f"dagrun.kubedag.io/{name} deleted")
    except ApiError as error:
        progress.note(f"could not delete the test run {name}: {error.message}")
