"""Sample DAG, DagRun and Backfill bodies for the web view (its bench measurement, its
screenshots and its unit tests): a DAG of `tasks` tasks in a chain of fan-outs, `runs` daily
runs of it with every Airflow state somewhere in them."""

from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 11, 1, tzinfo=UTC)
STATES = ["success", "success", "success", "failed", "upstream_failed", "skipped", "up_for_retry"]


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def dag_body(name: str, tasks: int, namespace: str = "etl") -> dict[str, Any]:
    names = task_names(tasks)
    specs = []
    for index, task in enumerate(names):
        deps = [names[(index - 1) // 2]] if index else []
        specs.append({"name": task, "image": "busybox", "command": ["true"], "dependsOn": deps})
    return {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "DAG",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "generation": 1},
        "spec": {
            "schedule": "@daily",
            "startDate": _time(START),
            "owner": "data-team",
            "tags": ["example", "etl"],
            "tasks": specs,
        },
        "status": {
            "nextRunAfter": _time(START + timedelta(days=30)),
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Valid",
                    "message": "",
                    "lastTransitionTime": _time(START),
                }
            ],
        },
    }


def task_names(tasks: int) -> list[str]:
    stages = ["extract", "clean", "transform", "load", "report"]
    return [f"{stages[i % len(stages)]}-{i:02d}" for i in range(tasks)]


def run_body(
    dag: str, day: int, tasks: int, namespace: str = "etl", *, newest: bool = False
) -> dict[str, Any]:
    logical = START + timedelta(days=day)
    names = task_names(tasks)
    failing = day % 5 == 3
    records = []
    for index, task in enumerate(names):
        started = logical + timedelta(days=1, minutes=index)
        state = "success"
        if failing and index == 3:
            state = "failed"
        elif failing and index > 3 and (index - 1) // 2 >= 3:
            state = "upstream_failed"
        elif day % 7 == 2 and index == tasks - 1:
            state = "skipped"
        if newest:
            state = (
                "success"
                if index < tasks // 2
                else ("running" if index < tasks // 2 + 2 else "none")
            )
        record: dict[str, Any] = {"name": task, "state": state}
        if state in ("success", "failed", "running"):
            record.update(
                {
                    "try": 1,
                    "pod": f"{dag}-{day}-{task}-1",
                    "started": _time(started),
                }
            )
            if state != "running":
                record.update(
                    {
                        "finished": _time(started + timedelta(seconds=40 + index)),
                        "exitCode": 0 if state == "success" else 1,
                    }
                )
            if state == "failed":
                record["message"] = "exit code 1: table events has no column 'ts'"
            if state == "success" and index == 0:
                record["outputs"] = {"rows": 18204, "file": f"events/{logical:%Y-%m-%d}.csv"}
        records.append(record)
    run_state = "running" if newest else ("failed" if failing else "success")
    finished = logical + timedelta(days=1, minutes=tasks + 1)
    status: dict[str, Any] = {
        "state": run_state,
        "logicalDate": _time(logical),
        "dataIntervalStart": _time(logical),
        "dataIntervalEnd": _time(logical + timedelta(days=1)),
        "startTime": _time(logical + timedelta(days=1)),
        "tasks": records,
        "progress": f"{sum(r['state'] != 'none' for r in records)}/{tasks}",
    }
    if not newest:
        status["endTime"] = _time(finished)
    name = f"{dag}-scheduled-{logical:%Y%m%d}"
    return {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "DagRun",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": _time(logical + timedelta(days=1)),
        },
        "spec": {"dagName": dag, "runType": "scheduled", "logicalDate": _time(logical)},
        "status": status,
    }


def runs_of(dag: str, runs: int, tasks: int, namespace: str = "etl") -> list[dict[str, Any]]:
    return [run_body(dag, day, tasks, namespace, newest=day == runs - 1) for day in range(runs)]


def backfill_body(dag: str, namespace: str = "etl") -> dict[str, Any]:
    return {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "Backfill",
        "metadata": {
            "name": f"{dag}-backfill-october",
            "namespace": namespace,
            "creationTimestamp": _time(START),
        },
        "spec": {"dagName": dag, "from": "2026-10-01T00:00:00Z", "to": "2026-10-30T00:00:00Z"},
        "status": {
            "state": "Running",
            "planned": 30,
            "progress": "18/30",
            "created": {"count": 18},
            "running": {"count": 4},
            "succeeded": {"count": 13},
            "failed": {"count": 1},
        },
    }


class SampleKube:
    """Stands in for the web view's own client where the samples have no cluster: a pod log
    for every try of the sample runs."""

    async def pod_log_tail(
        self, namespace: str, name: str, *, container: str, lines: int, limit_bytes: int = 0
    ) -> str:
        return "\n".join(
            [
                f"[2026-11-05 00:03:00] task pod {name} starting",
                "[2026-11-05 00:03:01] reading s3://warehouse/events/2026-11-04/",
                "[2026-11-05 00:03:40] loaded 18,204 rows into events_staging",
                "[2026-11-05 00:03:41] ERROR: table events has no column 'ts'",
                "[2026-11-05 00:03:41] exit code 1",
            ]
        )

    async def close(self) -> None:
        return None


def sample_store(runs: int = 14, tasks: int = 10) -> "Any":
    """A Store of two sample DAGs, their runs and a backfill."""
    from kubedag.web.store import Store

    store = Store()
    store.put("DAG", dag_body("events-daily", tasks))
    small = dag_body("name-gender-etl", 4)
    small["spec"]["schedule"] = "0 6 * * *"
    small["spec"]["owner"] = "analytics"
    small["spec"]["tags"] = ["warehouse"]
    store.put("DAG", small)
    for body in runs_of("events-daily", runs, tasks):
        store.put("DagRun", body)
    for body in runs_of("name-gender-etl", 6, 4)[:-1]:
        store.put("DagRun", body)
    store.put("Backfill", backfill_body("events-daily"))
    store.synced.update({"DAG", "DagRun", "Backfill"})
    return store


class SampleServer:
    """The web view over a sample Store, served on a free local port from a thread."""

    def __init__(self, store: "Any", actions: bool = False) -> None:
        self.store = store
        self.actions = actions
        self.url = ""
        self._stopping: Any = None
        self._thread: Any = None

    def __enter__(self) -> "SampleServer":
        import asyncio
        import socket
        import threading

        from aiohttp import web

        from kubedag.web.server import build_app
        from kubedag.web.settings import WebSettings

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        stopping = asyncio.Event()

        async def main() -> None:
            app = build_app(self.store, SampleKube(), WebSettings(actions=self.actions))  # type: ignore[arg-type]
            runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            ready.set()
            await stopping.wait()
            await runner.cleanup()

        self._stopping = (loop, stopping)
        self._thread = threading.Thread(target=loop.run_until_complete, args=(main(),))
        self._thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        loop, stopping = self._stopping
        loop.call_soon_threadsafe(stopping.set)
        self._thread.join(10)
