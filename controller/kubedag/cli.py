"""The `kubedag` command: offline tools (validate, plan, render, crds) and cluster ones
(trigger, backfill, run)."""

import argparse
import asyncio
import json
import logging
import os
import socket
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kubedag.commands import (
    backfill,
    build,
    clear,
    completion,
    connection,
    dag_test,
    datasets,
    import_airflow,
    lineage,
    logs,
    outputs,
    pause,
    tasks,
    trigger,
)
from kubedag.commands.common import CliError, parse_conf
from kubedag.commands.common import current_namespace as _current_namespace
from kubedag.commands.output import FORMATS, add_output_flag, dump
from kubedag.core.dag_scheduler import plan_schedule
from kubedag.core.dates import parse_time, rfc3339
from kubedag.core.naming import dagrun_name
from kubedag.core.schedule import (
    Backlog,
    DataInterval,
    ScheduleError,
    Window,
    adjacent_logical_dates,
    next_run,
    parse_timetable,
)
from kubedag.core.sharding import SHARD_LABEL, plan_problems
from kubedag.core.snapshot import build_snapshot
from kubedag.core.suggestions import did_you_mean
from kubedag.core.task_launch import prepare_launch
from kubedag.core.templating import RunContext, TemplateError
from kubedag.core.validation import describe_validation_error, validate_dag
from kubedag.manifests import render
from kubedag.manifests.crds import render_crds, write_crds
from kubedag.manifests.documents import Loaded, dag_documents, parse_dag
from kubedag.models.dag import Dag
from kubedag.models.dagrun import RunType
from kubedag.reconcilers.settings import ControllerSettings
from kubedag.web import main as web_main


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
    results: list[dict[str, Any]] = []
    for loaded, dag in _load_dags(args.files):
        name = loaded.body.get("metadata", {}).get("name", "?")
        messages = (
            dag if isinstance(dag, list) else [p.message for p in validate_dag(dag.name, dag.spec)]
        )
        results.append(
            {"file": str(loaded.source), "dag": name, "valid": not messages, "problems": messages}
        )
        if args.output:
            failed = failed or bool(messages)
        elif messages:
            failed = True
            print(f"{loaded.source}: DAG {name}: invalid")
            for message in messages:
                print(f"  - {message}")
        else:
            print(f"{loaded.source}: DAG {name}: valid")
    if args.output:
        print(dump(results, args.output), end="")
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
    if dag.spec.schedule_on is not None:
        raise CliError(
            f"DAG {dag.name} runs on datasets (scheduleOn), not on a schedule: see"
            " `kubedag datasets` for what it waits for"
        )
    if dag.spec.schedule is None:
        raise CliError(f"DAG {dag.name} has no schedule: it only runs when triggered")
    now = _parse_cli_time(args.now, "--now")
    last = _parse_interval(args.last_interval) if args.last_interval else None
    plan = plan_schedule(
        dag.spec,
        catchup_default=args.catchup_default == "true",
        last_interval=last,
        now=now,
        limit=args.limit,
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
    if args.output in FORMATS:
        print(dump(rows, args.output), end="")
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
    if plan.backlog is not None:
        # JSON rows keep their shape; the summary of what is not listed goes to stderr.
        print(_backlog_summary(plan.backlog), file=sys.stderr if args.output in FORMATS else None)
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _backlog_summary(backlog: Backlog) -> str:
    count = f"about {backlog.count:,}" if backlog.estimated else f"{backlog.count:,}"
    return (
        f"... and {count} more due, from {rfc3339(backlog.oldest.logical_date)}"
        " (raise --limit to list more; the controller creates them as maxActiveRuns leaves room)"
    )


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
        raise CliError(
            f"DAG {dag.name} has no task {args.task!r}{did_you_mean(args.task, names)};"
            f" tasks: {', '.join(names)}"
        )
    if snapshot.task(args.task).in_controller:
        raise CliError(
            f"task {args.task} runs in the controller (triggerDagRun or externalTaskSensor):"
            " it has no pod"
        )
    logical = _parse_cli_time(args.logical_date, "--logical-date")
    interval = _interval_at(dag, logical)
    run_type = RunType.SCHEDULED if dag.spec.schedule else RunType.MANUAL
    conf = json.loads(args.conf) if args.conf else {}
    outputs = json.loads(args.outputs) if args.outputs else {}
    if not isinstance(outputs, dict) or not all(isinstance(o, dict) for o in outputs.values()):
        raise CliError('--outputs: a JSON object of task to output, e.g. {"extract": {"rows": 1}}')
    timetable = parse_timetable(dag.spec.schedule, dag.spec.timezone) if dag.spec.schedule else None
    adjacent = adjacent_logical_dates(
        timetable, logical, interval.end, manual=run_type is RunType.MANUAL
    )
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
        outputs=outputs,
        prev_execution_date=adjacent.previous,
        next_execution_date=adjacent.next,
        schedule=dag.spec.schedule,
        timezone=dag.spec.timezone,
    )
    try:
        launch = prepare_launch(snapshot.task(args.task), ctx)
    except TemplateError as error:
        raise CliError(f"task {args.task}: {error}") from None
    pod = render.task_pod(launch, namespace=dag.namespace, owner=None)
    print(dump(pod, args.output or "yaml"), end="")
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
    conf = parse_conf(args.conf)
    logical = _parse_cli_time(args.logical_date, "--logical-date")
    return asyncio.run(_trigger(args, conf, logical))


async def _trigger(args: argparse.Namespace, conf: dict[str, Any] | None, logical: datetime) -> int:
    from kubedag.kube.client import Kube

    kube = await Kube.connect(args.kubeconfig)
    try:
        namespace = args.namespace or _current_namespace(args.kubeconfig)
        created = await trigger.trigger(kube, namespace, args.dag, conf, logical)
        if args.output:
            print(dump(created, args.output), end="")
        else:
            print(f"dagrun.kubedag.io/{created['metadata']['name']} created")
        return 0
    finally:
        await kube.close()


def cmd_run(args: argparse.Namespace) -> int:
    from kubedag.reconcilers import log_format

    log_format.configure(args.log_level, args.log_format)
    if args.log_level != "debug":
        # kopf logs every handler call at INFO: one line per watch event drowns the rest.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    overrides: dict[str, Any] = {}
    if args.namespace:
        overrides["namespaces"] = tuple(args.namespace)
    if args.catchup_default is not None:
        overrides["catchup_by_default"] = args.catchup_default == "true"
    if args.shard is not None:
        overrides["shard"] = args.shard or None
    if args.shards is not None:
        overrides["shards"] = tuple(s.strip() for s in args.shards.split(",") if s.strip())
    if args.shard_default is not None:
        overrides["shard_default"] = args.shard_default or None
    try:
        settings = ControllerSettings(**overrides)
    except ValueError as error:  # a bad KUBEDAG_* environment variable, named in the message
        raise CliError(str(error)) from error
    _check_sharding(settings)
    return asyncio.run(_serve(args, settings))


def _check_sharding(settings: ControllerSettings) -> None:
    if settings.shard is None:
        if settings.shards or settings.shard_default:
            raise CliError("--shards and --shard-default need --shard: the name of this shard")
        return
    if settings.namespaces:
        raise CliError(
            "--shard and --namespace: a shard takes the namespaces labelled"
            f" {SHARD_LABEL}={settings.shard} (and unlabelled ones if it is the default);"
            " use one or the other"
        )
    problems = plan_problems(settings.shards, settings.shard_default, settings.shard)
    if problems:
        raise CliError("; ".join(problems))


async def _serve(args: argparse.Namespace, settings: ControllerSettings) -> int:
    import kopf
    from aiohttp import web
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from kubedag.kube.client import Kube
    from kubedag.kube.leader import LeaderElector
    from kubedag.kube.metrics import LEADER
    from kubedag.reconcilers import garbage_collection
    from kubedag.reconcilers.metrics import Workload, process_registry
    from kubedag.reconcilers.operator import build_registry
    from kubedag.reconcilers.shards import NamespaceMembership, Operator, serve_shard

    garbage_collection.tune()  # every module the controller runs is imported by now
    registry, workload = process_registry()
    runner: web.AppRunner | None = None
    ports = {port for port in (args.health_port, args.metrics_port) if port}
    if ports:
        # Both answer while the process lives, also on a standby replica (kopf's probe does
        # not): a standby's /metrics says it stands by (kubedag_leader 0).
        async def healthz(_: web.Request) -> web.Response:
            return web.Response(text="ok")

        async def serve_metrics(_: web.Request) -> web.Response:
            return web.Response(
                body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
            )

        app = web.Application()
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/metrics", serve_metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for port in sorted(ports):
            await web.TCPSite(runner, "0.0.0.0", port).start()
    elector: LeaderElector | None = None
    kube: Kube | None = None
    shard = settings.shard
    lease = settings.shard_plan.lease_name(shard) if shard else "kubedag-controller"
    if not args.leader_elect:
        LEADER.set(1)
    if args.leader_elect or shard:
        kube = await Kube.connect(args.kubeconfig)
    if args.leader_elect:
        assert kube is not None
        identity = os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"
        elector = LeaderElector(kube.api_client, args.leader_elect_namespace, lease, identity)
        await elector.acquire()

    def start_operator(namespaces: frozenset[str] | None) -> Operator:
        stop = asyncio.Event()
        task = asyncio.create_task(
            kopf.operator(
                registry=build_registry(
                    settings,
                    args.kubeconfig,
                    on_started=lambda c: setattr(workload, "controller", Workload.of(c)),
                    # kopf waits up to 5 s for its stop-flag waiter after a signal; a flag set
                    # once the controller has stopped lets it exit at once.
                    on_stopped=stop.set,
                    namespaces=namespaces,
                ),
                clusterwide=namespaces is None,
                namespaces=sorted(namespaces or ()),
                standalone=True,
                stop_flag=stop,
            )
        )
        return Operator(task, stop)

    keep = asyncio.create_task(elector.keep()) if elector is not None else None
    if shard is not None:
        assert kube is not None
        membership = NamespaceMembership(kube, settings.shard_plan, shard)
        lost = await serve_shard(membership, start_operator, keep)
    else:
        operator = start_operator(frozenset(settings.namespaces) or None)
        watched = {operator.task} | ({keep} if keep else set())
        done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        lost = operator.task not in done
        if lost:
            await operator.stopped()
    if lost:
        logging.getLogger(__name__).error("lost the leader lease %s: stopping", lease)
    if elector is not None and not lost:
        await elector.release()
    if kube is not None:
        await kube.close()
    if runner is not None:
        await runner.cleanup()
    return 1 if lost else 0


def build_parser(prog: str = "kubedag") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check DAG files offline; exit 1 if any is invalid")
    p.add_argument("files", nargs="+", metavar="FILE")
    add_output_flag(p)
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
    p.add_argument(
        "--limit",
        type=_positive,
        default=100,
        metavar="N",
        help="list at most N due runs and summarise the rest (default 100)",
    )
    p.add_argument("-o", "--output", choices=["table", *FORMATS], default="table")
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
    p.add_argument("--outputs", help="upstream tasks' outputs, a JSON object of task to output")
    add_output_flag(p)
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("crds", help="write the CRD manifests generated from the models")
    p.add_argument("--dir", default="crds")
    p.add_argument("--check", action="store_true", help="exit 1 if the files are out of date")
    p.set_defaults(func=cmd_crds)

    pause.add_parsers(sub)
    logs.add_parser(sub)
    outputs.add_parser(sub)
    tasks.add_parser(sub)
    clear.add_parsers(sub)

    p = sub.add_parser("trigger", help="create a manual DagRun in the cluster")
    p.add_argument("dag")
    p.add_argument("--conf", help="JSON object overriding the DAG's params")
    p.add_argument("--logical-date", default="now")
    add_output_flag(p)
    p.add_argument("-n", "--namespace")
    p.add_argument("--kubeconfig")
    p.set_defaults(func=cmd_trigger)

    backfill.add_parser(sub)
    connection.add_parser(sub)
    datasets.add_parser(sub)
    lineage.add_parsers(sub)
    build.add_parser(sub)
    import_airflow.add_parser(sub)
    dag_test.add_parser(sub)
    completion.add_parser(sub)
    web_main.add_parser(sub)

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
    p.add_argument(
        "--log-format",
        default=os.environ.get("KUBEDAG_LOG_FORMAT", "text"),
        choices=["text", "json"],
        help="json: one object a line, with the namespace, DAG, run and task it concerns",
    )
    p.add_argument(
        "--health-port", type=int, help="serve GET /healthz (and GET /metrics) on this port"
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=os.environ.get("KUBEDAG_METRICS_PORT") or None,
        help="also serve GET /metrics (Prometheus) on this port (default $KUBEDAG_METRICS_PORT)",
    )
    p.add_argument(
        "--leader-elect",
        action="store_true",
        help="run only while holding the kubedag-controller Lease, a shard's"
        " kubedag-controller-NAME (for replicas > 1)",
    )
    p.add_argument(
        "--shard",
        metavar="NAME",
        help="run as this shard: only namespaces labelled kubedag.io/shard=NAME, under the"
        " Lease kubedag-controller-NAME (default $KUBEDAG_SHARD)",
    )
    p.add_argument(
        "--shards",
        metavar="A,B",
        help="every shard's name, this one's too (default $KUBEDAG_SHARDS)",
    )
    p.add_argument(
        "--shard-default",
        metavar="NAME",
        help="the shard that takes namespaces without the label; none if unset"
        " (default $KUBEDAG_SHARD_DEFAULT)",
    )
    p.add_argument(
        "--leader-elect-namespace",
        default=os.environ.get("POD_NAMESPACE", "default"),
        help="namespace of the Lease (default $POD_NAMESPACE or default)",
    )
    p.set_defaults(func=cmd_run)
    return parser


def _program() -> str:
    """`kubectl kubedag` when kubectl runs the command as its plugin (kubectl-kubedag)."""
    return "kubectl kubedag" if Path(sys.argv[0]).name == "kubectl-kubedag" else "kubedag"


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_program())
    if words[:1] == ["__complete"]:  # the shell completion scripts' callback
        return completion.complete(parser, words[1:])
    args = parser.parse_args(words)
    try:
        return int(args.func(args))
    except (CliError, ScheduleError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def kubectl_complete_main() -> int:
    """`kubectl_complete-kubedag`: what kubectl runs to complete `kubectl kubedag ...`."""
    return completion.kubectl_complete(build_parser("kubectl kubedag"), sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
