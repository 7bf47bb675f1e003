"""Apache Airflow in the side-by-side scenarios, where it can be compared honestly: the chain
(the time between dependent tasks) and DAGs due on the same minute (the runs created), at its
shipped defaults and tuned (bench/peers/airflow_config.py).

Airflow is the pinned version in its own virtual environment in the cache
(hack/fetch-airflow.sh, from bench/peers/airflow-requirements.lock), on Debian's PostgreSQL
(devcluster/postgres.py, the task toolkit's tests' server). Per scenario one PostgreSQL
server; ``airflow db migrate`` once into a template database; per variant a fresh database
copied from it, a fresh AIRFLOW_HOME with the harness's DAG files, and fresh processes:
``airflow api-server --apps execution`` (the Execution API the LocalExecutor's task processes
report through), ``airflow scheduler --skip-serve-logs`` (the executor inside it; nothing reads
logs over HTTP) and ``airflow dag-processor``. Timing starts only when every DAG file is parsed
and serialized. The figures come from Airflow's metadata database
(bench/peers/airflow_results.py); it touches no Kubernetes API, so it has no writes per try in
the audit log: PostgreSQL's commits and rows written per task try stand in for them."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.peers.airflow_config import (
    AIRFLOW_VARIANTS,
    CHAIN_DAG_ID,
    MANY_DAGS_FILE,
    MANY_DAGS_PREFIX,
    NO_PODS,
    AirflowVariant,
    Deployment,
    chain_dag_source,
    cron_dags_source,
    environment,
    many_dags_id,
)
from bench.peers.airflow_results import (
    DB_COUNTERS,
    RunRow,
    TaskRow,
    chain_figures,
    database_writes,
    group_cpu_seconds,
    same_minute_figures,
)
from bench.peers.audit import AuditLog
from bench.peers.cron import LATE_WAIT_S
from bench.peers.measure import next_ticks
from bench.peers.peerrun import PeerResult
from bench.peers.scale import PeerScale
from bench.session import Session, rfc3339
from devcluster.controlplane import free_port
from devcluster.postgres import PORT, SUPERUSER, Postgres
from devcluster.process import ManagedProcess
from devcluster.versions import REPO_ROOT, pinned_versions

log = logging.getLogger(__name__)

FETCH_SCRIPT = REPO_ROOT / "hack" / "fetch-airflow.sh"
TEMPLATE_DATABASE = "airflow_template"

# The commit of the transaction that inserted each dag_run row: a side table filled by a
# trigger, whose rows are never updated, so their xmin stays that transaction.
CREATION_TRACKING = """
CREATE TABLE bench_dag_run_created (dag_run_id integer PRIMARY KEY);
CREATE FUNCTION bench_note_dag_run() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO bench_dag_run_created VALUES (NEW.id);
  RETURN NEW;
END $$;
CREATE TRIGGER bench_dag_run_created AFTER INSERT ON dag_run
  FOR EACH ROW EXECUTE FUNCTION bench_note_dag_run();
"""


def airflow_version() -> str:
    return pinned_versions()["AIRFLOW_VERSION"]


def ensure_airflow() -> Path:
    """The virtual environment of the pinned Airflow, built by hack/fetch-airflow.sh when the
    cache lacks it (a couple of minutes, logged)."""
    began = time.monotonic()
    result = subprocess.run(
        ["bash", str(FETCH_SCRIPT)], stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    if result.returncode != 0:
        tail = "\n".join(result.stderr.splitlines()[-20:])
        raise RuntimeError(f"{FETCH_SCRIPT.relative_to(REPO_ROOT)} failed:\n{tail}")
    venv = Path(result.stdout.strip().splitlines()[-1])
    if "installing Airflow" in result.stderr:
        log.info("Airflow %s installed in %.0f s", airflow_version(), time.monotonic() - began)
    return venv


class AirflowServer:
    """A PostgreSQL server with Airflow's schema in a template database."""

    def __init__(self, venv: Path, workdir: Path) -> None:
        self.venv, self.workdir = venv, workdir
        self.postgres = Postgres(
            workdir / "postgres",
            settings={"track_commit_timestamp": "on", "max_connections": "300"},
        )
        self._instances = 0

    def start(self) -> None:
        self.postgres.start()
        self.execute(f"CREATE DATABASE {TEMPLATE_DATABASE}")
        deployment = self.deployment(TEMPLATE_DATABASE, self.workdir / "migrate-home")
        began = time.monotonic()
        env = {**os.environ, **environment(AirflowVariant("migrate"), deployment)}
        migrate = subprocess.run(
            [str(self.venv / "bin" / "airflow"), "db", "migrate"],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        (self.workdir / "db-migrate.log").write_text(migrate.stdout + migrate.stderr)
        if migrate.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{migrate.stderr[-3000:]}")
        log.info("airflow db migrate took %.1f s", time.monotonic() - began)
        self.execute(CREATION_TRACKING, database=TEMPLATE_DATABASE)

    def stop(self) -> None:
        self.postgres.stop()

    def conninfo(self, database: str) -> str:
        return self.postgres.conninfo().replace("dbname=postgres", f"dbname={database}")

    def execute(self, sql: str, database: str = "postgres") -> None:
        with psycopg.connect(self.conninfo(database), autocommit=True) as conn:
            conn.execute(sql.encode())

    def deployment(self, database: str, home: Path) -> Deployment:
        home.mkdir(parents=True, exist_ok=True)
        return Deployment(
            home=str(home),
            database_host=str(self.postgres.socket_dir),
            database_port=PORT,
            database_name=database,
            database_user=SUPERUSER,
            database_password=self.postgres.password,
            api_port=free_port(),
            secret=secrets.token_urlsafe(24),
        )

    def instance(self, variant: AirflowVariant, name: str) -> AirflowInstance:
        self._instances += 1
        database = f"airflow_{self._instances}"
        self.execute(f"CREATE DATABASE {database} TEMPLATE {TEMPLATE_DATABASE}")
        home = self.workdir / f"{name}-{variant.name}"
        return AirflowInstance(self, variant, self.deployment(database, home))


class AirflowInstance:
    """One Airflow (its database, home and three processes), up between start and stop."""

    def __init__(self, server: AirflowServer, variant: AirflowVariant, d: Deployment) -> None:
        self.server, self.variant, self.deployment = server, variant, d
        self.home = Path(d.home)
        self.env = {**os.environ, **environment(variant, d)}
        airflow = str(server.venv / "bin" / "airflow")
        logs = self.home / "process-logs"
        self.processes = [
            ManagedProcess(
                f"airflow {argv[0]}", [airflow, *argv], logs / f"{argv[0]}.log", env=self.env
            )
            for argv in (
                ("api-server", "--apps", "execution"),
                ("scheduler", "--skip-serve-logs"),
                ("dag-processor",),
            )
        ]

    def write_dags(self, files: dict[str, str]) -> None:
        dags = self.home / "dags"
        dags.mkdir(parents=True, exist_ok=True)
        for name, source in files.items():
            (dags / name).write_text(source)

    def start(self, timeout: float) -> None:
        for process in self.processes:
            process.start()
        url = f"http://127.0.0.1:{self.deployment.api_port}/execution/health"

        def api_up() -> bool:
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=5) as response:
                return bool(response.status == 200)
            return False

        self.wait(api_up, timeout, "the API server's /execution/health")

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop(grace_period=20)

    def check_alive(self) -> None:
        for process in self.processes:
            if not process.running:
                raise RuntimeError(
                    f"{process.name} ({self.variant.label}) exited ({process.returncode()}); "
                    f"last lines of {process.log_path}:\n{process.log_tail()}"
                )

    def wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            self.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.variant.label}: {what} after {timeout:.0f} s")
            time.sleep(0.5)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.server.conninfo(self.deployment.database_name)) as conn:
            return conn.execute(sql.encode(), params).fetchall()

    def cli(self, *args: str) -> str:
        """An ``airflow`` command against this instance (outside the timed window)."""
        result = subprocess.run(
            [str(self.server.venv / "bin" / "airflow"), *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def wait_parsed(self, dag_ids: Sequence[str], timeout: float) -> float:
        """Until every DAG is in the ``dag`` table and serialized; returns the seconds taken."""
        began = time.monotonic()
        wanted = list(dag_ids)

        def parsed() -> bool:
            rows = self.query(
                "SELECT count(DISTINCT d.dag_id) FROM dag d "
                "JOIN serialized_dag s ON s.dag_id = d.dag_id "
                "WHERE d.dag_id = ANY(%s) AND NOT d.is_stale",
                (wanted,),
            )
            return bool(rows[0][0] >= len(wanted))

        self.wait(parsed, timeout, f"{len(wanted)} DAGs parsed and serialized")
        took = time.monotonic() - began
        log.info("%s: %d DAGs parsed %.1f s after it was up", self.variant.label, len(wanted), took)
        return took

    def cpu_seconds(self) -> float:
        """CPU time of every Airflow process: the three started and all they forked."""
        groups = {p.pid for p in self.processes if p.pid is not None}
        stats = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    stats.append((entry / "stat").read_text())
        return group_cpu_seconds(stats, groups, os.sysconf("SC_CLK_TCK"))

    def database_counters(self) -> dict[str, int]:
        row = self.query(
            f"SELECT {', '.join(DB_COUNTERS)} FROM pg_stat_database WHERE datname = %s",
            (self.deployment.database_name,),
        )[0]
        return dict(zip(DB_COUNTERS, (int(v) for v in row), strict=True))


@contextlib.contextmanager
def _server(session: Session, scenario: str) -> Iterator[AirflowServer]:
    venv = ensure_airflow()
    server = AirflowServer(venv, session.workdir / "airflow" / scenario)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def _instance(
    server: AirflowServer,
    variant: AirflowVariant,
    scenario: str,
    dags: dict[str, str],
    timeout: float,
) -> Iterator[AirflowInstance]:
    instance = server.instance(variant, scenario)
    instance.write_dags(dags)
    log.info("peer %s: %s in %s", scenario, variant.label, instance.home)
    began = time.monotonic()
    try:
        instance.start(timeout)
        log.info("%s up in %.1f s", variant.label, time.monotonic() - began)
        yield instance
    finally:
        instance.stop()


SETTLE_TIMEOUT_S = 60
"""At its defaults Airflow never settles with 500 DAGs due every minute (it creates at most 10
runs a scheduler loop: 180 s ran out in both full runs of 2026-12-02, 120 s in the four after),
tuned it settled in 4 to 32 s. The defaults' lag in the window after it was the same whether
the wait was 180 or 120 s (p99 64 to 85 s), so the wait is bounded at a minute: the futile
part costs ``make bench`` one minute, not three."""
FINISH_WAIT_S = 60


def _waited(af: AirflowInstance, condition: Callable[[], bool], timeout: float, what: str) -> bool:
    """Whether ``condition`` came true within ``timeout`` (a late or missing run is a figure,
    not a failure)."""
    try:
        af.wait(condition, max(1.0, timeout), what)
    except TimeoutError as error:
        log.warning("%s", error)
        return False
    return True


class Window:
    """The measured span: Airflow's CPU time and database writes within it."""

    def __init__(self, instance: AirflowInstance) -> None:
        self.instance = instance
        self.started = time.time()
        self._cpu = instance.cpu_seconds()
        self._db = instance.database_counters()
        self.cpu_s = 0.0
        self.db_after: dict[str, int] = {}
        self.ended = 0.0

    def end(self) -> None:
        self.cpu_s = self.instance.cpu_seconds() - self._cpu
        self.db_after = self.instance.database_counters()
        self.ended = time.time()

    def result(
        self,
        scenario: str,
        metrics: dict[str, float | int],
        tries: int,
        details: dict[str, Any],
        samples: dict[str, list[float]],
    ) -> PeerResult:
        variant = self.instance.variant
        db = database_writes(self._db, self.db_after, tries)
        return PeerResult(
            scenario,
            "airflow",
            variant.name,
            variant.settings,
            {**metrics, "task_tries": tries, "controller_cpu_s": self.cpu_s, **db},
            {
                **details,
                "what": NO_PODS,
                "airflow": airflow_version(),
                "window_s": round(self.ended - self.started, 3),
                "cpu": "every Airflow process: api-server, scheduler with its executor workers "
                "and task processes, dag-processor",
                "home": str(self.instance.home),
            },
            samples,
        )


def chain(session: Session, audit: AuditLog, scale: PeerScale) -> list[PeerResult]:
    """A chain of BashOperator tasks running ``true``, triggered once the DAG is parsed and
    unpaused: the hop from one task's end to the next one's start."""
    with _server(session, "chain") as server:
        return [_chain_once(server, variant, scale) for variant in AIRFLOW_VARIANTS]


def _chain_once(server: AirflowServer, variant: AirflowVariant, scale: PeerScale) -> PeerResult:
    steps = scale.chain_steps
    dags = {f"{CHAIN_DAG_ID}.py": chain_dag_source(steps)}
    run = (CHAIN_DAG_ID, "bench")
    with _instance(server, variant, "chain", dags, scale.timeout_s) as af:
        parse_s = af.wait_parsed([CHAIN_DAG_ID], scale.timeout_s)
        window = Window(af)
        af.cli("dags", "trigger", CHAIN_DAG_ID, "--run-id", run[1])

        def finished() -> bool:
            rows = af.query("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", run)
            return bool(rows and rows[0][0] in ("success", "failed"))

        af.wait(finished, scale.timeout_s, "the chain's run finished")
        window.end()
        tasks = [
            TaskRow(*row)
            for row in af.query(
                "SELECT task_id, state, queued_dttm, start_date, end_date "
                "FROM task_instance WHERE dag_id = %s AND run_id = %s",
                run,
            )
        ]
        run_start, run_end = af.query(
            "SELECT start_date, end_date FROM dag_run WHERE dag_id = %s AND run_id = %s", run
        )[0]
    metrics, hops = chain_figures(tasks, steps, run_start, run_end)
    details = {"parse_s": round(parse_s, 1)}
    return window.result("chain", metrics, len(tasks), details, {"hop_latency_ms": hops})


WINDOW_RUNS = (
    "SELECT d.dag_id, d.run_after, pg_xact_commit_timestamp(c.xmin), d.queued_at, d.state "
    "FROM dag_run d JOIN bench_dag_run_created c ON c.dag_run_id = d.id "
    "WHERE d.run_type = 'scheduled' AND d.run_after = ANY(%s)"
)
COMMITTED_BY_MINUTE = (
    "SELECT d.run_after, count(*) FROM dag_run d "
    "JOIN bench_dag_run_created c ON c.dag_run_id = d.id "
    "WHERE d.run_type = 'scheduled' AND pg_xact_commit_timestamp(c.xmin) BETWEEN %s AND %s "
    "GROUP BY d.run_after ORDER BY d.run_after"
)
"""The runs committed within the window by their minute: a scheduler that falls behind
works off earlier minutes, and with catchup off it then jumps to the latest one."""
DAGS_DUE = (
    "SELECT count(*) FROM dag WHERE dag_id = ANY(%s) AND "
    "(next_dagrun_create_after IS NULL OR next_dagrun_create_after <= now())"
)


def many_dags(session: Session, audit: AuditLog, scale: PeerScale) -> list[PeerResult]:
    """DAGs on ``* * * * *`` with one EmptyOperator task: parsed, then unpaused; once the runs
    unpausing makes due at once (catchup off: the latest minute) are created, the window's
    minutes follow, and each run's commit is measured against its minute."""
    with _server(session, "many_dags") as server:
        return [_many_dags_once(server, variant, scale) for variant in AIRFLOW_VARIANTS]


def _many_dags_once(server: AirflowServer, variant: AirflowVariant, scale: PeerScale) -> PeerResult:
    n = scale.cron_objects
    dag_ids = [many_dags_id(i) for i in range(n)]
    dags = {MANY_DAGS_FILE: cron_dags_source(n)}
    with _instance(server, variant, "many_dags", dags, scale.timeout_s) as af:
        parse_s = af.wait_parsed(dag_ids, scale.timeout_s)
        af.cli("dags", "unpause", "--yes", "--treat-dag-id-as-regex", f"^{MANY_DAGS_PREFIX}")
        began = time.monotonic()
        # Bounded: a scheduler that cannot create a minute's runs within the minute never
        # settles, and the window then shows by how much it falls behind.
        settled = _waited(
            af, lambda: af.query(DAGS_DUE, (dag_ids,))[0][0] == 0, SETTLE_TIMEOUT_S, "settled"
        )
        settle_s = time.monotonic() - began
        window = Window(af)
        ticks = next_ticks(datetime.now(UTC), 5 + 0.03 * n, scale.cron_minutes)

        def window_runs() -> list[RunRow]:
            return [RunRow(*row) for row in af.query(WINDOW_RUNS, (ticks,))]

        expected = n * len(ticks)
        late = ticks[-1].timestamp() - time.time() + LATE_WAIT_S
        _waited(af, lambda: len(window_runs()) >= expected, late, f"{expected} runs created")
        done = "the window's runs finished"
        _waited(af, lambda: all(r.state == "success" for r in window_runs()), FINISH_WAIT_S, done)
        window.end()
        rows = window_runs()
        span = (
            datetime.fromtimestamp(window.started, UTC),
            datetime.fromtimestamp(window.ended, UTC),
        )
        by_minute = {rfc3339(due): count for due, count in af.query(COMMITTED_BY_MINUTE, span)}
    metrics, lags = same_minute_figures(rows, n, ticks)
    details = {
        "parse_s": round(parse_s, 1),
        "unpause_settle_s": round(settle_s, 1),
        "unpause_settled": settled,
        "ticks": [rfc3339(t) for t in ticks],
        "runs_committed_in_window_by_minute": by_minute,
        "task": "EmptyOperator: marked done by the scheduler, no process",
    }
    tries = int(metrics["runs_completed"])
    return window.result("many_dags", metrics, tries, details, {"scheduling_lag_ms": lags})
