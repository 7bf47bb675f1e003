"""The wide scenario: one DagRun of the largest DAG kubedag accepts (10,000 independent
tasks with names of 20 characters, as real ones are), run to completion on the kwok nodes.
What it shows: the pods created per second (raise kube-scheduler's QPS with
--scheduler-qps, else the scheduler is what is measured), the DagRun's largest stored size
during the run (its task records compacted: models/compact_tasks.py), and the controller's
CPU for it."""

from __future__ import annotations

import json
import logging
import math
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bench.api import ApiError, custom_path
from bench.results import ScenarioResult
from bench.session import ScenarioRun, Session, dag_spec, task
from bench.stats import rate_per_second
from kubedag.models.compact_tasks import task_records

if TYPE_CHECKING:
    from bench.scenarios import Scale


log = logging.getLogger(__name__)

DAG_CREATE_WAIT_S = 600


def task_names(count: int) -> list[str]:
    return [f"load-partition-{i:05d}" for i in range(count)]


def create_dag(run: ScenarioRun, spec: dict[str, Any]) -> float:
    """Create the DAG; the seconds it took. The API server checks each of 10,000 tasks
    against the task schema (about 2 ms each on this machine), so on a loaded machine the
    create can outlast its 60 s request timeout: the server answers 504 and goes on, and
    the object appears later."""
    started = time.monotonic()
    try:
        run.apply_dag("wide", spec)
    except (ApiError, TimeoutError) as error:
        if isinstance(error, ApiError) and error.status != 504:
            raise
        log.warning("wide: the DAG's create timed out (%s); waiting for it", error)
        path = custom_path("dags", run.namespace, "wide")
        while run.api.get(path) is None:
            if time.monotonic() - started > DAG_CREATE_WAIT_S:
                raise
            time.sleep(2)
    return time.monotonic() - started


def wide(session: Session, scale: Scale) -> ScenarioResult:
    n = scale.wide_tasks
    settings = (
        {"KUBEDAG_COMPACT_TASKS_OVER": str(scale.wide_compact_tasks_over)}
        if scale.wide_compact_tasks_over is not None
        else None
    )
    with session.scenario("wide", settings) as run:
        spec = dag_spec([task(name) for name in task_names(n)], maxActiveTasks=n)
        dag_create_s = create_dag(run, spec)
        dag = run.api.request("GET", custom_path("dags", run.namespace, "wide"))
        dag_bytes = len(run.api.get_bytes(custom_path("dags", run.namespace, "wide")))
        run.begin()
        run_name = "wide-manual-1"
        run.create_run(dag, run_name, datetime(2001, 1, 1, tzinfo=UTC))
        finished = run.wait_runs_finished([run_name], scale.timeout_s)
        run.end()
        record = run.recorder.runs[run_name]
        pods = run.pods("wide")
        created = [p.added for p in pods]
        body = run.api.get_bytes(custom_path("dagruns", run.namespace, run_name))
        status = json.loads(body).get("status") or {}
        records = task_records(status)
        succeeded = sum(1 for r in records if r.get("state") == "success")
        metrics = {
            "tasks": n,
            "completed_tasks": sum(1 for p in pods if p.phase == "Succeeded"),
            "records_succeeded": succeeded,
            "pods_created_per_s": rate_per_second(created),
            "pod_creation_span_s": (max(created) - min(created)) if created else math.nan,
            "run_duration_s": (record.finished - record.added) if record.finished else math.nan,
            "dagrun_bytes": len(body),
            "dagrun_max_bytes": max(record.largest_bytes, len(body)),
            "plain_records": len(status.get("tasks") or []),
            "dag_bytes": dag_bytes,
            "dag_create_s": dag_create_s,
        }
        common, common_details = run.common_metrics()
        cpu = common["controller_cpu_s"]
        metrics["controller_cpu_ms_per_task"] = cpu * 1000 / n if n else math.nan
        details = {
            "run_state": record.state,
            "finished_in_time": finished,
            "compacted": "compressedTasks" in status,
            "controller_settings": settings or {},
            **common_details,
        }
        origin = record.added
        samples = {
            "pod_created_s": [p.added - origin for p in pods],
            "pod_finished_s": [p.finished - origin for p in pods if p.finished],
        }
        parameters = {"tasks": n, "maxActiveTasks": n}
        return ScenarioResult("wide", parameters, {**metrics, **common}, details, samples)
