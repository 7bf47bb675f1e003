"""Prometheus metrics of the controller, served at /metrics beside /healthz."""

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class CacheCollector(Collector):
    """`kubedag_cache_entries{cache}`: entries held per per-object cache, read at scrape
    time. Once every DAG and run is deleted, each is 0 (the soak benchmark checks it)."""

    def __init__(self, sizes: Callable[[], dict[str, int]]) -> None:
        self.sizes = sizes

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "kubedag_cache_entries",
            "Entries held by each per-object cache of the controller",
            labels=["cache"],
        )
        for cache, size in sorted(self.sizes().items()):
            gauge.add_metric([cache], size)
        yield gauge


def controller_registry(sizes: Callable[[], dict[str, int]]) -> CollectorRegistry:
    """The default registry's process and platform metrics (RSS, CPU) plus the caches."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    registry.register(CacheCollector(sizes))
    return registry
