"""Small builders for DAG specs, snapshots, runs and pod observations in unit tests."""

from datetime import UTC, datetime, timedelta
from typing import Any

from kubedag.core.pod_observation import PodObservation
from kubedag.core.run_engine import pin, start
from kubedag.core.schedule import DataInterval
from kubedag.core.snapshot import Snapshot, build_snapshot
from kubedag.models.dag import DagSpec
from kubedag.models.dagrun import DagRun, RunType

T0 = datetime(2026, 1, 2, 0, 0, tzinfo=UTC)


def task(name: str, *deps: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "dependsOn": list(deps), **fields}


def dag_spec(*tasks: dict[str, Any], **fields: Any) -> DagSpec:
    return DagSpec.model_validate({"tasks": list(tasks), **fields})


def snapshot_of(*tasks: dict[str, Any], **fields: Any) -> Snapshot:
    return build_snapshot(dag_spec(*tasks, **fields))


def running_run(
    snapshot: Snapshot,
    *,
    name: str = "etl-20260101-0000",
    started: datetime = T0,
    conf: dict[str, Any] | None = None,
) -> DagRun:
    run = DagRun.model_validate(
        {
            "metadata": {"name": name, "namespace": "ns", "uid": "run-uid", "generation": 1},
            "spec": {
                "dagName": "etl",
                "runType": RunType.SCHEDULED.value,
                "logicalDate": "2026-01-01T00:00:00Z",
                "dataIntervalStart": "2026-01-01T00:00:00Z",
                "dataIntervalEnd": "2026-01-02T00:00:00Z",
                **({"conf": conf} if conf else {}),
            },
        }
    )
    logical = datetime(2026, 1, 1, tzinfo=UTC)
    status = pin(
        run,
        snapshot_name="etl-v1",
        snapshot=snapshot,
        interval=DataInterval(logical, logical + timedelta(days=1)),
        logical_date=logical,
        now=started,
    )
    run.status = start(status, started)
    return run


def pod(name: str, phase: str, exit_code: int | None = None, **fields: Any) -> PodObservation:
    return PodObservation(name=name, phase=phase, exit_code=exit_code, dag="etl", **fields)
