"""Charts of the benchmark distributions, drawn with matplotlib's Agg canvas (files only,
no display). matplotlib comes with the ``bench`` extra: ``pip install -e '.[bench]'``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bench.stats import percentile

SIZE_INCHES = (8.0, 4.8)
DPI = 100
OFF_SCALE = 1.5
"""A marker further right than this times the largest sample is named in the legend only,
so a 1 s target does not squash a distribution of tens of milliseconds into one column."""
PERCENTILE_COLORS = {50: "tab:green", 99: "tab:orange"}
TARGET_COLOR = "tab:red"


def _figure(title: str) -> tuple[Figure, Axes]:
    figure = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title(title)
    axes.grid(True, color="0.9")
    return figure, axes


def save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", metadata={"Software": None})
    return path


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def cdf_figure(
    title: str,
    samples: dict[str, Sequence[float]],
    *,
    unit: str = "ms",
    targets: Sequence[tuple[float, str]] = (),
) -> Figure:
    """The empirical CDF of each sample set, with its p50 and p99 and the targets marked."""
    figure, axes = _figure(title)
    largest = max((max(values) for values in samples.values() if values), default=1.0)
    for label, values in samples.items():
        if not values:
            axes.plot([], [], label=f"{label} (no samples)")
            continue
        axes.ecdf(values, label=f"{label} (n={len(values):,})", linewidth=2)
        for q, color in PERCENTILE_COLORS.items():
            value = percentile(values, q)
            text = f"{label} p{q} = {_number(value)} {unit}"
            axes.axvline(value, color=color, linestyle="--", linewidth=1, label=text)
    for value, label in targets:
        on_scale = value <= largest * OFF_SCALE
        axes.axvline(
            value if on_scale else math.nan,
            color=TARGET_COLOR,
            linestyle=":",
            linewidth=1.5,
            label=label if on_scale else f"{label} (off scale)",
        )
    axes.set_xlim(left=0)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel(f"latency ({unit})")
    axes.set_ylabel("fraction of samples ≤ latency")
    axes.legend(loc="lower right", fontsize="small")
    return figure


def timeline_figure(
    title: str,
    series: dict[str, Sequence[float]],
    *,
    x_label: str,
    y_label: str,
    markers: Sequence[tuple[float, str]] = (),
) -> Figure:
    """Cumulative counts over time: each series is a list of event times in seconds;
    ``markers`` are labelled moments, e.g. when the run finished."""
    figure, axes = _figure(title)
    for label, times in series.items():
        ordered = sorted(times)
        if ordered:
            counts = range(len(ordered) + 1)
            axes.step([ordered[0], *ordered], counts, where="post", linewidth=2, label=label)
        else:
            axes.plot([], [], label=f"{label} (none)")
    for moment, label in markers:
        if math.isfinite(moment):
            axes.axvline(moment, color="black", linestyle="--", linewidth=1, label=label)
    axes.set_xlim(left=0)
    axes.set_ylim(bottom=0)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.legend(loc="upper left", fontsize="small")  # cumulative curves leave it empty
    return figure


def cycles_figure(
    title: str,
    rss_mib: Sequence[float],
    cache_entries: Sequence[float],
    cache_names: Sequence[str],
    *,
    rss_tolerance_mib: float,
) -> Figure:
    """Per cycle of a soak: the controller's resident memory against the first cycle's
    (with the tolerance band), and the most entries any per-object cache still held."""
    figure = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(title)
    rss_axes, cache_axes = figure.subplots(1, 2)
    cycles = list(range(1, len(rss_mib) + 1))
    rss_axes.plot(cycles, rss_mib, marker="o", linewidth=2, label="RSS after the cycle")
    if rss_mib:
        first = rss_mib[0]
        rss_axes.axhspan(
            first - rss_tolerance_mib,
            first + rss_tolerance_mib,
            color="tab:green",
            alpha=0.15,
            label=f"cycle 1 ± {rss_tolerance_mib:g} MiB",
        )
    rss_axes.set_title("controller resident memory", fontsize="medium")
    rss_axes.set_xlabel("cycle")
    rss_axes.set_ylabel("RSS (MiB)")
    rss_axes.legend(loc="lower right", fontsize="small")
    bars = cache_axes.bar(cycles, cache_entries, color="tab:orange")
    cache_axes.bar_label(
        bars, labels=[f"{n:.0f} ({c})" for n, c in zip(cache_entries, cache_names, strict=True)]
    )
    cache_axes.set_title("largest cache after deleting everything", fontsize="medium")
    cache_axes.set_xlabel("cycle")
    cache_axes.set_ylabel("entries (0 = nothing left)")
    cache_axes.set_ylim(bottom=0, top=max([1.0, *cache_entries]) * 1.1)
    for axes in (rss_axes, cache_axes):
        axes.set_xticks(cycles)
        axes.grid(True, color="0.9")
        axes.set_axisbelow(True)
    return figure
