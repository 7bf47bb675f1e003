"""The `kubedag` command: offline tools (validate, plan, render, crds) and cluster ones
(trigger, clear, mark, run)."""

import argparse
import asyncio
import json
import logging
import os
import secrets
import socket
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kubedag.core.clearing import REQUEST_CONDITION, apply_request
from kubedag.core.dag_scheduler import plan_schedule
from kubedag.core.dates import parse_time, rfc3339
from kubedag.core.naming import dagrun_name
from kubedag.core.schedule import (
    DataInterval,
    ScheduleError,
    Window,
    next_run,
    parse_timetable,
)
from kubedag.core.snapshot import SNAPSHOT_KEY, Snapshot, build_snapshot
from kubedag.core.task_launch import prepare_launch
from kubedag.core.templating import RunContext, TemplateError
from kubedag.core.validation import describe_validation_error, validate_dag
from kubedag.manifests import render
from kubedag.manifests.crds import render_crds, write_crds
from kubedag.manifests.documents import Loaded, dag_documents, parse_dag
from kubedag.models.dag import Dag
from kubedag.models.dagrun import DagRun, RequestAction, RunRequest, RunType
from kubedag.reconcilers.settings import ControllerSettings


class CliError(Exception):
    """A user error: printed without a traceback, exit code 1."""


def _load_dags(paths: Sequence[str]) -> list[tuple[Loaded, Dag | list[str]]]:
    results: list[tuple[Loaded, Dag | list[str]]] = []
    for path in paths:
        file = Path(path)
        if not file.is_file():
            raise CliError(f"{path}: no such file")
        try:
            documents = list(dag_documents(file))
        except (yaml.YAMLError, ValueError) as error:
            raise CliError(f"{path}: {error}") from None
        if not documents:
            raise CliError(f"{path}: no DAG (kind: DAG) in this file")
        for loaded in documents:
            try:
                results.append((loaded, parse_dag(loaded)))
            except ValidationError as error:
                results.append((loaded, describe_validation_error(error)))
    return results


def _single_dag(path: str) -> Dag:
    loaded = _load_dags([path])
    if len(loaded) != 1:
        raise CliError(f"{path}: holds {len(loaded)} DAGs; give a file with one")
    source, dag = loaded[0]
    if isinstance(dag, list):
        raise CliError(f"{source.source}: invalid DAG:\n  " + "\n  ".join(dag))
    problems = validate_dag(dag.name, dag.spec)
    if problems:
        raise CliError(
            f"{source.source}: invalid DAG:\n  " + "\n  ".join(p.message for p in problems)
        )
    return dag


def cmd_validate(args: argparse.Namespace) -> int:
    failed = False
    for loaded, dag in _load_dags(args.files):
        name = loaded.body.get("metadata", {}).get("name", "?")
        messages = (
            dag if isinstance(dag, list) else [p.message for p in validate_dag(dag.name, dag.spec)]
        )
        if messages:
            failed = True
            print(f"{loaded.source}: DAG {name}: invalid")
            for message in messages:
                print(f"  - {message}")
        else:
            print(f"{loaded.source}: DAG {name}: valid")
    return 1 if failed else 0


def _parse_interval(text: str) -> DataInterval:
    try:
        start, end = text.split("/", 1)
        return DataInterval(parse_time(start), parse_time(end))
    except ValueError as error:
        raise CliError(
            f"--last-interval {text!r}: expected START/END in RFC 3339 ({error})"
        ) from None


def cmd_plan(args: argparse.Namespace) -> int:
    dag = _single_dag(args.file)
    if dag.spec.schedule is None:
        raise CliError(f"DAG {dag.name} has no schedule: it only runs when triggered")
    now = _parse_cli_time(args.now, "--now")
    last = _parse_interval(args.last_interval) if args.last_interval else None
    plan = plan_schedule(
        dag.spec,
        catchup_default=args.catchup_default == "true",
        last_interval=last,
        now=now,
        upcoming=args.upcoming,
    )
    rows = [
        {
            "name": dagrun_name(dag.name, RunType.SCHEDULED, run.logical_date),
            "logicalDate": rfc3339(run.logical_date),
            "dataIntervalStart": rfc3339(run.interval.start),
            "dataIntervalEnd": rfc3339(run.interval.end),
            "runAfter": rfc3339(run.run_after),
            "due": due,
        }
        for runs, due in ((plan.due, True), (plan.upcoming, False))
        for run in runs
    ]
    if args.output == "json":
        print(json.dumps(rows, indent=2))
    else:
        headers = ["NAME", "LOGICAL DATE", "INTERVAL START", "INTERVAL END", "RUN AFTER", "DUE"]
        table = [headers] + [
            [
                r["name"],
                r["logicalDate"],
                r["dataIntervalStart"],
                r["dataIntervalEnd"],
                r["runAfter"],
                "yes" if r["due"] else "no",
            ]
            for r in rows
        ]
        widths = [max(len(str(row[i])) for row in table) for i in range(len(headers))]
        for row in table:
            print("   ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if not rows:
            print("(no runs due)")
    return 0


def _parse_cli_time(text: str, flag: str) -> datetime:
    if text == "now":
        return datetime.now(UTC)
    try:
        return parse_time(text)
    except ValueError:
        raise CliError(f"{flag} {text!r}: expected an RFC 3339 time or a date") from None


def cmd_render(args: argparse.Namespace) -> int:
    dag = _single_dag(args.file)
    snapshot = build_snapshot(dag.spec)
    names = [t.name for t in snapshot.tasks]
    if args.task not in names:
        raise CliError(f"DAG {dag.name} has no task {args.task!r}; tasks: {', '.join(names)}")
    logical = _parse_cli_time(args.logical_date, "--logical-date")
    interval = _interval_at(dag, logical)
    run_type = RunType.SCHEDULED if dag.spec.schedule else RunType.MANUAL
    conf = json.loads(args.conf) if args.conf else {}
    ctx = RunContext(
        dag_name=dag.name,
        run_id=dagrun_name(dag.name, run_type, logical),
        run_type=run_type.value,
        task_name=args.task,
        try_number=args.try_number,
        logical_date=logical,
        data_interval_start=interval.start,
        data_interval_end=interval.end,
        params=snapshot.params,
        conf=conf,
    )
    try:
        launch = prepare_launch(snapshot.task(args.task), ctx)
    except TemplateError as error:
        raise CliError(f"task {args.task}: {error}") from None
    pod = render.task_pod(launch, namespace=dag.namespace, owner=None)
    print(yaml.safe_dump(pod, sort_keys=False), end="")
    return 0


def _interval_at(dag: Dag, logical: datetime) -> DataInterval:
    """The data interval a scheduled run with this logical date covers: up to the next tick."""
    if not dag.spec.schedule or dag.spec.schedule == "@once":
        return DataInterval(logical, logical)
    timetable = parse_timetable(dag.spec.schedule, dag.spec.timezone)
    following = next_run(
        Window(timetable, logical, end_date=None, catchup=True, last_interval=None, now=logical)
    )
    assert following is not None  # no end date: a cron schedule always has a next tick
    if following.interval.start == logical:
        return following.interval
    return DataInterval(logical, following.interval.start)


def cmd_crds(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    if args.check:
        stale = [
            name
            for name, text in render_crds().items()
            if not (directory / name).is_file() or (directory / name).read_text() != text
        ]
        if stale:
            print(f"out of date in {directory}: {', '.join(stale)}; run `kubedag crds`")
            return 1
        print(f"{directory}: up to date")
        return 0
    for path in write_crds(directory):
        print(f"wrote {path}")
    return 0


def cmd_trigger(args: argparse.Namespace) -> int:
    try:
        conf = json.loads(args.conf) if args.conf else None
    except json.JSONDecodeError as error:
        raise CliError(f"--conf: not JSON: {error}") from None
    if conf is not None and not isinstance(conf, dict):
        raise CliError("--conf: must be a JSON object")
    logical = _parse_cli_time(args.logical_date, "--logical-date")
    return asyncio.run(_trigger(args, conf, logical))


async def _trigger(args: argparse.Namespace, conf: dict[str, Any] | None, logical: datetime) -> int:
    from kubedag.kube.client import ApiError, Kube, custom_path

    kube = await Kube.connect(args.kubeconfig)
    try:
        namespace = args.namespace or _current_namespace(args.kubeconfig)
        dag = await kube.get(custom_path("dags", namespace, args.dag))
        if dag is None:
            raise CliError(f"DAG {args.dag!r} not found in namespace {namespace}")
        manifest = render.dagrun(
            namespace=namespace,
            dag_name=args.dag,
            dag_uid=dag["metadata"]["uid"],
            run_type=RunType.MANUAL,
            logical_date=logical,
            conf=conf,
        )
        name = manifest["metadata"]["name"]
        try:
            created = await kube.create(custom_path("dagruns", namespace), manifest)
        except ApiError as error:
            raise CliError(f"could not create DagRun: {error.message}") from None
        if created is None:
            raise CliError(f"DagRun {name} already exists (same DAG and logical date)")
        print(f"dagrun.kubedag.io/{name} created")
        return 0
    finally:
        await kube.close()


# Clear and mark: a request on each run, then a wait for the controller to apply it --------

REQUEST_POLL_SECONDS = 0.2


def cmd_clear(args: argparse.Namespace) -> int:
    by_dates = args.from_date is not None or args.to_date is not None
    window = (
        _parse_cli_time(args.from_date, "--from") if args.from_date else None,
        _parse_cli_time(args.to_date, "--to") if args.to_date else None,
    )
    request = _request(args, RequestAction.CLEAR, only_failed=args.only_failed)
    return asyncio.run(_send_request(args, request, dates=window if by_dates else None))


def cmd_mark(args: argparse.Namespace) -> int:
    action = RequestAction.MARK_SUCCESS if args.state == "success" else RequestAction.MARK_FAILED
    return asyncio.run(_send_request(args, _request(args, action), dates=None))


def _request(args: argparse.Namespace, action: RequestAction, **fields: Any) -> RunRequest:
    if (args.downstream or args.upstream) and not args.task:
        raise CliError("--downstream and --upstream need --task (without it: every task)")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return RunRequest(
        id=f"{stamp}-{secrets.token_hex(3)}",
        action=action,
        tasks=args.task or None,
        downstream=args.downstream,
        upstream=args.upstream,
        **fields,
    )


async def _send_request(
    args: argparse.Namespace,
    request: RunRequest,
    dates: tuple[datetime | None, datetime | None] | None,
) -> int:
    """Put `request` on the run NAME, or with `dates` on every run of the DAG NAME whose
    logical date lies in that window (both ends inclusive); then wait for each to be
    applied."""
    from kubedag.kube.client import MERGE_PATCH, ApiError, Kube, custom_path

    kube = await Kube.connect(args.kubeconfig)
    try:
        namespace = args.namespace or _current_namespace(args.kubeconfig)
        if dates is None:
            runs = [args.name]
        else:
            runs = await _runs_between(kube, namespace, args.name, *dates)
            if not runs:
                print(f"no run of DAG {args.name} has a logical date in that range")
                return 0
        if args.dry_run:
            for name in runs:
                preview = await _preview(kube, namespace, name, request)
                print(f"dagrun.kubedag.io/{name}: dry run: {preview}")
            return 0
        patch = render.run_request_patch(request)
        for name in runs:
            try:
                await kube.request(
                    "PATCH",
                    custom_path("dagruns", namespace, name),
                    patch,
                    content_type=MERGE_PATCH,
                )
            except ApiError as error:
                if error.not_found:
                    hint = "" if dates else " (for the runs of a DAG, give --from and/or --to)"
                    message = f"DagRun {name!r} not found in namespace {namespace}{hint}"
                    raise CliError(message) from None
                raise CliError(f"could not patch DagRun {name}: {error.message}") from None
            print(f"dagrun.kubedag.io/{name}: request {request.id} sent")
        if args.no_wait:
            return 0
        return await _await_applied(kube, namespace, runs, request.id, args.timeout)
    finally:
        await kube.close()


async def _preview(kube: Any, namespace: str, name: str, request: RunRequest) -> str:
    """What the controller would make of `request` on the run, computed here by the same
    code (Airflow's clear endpoints default to such a dry run)."""
    from kubedag.kube.client import core_path, custom_path

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


async def _runs_between(
    kube: Any, namespace: str, dag: str, start: datetime | None, end: datetime | None
) -> list[str]:
    from kubedag.kube.client import custom_path

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
    kube: Any, namespace: str, runs: list[str], request_id: str, timeout: float
) -> int:
    """Print what the controller made of the request on each run; 1 if any refused it or
    it was not applied in time."""
    from kubedag.kube.client import custom_path

    waiting, failed = list(runs), False
    deadline = asyncio.get_running_loop().time() + timeout
    while waiting:
        for name in list(waiting):
            body = await kube.get(custom_path("dagruns", namespace, name)) or {}
            status = body.get("status") or {}
            applied = next((r for r in status.get("requests", []) if r["id"] == request_id), None)
            if applied is None:
                continue
            waiting.remove(name)
            failed = failed or bool(applied.get("refused"))
            condition = next(
                (c for c in status.get("conditions", []) if c["type"] == REQUEST_CONDITION), None
            )
            detail = (condition or {}).get("message", "")
            if request_id not in detail:  # a newer request's message: say what is recorded
                detail = applied.get("refused") or f"changed {', '.join(applied['tasks'])}"
            print(f"dagrun.kubedag.io/{name}: {detail}")
        if waiting and asyncio.get_running_loop().time() >= deadline:
            names = ", ".join(waiting)
            print(f"not applied after {timeout:g}s (is the controller running?): {names}")
            return 1
        if waiting:
            await asyncio.sleep(REQUEST_POLL_SECONDS)
    return 1 if failed else 0


def _current_namespace(kubeconfig: str | None) -> str:
    from kubernetes import config as sync_config

    try:
        _, context = sync_config.list_kube_config_contexts(config_file=kubeconfig)
        return str(context.get("context", {}).get("namespace") or "default")
    except Exception:
        return "default"


def cmd_run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.log_level != "debug":
        # kopf logs every handler call at INFO: one line per watch event drowns the rest.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    overrides: dict[str, Any] = {}
    if args.namespace:
        overrides["namespaces"] = tuple(args.namespace)
    if args.catchup_default is not None:
        overrides["catchup_by_default"] = args.catchup_default == "true"
    return asyncio.run(_serve(args, ControllerSettings(**overrides)))


async def _serve(args: argparse.Namespace, settings: ControllerSettings) -> int:
    import kopf
    from aiohttp import web
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    from kubedag.kube.client import Kube
    from kubedag.kube.leader import LeaderElector
    from kubedag.reconcilers.metrics import controller_registry
    from kubedag.reconcilers.operator import build_registry

    runner: web.AppRunner | None = None
    metrics: dict[str, CollectorRegistry] = {}
    if args.health_port:
        # Answers while the process lives, also on a standby replica, unlike kopf's probe.
        async def healthz(_: web.Request) -> web.Response:
            return web.Response(text="ok")

        async def serve_metrics(_: web.Request) -> web.Response:
            if "registry" not in metrics:
                return web.Response(status=503, text="the controller is not running (standby)")
            return web.Response(
                body=generate_latest(metrics["registry"]),
                headers={"Content-Type": CONTENT_TYPE_LATEST},
            )

        app = web.Application()
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/metrics", serve_metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "0.0.0.0", args.health_port).start()
    elector: LeaderElector | None = None
    kube: Kube | None = None
    if args.leader_elect:
        kube = await Kube.connect(args.kubeconfig)
        identity = os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
        elector = LeaderElector(
            kube.api_client, args.leader_elect_namespace, "kubedag-controller", identity
        )
        await elector.acquire()
    stop = asyncio.Event()
    operator = asyncio.create_task(
        kopf.operator(
            registry=build_registry(
                settings,
                args.kubeconfig,
                on_started=lambda c: metrics.update(registry=controller_registry(c.cache_sizes)),
            ),
            clusterwide=not settings.namespaces,
            namespaces=list(settings.namespaces),
            standalone=True,
            stop_flag=stop,
        )
    )
    watched: set[asyncio.Task[Any]] = {operator}
    if elector is not None:
        watched.add(asyncio.create_task(elector.keep()))
    done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
    lost = operator not in done
    if lost:
        logging.getLogger(__name__).error("lost the leader lease: stopping")
        stop.set()
        await operator
    if elector is not None and not lost:
        await elector.release()
    if kube is not None:
        await kube.close()
    if runner is not None:
        await runner.cleanup()
    return 1 if lost else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubedag", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check DAG files offline; exit 1 if any is invalid")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("plan", help="the scheduled runs due at a time, as the controller sees them")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--now", required=True, help="RFC 3339 time (or 'now')")
    p.add_argument(
        "--last-interval",
        metavar="START/END",
        help="data interval of the newest scheduled run, if any",
    )
    p.add_argument(
        "--upcoming", type=int, default=0, metavar="N", help="also list the next N runs not yet due"
    )
    p.add_argument("-o", "--output", choices=["table", "json"], default="table")
    p.add_argument(
        "--catchup-default",
        choices=["true", "false"],
        default="true",
        help="the controller's catchupByDefault, for DAGs that leave catchup unset",
    )
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("render", help="print the pod manifest of one task try")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--task", required=True)
    p.add_argument("--logical-date", required=True)
    p.add_argument("--try", dest="try_number", type=int, default=1)
    p.add_argument("--conf", help="JSON object overriding params")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("crds", help="write the CRD manifests generated from the models")
    p.add_argument("--dir", default="crds")
    p.add_argument("--check", action="store_true", help="exit 1 if the files are out of date")
    p.set_defaults(func=cmd_crds)

    p = sub.add_parser("trigger", help="create a manual DagRun in the cluster")
    p.add_argument("dag")
    p.add_argument("--conf", help="JSON object overriding the DAG's params")
    p.add_argument("--logical-date", default="now")
    p.add_argument("-n", "--namespace")
    p.add_argument("--kubeconfig")
    p.set_defaults(func=cmd_trigger)

    p = sub.add_parser(
        "clear",
        help="run tasks of a run again (or of every run of a DAG with --from/--to)",
        description="Clear a DagRun's tasks (every task unless --task) so they run again with "
        "a fresh budget of tries; a finished run is queued again. With --from and/or --to, "
        "NAME is a DAG and every run of it whose logical date lies in that range (both ends "
        "inclusive) is cleared.",
    )
    p.add_argument("name", metavar="NAME", help="a DagRun; a DAG with --from/--to")
    _request_options(p)
    p.add_argument("--only-failed", action="store_true", help="only failed/upstream_failed tasks")
    p.add_argument("--from", dest="from_date", metavar="DATE", help="first logical date (a DAG)")
    p.add_argument("--to", dest="to_date", metavar="DATE", help="last logical date (a DAG)")
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
    _request_options(p)
    p.set_defaults(func=cmd_mark)

    p = sub.add_parser("run", help="run the controller against the current kubeconfig")
    p.add_argument(
        "-n",
        "--namespace",
        action="append",
        help="watch only this namespace (repeatable); default all",
    )
    p.add_argument("--kubeconfig")
    p.add_argument("--catchup-default", choices=["true", "false"])
    p.add_argument(
        "--log-level",
        default=os.environ.get("KUBEDAG_LOG_LEVEL", "info"),
        choices=["debug", "info", "warning", "error"],
    )
    p.add_argument("--health-port", type=int, help="serve GET /healthz on this port")
    p.add_argument(
        "--leader-elect",
        action="store_true",
        help="run only while holding the kubedag-controller Lease (for replicas > 1)",
    )
    p.add_argument(
        "--leader-elect-namespace",
        default=os.environ.get("POD_NAMESPACE", "default"),
        help="namespace of the Lease (default $POD_NAMESPACE or default)",
    )
    p.set_defaults(func=cmd_run)
    return parser


def _request_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", action="append", metavar="T", help="a task (repeatable)")
    p.add_argument("--downstream", action="store_true", help="also every downstream task")
    p.add_argument("--upstream", action="store_true", help="also every upstream task")
    p.add_argument("--no-wait", action="store_true", help="do not wait for the controller")
    p.add_argument("--dry-run", action="store_true", help="only say what the request would do")
    p.add_argument("--timeout", type=float, default=30, help="seconds to wait (default 30)")
    p.add_argument("-n", "--namespace")
    p.add_argument("--kubeconfig")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (CliError, ScheduleError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
