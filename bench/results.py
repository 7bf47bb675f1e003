"""The benchmark result document: its stable schema, the targets, and the Markdown report.

The JSON document is the machine-readable output that runs are compared by, so its shape is
fixed here: every scenario that ran has every key of ``metric_keys(scenario)``, each a
number (``null`` only when the figure could not be measured in that run), and new figures
are only ever added. ``SCHEMA`` changes if a key changes meaning.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = "kubedag-bench/v1"

SCENARIOS = (
    "chain",
    "fanout",
    "many_dags",
    "single_task",
    "fleet",
    "catchup",
    "backfill",
    "api_cost",
    "pool",
    "soak",
    "wide",
)
"""Every scenario, in the order they run: those with peers first, so that no side-by-side
comparison runs after load that kubedag alone made (a single-step run cost kubedag 9 to 17%
more of the machine right after the catchup and the backfill than on a fresh cluster, with
their namespaces emptied or not: docs/performance.md)."""

SUITES: dict[str, tuple[str, ...]] = {
    "side-by-side": (
        "chain",
        "fanout",
        "many_dags",
        "single_task",
        "catchup",
        "backfill",
        "pool",
    ),
    "scale": ("fleet", "api_cost", "soak", "wide"),
}
"""``make bench`` runs the first, with every peer: the scenarios a user compares tools on and
kubedag's everyday scheduling figures. ``make bench-scale`` runs the second, kubedag alone:
its limits (5,500 DAGs, a 10,000-task run, memory over three cycles), which no peer shares.
Together they are every scenario."""

COMMON_METRICS = (
    "task_tries",
    "controller_cpu_s",
    "controller_cpu_ms_per_try",
    "apiserver_cpu_ms_per_try",
    "controller_peak_rss_mib",
    "controller_gc_s",
    "api_writes",
    "api_reads",
    "api_writes_per_try",
    "api_reads_per_try",
    "pod_bind_p50_ms",
    "pod_bind_p99_ms",
)
"""Measured in every scenario: the controller's cost (``controller_gc_s``: the time its
garbage collections stopped it, from its ``kubedag_gc_pause_seconds``), its CPU and the API
server's per task try (as the peers' rows give them), and kube-scheduler's
binding delay (pod created to pod bound), which is part of every hop but not kubedag's
doing."""

SCHEDULED_METRICS = (
    "dags",
    "minutes",
    "runs_expected",
    "runs_created",
    "runs_completed",
    "scheduling_lag_p50_ms",
    "scheduling_lag_p95_ms",
    "scheduling_lag_p99_ms",
    "scheduling_lag_max_ms",
    "controller_cpu_ms_per_run",
)
"""The figures of the scenarios of scheduled DAGs (many_dags, fleet)."""

SCENARIO_METRICS: dict[str, tuple[str, ...]] = {
    "chain": (
        "tasks",
        "completed_tasks",
        "hop_latency_p50_ms",
        "hop_latency_p95_ms",
        "hop_latency_p99_ms",
        "hop_latency_max_ms",
        "first_pod_latency_ms",
        "run_wall_s",
        "task_time_s",
        "run_overhead_s",
        "overhead_per_task_ms",
    ),
    "fanout": (
        "tasks",
        "completed_tasks",
        "pods_created_per_s",
        "pod_creation_span_s",
        "run_duration_s",
        "dagrun_bytes",
        "dagrun_status_bytes",
    ),
    "many_dags": SCHEDULED_METRICS,
    "fleet": SCHEDULED_METRICS,
    "catchup": (
        "runs_expected",
        "runs_created",
        "runs_completed",
        "time_to_create_all_s",
        "time_to_complete_all_s",
        "runs_completed_per_min",
        "runs_per_min_bound",
    ),
    "backfill": (
        "runs_expected",
        "runs_created",
        "runs_completed",
        "dates_missing",
        "dates_doubled",
        "max_runs_at_once",
        "time_to_complete_all_s",
        "runs_completed_per_min",
    ),
    "single_task": (
        "window_s",
        "runs_created",
        "runs_completed",
        "completed_runs_per_min",
        "run_latency_p50_ms",
        "run_latency_p99_ms",
    ),
    "api_cost": ("runs", "tasks_per_run", "api_streams"),
    "pool": (
        "runs",
        "pool_slots",
        "runs_completed",
        "max_pool_pods_at_once",
        "slot_reuse_p50_ms",
        "slot_reuse_p95_ms",
        "slot_reuse_p99_ms",
        "slot_reuse_max_ms",
    ),
    "soak": (
        "cycles",
        "dags_per_cycle",
        "versions_per_dag",
        "runs_per_cycle",
        "runs_completed",
        "cache_entries_max",
        "rss_first_cycle_mib",
        "rss_last_cycle_mib",
        "rss_growth_mib",
    ),
    "wide": (
        "tasks",
        "completed_tasks",
        "records_succeeded",
        "pods_created_per_s",
        "pod_creation_span_s",
        "run_duration_s",
        "dagrun_bytes",
        "dagrun_max_bytes",
        "plain_records",
        "dag_bytes",
        "dag_create_s",
        "controller_cpu_ms_per_task",
    ),
}

SOAK_RSS_TOLERANCE_MIB = 10.0


def metric_keys(scenario: str) -> tuple[str, ...]:
    """Every metric a scenario reports, scenario-specific first."""
    return SCENARIO_METRICS[scenario] + COMMON_METRICS


@dataclass(frozen=True)
class Target:
    scenario: str
    metric: str
    op: str  # "<=", "<" or ">="
    value: float
    text: str

    def met(self, measured: float | None) -> bool | None:
        if measured is None or not math.isfinite(measured):
            return None
        if self.op == "<=":
            return measured <= self.value
        if self.op == "<":
            return measured < self.value
        return measured >= self.value


TARGETS = (
    Target("chain", "hop_latency_p50_ms", "<=", 100, "per-hop latency p50 <= 100 ms"),
    Target("chain", "hop_latency_p99_ms", "<=", 1000, "per-hop latency p99 <= 1 s"),
    Target("fanout", "pods_created_per_s", ">=", 50, "pods created >= 50 per second"),
    Target("fanout", "dagrun_bytes", "<", 512 * 1024, "2,000-task DagRun object < 512 KiB"),
    Target(
        "single_task",
        "completed_runs_per_min",
        ">=",
        600,
        "single-task runs >= 600 completed per minute",
    ),
    Target(
        "many_dags",
        "scheduling_lag_p99_ms",
        "<=",
        1000,
        "scheduling lag p99 <= 1 s with 500 DAGs",
    ),
    Target(
        "many_dags",
        "controller_peak_rss_mib",
        "<=",
        300,
        "controller peak RSS <= 300 MiB at 500 DAGs",
    ),
    Target(
        "fleet",
        "scheduling_lag_p99_ms",
        "<=",
        1000,
        "scheduling lag p99 <= 1 s with 500 minute DAGs among 5,500",
    ),
    Target(
        "fleet",
        "controller_peak_rss_mib",
        "<=",
        500,
        "controller peak RSS <= 500 MiB with 5,500 DAGs",
    ),
    Target(
        "catchup",
        "runs_completed_per_min",
        ">=",
        1000,
        "3-year daily catchup (maxActiveRuns 32) >= 1,000 runs per minute",
    ),
    Target(
        "backfill",
        "runs_completed_per_min",
        ">=",
        1000,
        "3-year daily backfill (maxActiveRuns 32) >= 1,000 runs per minute",
    ),
    Target("api_cost", "api_writes_per_try", "<=", 4, "API writes per task try <= 4"),
    Target("pool", "max_pool_pods_at_once", "<=", 10, "a pool of 10 slots never exceeded"),
    Target(
        "pool",
        "slot_reuse_p99_ms",
        "<=",
        100,
        "a freed pool slot taken again within 100 ms (p99)",
    ),
    Target(
        "soak",
        "cache_entries_max",
        "<=",
        0,
        "no cache entry left after each cycle of deleting everything",
    ),
    Target(
        "soak",
        "rss_growth_mib",
        "<=",
        SOAK_RSS_TOLERANCE_MIB,
        "controller RSS after the last cycle within 10 MiB of the first",
    ),
    Target(
        "wide",
        "pods_created_per_s",
        ">=",
        150,
        "10,000-task run: pods created >= 150 per second",
    ),
    Target(
        "wide",
        "dagrun_max_bytes",
        "<",
        1024 * 1024,
        "10,000-task DagRun object < 1 MiB throughout its run",
    ),
)


def clean_number(value: Any) -> float | int | None:
    """A JSON-safe number: NaN and infinities become None, bools are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"metric values must be numbers, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return round(value, 3)
    return value


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinity inside it (a median of no samples, say) made
    None, so that one empty figure never keeps a long run's document from being written."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


@dataclass
class ScenarioResult:
    name: str
    parameters: dict[str, Any]
    metrics: dict[str, float | int]
    details: dict[str, Any]
    samples: dict[str, list[float]]
    """Raw distributions (for plots and comparisons), e.g. hop latencies in ms."""

    def schema_problem(self) -> str | None:
        """What keeps the figures out of the stable schema: metrics missing or unexpected."""
        expected = metric_keys(self.name)
        missing = [k for k in expected if k not in self.metrics]
        extra = [k for k in self.metrics if k not in expected]
        if missing or extra:
            return f"{self.name}: missing metrics {missing}, unexpected {extra}"
        return None

    def to_json(self) -> dict[str, Any]:
        problem = self.schema_problem()
        if problem is not None:
            raise ValueError(problem)
        expected = metric_keys(self.name)
        return {**self.raw_json(), "metrics": {k: clean_number(self.metrics[k]) for k in expected}}

    def raw_json(self) -> dict[str, Any]:
        """Every figure as measured, in or out of the schema."""
        return {
            "parameters": self.parameters,
            "metrics": {k: clean_number(v) for k, v in self.metrics.items()},
            "details": json_safe(self.details),
            "samples": json_safe({k: [round(v, 3) for v in vs] for k, vs in self.samples.items()}),
        }


def evaluate_targets(scenarios: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each target of a scenario that ran, beside the measured figure."""
    rows = []
    for target in TARGETS:
        if target.scenario not in scenarios:
            continue
        measured = scenarios[target.scenario]["metrics"].get(target.metric)
        rows.append(
            {
                "scenario": target.scenario,
                "metric": target.metric,
                "target": f"{target.op} {format_value(target.metric, target.value)}",
                "op": target.op,
                "value": target.value,
                "measured": measured,
                "met": target.met(measured),
                "text": target.text,
            }
        )
    return rows


def build_document(
    *,
    started: str,
    finished: str,
    command: str,
    scale: str,
    environment: dict[str, Any],
    settings: dict[str, Any],
    results: Sequence[ScenarioResult],
) -> dict[str, Any]:
    """The result document. A scenario whose figures do not fit the schema is kept whole
    under ``unchecked``, its problem under ``errors``: a long run is never lost to it."""
    problems = {r.name: p for r in results if (p := r.schema_problem()) is not None}
    scenarios = {r.name: r.to_json() for r in results if r.name not in problems}
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "started": started,
        "finished": finished,
        "command": command,
        "scale": scale,
        "environment": environment,
        "settings": settings,
        "scenarios": scenarios,
        "targets": evaluate_targets(scenarios),
    }
    if problems:
        document["unchecked"] = {r.name: r.raw_json() for r in results if r.name in problems}
        document["errors"] = problems
    return document


def validate_document(document: Mapping[str, Any]) -> list[str]:
    """Problems with a result document's structure (empty when it is well formed)."""
    problems = []
    if document.get("schema") != SCHEMA:
        problems.append(f"schema is {document.get('schema')!r}, expected {SCHEMA!r}")
    scenarios = document.get("scenarios")
    if not isinstance(scenarios, dict):
        return [*problems, "no scenarios object"]
    for name, body in scenarios.items():
        if name not in SCENARIO_METRICS:
            problems.append(f"unknown scenario {name!r}")
            continue
        metrics = body.get("metrics", {})
        for key in metric_keys(name):
            if key not in metrics:
                problems.append(f"{name}: metric {key} missing")
            elif metrics[key] is not None and not isinstance(metrics[key], int | float):
                problems.append(f"{name}: metric {key} is not a number: {metrics[key]!r}")
    return problems


def write_json(document: Mapping[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(json_safe(document), indent=2, sort_keys=False, allow_nan=False)
    path.write_text(text + "\n")
    return path


# -- Markdown ---------------------------------------------------------------------------


def format_value(key: str, value: float | int | None) -> str:
    """A figure with its unit, read from the key's suffix (``_ms``, ``_s``, ``_bytes``...)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if key.endswith("_ms"):
        return f"{value:,.0f} ms" if abs(value) >= 100 else f"{value:.1f} ms"
    if key.endswith("_per_s"):
        return f"{value:,.1f}/s"
    if key.endswith("_per_min"):
        return f"{value:,.0f}/min"
    if key.endswith("_ms_per_try"):
        return f"{value:.1f} ms"
    if key.endswith("_per_try"):
        return f"{value:.2f}"
    if key.endswith("_s"):
        return f"{value:,.2f} s"
    if key.endswith("_mib"):
        return f"{value:,.1f} MiB"
    if key.endswith("_bytes"):
        return f"{value:,.0f} B ({value / 1024:,.1f} KiB)"
    if isinstance(value, float) and value != int(value):
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "n/a"}[met]


def render_markdown(document: Mapping[str, Any], plots: Mapping[str, str] | None = None) -> str:
    """The human-readable report: targets first, then every scenario's figures."""
    env = document.get("environment", {})
    lines = [
        f"# kubedag benchmarks: {document.get('started', '?')} ({document.get('scale')} scale)",
        "",
        f"Command: `{document.get('command', '')}`",
        "",
        f"Machine: {env.get('cpus', '?')} CPUs, {env.get('memory_gib', '?')} GiB; "
        f"load average at start {env.get('load_average_start', '?')}, "
        f"at end {env.get('load_average_end', '?')}. "
        f"Kubernetes {env.get('kubernetes', '?')}, etcd {env.get('etcd', '?')}, "
        f"kwok {env.get('kwok', '?')}, kubedag {env.get('kubedag_commit', '?')}.",
        "",
    ]
    targets = document.get("targets", [])
    if targets:
        lines += ["## Targets", ""]
        lines += _table(
            ["scenario", "figure", "target", "measured", "verdict"],
            [
                [
                    t["scenario"],
                    t["metric"],
                    t["target"],
                    format_value(t["metric"], t["measured"]),
                    _verdict(t["met"]),
                ]
                for t in targets
            ],
        )
        lines.append("")
    for name, body in document.get("scenarios", {}).items():
        params = ", ".join(f"{k}={v}" for k, v in body.get("parameters", {}).items())
        lines += [f"## {name}", "", f"Parameters: {params}", ""]
        lines += _table(
            ["figure", "value"],
            [[key, format_value(key, value)] for key, value in body.get("metrics", {}).items()],
        )
        lines.append("")
        cycles = body.get("details", {}).get("cycles")
        if cycles:
            lines += [*_cycles_table(cycles), ""]
        for plot_name, plot_path in (plots or {}).items():
            if plot_name.startswith(name + ":"):
                lines += [f"![{plot_name}]({plot_path})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _cycles_table(cycles: Sequence[Mapping[str, Any]]) -> list[str]:
    """One row per cycle of a repeated scenario (its scalar details; nested ones stay in JSON)."""
    columns = [k for k, v in cycles[0].items() if not isinstance(v, dict | list)]
    rows = [
        [format_value(k, c.get(k)) if not isinstance(c.get(k), str) else str(c[k]) for k in columns]
        for c in cycles
    ]
    return _table(columns, rows)


def compare_markdown(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    """A table of every figure two result documents share, with the relative change."""
    rows = []
    for name, body in new.get("scenarios", {}).items():
        before = old.get("scenarios", {}).get(name, {}).get("metrics", {})
        for key, value in body.get("metrics", {}).items():
            if key not in before:
                continue
            previous = before[key]
            change = "n/a"
            if isinstance(previous, int | float) and isinstance(value, int | float) and previous:
                change = f"{(value - previous) / abs(previous) * 100:+.1f}%"
            rows.append([name, key, format_value(key, previous), format_value(key, value), change])
    header = f"Comparing {old.get('started', '?')} (old) with {new.get('started', '?')} (new)"
    return (
        "\n".join([header, "", *_table(["scenario", "figure", "old", "new", "change"], rows)])
        + "\n"
    )
