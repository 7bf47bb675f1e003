"""`kubedag clear` and `kubedag mark`: a clear or mark request with a fresh id on a run (or on
every run of a DAG in a range of logical dates), as
`kubectl patch dagrun RUN --type merge -p '{"spec":{"request":{...}}}'` puts it, then a wait
for the controller to apply it (see README, "Clear, re-run and mark")."""

import argparse
import asyncio
import secrets
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from kubedag.commands.common import CliError, add_connection_flags, connect
from kubedag.commands.output import add_output_flag, dump
from kubedag.commands.progress import Progress
from kubedag.core.clearing import REQUEST_CONDITION, apply_request
from kubedag.core.dates import parse_time
from kubedag.core.snapshot import SNAPSHOT_KEY, Snapshot
from kubedag.kube.client import MERGE_PATCH, ApiError, Kube, core_path, custom_path
from kubedag.manifests import render
from kubedag.models.dagrun import DagRun, RequestAction, RunRequest

POLL_SECONDS = 0.2
PATCH_CONCURRENCY = 16
Window = tuple[datetime | None, datetime | None]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "clear",
        help="run tasks of a run again (or of every run of a DAG with --from/--to)",
        description="Clear a DagRun's tasks (every task unless --task) so they run again with "
        "a fresh budget of tries; a finished run is queued again. With --from and/or --to, "
        "NAME is a DAG and every run of it whose logical date lies in that range (both ends "
        "inclusive) is cleared.",
    )
    p.add_argument("name", metavar="NAME", help="a DagRun; a DAG with --from/--to")
    _request_flags(p)
    p.add_argument("--only-failed", action="store_true", help="only failed/upstream_failed tasks")
    p.add_argument("--from", dest="from_date", metavar="DATE", help="first logical date (a DAG)")
    p.add_argument("--to", dest="to_date", metavar="DATE", help="last logical date (a DAG)")
    p.add_argument(
        "--recursive",
        action="store_true",
        help="also clear, in other DAGs' runs, the externalTaskSensor tasks waiting on the"
        " cleared tasks, with their downstream tasks (Airflow's ExternalTaskMarker)",
    )
    p.set_defaults(func=cmd_clear)

    p = sub.add_parser(
        "mark",
        help="mark tasks of a run (or the whole run) success or failed",
        description="Mark the --task tasks success or failed (their failed downstream tasks "
        "then run again), or without --task the whole run: running tasks get the state, "
        "unfinished ones are skipped.",
    )
    p.add_argument("name", metavar="RUN")
    p.add_argument("state", choices=["success", "failed"])
    _request_flags(p)
    p.set_defaults(func=cmd_mark)


def _request_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", action="append", metavar="T", help="a task (repeatable)")
    p.add_argument("--downstream", action="store_true", help="also every downstream task")
    p.add_argument("--upstream", action="store_true", help="also every upstream task")
    p.add_argument("--dry-run", action="store_true", help="only say what the request would do")
    p.add_argument("--no-wait", action="store_true", help="do not wait for the controller")
    p.add_argument("--timeout", type=float, default=30, help="seconds to wait (default 30)")
    add_output_flag(p)
    add_connection_flags(p)


def cmd_clear(args: argparse.Namespace) -> int:
    window: Window | None = None
    if args.from_date is not None or args.to_date is not None:
        window = (_date(args.from_date, "--from"), _date(args.to_date, "--to"))
    request = _request(
        args, RequestAction.CLEAR, only_failed=args.only_failed, recursive=args.recursive
    )
    return asyncio.run(_send(args, request, window))


def cmd_mark(args: argparse.Namespace) -> int:
    action = RequestAction.MARK_SUCCESS if args.state == "success" else RequestAction.MARK_FAILED
    return asyncio.run(_send(args, _request(args, action), None))


def _date(text: str | None, flag: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError:
        raise CliError(f"{flag} {text!r}: expected an RFC 3339 time or a date") from None


def _request(args: argparse.Namespace, action: RequestAction, **fields: Any) -> RunRequest:
    if (args.downstream or args.upstream) and not args.task:
        raise CliError("--downstream and --upstream need --task (without it: every task)")
    return new_request(
        action, args.task or None, downstream=args.downstream, upstream=args.upstream, **fields
    )


def new_request(action: RequestAction, tasks: list[str] | None, **fields: Any) -> RunRequest:
    """A clear or mark request with a fresh id (a timestamp and a random suffix)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return RunRequest(id=f"{stamp}-{secrets.token_hex(3)}", action=action, tasks=tasks, **fields)


async def put_request(kube: Kube, namespace: str, run: str, request: RunRequest) -> str:
    """Put `request` on the run (the CLI's and the web view's request); what was done."""
    await _patch(kube, namespace, run, render.run_request_patch(request), by_date=False)
    return f"dagrun.kubedag.io/{run}: request {request.id} sent"


async def _send(args: argparse.Namespace, request: RunRequest, window: Window | None) -> int:
    """Put `request` on the run NAME, or with `window` on every run of the DAG NAME whose
    logical date lies in it (both ends inclusive); then wait for each to be applied."""
    kube, namespace = await connect(args)
    # With -o, stdout holds only the list of outcomes: the messages go to stderr.
    out = sys.stderr if args.output else sys.stdout
    results: list[dict[str, Any]] = []
    try:
        code = await _send_all(args, kube, namespace, request, window, out, results)
    finally:
        await kube.close()
    if args.output:
        sys.stdout.write(dump(results, args.output))
    return code


async def _send_all(
    args: argparse.Namespace,
    kube: Kube,
    namespace: str,
    request: RunRequest,
    window: Window | None,
    out: TextIO,
    results: list[dict[str, Any]],
) -> int:
    if window is None:
        runs = [args.name]
    else:
        runs = await _runs_between(kube, namespace, args.name, window)
        if not runs:
            print(f"no run of DAG {args.name} has a logical date in that range", file=out)
            return 0
    if args.dry_run:
        for name in runs:
            preview = await _preview(kube, namespace, name, request)
            print(f"dagrun.kubedag.io/{name}: dry run: {preview}", file=out)
            results.append({"dagrun": name, "dryRun": True, "outcome": preview})
        return 0
    patch = render.run_request_patch(request)
    limit = asyncio.Semaphore(PATCH_CONCURRENCY)

    async def send(name: str) -> None:
        async with limit:
            await _patch(kube, namespace, name, patch, by_date=window is not None)
        print(f"dagrun.kubedag.io/{name}: request {request.id} sent", file=out)

    await asyncio.gather(*(send(name) for name in runs))
    if args.no_wait:
        results.extend({"dagrun": name, "request": request.id, "sent": True} for name in runs)
        return 0
    return await _await_applied(kube, namespace, runs, request.id, args.timeout, out, results)


async def _patch(
    kube: Kube, namespace: str, name: str, patch: dict[str, Any], *, by_date: bool
) -> None:
    try:
        await kube.request(
            "PATCH", custom_path("dagruns", namespace, name), patch, content_type=MERGE_PATCH
        )
    except ApiError as error:
        if not error.not_found:
            message = f"could not patch DagRun {name}: {error.message}"
            raise CliError(message, error.status) from None
        hint = "" if by_date else " (for the runs of a DAG, give --from and/or --to)"
        raise CliError(f"DagRun {name!r} not found in namespace {namespace}{hint}", 404) from None


async def _preview(kube: Kube, namespace: str, name: str, request: RunRequest) -> str:
    """What the controller would make of `request` on the run, computed here by the same
    code (Airflow's clear endpoints default to such a dry run)."""
    body = await kube.get(custom_path("dagruns", namespace, name))
    if body is None:
        raise CliError(f"DagRun {name!r} not found in namespace {namespace}")
    run = DagRun.model_validate(body)
    run.spec.request = request
    snapshot = None
    if run.status.snapshot:
        stored = await kube.get(core_path("configmaps", namespace, run.status.snapshot))
        snapshot = Snapshot.decode(stored["binaryData"][SNAPSHOT_KEY]) if stored else None
    outcome = apply_request(run, snapshot, datetime.now(UTC))
    return outcome.events[0].message if outcome else "nothing to do"


async def _runs_between(kube: Kube, namespace: str, dag: str, window: Window) -> list[str]:
    start, end = window
    if await kube.get(custom_path("dags", namespace, dag)) is None:
        raise CliError(f"DAG {dag!r} not found in namespace {namespace}")
    listed = await kube.request("GET", custom_path("dagruns", namespace))
    names = []
    for run in listed.get("items", []):
        logical = (run.get("status") or {}).get("logicalDate") or run["spec"].get("logicalDate")
        if run["spec"]["dagName"] != dag or not logical:
            continue
        moment = parse_time(logical)
        if (start is None or moment >= start) and (end is None or moment <= end):
            names.append(str(run["metadata"]["name"]))
    return sorted(names)


async def _await_applied(
    kube: Kube,
    namespace: str,
    runs: list[str],
    request_id: str,
    timeout: float,
    out: TextIO,
    results: list[dict[str, Any]],
) -> int:
    """Print what the controller made of the request on each run; 1 if any refused it or
    it was not applied in time."""
    waiting, refused = list(runs), False
    deadline = asyncio.get_running_loop().time() + timeout
    progress = Progress(out)
    while waiting:
        statuses = await _statuses(kube, namespace, waiting)
        for name in list(waiting):
            status = statuses.get(name) or {}
            applied = next((r for r in status.get("requests", []) if r["id"] == request_id), None)
            if applied is None:
                continue
            waiting.remove(name)
            refused = refused or bool(applied.get("refused"))
            outcome = _outcome(status, applied, request_id)
            progress.note(f"dagrun.kubedag.io/{name}: {outcome}")
            results.append({"dagrun": name, "applied": applied, "outcome": outcome})
        if not waiting:
            break
        if len(runs) > 1:
            progress.update(f"applied on {len(runs) - len(waiting)}/{len(runs)} runs")
        if asyncio.get_running_loop().time() >= deadline:
            progress.finish()
            print(
                f"not applied after {timeout:g}s (is the controller running?):"
                f" {', '.join(waiting)}",
                file=out,
            )
            return 1
        await asyncio.sleep(POLL_SECONDS)
    progress.finish()
    return 1 if refused else 0


async def _statuses(kube: Kube, namespace: str, names: list[str]) -> dict[str, Any]:
    """The runs' statuses: a GET each for a few, one LIST of the namespace's runs for more."""
    if len(names) <= 3:
        bodies = [await kube.get(custom_path("dagruns", namespace, name)) for name in names]
    else:
        bodies = (await kube.request("GET", custom_path("dagruns", namespace))).get("items", [])
    return {
        body["metadata"]["name"]: body.get("status") or {} for body in bodies if body is not None
    }


def _outcome(status: dict[str, Any], applied: dict[str, Any], request_id: str) -> str:
    """The controller's own words (the RequestApplied condition), unless a newer request
    has replaced them: then what the run's record of this one says."""
    condition = next(
        (c for c in status.get("conditions", []) if c["type"] == REQUEST_CONDITION), None
    )
    message = str((condition or {}).get("message", ""))
    if request_id in message:
        return message
    if applied.get("refused"):
        return f"refused: {applied['refused']}"
    return f"changed {', '.join(applied['tasks']) or 'nothing'}"
