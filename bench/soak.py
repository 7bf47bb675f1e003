"""The soak scenario: cycle after cycle, create many DAGs in several versions and many runs,
delete everything, and check that the controller forgets it all: every per-object cache
empty once the deletions are seen, and the resident memory after the last cycle close to
the first's. Read from the controller's own /metrics (``bench.controllermetrics``)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bench import controllermetrics
from bench.api import ApiError, core_path, custom_path
from bench.results import ScenarioResult
from bench.session import ScenarioRun, Session, dag_spec, task

if TYPE_CHECKING:
    from bench.scenarios import Scale

log = logging.getLogger(__name__)

TASK_DURATION = "100ms"
FORGET_TIMEOUT_S = 60.0
"""How long the controller may take, after the API server has removed every object, to
drop them from its caches (the watch's DELETED events arrive within milliseconds)."""
MANAGED_BY_KUBEDAG = "app.kubernetes.io%2Fmanaged-by%3Dkubedag"
MIB = 1024 * 1024


def _version_spec(version: int, max_active_runs: int) -> dict[str, Any]:
    """Version ``version`` of a soak DAG: one tiny task; each version a new generation."""
    env = [
        {"name": "BENCH_TASK_DURATION", "value": TASK_DURATION},
        {"name": "SOAK_VERSION", "value": str(version)},
    ]
    return dag_spec([task("only", env=env)], maxActiveRuns=max_active_runs)


def split_evenly(total: int, parts: int) -> list[int]:
    """``total`` as ``parts`` counts that differ by at most one, the larger first."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _wait_generations_seen(run: ScenarioRun, names: set[str], timeout: float) -> None:
    """Until the controller has written every DAG's newest generation as observed."""
    deadline = time.monotonic() + timeout
    behind = len(names)
    while time.monotonic() < deadline:
        run.check_alive()
        items = run.api.request("GET", custom_path("dags", run.namespace))["items"]
        behind = sum(
            1
            for d in items
            if d["metadata"]["name"] in names
            and (d.get("status") or {}).get("observedGeneration") != d["metadata"]["generation"]
        )
        if behind == 0:
            return
        time.sleep(0.5)
    raise TimeoutError(f"{behind} of {len(names)} DAGs' newest generation not observed")


def _delete_everything(run: ScenarioRun, timeout: float) -> None:
    """Delete every DagRun, DAG, snapshot ConfigMap and pod of the namespace and wait until
    the API server has removed them (no kube-controller-manager runs to collect owned ones)."""
    api, namespace = run.api, run.namespace
    collections = [
        custom_path("dagruns", namespace),
        custom_path("dags", namespace),
        core_path("configmaps", namespace) + f"?labelSelector={MANAGED_BY_KUBEDAG}",
    ]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # A collection DELETE of thousands of objects can end before it reached them all
        # (the API server's request timeout): repeat it until nothing is left.
        try:
            for path in collections:
                api.request("DELETE", path)
            run.session.cluster.delete_pods(namespace, timeout=10)
        except (ApiError, OSError) as error:  # e.g. the request timed out part way
            log.info("deleting the soak's objects: %s; again", error)
        run.check_alive()
        paths = [*collections, core_path("pods", namespace)]
        left = sum(len(api.request("GET", path)["items"]) for path in paths)
        if not left:
            return
        time.sleep(0.5)
    raise TimeoutError(f"objects of {namespace} still there {timeout:.0f}s after deletion")


def _wait_forgotten(port: int, timeout: float) -> controllermetrics.ControllerMetrics:
    """The controller's metrics once every cache is empty, or at the timeout (a finding)."""
    deadline = time.monotonic() + timeout
    metrics = controllermetrics.scrape(port)
    while any(metrics.cache_entries.values()) and time.monotonic() < deadline:
        time.sleep(0.5)
        metrics = controllermetrics.scrape(port)
    return metrics


def _cycle(run: ScenarioRun, cycle: int, scale: Scale, port: int) -> dict[str, Any]:
    """Create the DAGs, update them to each version with that version's runs, wait for
    the runs, delete everything; the controller's caches and memory afterwards."""
    began = time.time()
    versions = scale.soak_versions
    runs_of_dag = split_evenly(scale.soak_runs, scale.soak_dags)
    names = [f"soak{cycle}-{i:04d}" for i in range(scale.soak_dags)]
    bodies: dict[str, dict[str, Any]] = {}
    run_names: list[str] = []
    base = datetime(2001, 1, 1, tzinfo=UTC)
    for version in range(1, versions + 1):
        for name, runs in zip(names, runs_of_dag, strict=True):
            spec = _version_spec(version, max(1, runs))
            if version == 1:
                bodies[name] = run.apply_dag(name, spec)
            else:
                run.patch_dag(name, {"tasks": spec["tasks"]})
        _wait_generations_seen(run, set(names), scale.timeout_s)
        for name, runs in zip(names, runs_of_dag, strict=True):
            per_version = split_evenly(runs, versions)
            first = sum(per_version[: version - 1])
            for k in range(first, first + per_version[version - 1]):
                run_name = f"{name}-manual-{k}"
                run.create_run(bodies[name], run_name, base + timedelta(days=k))
                run_names.append(run_name)
    run.wait_runs_finished(run_names, scale.timeout_s)
    completed = sum(
        1 for n in run_names if (r := run.recorder.runs.get(n)) is not None and r.state == "success"
    )
    _delete_everything(run, scale.timeout_s)
    metrics = _wait_forgotten(port, FORGET_TIMEOUT_S)
    largest, entries = metrics.largest_cache()
    log.info(
        "soak cycle %d: %d runs; largest cache %s (%d entries); RSS %.1f MiB",
        cycle,
        completed,
        largest,
        entries,
        metrics.resident_memory_bytes / MIB,
    )
    return {
        "cycle": cycle,
        "runs_completed": completed,
        "largest_cache": largest if entries else "all empty",
        "largest_cache_entries": entries,
        "rss_mib": metrics.resident_memory_bytes / MIB,
        "duration_s": time.time() - began,
        "cache_entries": metrics.cache_entries,
    }


def soak(session: Session, scale: Scale) -> ScenarioResult:
    """``soak_cycles`` times: ``soak_dags`` DAGs in ``soak_versions`` versions and
    ``soak_runs`` runs, created, finished and deleted; every cache empty after each cycle,
    and the resident memory after the last within 10 MiB of the first."""
    with session.scenario("soak") as run:
        port = run.controller.health_port
        if port is None:
            raise RuntimeError("the soak scenario needs the controller's health port")
        controllermetrics.scrape(port)  # fails now, saying why, if /metrics is missing
        run.begin()
        cycles = [_cycle(run, c, scale, port) for c in range(1, scale.soak_cycles + 1)]
        run.end(settle=0)
        first, last = cycles[0]["rss_mib"], cycles[-1]["rss_mib"]
        metrics = {
            "cycles": len(cycles),
            "dags_per_cycle": scale.soak_dags,
            "versions_per_dag": scale.soak_versions,
            "runs_per_cycle": scale.soak_runs,
            "runs_completed": sum(c["runs_completed"] for c in cycles),
            "cache_entries_max": max(c["largest_cache_entries"] for c in cycles),
            "rss_first_cycle_mib": first,
            "rss_last_cycle_mib": last,
            "rss_growth_mib": last - first,
        }
        common, common_details = run.common_metrics()
        parameters = {
            "cycles": scale.soak_cycles,
            "dags": scale.soak_dags,
            "versions": scale.soak_versions,
            "runs": scale.soak_runs,
            "task_duration": TASK_DURATION,
        }
        details = {"cycles": cycles, **common_details}
        return ScenarioResult("soak", parameters, {**metrics, **common}, details, {})
