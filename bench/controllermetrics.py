"""The controller's own Prometheus metrics, served on its health port (``kubedag run
--health-port P`` answers ``GET /metrics``): the per-object cache sizes, its memory and its
garbage collector's pauses."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

CACHE_ENTRIES = "kubedag_cache_entries"
"""A gauge per per-object cache, label ``cache``: the entries it holds."""
RESIDENT_MEMORY = "process_resident_memory_bytes"
"""prometheus-client's default process collector."""
GC_PAUSE = "kubedag_gc_pause_seconds"
"""A histogram of the garbage collector's collections, label ``generation``."""


class MetricsMissing(RuntimeError):
    """The controller does not serve the metrics a scenario needs."""


@dataclass(frozen=True)
class ControllerMetrics:
    cache_entries: dict[str, float]
    """Cache name -> entries."""
    resident_memory_bytes: float
    gc_pauses: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Generation -> (collections, seconds) since the process started; empty from a
    controller that does not time them."""

    def gc_since(self, before: ControllerMetrics) -> dict[str, tuple[float, float]]:
        """Collections and their seconds, by generation, since the scrape `before`."""
        since = {}
        for generation, (count, seconds) in sorted(self.gc_pauses.items()):
            count_before, seconds_before = before.gc_pauses.get(generation, (0.0, 0.0))
            since[generation] = (count - count_before, seconds - seconds_before)
        return since

    def largest_cache(self) -> tuple[str, float]:
        """The cache holding the most entries (name, entries); ("", 0) with no caches."""
        if not self.cache_entries:
            return "", 0.0
        name = max(sorted(self.cache_entries), key=lambda c: self.cache_entries[c])
        return name, self.cache_entries[name]


def parse(text: str) -> ControllerMetrics:
    """The cache gauges, the resident memory and the collector's pauses from a Prometheus
    text exposition."""
    caches: dict[str, float] = {}
    resident: float | None = None
    counts: dict[str, float] = {}
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == CACHE_ENTRIES:
                caches[sample.labels.get("cache", "")] = sample.value
            elif sample.name == RESIDENT_MEMORY:
                resident = sample.value
            elif sample.name == f"{GC_PAUSE}_count":
                counts[sample.labels.get("generation", "")] = sample.value
            elif sample.name == f"{GC_PAUSE}_sum":
                sums[sample.labels.get("generation", "")] = sample.value
    missing = [
        name
        for name, found in ((CACHE_ENTRIES, bool(caches)), (RESIDENT_MEMORY, resident is not None))
        if not found
    ]
    if missing or resident is None:
        raise MetricsMissing(f"the controller's /metrics has no {' or '.join(missing)}")
    gc_pauses = {g: (counts[g], sums.get(g, 0.0)) for g in counts}
    return ControllerMetrics(caches, resident, gc_pauses)


def url(port: int) -> str:
    return f"http://127.0.0.1:{port}/metrics"


def scrape(port: int, timeout: float = 10) -> ControllerMetrics:
    """GET the controller's /metrics and parse it; ``MetricsMissing`` says what is lacking."""
    try:
        with urllib.request.urlopen(url(port), timeout=timeout) as response:
            text = response.read().decode()
    except urllib.error.HTTPError as error:
        raise MetricsMissing(
            f"GET {url(port)} answered HTTP {error.code}: the controller does not serve "
            f"/metrics on its health port (needed: {CACHE_ENTRIES} and {RESIDENT_MEMORY})"
        ) from error
    except OSError as error:
        raise MetricsMissing(f"GET {url(port)} failed: {error}") from error
    return parse(text)
