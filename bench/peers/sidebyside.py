"""The side-by-side scenarios: which systems each has, running the peers, and the report
(one table per scenario, kubedag's ratio to the best peer and to the bare floor, and the
distributions drawn together)."""

from __future__ import annotations

import logging
import math
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bench import plots
from bench.peers import airflow, argo, bare, cronjob, pods_kept
from bench.peers.audit import AuditLog
from bench.peers.peerrun import PeerResult
from bench.peers.scale import PeerScale
from bench.results import format_value
from bench.session import Session

log = logging.getLogger(__name__)

SYSTEMS = ("kubedag", "cronjob", "argo", "airflow", "bare")
PEER_SYSTEMS = ("cronjob", "argo", "airflow")
"""The bare client is the floor, not a peer: it is left out of "best peer"."""

PeerScenario = Callable[[Session, AuditLog, PeerScale], list[PeerResult]]

RUNNERS: dict[str, dict[str, PeerScenario]] = {
    "chain": {"argo": argo.chain, "airflow": airflow.chain, "bare": bare.chain},
    "fanout": {"argo": argo.fanout},
    "single_task": {
        "kubedag": pods_kept.single_task,
        "cronjob": cronjob.single_task,
        "argo": argo.single_task,
        "bare": bare.single_task,
    },
    "many_dags": {
        "cronjob": cronjob.many_dags,
        "argo": argo.many_dags,
        "airflow": airflow.many_dags,
        "bare": bare.many_dags,
    },
}
"""Side-by-side scenario -> the systems beside kubedag's own row that have it (kubedag
itself: a variant doing what the peers do)."""


MACHINE_CPU = "machine_cpu_per_run_ms"
"""kube-apiserver, etcd, kube-scheduler, kwok and the controller, per completed run: with the
machine saturated, the runs a minute follow its inverse."""
CLUSTER_CPU = "cluster_cpu_per_run_ms"
"""The same without the controller: what the system's API traffic costs the cluster."""


@dataclass(frozen=True)
class Column:
    metric: str
    title: str
    lower_is_better: bool = True
    headline: bool = True
    """Ratios are given for headline columns."""


COLUMNS: dict[str, tuple[Column, ...]] = {
    "chain": (
        Column("hop_latency_p50_ms", "hop p50"),
        Column("hop_latency_p99_ms", "hop p99"),
        Column("tasks", "steps", headline=False),
    ),
    "fanout": (
        Column("run_duration_s", "run duration"),
        Column("pods_created_per_s", "pods created/s", lower_is_better=False),
        Column("tasks", "tasks", headline=False),
    ),
    "single_task": (
        Column("completed_runs_per_min", "runs/min", lower_is_better=False),
        Column("run_latency_p50_ms", "latency p50"),
        Column(MACHINE_CPU, "machine CPU/run", headline=False),
        Column(CLUSTER_CPU, "of it the cluster's", headline=False),
    ),
    "many_dags": (
        Column("scheduling_lag_p50_ms", "lag p50"),
        Column("scheduling_lag_p99_ms", "lag p99"),
        Column("runs_created", "runs created", headline=False),
        Column("minutes_skipped", "minutes skipped", headline=False),
    ),
}
COST_COLUMNS = (
    Column("api_writes_per_try", "writes/try", headline=False),
    Column("controller_cpu_s", "controller CPU", headline=False),
    Column("controller_cpu_ms_per_try", "controller CPU/try", headline=False),
    Column("apiserver_cpu_ms_per_try", "API server CPU/try", headline=False),
)

WHAT = {
    "chain": "Chain: a pod finished to the next step's pod created (the harness's watch); "
    "Airflow (tasks as local processes, no pods): a task's end_date to the next one's "
    "start_date",
    "fanout": "Fan-out: one run of N independent steps, run created to finished",
    "single_task": "Single-step runs (kubedag DagRuns, Argo Workflows, Jobs) completed per "
    "minute, at most a backlog open",
    "many_dags": "Runs due on the same minute (kubedag DAGs, CronJobs, CronWorkflows, Airflow "
    "DAGs; bare: the DagRun creates alone): creation minus the scheduled minute (Airflow, "
    "tasks as local processes, no pods: the commit of the dag_run row)",
}


AIRFLOW_NOTE = (
    "Airflow's rows: tasks as local processes, no pods (LocalExecutor on PostgreSQL, on the "
    "same machine; no API server, kube-scheduler or kwok node is involved); its figures come "
    "from its metadata database, its CPU is every Airflow process's, and it has no audit-log "
    "writes (its database commits per task try are in the JSON's metrics)."
)


def install_crds(session: Session, scenarios: Sequence[str], systems: Sequence[str]) -> None:
    """The peers' custom resources on every cluster, when a selected peer needs them."""
    if "argo" in systems and any("argo" in RUNNERS[s] for s in scenarios if s in RUNNERS):
        session.cluster.add_crds(lambda: argo.install_crds(session))


def run_peers(
    session: Session,
    audit: AuditLog,
    scale: PeerScale,
    scenarios: Sequence[str],
    systems: Sequence[str],
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """Every selected peer of every selected side-by-side scenario; errors by name.
    ``install_crds`` first."""
    results: dict[str, list[dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    for scenario in scenarios:
        for system, runner in RUNNERS.get(scenario, {}).items():
            if system not in systems:
                continue
            began = time.monotonic()
            log.info("side by side: %s on %s ...", scenario, system)
            try:
                results.setdefault(scenario, []).extend(
                    r.to_json() for r in runner(session, audit, scale)
                )
            except Exception as error:
                errors[f"{scenario}:{system}"] = f"{type(error).__name__}: {error}"
                log.error("%s on %s failed:\n%s", scenario, system, traceback.format_exc())
            log.info("%s on %s took %.1fs", scenario, system, time.monotonic() - began)
    return results, errors


def with_machine_cpu(metrics: Mapping[str, Any], details: Mapping[str, Any]) -> dict[str, Any]:
    """`metrics` with the machine's and the cluster's CPU per completed run, when the run
    recorded its cluster's CPU."""
    cluster = details.get("cluster_cpu_s") or {}
    runs = metrics.get("runs_completed")
    if not cluster or not isinstance(runs, int | float) or runs <= 0:
        return dict(metrics)
    cluster_ms = 1000 * sum(cluster.values()) / runs
    controller_ms = 1000 * float(metrics.get("controller_cpu_s") or 0.0) / runs
    return {**metrics, CLUSTER_CPU: cluster_ms, MACHINE_CPU: cluster_ms + controller_ms}


def free_controller_bound(kubedag: Mapping[str, Any], best: Mapping[str, Any]) -> float | None:
    """How many times the best peer's rate kubedag could reach at most if its controller
    cost nothing: the peer's machine CPU per run over kubedag's cluster CPU per run (the
    rate taken as the inverse of the CPU per run, the machine saturated)."""
    return ratio(_value(kubedag, CLUSTER_CPU), _value(best, MACHINE_CPU), lower_is_better=True)


def kubedag_row(document: Mapping[str, Any], scenario: str) -> dict[str, Any] | None:
    body = document.get("scenarios", {}).get(scenario)
    if body is None:
        return None
    metrics = with_machine_cpu(body.get("metrics", {}), body.get("details", {}))
    if scenario == "many_dags" and metrics.get("runs_expected") is not None:
        metrics["minutes_skipped"] = metrics["runs_expected"] - (metrics.get("runs_created") or 0)
    env = (document.get("settings") or {}).get("controller_env") or {}
    settings = ", ".join(f"{k}={v}" for k, v in sorted(env.items())) or "shipped defaults"
    return {
        "system": "kubedag",
        "variant": "",
        "settings": settings,
        "metrics": metrics,
        "samples": body.get("samples", {}),
    }


def _label(row: Mapping[str, Any]) -> str:
    return f"{row['system']} ({row['variant']})" if row.get("variant") else str(row["system"])


def _value(row: Mapping[str, Any], metric: str) -> float | None:
    value = row.get("metrics", {}).get(metric)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def ratio(kubedag: float | None, other: float | None, lower_is_better: bool) -> float | None:
    """How many times better kubedag is (above 1: ahead; below 1: behind)."""
    if kubedag is None or other is None or kubedag <= 0 or other <= 0:
        return None
    return other / kubedag if lower_is_better else kubedag / other


def best_peer(rows: Sequence[Mapping[str, Any]], column: Column) -> Mapping[str, Any] | None:
    candidates = [
        r for r in rows if r["system"] in PEER_SYSTEMS and _value(r, column.metric) is not None
    ]
    if not candidates:
        return None

    def key(r: Mapping[str, Any]) -> float:
        value = _value(r, column.metric)
        assert value is not None
        return value if column.lower_is_better else -value

    return min(candidates, key=key)


def _ratio_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def scenario_table(scenario: str, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    columns = (*COLUMNS[scenario], *COST_COLUMNS)
    lines = [
        "| system | " + " | ".join(c.title for c in columns) + " | settings |",
        "|---|" + "---:|" * len(columns) + "---|",
    ]
    for row in rows:
        cells = [format_value(c.metric, _value(row, c.metric)) for c in columns]
        lines.append(f"| {_label(row)} | " + " | ".join(cells) + f" | {row['settings']} |")
    kubedag = [r for r in rows if r["system"] == "kubedag"]
    floor = next((r for r in rows if r["system"] == "bare"), None)
    for mine in kubedag:  # its own row first, then a variant doing the peers' work
        cells = []
        for c in columns:
            best = best_peer(rows, c) if c.headline else None
            if best is None:
                cells.append("")
            else:
                value = ratio(_value(mine, c.metric), _value(best, c.metric), c.lower_is_better)
                cells.append(f"**{_ratio_text(value)}** vs {_label(best)}")
        lines.append(f"| {_label(mine)} ahead of the best peer by | " + " | ".join(cells) + " | |")
    if kubedag and floor is not None:
        floor_cells = []
        for c in columns:
            # The floor is better by construction: kubedag's figure as a multiple of it.
            value = ratio(_value(floor, c.metric), _value(kubedag[0], c.metric), c.lower_is_better)
            floor_cells.append(_ratio_text(value) if c.headline else "")
        lines.append("| kubedag / bare floor | " + " | ".join(floor_cells) + " | |")
    if kubedag and any(c.metric == MACHINE_CPU for c in columns):
        rate = COLUMNS[scenario][0]
        bests = [best_peer([r for r in rows if r["system"] == s], rate) for s in PEER_SYSTEMS]
        bounds = [
            f"**{_ratio_text(bound)}** {_label(best)}'s"
            for best in bests
            if best is not None and (bound := free_controller_bound(kubedag[0], best)) is not None
        ]
        if bounds:
            lines += [
                "",
                "With a controller that cost nothing, kubedag's API traffic as it is would allow "
                f"at most {' and '.join(bounds)} {rate.title} (the peer's machine CPU per run "
                "over kubedag's cluster CPU per run).",
            ]
    return lines


def rows_of(document: Mapping[str, Any], scenario: str) -> list[Mapping[str, Any]]:
    rows: list[Mapping[str, Any]] = []
    mine = kubedag_row(document, scenario)
    if mine is not None:
        rows.append(mine)
    rows += [
        {**row, "metrics": with_machine_cpu(row.get("metrics", {}), row.get("details", {}))}
        for row in document.get("peers", {}).get(scenario, [])
    ]
    return rows


def render(document: Mapping[str, Any], plot_files: Mapping[str, str]) -> str:
    """The side-by-side section of the bench report (empty when no peer ran)."""
    peers = document.get("peers") or {}
    if not peers:
        return ""
    lines = [
        "## Side by side with the peers",
        "",
        "The same API server, etcd, kube-scheduler and kwok nodes, one system at a time, a "
        "scenario's systems one after another, each with a fresh controller and namespace"
        + (
            " on a cluster of its own (started anew: empty etcd, new API server, scheduler, "
            "kwok and nodes); "
            if (document.get("settings") or {}).get("cluster_per_run")
            else " on one shared cluster; "
        )
        + "ratios above 1 mean kubedag is ahead. "
        "Writes per try: the system's own writes (audit log, by client certificate) per pod.",
        "",
    ]
    if any(r.get("system") == "airflow" for rows in peers.values() for r in rows):
        lines += [AIRFLOW_NOTE, ""]
    for scenario in RUNNERS:
        if scenario not in peers:
            continue
        lines += [f"### {scenario}", "", WHAT[scenario], ""]
        lines += scenario_table(scenario, rows_of(document, scenario))
        lines.append("")
        for key, path in plot_files.items():
            if key == f"peers:{scenario}":
                lines += [f"![{key}]({path})", ""]
    errors = document.get("peer_errors") or {}
    if errors:
        lines += ["Peer runs that failed:", ""]
        lines += [f"- {k}: {v}" for k, v in errors.items()]
        lines.append("")
    return "\n".join(lines)


PLOTTED = {
    "chain": (
        "hop_latency_ms",
        "chain: upstream step finished to the next step's pod created (Airflow: started)",
    ),
    "many_dags": ("scheduling_lag_ms", "runs due on the same minute: created minus the minute"),
}


def cdf_side_by_side(title: str, series: Mapping[str, Sequence[float]]) -> Figure:
    """Each system's distribution as an empirical CDF on a log time axis (the systems
    differ by orders of magnitude)."""
    figure = Figure(figsize=plots.SIZE_INCHES, dpi=plots.DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.grid(True, color="0.9", which="both")
    for label, values in series.items():
        positive = [v for v in values if v > 0]
        if positive:
            axes.ecdf(positive, label=f"{label} (n={len(positive):,})", linewidth=2)
    axes.set_xscale("log")
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("ms (log scale)")
    axes.set_ylabel("fraction of samples ≤ value")
    axes.legend(loc="lower right", fontsize="small")
    return figure


def write_plots(document: Mapping[str, Any], out: Path, stem: str) -> dict[str, str]:
    written: dict[str, str] = {}
    for scenario, (sample, title) in PLOTTED.items():
        rows = rows_of(document, scenario)
        series = {_label(r): r.get("samples", {}).get(sample, []) for r in rows}
        if len(series) < 2:
            continue
        name = f"{stem}-side-by-side-{scenario.replace('_', '-')}.png"
        plots.save(cdf_side_by_side(title, series), out / name)
        written[f"peers:{scenario}"] = name
    return written
