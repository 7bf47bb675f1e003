"""The benchmark harness's pure parts: statistics, the result schema and report, the API
request attribution, the PNG writer and charts, and the kwok configuration it ships."""

import json
import math
from collections import Counter
from pathlib import Path

import pytest
import yaml

from bench import apimetrics, plots
from bench.cluster import (
    FAKE_NODE_SELECTOR,
    ClusterSettings,
    fake_node,
    kwok_command,
    kwok_config,
    scheduler_config,
    stage_documents,
)
from bench.png import Canvas, decode_png, encode_png, text_width
from bench.results import (
    SCENARIO_METRICS,
    SCENARIOS,
    SCHEMA,
    TARGETS,
    ScenarioResult,
    build_document,
    compare_markdown,
    evaluate_targets,
    format_value,
    metric_keys,
    render_markdown,
    validate_document,
)
from bench.scenarios import SCALES, SCENARIO_FUNCTIONS
from bench.stats import cdf_points, percentile, rate_per_second, summarize

# -- statistics ---------------------------------------------------------------------------------


def test_percentile_interpolates_linearly_between_ranks() -> None:
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4], 0) == 1
    assert percentile([1, 2, 3, 4], 100) == 4
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0


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


def test_cdf_points_are_sorted_steps_ending_at_one() -> None:
    assert cdf_points([3, 1, 2, 4]) == [(1, 0.25), (2, 0.5), (3, 0.75), (4, 1.0)]


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
    # + 4 core events; not kwok's pod status, the scheduler's bindings and events, or DAGs.
    assert counted.writes == 4 + 8 + 3 - 1 + 4
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


def _document(value: float = 1.0) -> dict[str, object]:
    return build_document(
        started="2026-11-22T00:00:00Z",
        finished="2026-11-22T00:10:00Z",
        command="python -m bench",
        scale="smoke",
        environment={"cpus": 2},
        settings={},
        results=[_result(name, value) for name in SCENARIOS],
    )


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


def test_nan_becomes_null_and_validation_catches_strings() -> None:
    result = _result("chain", math.nan).to_json()
    assert result["metrics"]["hop_latency_p50_ms"] is None
    document = _document()
    document["scenarios"]["chain"]["metrics"]["tasks"] = "five"  # type: ignore[index]
    assert any("tasks is not a number" in p for p in validate_document(document))
    assert validate_document({"schema": "other"})[0].startswith("schema is")


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


# -- PNG and charts ------------------------------------------------------------------------------


def test_png_round_trips_pixels() -> None:
    pixels = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30])
    data = encode_png(2, 2, pixels)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert decode_png(data) == (2, 2, pixels)
    with pytest.raises(ValueError):
        encode_png(2, 2, pixels[:-1])


def test_png_crc_is_checked() -> None:
    data = bytearray(encode_png(1, 1, b"\x00\x00\x00"))
    data[20] ^= 0xFF  # inside the IHDR chunk
    with pytest.raises(ValueError, match="CRC"):
        decode_png(bytes(data))


def test_canvas_draws_lines_rectangles_and_text() -> None:
    canvas = Canvas(40, 20)
    canvas.line(0, 0, 39, 0, (0, 0, 0))
    canvas.fill_rect(10, 10, 12, 12, (255, 0, 0))
    assert canvas.get(20, 0) == (0, 0, 0)
    assert canvas.get(11, 11) == (255, 0, 0)
    assert canvas.get(30, 15) == (255, 255, 255)
    canvas.text(0, 12, "1", (0, 0, 255))
    assert (0, 0, 255) in {canvas.get(x, y) for x in range(5) for y in range(12, 19)}
    assert text_width("ab") == 11


def test_ticks_are_round_and_cover_the_range() -> None:
    ticks = plots.nice_ticks(3, 97)
    assert ticks[0] <= 3 and ticks[-1] >= 97
    assert ticks == [0, 20, 40, 60, 80, 100]
    assert plots.format_number(2455.0) == "2455"
    assert plots.format_number(25000) == "25k"
    assert plots.format_number(0.25) == "0.25"


def test_charts_render_to_deterministic_pngs(tmp_path: Path) -> None:
    chart = plots.cdf_chart("hops", {"hops": [5.0, 10.0, 12.0, 80.0]}, targets=[(100.0, "target")])
    first = plots.render(chart).png()
    assert first == plots.render(chart).png()
    width, height, pixels = decode_png(first)
    assert (width, height) == (chart.width, chart.height)
    assert len(set(pixels)) > 2  # something was drawn
    timeline = plots.timeline_chart("pods", {"created": [0.1, 0.2], "finished": []})
    path = plots.render(timeline).save(tmp_path / "t.png")
    assert decode_png(path.read_bytes())[0] == timeline.width
    empty = plots.render(plots.cdf_chart("nothing", {"none": []}))
    assert empty.width == 760


# -- kwok and the cluster configuration ---------------------------------------------------------


def test_stages_are_kwok_stages_with_the_runs_delays() -> None:
    stages = {s["metadata"]["name"]: s for s in stage_documents(250, 40)}
    assert set(stages) == {
        "node-initialize",
        "node-heartbeat",
        "pod-ready",
        "pod-complete",
        "pod-fail",
        "pod-delete",
    }
    for stage in stages.values():
        assert stage["apiVersion"] == "kwok.x-k8s.io/v1alpha1"
        assert stage["kind"] == "Stage"
    assert stages["pod-complete"]["spec"]["delay"]["durationMilliseconds"] == 250
    assert stages["pod-fail"]["spec"]["delay"]["durationMilliseconds"] == 250
    assert stages["pod-ready"]["spec"]["delay"]["durationMilliseconds"] == 40
    for name in ("pod-complete", "pod-fail"):
        selector = stages[name]["spec"]["selector"]
        assert selector["matchLabels"] == {"app.kubernetes.io/managed-by": "kubedag"}
    complete = stages["pod-complete"]["spec"]["selector"]["matchExpressions"][-1]["jq"]
    fail = stages["pod-fail"]["spec"]["selector"]["matchExpressions"][-1]["jq"]
    assert complete["key"] == fail["key"]  # the same test, opposite outcomes
    assert (complete["operator"], fail["operator"]) == ("NotIn", "In")


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
    assert len(documents) == 7


def test_scheduler_config_raises_qps_and_skips_leader_election() -> None:
    config = yaml.safe_load(scheduler_config(Path("/k"), 200))
    assert config["clientConnection"] == {"kubeconfig": "/k", "qps": 200, "burst": 400}
    assert config["leaderElection"] == {"leaderElect": False}


def test_smoke_scale_is_small() -> None:
    smoke, full = SCALES["smoke"], SCALES["full"]
    assert full.chain_tasks == 50 and full.fanout_tasks == 2000 and full.many_dags == 500
    assert smoke.chain_tasks <= 10 and smoke.fanout_tasks <= 50 and smoke.many_dags <= 5
    assert smoke.single_task_window_s <= 20
