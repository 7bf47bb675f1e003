"""The controller's own Prometheus metrics, served on its health port (``kubedag run
--health-port P`` answers ``GET /metrics``): the per-object cache sizes and its memory."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

CACHE_ENTRIES = "kubedag_cache_entries"
"""A gauge per per-object cache, label ``cache``: the entries it holds."""
RESIDENT_MEMORY = "process_resident_memory_bytes"
"""prometheus-client's default process collector."""


class MetricsMissing(RuntimeError):
    """The controller does not serve the metrics a scenario needs."""


@dataclass(frozen=True)
class ControllerMetrics:
    cache_entries: dict[str, float]
    """Cache name -> entries."""
    resident_memory_bytes: float

    def largest_cache(self) -> tuple[str, float]:
        """The cache holding the most entries (name, entries); ("", 0) with no caches."""
        if not self.cache_entries:
            return "", 0.0
        name = max(sorted(self.cache_entries), key=lambda c: self.cache_entries[c])
        return name, self.cache_entries[name]


def parse(text: str) -> ControllerMetrics:
    """The cache gauges and the resident memory from a Prometheus text exposition."""
    caches: dict[str, float] = {}
    resident: float | None = None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == CACHE_ENTRIES:
                caches[sample.labels.get("cache", "")] = sample.value
            elif sample.name == RESIDENT_MEMORY:
                resident = sample.value
    missing = [
        name
        for name, found in ((CACHE_ENTRIES, bool(caches)), (RESIDENT_MEMORY, resident is not None))
        if not found
    ]
    if missing or resident is None:
        raise MetricsMissing(f"the controller's /metrics has no {' or '.join(missing)}")
    return ControllerMetrics(caches, resident)


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
