"""Summary statistics for latency samples: pure functions, no I/O."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence


def percentile(samples: Sequence[float], q: int) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks.

    ``statistics.quantiles``' "inclusive" method: for sorted samples x[0..n-1] the rank is
    ``(n - 1) * q / 100``, the same definition as numpy's default (``method="linear"``).
    NaN for no samples.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    if not samples:
        return math.nan
    if q in (0, 100) or len(samples) < 2:  # quantiles() gives only the 99 inner cut points
        return float(min(samples) if q == 0 else max(samples))
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


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
