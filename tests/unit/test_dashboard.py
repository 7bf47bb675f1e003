"""The chart's Grafana dashboard queries only series the controller exports, and shows
every kubedag series it exports."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from kubedag.reconcilers.metrics import exported_names, process_registry

DASHBOARD = Path(__file__).resolve().parents[2] / "charts/kubedag/files/dashboards/kubedag.json"
# PromQL words that are not series: aggregation modifiers, set operators, vector matching.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
            "and", "or", "unless", "inf", "nan"}  # fmt: skip


def metric_names(expression: str) -> set[str]:
    """The series an expression selects: identifiers that are not a function (followed by
    `(`), a keyword, or inside a label matcher, a grouping, a range or a string."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', "", expression)  # strings
    stripped = re.sub(r"\{[^}]*\}", " ", stripped)  # label matchers
    stripped = re.sub(r"\[[^\]]*\]", " ", stripped)  # ranges, $__rate_interval
    groupings = r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"
    stripped = re.sub(groupings, " ", stripped)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", stripped):
        following = stripped[match.end() :].lstrip()
        if following.startswith("(") or match.group().lower() in KEYWORDS:
            continue
        names.add(match.group())
    return names


def expressions() -> list[str]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    found = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):  # label_values(<series>, <label>)
            found.append(re.sub(r"label_values\((\w+),.*", r"\1", query["query"]))
    return found


def test_the_name_parser_skips_functions_labels_and_groupings() -> None:
    expression = (
        'histogram_quantile(0.99, sum by (le, queue) (rate(kubedag_x_bucket{job=~"$job",'
        'code!~"2.."}[$__rate_interval]))) / on (queue) sum(kubedag_y) > bool 0'
    )
    assert metric_names(expression) == {"kubedag_x_bucket", "kubedag_y"}


@pytest.mark.parametrize("expression", expressions())
def test_each_query_names_only_exported_series(expression: str) -> None:
    exported = exported_names(process_registry()[0])
    assert metric_names(expression) - exported == set()


def test_the_dashboard_shows_every_kubedag_series() -> None:
    families = {f.name for f in process_registry()[0].collect() if f.name.startswith("kubedag_")}
    shown = {name for e in expressions() for name in metric_names(e)}
    suffixes = ("_total", "_bucket", "_sum", "_count")
    shown_families = {
        next((name.removesuffix(s) for s in suffixes if name.endswith(s)), name) for name in shown
    }
    assert families - shown_families == set()
