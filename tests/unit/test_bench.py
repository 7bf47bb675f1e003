"""The benchmark harness's pure parts: statistics, the result schema and report, the API
request attribution, the charts, the controller's metrics, and the kwok configuration it ships."""

import json
import math
import struct
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench import apimetrics, controllermetrics, engine_pass, plots
from bench.__main__ import running_order, selected_scenarios
from bench.cluster import (
    FAKE_NODE_SELECTOR,
    OUTCOME_LABEL,
    BenchCluster,
    ClusterSettings,
    TaskOutcome,
    fake_node,
    kwok_command,
    kwok_config,
    scheduler_config,
    stage_documents,
)
from bench.peers import sidebyside
from bench.peers.scale import PEER_SCALES
from bench.results import (
    SCENARIO_METRICS,
    SCENARIOS,
    SCHEMA,
    SUITES,
    TARGETS,
    ScenarioResult,
    build_document,
    compare_markdown,
    evaluate_targets,
    format_value,
    metric_keys,
    render_markdown,
    validate_document,
    write_json,
)
from bench.scenarios import (
    SCALES,
    SCENARIO_FUNCTIONS,
    catchup_max_active_tasks,
    hourly_start,
    most_at_once,
    runs_per_min_bound,
    slot_reuse_ms,
)
from bench.session import dag_spec, rfc3339, task
from bench.soak import split_evenly
from bench.stats import percentile, rate_per_second, summarize
from bench.watch import PodRecord
from kubedag.core.dag_scheduler import plan_schedule
from kubedag.core.naming import LABEL_MANAGED_BY, LABEL_TRY, MANAGED_BY
from kubedag.core.validation import validate_dag
from kubedag.models.dag import DagSpec

# -- statistics ---------------------------------------------------------------------------------


def test_percentile_interpolates_linearly_between_ranks() -> None:
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4], 0) == 1
    assert percentile([1, 2, 3, 4], 100) == 4
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0


def test_percentile_matches_the_closest_ranks_definition_it_replaced() -> None:
    # The hand-written definition before statistics.quantiles: rank (n - 1) * q / 100.
    samples = [float((i * 7919) % 1000) / 3 for i in range(997)]
    ordered = sorted(samples)
    for q in (1, 50, 95, 99):
        rank = (len(ordered) - 1) * q / 100
        low = math.floor(rank)
        expected = ordered[low] + (ordered[low + 1] - ordered[low]) * (rank - low)
        assert percentile(samples, q) == pytest.approx(expected, abs=1e-9)


def test_percentile_of_nothing_is_nan_and_range_is_checked() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_summarize_names_its_keys_by_prefix_and_unit() -> None:
    summary = summarize([10, 20, 30], "hop_latency")
    assert set(summary) == {
        "hop_latency_p50_ms",
        "hop_latency_p95_ms",
        "hop_latency_p99_ms",
        "hop_latency_max_ms",
    }
    assert summary["hop_latency_p50_ms"] == 20
    assert summary["hop_latency_max_ms"] == 30


def test_rate_counts_intervals_between_events() -> None:
    assert rate_per_second([0.0, 0.5, 1.0]) == 2.0
    assert math.isnan(rate_per_second([3.0]))
    assert math.isnan(rate_per_second([2.0, 2.0]))


# -- API request attribution ---------------------------------------------------------------------


def _sample(verb: str, group: str, resource: str, sub: str, code: int, value: int) -> str:
    labels = (
        f'code="{code}",component="apiserver",dry_run="",group="{group}",'
        f'resource="{resource}",scope="resource",subresource="{sub}",verb="{verb}",version="v1"'
    )
    return f"apiserver_request_total{{{labels}}} {value}"


METRICS_BEFORE = "\n".join(
    [
        "# HELP apiserver_request_total [STABLE] Counter of apiserver requests",
        "# TYPE apiserver_request_total counter",
        _sample("POST", "", "pods", "", 201, 10),
        _sample("PATCH", "kubedag.io", "dagruns", "status", 200, 5),
        _sample("PATCH", "kubedag.io", "dagruns", "status", 409, 1),
        'apiserver_request_duration_seconds_bucket{verb="GET",le="0.005"} 99',
    ]
)

METRICS_AFTER = "\n".join(
    [
        _sample("POST", "", "pods", "", 201, 14),
        _sample("PATCH", "kubedag.io", "dagruns", "status", 200, 12),
        _sample("PATCH", "kubedag.io", "dagruns", "status", 409, 2),
        _sample("POST", "kubedag.io", "dagruns", "", 201, 3),
        _sample("POST", "kubedag.io", "dags", "", 201, 2),
        _sample("PATCH", "", "pods", "status", 200, 8),
        _sample("POST", "", "pods", "binding", 201, 4),
        _sample("POST", "events.k8s.io", "events", "", 201, 4),
        _sample("POST", "", "events", "", 201, 4),
        _sample("GET", "kubedag.io", "dagruns", "", 200, 6),
        _sample("GET", "", "pods", "", 404, 1),
        _sample("WATCH", "", "pods", "", 200, 2),
        _sample("GET", "", "nodes", "", 200, 9),
        _sample("DELETE", "", "pods", "", 200, 3),
        _sample("DELETE", "", "pods", "", 404, 3),
    ]
)


def test_request_totals_are_summed_over_codes() -> None:
    totals = apimetrics.parse_request_totals(METRICS_BEFORE)
    assert totals[("PATCH", "kubedag.io", "dagruns", "status")] == 6
    assert totals[("POST", "", "pods", "")] == 10
    assert len(totals) == 2


def test_attribution_counts_only_the_controllers_requests() -> None:
    before = apimetrics.parse_request_totals(METRICS_BEFORE)
    after = apimetrics.parse_request_totals(METRICS_AFTER)
    window = apimetrics.delta(before, after)
    assert window[("POST", "", "pods", "")] == 4
    counted = apimetrics.attribute(window, harness_dagrun_creates=1)
    # 4 pods + 8 status patches (conflicts are requests too) + 3 runs - 1 by the harness
    # + 4 core events + 3 pod deletes; not kwok's pod status and its second delete of each
    # deleted pod (a 404), the scheduler's bindings and events, or DAGs.
    assert counted.writes == 4 + 8 + 3 - 1 + 4 + 3
    assert counted.by_kind["DELETE(404) core/pods"] == 3
    assert counted.reads == 6 + 1  # GET nodes is kwok's
    assert counted.streams == 2
    assert counted.by_kind["POST core/pods/binding"] == 4


def test_delta_drops_unchanged_counters() -> None:
    same = apimetrics.parse_request_totals(METRICS_BEFORE)
    assert apimetrics.delta(same, same) == Counter()


# -- result document ----------------------------------------------------------------------------


def _result(name: str, value: float = 1.0) -> ScenarioResult:
    return ScenarioResult(
        name=name,
        parameters={"tasks": 3},
        metrics={key: value for key in metric_keys(name)},
        details={},
        samples={"hop_latency_ms": [1.23456, 2.0]},
    )


def _document_of(results: list[ScenarioResult]) -> dict[str, Any]:
    return build_document(
        started="2026-11-22T00:00:00Z",
        finished="2026-11-22T00:10:00Z",
        command="python -m bench",
        scale="smoke",
        environment={"cpus": 2},
        settings={},
        results=results,
    )


def _document(value: float = 1.0) -> dict[str, object]:
    return _document_of([_result(name, value) for name in SCENARIOS])


def test_every_scenario_has_a_function_and_metric_keys() -> None:
    assert set(SCENARIO_FUNCTIONS) == set(SCENARIOS) == set(SCENARIO_METRICS)
    for name in SCENARIOS:
        keys = metric_keys(name)
        assert len(keys) == len(set(keys)), name
    for target in TARGETS:
        assert target.metric in metric_keys(target.scenario)


def test_document_is_complete_json_and_validates() -> None:
    document = _document()
    assert document["schema"] == SCHEMA
    assert validate_document(document) == []
    text = json.dumps(document, allow_nan=False)
    assert json.loads(text)["scenarios"]["chain"]["samples"]["hop_latency_ms"] == [1.235, 2.0]


def test_missing_or_unknown_metrics_are_refused() -> None:
    result = _result("chain")
    del result.metrics["hop_latency_p50_ms"]
    with pytest.raises(ValueError, match="hop_latency_p50_ms"):
        result.to_json()
    result = _result("chain")
    result.metrics["surprise"] = 1
    with pytest.raises(ValueError, match="surprise"):
        result.to_json()


def test_a_scenario_out_of_the_schema_is_kept_whole_beside_the_others() -> None:
    """Found at the end of a 45-minute run: its figures are kept, not lost to a raise."""
    odd = _result("chain")
    odd.metrics["surprise"] = 7.0
    document = _document_of([odd, _result("fanout")])
    assert list(document["scenarios"]) == ["fanout"]
    assert document["unchecked"]["chain"]["metrics"]["surprise"] == 7.0
    assert "surprise" in document["errors"]["chain"]
    assert validate_document(document) == []
    json.dumps(document, allow_nan=False)


def test_nan_becomes_null_and_validation_catches_strings() -> None:
    result = _result("chain", math.nan).to_json()
    assert result["metrics"]["hop_latency_p50_ms"] is None
    document = _document()
    document["scenarios"]["chain"]["metrics"]["tasks"] = "five"  # type: ignore[index]
    assert any("tasks is not a number" in p for p in validate_document(document))
    assert validate_document({"schema": "other"})[0].startswith("schema is")


def test_a_median_of_no_samples_in_the_details_becomes_null() -> None:
    """Found by the smoke run: a catchup with fewer runs than its limit has no slot refill,
    and its NaN median kept the whole document from being written."""
    result = _result("catchup")
    result.details = {"slot_refill_p50_ms": math.nan, "nested": {"p99": [math.inf, 2.5]}}
    result.samples["empty_ms"] = [math.nan]
    text = json.dumps(_document_of([result]), allow_nan=False)
    catchup = json.loads(text)["scenarios"]["catchup"]
    assert catchup["details"] == {"slot_refill_p50_ms": None, "nested": {"p99": [None, 2.5]}}
    assert catchup["samples"]["empty_ms"] == [None]


def test_targets_are_judged_beside_the_measured_figure() -> None:
    scenarios = {
        "chain": {"metrics": {"hop_latency_p50_ms": 40.0, "hop_latency_p99_ms": 1500.0}},
        "api_cost": {"metrics": {"api_writes_per_try": None}},
    }
    rows = {row["metric"]: row for row in evaluate_targets(scenarios)}
    assert set(rows) == {"hop_latency_p50_ms", "hop_latency_p99_ms", "api_writes_per_try"}
    assert rows["hop_latency_p50_ms"]["met"] is True
    assert rows["hop_latency_p99_ms"]["met"] is False
    assert rows["api_writes_per_try"]["met"] is None
    assert rows["hop_latency_p99_ms"]["target"] == "<= 1,000 ms"


def test_markdown_report_has_targets_and_every_figure() -> None:
    document = _document(2000.0)
    text = render_markdown(document, {"chain:hop-latency": "x-chain.png"})
    assert "| chain | hop_latency_p50_ms | <= 100 ms | 2,000 ms | **missed** |" in text
    assert "| fanout | pods_created_per_s | >= 50.0/s | 2,000.0/s | met |" in text
    assert "![chain:hop-latency](x-chain.png)" in text
    for name in SCENARIOS:
        assert f"## {name}" in text
        for key in metric_keys(name):
            assert f"| {key} |" in text


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("hop_latency_p50_ms", 12.345, "12.3 ms"),
        ("run_latency_p99_ms", 2455.0, "2,455 ms"),
        ("run_wall_s", 3.14159, "3.14 s"),
        ("dagrun_bytes", 2048, "2,048 B (2.0 KiB)"),
        ("controller_peak_rss_mib", 70.55, "70.5 MiB"),
        ("pods_created_per_s", 90.44, "90.4/s"),
        ("completed_runs_per_min", 612.4, "612/min"),
        ("api_writes_per_try", 4.0909, "4.09"),
        ("apiserver_cpu_ms_per_try", 23.27, "23.3 ms"),
        ("tasks", 2000, "2,000"),
        ("tasks", None, "n/a"),
    ],
)
def test_figures_are_formatted_with_their_units(key: str, value: float, text: str) -> None:
    assert format_value(key, value) == text


def test_comparison_shows_relative_change() -> None:
    old, new = _document(100.0), _document(110.0)
    text = compare_markdown(old, new)
    assert "| chain | hop_latency_p50_ms | 100 ms | 110 ms | +10.0% |" in text


# -- charts ---------------------------------------------------------------------------------------


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header (its IHDR chunk comes first)."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_charts_are_pngs_of_the_configured_size(tmp_path: Path) -> None:
    expected = (round(plots.SIZE_INCHES[0] * plots.DPI), round(plots.SIZE_INCHES[1] * plots.DPI))
    figures = {
        "cdf": plots.cdf_figure(
            "hops", {"hops": [5.0, 10.0, 12.0, 80.0]}, targets=[(100.0, "target")]
        ),
        "empty-cdf": plots.cdf_figure("nothing", {"none": []}),
        "timeline": plots.timeline_figure(
            "pods", {"created": [0.1, 0.2], "finished": []}, x_label="s", y_label="pods"
        ),
        "cycles": plots.cycles_figure(
            "soak",
            [80.0, 82.5, 81.0],
            [0, 3, 0],
            ["all empty", "runs", "all empty"],
            rss_tolerance_mib=10,
        ),
    }
    for name, figure in figures.items():
        path = plots.save(figure, tmp_path / f"{name}.png")
        assert png_size(path.read_bytes()) == expected, name


def test_cdf_marks_percentiles_and_names_far_targets_off_scale() -> None:
    figure = plots.cdf_figure(
        "hops",
        {"hops": [10.0, 20.0, 30.0]},
        targets=[(40.0, "target near"), (1000.0, "target far")],
    )
    (axes,) = figure.axes
    labels = axes.get_legend_handles_labels()[1]
    assert labels == [
        "hops (n=3)",
        "hops p50 = 20 ms",
        "hops p99 = 29.8 ms",
        "target near",
        "target far (off scale)",
    ]
    assert axes.get_xlim()[1] < 1000
    assert axes.get_xlabel() == "latency (ms)"


def test_timeline_counts_events_cumulatively() -> None:
    figure = plots.timeline_figure(
        "runs", {"created": [3.0, 1.0, 2.0]}, x_label="seconds", y_label="runs"
    )
    (line,) = figure.axes[0].get_lines()
    assert list(line.get_ydata()) == [0, 1, 2, 3]
    assert list(line.get_xdata()) == [1.0, 1.0, 2.0, 3.0]


# -- the controller's metrics ----------------------------------------------------------------------

CONTROLLER_METRICS = """\
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 8.4213760e+07
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
# HELP kubedag_cache_entries Entries held by each per-object cache.
# TYPE kubedag_cache_entries gauge
kubedag_cache_entries{cache="bodies"} 0.0
kubedag_cache_entries{cache="snapshots"} 3.0
kubedag_cache_entries{cache="validated"} 3.0
kubedag_cache_entries{cache="waiting_for_slots"} 1.0
"""


def test_controller_metrics_give_each_cache_and_the_resident_memory() -> None:
    metrics = controllermetrics.parse(CONTROLLER_METRICS)
    assert metrics.cache_entries == {
        "bodies": 0,
        "snapshots": 3,
        "validated": 3,
        "waiting_for_slots": 1,
    }
    assert metrics.resident_memory_bytes == 84213760
    assert metrics.largest_cache() == ("snapshots", 3)  # ties: the first by name


def test_controller_metrics_give_the_collector_pauses_by_generation() -> None:
    def exposition(young: tuple[int, float], full: tuple[int, float]) -> str:
        lines = ["# TYPE kubedag_gc_pause_seconds histogram"]
        for generation, (count, seconds) in (("0", young), ("2", full)):
            lines += [
                f'kubedag_gc_pause_seconds_bucket{{generation="{generation}",le="+Inf"}} {count}',
                f'kubedag_gc_pause_seconds_count{{generation="{generation}"}} {count}',
                f'kubedag_gc_pause_seconds_sum{{generation="{generation}"}} {seconds}',
            ]
        return CONTROLLER_METRICS + "\n".join(lines) + "\n"

    before = controllermetrics.parse(exposition((10, 0.05), (1, 0.2)))
    after = controllermetrics.parse(exposition((25, 0.125), (3, 0.5)))
    assert before.gc_pauses == {"0": (10, 0.05), "2": (1, 0.2)}
    since = after.gc_since(before)
    assert since.keys() == {"0", "2"}
    assert since["0"][0] == 15 and since["0"][1] == pytest.approx(0.075)
    assert since["2"][0] == 2 and since["2"][1] == pytest.approx(0.3)
    # A controller that does not time its collections: nothing, not zeros.
    assert controllermetrics.parse(CONTROLLER_METRICS).gc_since(before) == {}


def test_controller_metrics_without_the_gauges_are_refused() -> None:
    only_process = CONTROLLER_METRICS.split("# HELP kubedag_cache_entries")[0]
    with pytest.raises(controllermetrics.MetricsMissing, match="no kubedag_cache_entries"):
        controllermetrics.parse(only_process)
    with pytest.raises(controllermetrics.MetricsMissing, match="process_resident_memory_bytes"):
        controllermetrics.parse('kubedag_cache_entries{cache="bodies"} 0\n')


def test_a_controller_without_metrics_is_named_in_the_error() -> None:
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from threading import Thread

    class HealthOnly(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), HealthOnly)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(controllermetrics.MetricsMissing, match=r"HTTP 404.*/metrics"):
            controllermetrics.scrape(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


# -- soak -------------------------------------------------------------------------------------


def test_soak_spreads_runs_evenly() -> None:
    assert split_evenly(5000, 500) == [10] * 500
    assert split_evenly(10, 4) == [3, 3, 2, 2]
    assert split_evenly(2, 4) == [1, 1, 0, 0]


def test_report_has_a_row_per_soak_cycle() -> None:
    document = _document(2.0)
    cycles = [
        {"cycle": 1, "largest_cache": "all empty", "largest_cache_entries": 0, "rss_mib": 80.25},
        {"cycle": 2, "largest_cache": "snapshots", "largest_cache_entries": 4, "rss_mib": 91.0},
    ]
    for cycle in cycles:
        cycle["cache_entries"] = {"snapshots": cycle["largest_cache_entries"]}
    document["scenarios"]["soak"]["details"]["cycles"] = cycles  # type: ignore[index]
    text = render_markdown(document)
    assert "| cycle | largest_cache | largest_cache_entries | rss_mib |" in text
    assert "| 2 | snapshots | 4 | 91.0 MiB |" in text
    assert "| soak | cache_entries_max | <= 0 | 2 | **missed** |" in text


# -- kwok and the cluster configuration ---------------------------------------------------------


def test_stages_are_kwok_stages_with_the_runs_delays() -> None:
    stages = {s["metadata"]["name"]: s for s in stage_documents(250, 40)}
    assert set(stages) == {
        "node-initialize",
        "node-heartbeat",
        "pod-ready",
        "pod-complete",
        "pod-complete-retry",
        "pod-complete-peer",
        "pod-fail",
        "pod-delete",
    }
    for stage in stages.values():
        assert stage["apiVersion"] == "kwok.x-k8s.io/v1alpha1"
        assert stage["kind"] == "Stage"
    for name in ("pod-complete", "pod-complete-retry", "pod-complete-peer", "pod-fail"):
        assert stages[name]["spec"]["delay"]["durationMilliseconds"] == 250
    assert stages["pod-ready"]["spec"]["delay"]["durationMilliseconds"] == 40
    assert stages["pod-complete-retry"]["spec"]["steps"] == stages["pod-complete"]["spec"]["steps"]


POD_ENDING_STAGES = {"pod-complete", "pod-complete-retry", "pod-complete-peer", "pod-fail"}


def _jq_value(key: str, pod: dict[str, Any]) -> Any:
    """The value of the jq paths the pod-ending stages use: a field path, or a label."""
    if key.startswith(".metadata.labels["):
        return pod["metadata"]["labels"].get(key.split('"')[1])
    value: Any = pod
    for part in key.strip(".").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _selects(stage: dict[str, Any], pod: dict[str, Any]) -> bool:
    selector = stage["spec"]["selector"]
    labels = pod["metadata"]["labels"]
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        jq = expression["jq"]
        value = _jq_value(jq["key"], pod)
        operator = jq["operator"]
        if operator == "DoesNotExist" and value is not None:
            return False
        if operator == "In" and value not in jq["values"]:
            return False
        if operator == "NotIn" and value in jq["values"]:
            return False
    return True


@pytest.mark.parametrize(
    ("outcome", "try_number", "ended_by"),
    [
        (TaskOutcome.SUCCEEDS, 1, "pod-complete"),
        (TaskOutcome.SUCCEEDS, 2, "pod-complete"),
        (TaskOutcome.FAILS_FIRST_TRY, 1, "pod-fail"),
        (TaskOutcome.FAILS_FIRST_TRY, 2, "pod-complete-retry"),
        (TaskOutcome.FAILS_FIRST_TRY, 3, "pod-complete-retry"),
    ],
)
def test_one_stage_ends_each_bench_task_pod_by_its_labels(
    outcome: TaskOutcome, try_number: int, ended_by: str
) -> None:
    body = task("t", outcome=outcome, labels={"team": "a"})
    assert body["labels"] == {"team": "a", OUTCOME_LABEL: outcome.value}
    pod = {
        "metadata": {
            "labels": {
                **body["labels"],
                LABEL_MANAGED_BY: MANAGED_BY,
                LABEL_TRY: str(try_number),
            }
        },
        "status": {"phase": "Running"},
    }
    ending = [s for s in stage_documents(250, 40) if s["metadata"]["name"] in POD_ENDING_STAGES]
    assert [s["metadata"]["name"] for s in ending if _selects(s, pod)] == [ended_by]
    pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert not any(_selects(s, pod) for s in ending)


def test_kwok_manages_only_annotated_fake_nodes() -> None:
    command = kwok_command(Path("/bin/kwok"), Path("k.yaml"), Path("c.yaml"))
    assert "--manage-all-nodes=false" in command
    assert f"--manage-nodes-with-annotation-selector={FAKE_NODE_SELECTOR}" in command
    node = fake_node("kwok-node-0", 1000)
    key, value = FAKE_NODE_SELECTOR.split("=")
    assert node["metadata"]["annotations"][key] == value
    assert node["status"]["capacity"]["pods"] == "1000"
    documents = list(yaml.safe_load_all(kwok_config(ClusterSettings(kwok_parallelism=8))))
    assert documents[0]["kind"] == "KwokConfiguration"
    assert documents[0]["options"]["podPlayStageParallelism"] == 8
    assert len(documents) == 9  # the options and the eight stages


def test_scheduler_config_raises_qps_and_skips_leader_election() -> None:
    config = yaml.safe_load(scheduler_config(Path("/k"), 200))
    assert config["clientConnection"] == {"kubeconfig": "/k", "qps": 200, "burst": 400}
    assert config["leaderElection"] == {"leaderElect": False}


def test_smoke_scale_is_small() -> None:
    smoke, full = SCALES["smoke"], SCALES["full"]
    assert full.chain_tasks == 50 and full.fanout_tasks == 2000 and full.many_dags == 500
    assert smoke.chain_tasks <= 10 and smoke.fanout_tasks <= 50 and smoke.many_dags <= 5
    assert smoke.single_task_window_s <= 20
    assert (full.soak_cycles, full.soak_dags, full.soak_versions, full.soak_runs) == (
        3,
        500,
        4,
        5000,
    )
    assert smoke.soak_cycles >= 2 and smoke.soak_dags * smoke.soak_runs <= 200


def test_the_suites_split_every_scenario_between_make_bench_and_make_bench_scale() -> None:
    side_by_side, scale = SUITES["side-by-side"], SUITES["scale"]
    assert not set(side_by_side) & set(scale)
    assert sorted(side_by_side + scale) == sorted(SCENARIOS)
    assert set(sidebyside.RUNNERS) <= set(side_by_side)  # every peer runs in make bench


@pytest.mark.parametrize(
    ("scenarios", "suites", "expected"),
    [
        ([], [], list(SCENARIOS)),
        (["wide", "chain"], [], ["chain", "wide"]),
        ([], ["scale"], ["fleet", "api_cost", "soak", "wide"]),
        (["chain"], ["scale"], ["chain", "fleet", "api_cost", "soak", "wide"]),
    ],
)
def test_selected_scenarios_run_in_the_fixed_order(
    scenarios: list[str], suites: list[str], expected: list[str]
) -> None:
    assert selected_scenarios(scenarios, suites) == expected


def test_the_scenarios_with_peers_run_before_those_of_kubedag_alone() -> None:
    order = list(SCENARIOS)
    last_with_peers = max(order.index(name) for name in sidebyside.RUNNERS)
    alone = [name for name in SUITES["side-by-side"] if name not in sidebyside.RUNNERS]
    assert alone and all(order.index(name) > last_with_peers for name in alone)


def test_each_scenario_runs_once_with_its_peers_beside_kubedag() -> None:
    kubedag = ["chain", "single_task", "pool"]
    peers = ["many_dags", "single_task", "chain"]
    assert running_order(kubedag, peers) == ["chain", "many_dags", "single_task", "pool"]
    assert running_order([], ["fanout"]) == ["fanout"]
    assert running_order(["wide"], []) == ["wide"]


def test_many_dags_covers_the_peers_minutes_and_the_fleet_a_longer_window() -> None:
    full = SCALES["full"]
    assert full.many_dags_minutes == PEER_SCALES["full"].cron_minutes
    assert full.single_task_window_s == PEER_SCALES["full"].window_s
    assert full.fleet_minutes > full.many_dags_minutes


def test_run_phases_split_a_one_task_run_and_the_slot_refill() -> None:
    from types import SimpleNamespace

    from bench.phases import one_task_run_phases

    runs = [
        SimpleNamespace(name="a", added=0.0, running=None, finished=2.0),
        SimpleNamespace(name="b", added=2.25, running=None, finished=4.0),
    ]
    pods = [
        SimpleNamespace(run="a", added=0.2, bound=0.3, running=0.5, finished=1.5),
        SimpleNamespace(run="b", added=2.4, bound=2.5, running=2.7, finished=3.5),
    ]
    phases = one_task_run_phases(runs, pods, lambda pod: pod.run, limit=1)
    assert phases["run_created_to_pod_created_p50_ms"] == pytest.approx(175)
    assert phases["pod_created_to_bound_p50_ms"] == pytest.approx(100)
    assert phases["pod_running_to_finished_p50_ms"] == pytest.approx(900)
    assert phases["pod_finished_to_run_finished_p50_ms"] == pytest.approx(500)
    # b took the slot a freed: created 250 ms after a finished.
    assert phases["slot_refill_p50_ms"] == pytest.approx(250)


def test_a_cluster_process_cpu_between_two_readings() -> None:
    from bench.session import cpu_between

    start, end = {"kube-apiserver": 10.0, "etcd": 1.0}, {"kube-apiserver": 12.5}
    assert cpu_between(start, end, "kube-apiserver") == pytest.approx(2.5)
    assert math.isnan(cpu_between(start, end, "etcd"))  # it stopped in between


def test_run_phases_of_a_peer_find_a_pod_s_run_by_its_label_and_skip_what_is_unseen() -> None:
    """A Job's pods name it in a label; a run with no pod seen yet counts only in the steps
    it has, and a run created before any slot freed has no refill."""
    from bench.peers.watches import ObjectRecord
    from bench.phases import one_task_run_phases

    runs = [
        ObjectRecord("j1", {}, {}, added=0.0, finished=3.0),
        ObjectRecord("j2", {}, {}, added=0.5),
        ObjectRecord("j3", {}, {}, added=4.0),
    ]
    pods = [
        ObjectRecord("j1-x", {"batch.kubernetes.io/job-name": "j1"}, {}, 0.1, 0.2, 0.4, 2.4),
        ObjectRecord("j1-y", {"batch.kubernetes.io/job-name": "j1"}, {}, 0.9, 1.0, 1.1, 2.0),
    ]
    phases = one_task_run_phases(
        runs, pods, lambda pod: pod.labels["batch.kubernetes.io/job-name"], limit=2
    )
    assert phases["run_created_to_pod_created_p50_ms"] == pytest.approx(100)
    assert phases["pod_bound_to_running_p50_ms"] == pytest.approx(200)
    assert phases["pod_finished_to_run_finished_p50_ms"] == pytest.approx(600)
    assert phases["slot_refill_p50_ms"] == pytest.approx(1000)


def test_pool_figures_from_the_watch() -> None:
    """The most pods at once (a finish seen with a creation counts first), and slot reuse:
    from a pod finishing while a run's task waits to the next pod created."""
    pods = [
        PodRecord("p1", "d", "r1", "t", 1, added=0.0, finished=1.0),
        PodRecord("p2", "d", "r2", "t", 1, added=0.0, finished=1.5),
        PodRecord("p3", "d", "r3", "t", 1, added=1.01, finished=2.0),
        PodRecord("p4", "d", "r4", "t", 1, added=1.6, finished=3.0),
        PodRecord("p5", "d", "r5", "t", 1, added=5.0, finished=6.0),
    ]
    assert most_at_once(pods) == 2
    # r5 is created at 4, after the last finish that left a task waiting
    assert [round(x) for x in slot_reuse_ms(pods, [0, 0, 0, 0, 4])] == [10, 100]


def test_the_catchup_bound_is_its_runs_at_once_over_the_task_time() -> None:
    """Airflow's defaults (16 runs and 16 tasks of a DAG at once) with 1 s tasks cannot reach
    the 1,000 runs a minute the full catchup is held to; its 32 runs with room for their
    tasks can."""
    assert runs_per_min_bound(16, 16, 1000) == 960
    assert runs_per_min_bound(32, 16, 1000) == 960  # the tasks' limit binds too
    full = SCALES["full"]
    assert (
        runs_per_min_bound(full.catchup_max_active_runs, catchup_max_active_tasks(full), 1000)
        >= 1000
    )
    assert runs_per_min_bound(4, 16, 100) == 2400


@pytest.mark.parametrize(
    ("minute", "tick"),
    [
        # Created from 10:41:30 on: each hourly DAG's first tick at or after it.
        (42, "10:42"),
        (59, "10:59"),
        (41, "11:41"),  # 10:41 is already past
        (0, "11:00"),
    ],
)
def test_an_hourly_fleet_dag_is_valid_and_runs_once_at_its_first_tick(
    minute: int, tick: str
) -> None:
    after = datetime(2026, 11, 30, 10, 41, 30, tzinfo=UTC)
    begins = hourly_start(minute, after)
    spec = DagSpec.model_validate(
        dag_spec(
            [task("only")],
            schedule=f"{minute} * * * *",
            startDate=rfc3339(begins),
            endDate=rfc3339(begins),
        )
    )
    assert validate_dag("hourly", spec) == []  # the controller schedules it (Ready=True)
    plan = plan_schedule(
        spec, catchup_default=True, last_interval=None, now=after + timedelta(hours=3)
    )
    assert [p.interval.end.strftime("%H:%M") for p in plan.due] == [tick]


def test_engine_pass_benchmark_measures_a_launched_run(capsys: pytest.CaptureFixture[str]) -> None:
    run = engine_pass.launched_run(engine_pass.snapshot(3, chain=True))
    assert [r.state.value for r in run.status.tasks] == ["queued", "none", "none"]
    fan = engine_pass.launched_run(engine_pass.snapshot(3, chain=False))
    assert [r.state.value for r in fan.status.tasks] == ["queued"] * 3
    assert engine_pass.main(["--chain", "3", "--fanout", "4", "--passes", "2"]) == 0
    out = capsys.readouterr().out
    assert "chain of 3 tasks" in out and "fan-out of 4 tasks" in out


def test_write_costs_sends_the_controllers_own_bodies_of_a_one_task_run() -> None:
    from bench.write_costs import Cost, one_task_run, table

    bodies = one_task_run()
    assert bodies.start["state"] == "running"
    assert [(t["name"], t["state"]) for t in bodies.start["tasks"]] == [("task-00000", "queued")]
    assert bodies.end["state"] == "success" and bodies.end["endTime"]
    assert (
        bodies.pod["kind"] == "Pod"
        and bodies.pod["metadata"]["name"] == bodies.start["tasks"][0]["pod"]
    )
    rendered = table([Cost("Pod create", 2.5, 0.7, 3.1)], 400)
    assert rendered.splitlines()[-1] == "| Pod create | 2.50 ms | 0.70 ms | 3.10 ms |"
    assert "(400 each)" in rendered


def test_client_cost_sends_distinct_pods_and_tabulates_each_round() -> None:
    from bench.client_cost import ClientCost, _pods, table

    pods = _pods("kube-1", 3)
    assert [p["metadata"]["name"] for p in pods] == ["kube-1-00000", "kube-1-00001", "kube-1-00002"]
    assert all(p["kind"] == "Pod" and p["spec"]["containers"] for p in pods)
    rendered = table([ClientCost("http.client (synchronous)", 2, 0.4567, 2.7)], 400)
    assert rendered.splitlines()[-1] == "| http.client (synchronous) | 2 | 0.457 ms | 2.70 ms |"
    assert "(400 pod creates a round)" in rendered


class _CountingCluster(BenchCluster):
    """The renewal rule alone: starting and stopping only counted, no process spawned."""

    def __init__(self, tmp_path: Path, fresh_per_run: bool) -> None:
        super().__init__(tmp_path, ClusterSettings(), fresh_per_run=fresh_per_run)
        self.events: list[str] = []

    def start(self) -> BenchCluster:
        self.events.append("start")
        for install in self._crd_installers:
            install()
        self._runs_since_start = 0
        return self

    def stop(self) -> None:
        self.events.append("stop")

    def delete_pods(self, namespace: str, timeout: float = 120) -> None:
        self.events.append(f"delete pods of {namespace}")


def test_every_run_after_the_first_gets_a_cluster_of_its_own(tmp_path: Path) -> None:
    cluster = _CountingCluster(tmp_path, fresh_per_run=True)
    cluster.start()
    cluster.add_crds(lambda: cluster.events.append("peer CRDs"))
    for namespace in ("a", "b", "c"):
        cluster.fresh()
        cluster.run_ended(namespace)
    # The first run uses the cluster as started; each later one a new cluster, with the
    # peers' CRDs installed again; no pods are deleted (nothing reuses that cluster).
    assert cluster.events == ["start", "peer CRDs", *(["stop", "start", "peer CRDs"] * 2)]
    assert len(cluster.renewals) == 2


def test_a_shared_cluster_is_kept_and_each_run_deletes_its_pods(tmp_path: Path) -> None:
    cluster = _CountingCluster(tmp_path, fresh_per_run=False)
    cluster.start()
    for namespace in ("a", "b"):
        cluster.fresh()
        cluster.run_ended(namespace)
    assert cluster.events == ["start", "delete pods of a", "delete pods of b"]
    assert cluster.renewals == []


def test_a_peers_empty_median_does_not_keep_the_document_from_being_written(
    tmp_path: Path,
) -> None:
    """Found by a smoke run of the peers: tuned Argo's few single-step runs never filled
    the backlog, and the NaN median of its slot refills stopped `write_json`."""
    document = {**_document(), "peers": {"single_task": [{"details": {"p50": math.nan}}]}}
    written = json.loads(write_json(document, tmp_path / "out.json").read_text())
    assert written["peers"]["single_task"][0]["details"] == {"p50": None}
