"""Line charts of the benchmark distributions, drawn with bench.png (no dependencies)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.png import BLACK, DARK_GREY, GREY, Canvas, Color, text_width
from bench.stats import cdf_points, percentile

BLUE: Color = (31, 119, 180)
ORANGE: Color = (255, 127, 14)
GREEN: Color = (44, 160, 44)
RED: Color = (214, 39, 40)
PURPLE: Color = (148, 103, 189)
PALETTE = (BLUE, ORANGE, GREEN, PURPLE)

_LEFT, _RIGHT, _TOP, _BOTTOM = 78, 24, 44, 56


@dataclass
class Series:
    label: str
    points: Sequence[tuple[float, float]]
    color: Color = BLUE
    step: bool = False
    """Draw as a step function (each point holds until the next x), as an empirical CDF."""


@dataclass
class Marker:
    """A vertical line at ``x`` with a label (a percentile or a target)."""

    x: float
    label: str
    color: Color = DARK_GREY


@dataclass
class Chart:
    title: str
    x_label: str
    y_label: str
    series: list[Series] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    width: int = 760
    height: int = 440
    x_from_zero: bool = False
    fit_markers: bool = False
    """Stretch the x axis to every marker (else only to those near the data)."""


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0, 1.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def format_number(value: float) -> str:
    """Short tick text: 0, 250, 1.5, 12k, 3.2M."""
    if not math.isfinite(value):
        return "nan"
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.3g}k"
    if magnitude >= 100:
        return f"{value:.0f}"
    if value == int(value):
        return str(int(value))
    return f"{value:.3g}"


def render(chart: Chart) -> Canvas:
    canvas = Canvas(chart.width, chart.height)
    left, top = _LEFT, _TOP
    right, bottom = chart.width - _RIGHT, chart.height - _BOTTOM
    xs = [x for s in chart.series for x, _ in s.points]
    ys = [y for s in chart.series for _, y in s.points]
    xs += [m.x for m in chart.markers if xs and (chart.fit_markers or m.x <= max(xs) * 1.5)]
    x_min = min(xs, default=0.0)
    if chart.x_from_zero:
        x_min = min(0.0, x_min)
    x_ticks = nice_ticks(x_min, max(xs, default=1.0))
    y_ticks = nice_ticks(min(0.0, *ys) if ys else 0.0, max(ys, default=1.0))
    x_lo, x_hi = x_ticks[0], x_ticks[-1]
    y_lo, y_hi = y_ticks[0], y_ticks[-1]

    def px(x: float) -> int:
        return round(left + (x - x_lo) / ((x_hi - x_lo) or 1) * (right - left))

    def py(y: float) -> int:
        return round(bottom - (y - y_lo) / ((y_hi - y_lo) or 1) * (bottom - top))

    canvas.text((chart.width - text_width(chart.title, 2)) // 2, 10, chart.title, BLACK, 2)
    for tick in x_ticks:
        canvas.line(px(tick), top, px(tick), bottom, GREY)
        label = format_number(tick)
        canvas.text(px(tick) - text_width(label) // 2, bottom + 8, label)
    for tick in y_ticks:
        canvas.line(left, py(tick), right, py(tick), GREY)
        label = format_number(tick)
        canvas.text(left - 8 - text_width(label), py(tick) - 3, label)
    canvas.line(left, bottom, right, bottom, BLACK)
    canvas.line(left, top, left, bottom, BLACK)
    canvas.text((left + right - text_width(chart.x_label)) // 2, bottom + 26, chart.x_label)
    canvas.text_vertical(12, (top + bottom + text_width(chart.y_label)) // 2, chart.y_label)

    for marker in chart.markers:
        if x_lo <= marker.x <= x_hi:
            canvas.line(px(marker.x), top, px(marker.x), bottom, marker.color, dash=4)
    for series in chart.series:
        previous: tuple[int, int] | None = None
        for x, y in series.points:
            point = (px(x), py(y))
            if previous is not None:
                if series.step:
                    canvas.line(previous[0], previous[1], point[0], previous[1], series.color, 2)
                    canvas.line(point[0], previous[1], point[0], point[1], series.color, 2)
                else:
                    canvas.line(*previous, *point, series.color, 2)
            elif len(series.points) == 1:
                canvas.fill_rect(
                    point[0] - 2, point[1] - 2, point[0] + 2, point[1] + 2, series.color
                )
            previous = point

    legend = [(s.label, s.color) for s in chart.series] + [
        (m.label + ("" if x_lo <= m.x <= x_hi else " (off scale)"), m.color) for m in chart.markers
    ]
    for index, (label, color) in enumerate(legend):
        y = top + 8 + index * 12
        canvas.fill_rect(left + 8, y + 1, left + 20, y + 5, color)
        canvas.text(left + 26, y, label)
    return canvas


def cdf_chart(
    title: str,
    samples: dict[str, Sequence[float]],
    *,
    unit: str = "ms",
    targets: Sequence[tuple[float, str]] = (),
) -> Chart:
    """The empirical CDF of each sample set, with its p50 and p99 and the targets marked."""
    chart = Chart(title, f"latency ({unit})", "fraction <=", x_from_zero=True)
    for index, (label, values) in enumerate(samples.items()):
        color = PALETTE[index % len(PALETTE)]
        points = cdf_points(values)
        if points:
            points = [(points[0][0], 0.0), *points]
        chart.series.append(Series(f"{label} (n={len(values)})", points, color, step=True))
        if values:
            for q, marker_color in ((50, GREEN), (99, ORANGE)):
                value = percentile(values, q)
                text = f"{label} p{q} = {format_number(round(value, 1))} {unit}"
                chart.markers.append(Marker(value, text, marker_color))
    for value, label in targets:
        chart.markers.append(Marker(value, label, RED))
    return chart


def timeline_chart(
    title: str,
    series: dict[str, Sequence[float]],
    *,
    y_label: str = "count",
    markers: Sequence[tuple[float, str]] = (),
) -> Chart:
    """Cumulative counts over time: each series is a list of event times in seconds;
    ``markers`` are labelled moments, e.g. when the run finished."""
    chart = Chart(title, "seconds since start", y_label, x_from_zero=True, fit_markers=True)
    chart.markers = [Marker(x, label, RED) for x, label in markers if math.isfinite(x)]
    for index, (label, times) in enumerate(series.items()):
        ordered = sorted(times)
        points = [(t, float(i + 1)) for i, t in enumerate(ordered)]
        if points:
            points = [(points[0][0], 0.0), *points]
        chart.series.append(Series(label, points, PALETTE[index % len(PALETTE)], step=True))
    return chart
