"""Summary statistics for latency samples: pure functions, no I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks.

    The same definition as numpy's default (``method="linear"``): for sorted samples
    x[0..n-1] the rank is ``(n - 1) * q / 100``. NaN for no samples.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    fraction = rank - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def summarize(samples: Sequence[float], prefix: str, unit: str = "ms") -> dict[str, float]:
    """``{prefix_p50_<unit>, prefix_p95_<unit>, prefix_p99_<unit>, prefix_max_<unit>}``."""
    return {
        f"{prefix}_p50_{unit}": percentile(samples, 50),
        f"{prefix}_p95_{unit}": percentile(samples, 95),
        f"{prefix}_p99_{unit}": percentile(samples, 99),
        f"{prefix}_max_{unit}": max(samples) if samples else math.nan,
    }


def rate_per_second(times: Iterable[float]) -> float:
    """Events per second over the span of ``times``: (n - 1) / (last - first).

    The first event starts the clock, so n events over a span are n - 1 intervals. NaN with
    fewer than two events or a zero span.
    """
    ordered = sorted(times)
    if len(ordered) < 2 or ordered[-1] <= ordered[0]:
        return math.nan
    return (len(ordered) - 1) / (ordered[-1] - ordered[0])


def cdf_points(samples: Sequence[float]) -> list[tuple[float, float]]:
    """The empirical CDF as (value, fraction of samples <= value) steps, sorted by value."""
    ordered = sorted(samples)
    n = len(ordered)
    return [(value, (i + 1) / n) for i, value in enumerate(ordered)]
