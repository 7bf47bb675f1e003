"""``python -m bench``: run the benchmark scenarios and write the results.

    python -m bench                                  # every scenario, full scale
    python -m bench --suite side-by-side             # make bench: with every peer
    python -m bench --suite scale                    # make bench-scale: kubedag's limits
    python -m bench --scale smoke                    # a few tasks each, under two minutes
    python -m bench --scenario chain --scenario fanout
    python -m bench --compare bench/results/A.json bench/results/B.json

Writes ``<out>/<stamp>-<scale>.json`` (the stable, machine-readable document),
``<stamp>-<scale>.md`` (the tables) and ``<stamp>-<scale>-*.png`` (the distributions).
Exit status 1 only when a scenario could not run; a missed target is a finding.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from bench import plots
from bench.cluster import BenchCluster, ClusterSettings, python_version
from bench.peers import audit, sidebyside
from bench.peers.scale import PEER_SCALES
from bench.results import (
    SCENARIOS,
    SOAK_RSS_TOLERANCE_MIB,
    SUITES,
    ScenarioResult,
    build_document,
    compare_markdown,
    render_markdown,
    validate_document,
    write_json,
)
from bench.scenarios import SCALES, SCENARIO_FUNCTIONS, scale_parameters
from bench.session import BLACKHOLE_URL, Session, SilentEndpoint
from devcluster.versions import REPO_ROOT, pinned_versions

log = logging.getLogger("bench")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        help="run only this scenario (repeatable); default all",
    )
    parser.add_argument(
        "--suite",
        action="append",
        choices=sorted(SUITES),
        help="run this suite's scenarios (repeatable, adds to --scenario): side-by-side "
        "(make bench) or scale (make bench-scale)",
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument(
        "--system",
        action="append",
        choices=sidebyside.SYSTEMS,
        help="run only this system (repeatable); default all: kubedag's scenarios, and the "
        "peers' side-by-side runs of chain, fanout, single_task and many_dags",
    )
    parser.add_argument(
        "--peer-scale",
        choices=sorted(PEER_SCALES),
        help="the side-by-side runs' sizes; default that of --scale (see bench/peers/scale.py)",
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    parser.add_argument(
        "--task-duration-ms",
        type=int,
        help="how long each task pod runs (kwok's delay); default 1000 (full), 100 (smoke)",
    )
    parser.add_argument(
        "--start-delay-ms", type=int, default=0, help="pod Pending to Running on a fake node"
    )
    parser.add_argument("--nodes", type=int, default=5, help="fake nodes (1000 pods each)")
    parser.add_argument(
        "--scheduler-qps", type=int, default=200, help="kube-scheduler's client QPS"
    )
    parser.add_argument(
        "--profile",
        metavar="PY_SPY",
        help="record the controller with this py-spy binary during each scenario "
        "(speedscope JSON in the work folder)",
    )
    parser.add_argument(
        "--profile-rate",
        type=int,
        default=100,
        metavar="HZ",
        help="samples a second for --profile (more for a short or mostly idle scenario)",
    )
    parser.add_argument(
        "--controller-pythonpath",
        type=Path,
        metavar="DIR",
        help="run the controller with this kubedag source folder first on PYTHONPATH "
        "(e.g. a patched copy of controller/, to measure a change before and after)",
    )
    parser.add_argument(
        "--shared-cluster",
        action="store_true",
        help="run every scenario and peer on one cluster (each deleting its pods when it ends) "
        "instead of a fresh cluster for each; faster, but a run's figures then depend on what "
        "ran before it",
    )
    parser.add_argument("--workdir", type=Path, help="keep logs and the control plane's files here")
    parser.add_argument(
        "--notify-blackhole",
        action="store_true",
        help="chain: every task notifies (onSuccess, onFailure, onRetry) a webhook at "
        f"{BLACKHOLE_URL} (in 198.18.0.0/15, blackholed on the bench machine), to show that "
        "sending stays off the scheduling path",
    )
    parser.add_argument(
        "--notify-silent",
        action="store_true",
        help="the same with a local port that accepts connections and never answers (every "
        "attempt waits for its whole timeout)",
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("OLD", "NEW"),
        help="print a Markdown comparison of two result files and exit",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def environment() -> dict[str, Any]:
    versions = pinned_versions()
    meminfo = Path("/proc/meminfo").read_text().split()
    memory_kib = int(meminfo[meminfo.index("MemTotal:") + 1])
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--", "controller"))
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "platform": platform.platform(),
        "python": python_version(),
        "kubernetes": versions.get("KUBERNETES_VERSION"),
        "etcd": versions.get("ETCD_VERSION"),
        "kwok": versions.get("KWOK_VERSION"),
        "kubedag_commit": commit + ("+dirty" if dirty else ""),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }


def _git(*args: str) -> str:
    try:
        result = subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False
        )
    except OSError:
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def write_plots(document: dict[str, Any], out: Path, stem: str) -> dict[str, str]:
    """One PNG per distribution; returns "scenario:what" -> file name (relative to out)."""
    written: dict[str, str] = {}
    scenarios = document["scenarios"]

    def save(key: str, figure: Figure) -> None:
        name = f"{stem}-{key.replace(':', '-').replace('_', '-')}.png"
        plots.save(figure, out / name)
        written[key] = name

    if "chain" in scenarios:
        hops = scenarios["chain"]["samples"].get("hop_latency_ms", [])
        marks = [(1000.0, "target p99 ≤ 1 s"), (100.0, "target p50 ≤ 100 ms")]
        save(
            "chain:hop-latency",
            plots.cdf_figure(
                "chain: upstream pod finished to next pod created", {"hops": hops}, targets=marks
            ),
        )
    if "many_dags" in scenarios:
        lags = scenarios["many_dags"]["samples"].get("scheduling_lag_ms", [])
        save(
            "many_dags:scheduling-lag",
            plots.cdf_figure(
                "many DAGs: interval end to DagRun created",
                {"runs": lags},
                targets=[(1000.0, "target p99 ≤ 1 s")],
            ),
        )
    if "single_task" in scenarios:
        latencies = scenarios["single_task"]["samples"].get("run_latency_ms", [])
        save(
            "single_task:run-latency",
            plots.cdf_figure("single-task runs: created to finished", {"runs": latencies}),
        )
    if "fanout" in scenarios:
        s = scenarios["fanout"]["samples"]
        run_done = scenarios["fanout"]["metrics"].get("run_duration_s")
        save(
            "fanout:timeline",
            plots.timeline_figure(
                "fan-out: pods over time",
                {
                    "created": s.get("pod_created_s", []),
                    "running": s.get("pod_running_s", []),
                    "finished": s.get("pod_finished_s", []),
                    "finished in DagRun status": s.get("run_recorded_finished_s", []),
                },
                x_label="seconds since the DagRun was created",
                y_label="pods",
                markers=[(run_done, "DagRun finished")] if run_done is not None else [],
            ),
        )
    if "catchup" in scenarios:
        s = scenarios["catchup"]["samples"]
        save(
            "catchup:timeline",
            plots.timeline_figure(
                "catchup: runs over time",
                {"created": s.get("run_created_s", []), "finished": s.get("run_finished_s", [])},
                x_label="seconds since the DAG was created",
                y_label="runs",
            ),
        )
    if "soak" in scenarios:
        cycles = scenarios["soak"]["details"].get("cycles", [])
        save(
            "soak:cycles",
            plots.cycles_figure(
                "soak: after each cycle of creating and deleting everything",
                [c["rss_mib"] for c in cycles],
                [c["largest_cache_entries"] for c in cycles],
                [c["largest_cache"] for c in cycles],
                rss_tolerance_mib=SOAK_RSS_TOLERANCE_MIB,
            ),
        )
    return written


def selected_scenarios(scenarios: Sequence[str], suites: Sequence[str]) -> list[str]:
    """The scenarios named and those of the suites named, in running order; all if none."""
    chosen = set(scenarios).union(*(SUITES[suite] for suite in suites))
    return [s for s in SCENARIOS if not chosen or s in chosen]


def running_order(kubedag: Sequence[str], peers: Sequence[str]) -> list[str]:
    """Every scenario kubedag or a peer runs, each once, in the fixed order: a scenario's
    systems run one after another (kubedag first), so the figures a table sets side by side
    come from the same minutes of the run and the same state of the cluster."""
    return [s for s in SCENARIOS if s in kubedag or s in peers]


def run(args: argparse.Namespace) -> int:
    scale = SCALES[args.scale]
    names = selected_scenarios(args.scenario or [], args.suite or [])
    systems = args.system or list(sidebyside.SYSTEMS)
    peer_names = [n for n in names if n in sidebyside.RUNNERS] if set(systems) - {"kubedag"} else []
    if "kubedag" not in systems:
        names = []
    duration = args.task_duration_ms
    if duration is None:
        duration = 1000 if scale.name == "full" else 100
    settings = ClusterSettings(
        nodes=args.nodes,
        task_duration_ms=duration,
        start_delay_ms=args.start_delay_ms,
        scheduler_qps=args.scheduler_qps,
    )
    started = datetime.now(UTC)
    stem = started.strftime("%Y-%m-%d-%H%M%S") + f"-{scale.name}"
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kubedag-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    env = environment()
    log.info("bench %s: scenarios %s; work folder %s", scale.name, ", ".join(names), workdir)
    results: list[ScenarioResult] = []
    errors: dict[str, str] = {}
    audit_dir = workdir / "audit"
    cluster = BenchCluster(
        workdir,
        settings,
        audit.apiserver_args(audit_dir) if peer_names else (),
        fresh_per_run=not args.shared_cluster,
    )
    peer_results: dict[str, list[dict[str, Any]]] = {}
    peer_errors: dict[str, str] = {}
    peer_scale = PEER_SCALES[args.peer_scale or scale.name]
    session = Session(
        cluster,
        workdir,
        profiler=args.profile,
        profile_rate=args.profile_rate,
        controller_pythonpath=args.controller_pythonpath,
    )
    silent = SilentEndpoint() if args.notify_silent else None
    session.notify_url = silent.url if silent else BLACKHOLE_URL if args.notify_blackhole else None
    try:
        cluster.start()
        audit_log = audit.AuditLog(audit_dir / "audit.log")
        sidebyside.install_crds(session, peer_names, systems)
        for name in running_order(names, peer_names):
            if name in names:
                began = time.monotonic()
                log.info("scenario %s ...", name)
                try:
                    results.append(SCENARIO_FUNCTIONS[name](session, scale))
                except Exception as error:
                    errors[name] = f"{type(error).__name__}: {error}"
                    log.error("scenario %s failed:\n%s", name, traceback.format_exc())
                log.info("scenario %s took %.1fs", name, time.monotonic() - began)
            if name in peer_names:
                found, failed = sidebyside.run_peers(
                    session, audit_log, peer_scale, [name], systems
                )
                peer_results.update(found)
                peer_errors.update(failed)
    finally:
        cluster.stop()
        if silent is not None:
            silent.close()
    env["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    command = "python -m bench " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "python -m bench"
    document = build_document(
        started=started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        finished=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        command=command,
        scale=scale.name,
        environment=env,
        settings={
            **{k: v for k, v in vars(settings).items()},
            "cluster_per_run": cluster.fresh_per_run,
            "cluster_renewals_s": cluster.renewals,
            "profiled": bool(args.profile),
            "controller_pythonpath": str(args.controller_pythonpath or ""),
            "notify_url": session.notify_url or "",
            "controller_env": {k: v for k, v in os.environ.items() if k.startswith("KUBEDAG_")},
            "scale": scale_parameters(scale),
            "systems": systems,
            "peer_scale": vars(peer_scale) if peer_names else {},
        },
        results=results,
    )
    if peer_names:
        document["peers"] = peer_results
        if peer_errors:
            document["peer_errors"] = peer_errors
    if errors:
        document.setdefault("errors", {}).update(errors)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    if session.profiles:
        # Beside the results: the work folder is removed after a run without errors.
        document["profiles"] = {
            name: str(_keep_profile(Path(path), out / f"{stem}-{name}.speedscope.json"))
            for name, path in session.profiles.items()
        }
    problems = validate_document(document)
    if problems:
        errors["document"] = "; ".join(problems)
        document["errors"] = errors
    json_path = write_json(document, out / f"{stem}.json")
    plot_files = write_plots(document, out, stem)
    peer_plots = sidebyside.write_plots(document, out, stem)
    markdown = render_markdown(document, plot_files)
    side_by_side = sidebyside.render(document, peer_plots)
    if side_by_side:
        markdown = markdown.rstrip() + "\n\n" + side_by_side
    (out / f"{stem}.md").write_text(markdown)
    print(markdown)
    print(
        f"wrote {json_path}, {out / f'{stem}.md'} and {len(plot_files) + len(peer_plots)} "
        f"plots; logs in {workdir}"
    )
    if not args.workdir and not errors and not peer_errors:
        shutil.rmtree(workdir, ignore_errors=True)
    for name, message in {**errors, **peer_errors}.items():
        print(f"error: {name}: {message}", file=sys.stderr)
    return 1 if errors or peer_errors else 0


def _keep_profile(recorded: Path, kept: Path) -> Path | str:
    """Copy a profile out of the work folder; a profile py-spy did not write stays named."""
    if not recorded.exists():
        return f"{recorded} (not written)"
    shutil.copyfile(recorded, kept)
    return kept


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
    )
    if args.compare:
        old, new = (json.loads(p.read_text()) for p in args.compare)
        print(compare_markdown(old, new), end="")
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
