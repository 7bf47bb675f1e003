"""`kubedag backfill DAG --from --to`: create a Backfill (as `kubectl apply` of one does),
and with `--wait` show its progress until it ends."""

import argparse
import asyncio
import sys
from typing import Any

from kubedag.commands.common import CliError, add_connection_flags, connect, parse_conf
from kubedag.commands.output import add_output_flag, dump
from kubedag.commands.progress import Progress
from kubedag.core.dates import parse_time, rfc3339
from kubedag.kube.client import ApiError, Kube, custom_path
from kubedag.manifests import render
from kubedag.models.backfill import BackfillState, BackfillStatus


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "backfill", help="create a Backfill: runs of a DAG for past dates (--wait: follow it)"
    )
    p.add_argument("dag", metavar="DAG")
    p.add_argument(
        "--from", dest="from_", metavar="DATE", required=True, help="first logical date (inclusive)"
    )
    p.add_argument("--to", metavar="DATE", required=True, help="last logical date (inclusive)")
    p.add_argument(
        "--reprocess",
        choices=["none", "failed", "completed"],
        help="what to do with dates that have a finished run (default none)",
    )
    p.add_argument(
        "--max-active-runs", type=int, metavar="N", help="its own runs at once (default 10)"
    )
    p.add_argument("--run-backwards", action="store_true", help="newest date first")
    p.add_argument("--conf", metavar="JSON", help="JSON object: the runs' conf")
    p.add_argument("--dry-run", action="store_true", help="only list what it would do")
    p.add_argument("--wait", action="store_true", help="show progress until it ends")
    p.add_argument("--name", help="the Backfill's name (default generated from the DAG's)")
    add_output_flag(p)
    add_connection_flags(p)
    p.set_defaults(func=cmd_backfill)


def cmd_backfill(args: argparse.Namespace) -> int:
    conf = parse_conf(args.conf)
    check_dates(args.from_, args.to)
    return asyncio.run(_backfill(args, conf))


def check_dates(from_: str, to: str) -> None:
    for flag, value in (("--from", from_), ("--to", to)):
        try:
            parse_time(value)
        except ValueError:
            raise CliError(f"{flag}: expected a date or an RFC 3339 time, got {value!r}") from None


async def _backfill(args: argparse.Namespace, conf: dict[str, Any] | None) -> int:
    kube, namespace = await connect(args)
    try:
        created = await create_backfill(
            kube,
            namespace,
            args.dag,
            name=args.name,
            from_=args.from_,
            to=args.to,
            reprocess_behavior=args.reprocess,
            max_active_runs=args.max_active_runs,
            run_backwards=args.run_backwards,
            conf=conf,
            dry_run=args.dry_run,
        )
        name = created["metadata"]["name"]
        # With -o, stdout holds only the Backfill (the last one seen): the rest goes to stderr.
        out = sys.stderr if args.output else sys.stdout
        print(f"backfill.kubedag.io/{name} created", file=out)
        code, last = 0, dict(created)
        if args.wait:
            path = custom_path("backfills", namespace, name)
            code, final = await _wait_for_backfill(kube, path, Progress(out))
            last = final or last
        if args.output:
            sys.stdout.write(dump(last, args.output))
        return code
    finally:
        await kube.close()


async def create_backfill(
    kube: Kube,
    namespace: str,
    dag: str,
    *,
    from_: str,
    to: str,
    name: str | None = None,
    reprocess_behavior: str | None = None,
    max_active_runs: int | None = None,
    run_backwards: bool = False,
    conf: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Create a Backfill of the DAG (the CLI's and the web view's request); the Backfill."""
    check_dates(from_, to)
    try:
        if await kube.get(custom_path("dags", namespace, dag)) is None:
            raise CliError(f"DAG {dag!r} not found in namespace {namespace}", 404)
        manifest = render.backfill(
            namespace=namespace,
            name=name,
            dag_name=dag,
            from_=from_,
            to=to,
            reprocess_behavior=reprocess_behavior,
            max_active_runs=max_active_runs,
            run_backwards=run_backwards,
            conf=conf,
            dry_run=dry_run,
        )
        created = await kube.create(custom_path("backfills", namespace), manifest)
    except ApiError as error:
        raise CliError(f"could not create Backfill: {error.message}", error.status) from None
    if created is None:
        raise CliError(f"Backfill {name} already exists", 409)
    return created


async def _wait_for_backfill(
    kube: Kube, path: str, progress: Progress
) -> tuple[int, dict[str, Any] | None]:
    """Show progress until the backfill ends; exit 1 if it was refused or a run failed.
    Returns the exit status and the Backfill's last body."""
    while True:
        body = await kube.get(path)
        if body is None:
            progress.finish()
            print("the Backfill was deleted", file=sys.stderr)
            return 1, None
        status = BackfillStatus.model_validate(body.get("status") or {})
        progress.update(progress_line(status))
        if status.state is not None and status.state.finished:
            progress.finish()
            for text in outcome_lines(status):
                progress.note(text)
            failed = status.failed.count if status.failed else 0
            return (1 if status.state is BackfillState.REFUSED or failed else 0), body
        await asyncio.sleep(1)


def progress_line(status: BackfillStatus, width: int = 30) -> str:
    """`[#######.......] 12/30 created  running 3  succeeded 8  failed 1  skipped 2  Running`."""
    planned = status.planned
    done = sum(x.count for x in (status.succeeded, status.failed) if x)
    skipped = sum(s.count for s in status.skipped)
    filled = round(width * (done + skipped) / planned) if planned else 0
    bar = "#" * filled + "." * (width - filled)
    counts = {
        "running": status.running.count if status.running else 0,
        "succeeded": status.succeeded.count if status.succeeded else 0,
        "failed": status.failed.count if status.failed else 0,
        "skipped": skipped,
    }
    text = "  ".join(f"{k} {v}" for k, v in counts.items())
    return f"[{bar}] {status.progress or '0/0'} created  {text}  {status.state or 'Pending'}"


def outcome_lines(status: BackfillStatus) -> list[str]:
    """What to say once it ended: why it was refused, what a dry run would do, the skips and
    the failed dates."""
    lines = []
    for condition in status.conditions:
        if condition.status != "True":
            lines.append(f"{condition.reason}: {condition.message}")
    for what, dates in (
        ("would create", status.would_create),
        ("would re-run", status.would_rerun),
    ):
        if dates is not None:
            listed = ", ".join(rfc3339(d) for d in dates.dates)
            hidden = dates.count - len(dates.dates)
            lines.append(
                f"{what} {dates.count}: {listed}" + (f" (+{hidden} more)" if hidden else "")
            )
    for skipped in status.skipped:
        lines.append(f"skipped ({skipped.reason}): {skipped.count}")
    if status.failed:
        lines.append("failed: " + ", ".join(rfc3339(d) for d in status.failed.dates))
    return lines
