"""Apache Airflow as a side-by-side peer: its configurations (shipped defaults and tuned),
the environment its processes run with, and the DAG files the harness writes. Pure: no I/O.

Airflow runs as Airflow 3 does on one machine: the LocalExecutor on PostgreSQL, tasks as
local processes (no pods), three processes (``airflow scheduler``, which holds the executor;
``airflow dag-processor``, which parses the DAG files, the scheduler no longer does; and
``airflow api-server``, whose Execution API every task process reports its state through).
No triggerer: no task defers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

NO_PODS = "tasks as local processes, no pods"
"""Every table row of Airflow's carries this: its tasks are processes on the bench machine,
where the other systems' tasks are pods on fake nodes."""

CHAIN_DAG_ID = "bench_chain"
MANY_DAGS_PREFIX = "bench_md_"

Options = Mapping[tuple[str, str], str]


@dataclass(frozen=True)
class AirflowVariant:
    """One configuration of Airflow: its name in the tables and the options it changes from
    the shipped defaults (``(section, key) -> value``)."""

    name: str
    options: Options = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"airflow ({self.name})"

    @property
    def settings(self) -> str:
        """The table's settings cell: what runs, and every option changed."""
        changed = " ".join(f"[{s}] {k}={v}" for (s, k), v in self.options.items())
        return f"{NO_PODS}; LocalExecutor, PostgreSQL; " + (changed or "shipped defaults")


AIRFLOW_DEFAULTS = AirflowVariant("defaults")
AIRFLOW_TUNED = AirflowVariant(
    "tuned",
    {
        # The scheduler sleeps this long after a loop that found nothing to do (default 1 s):
        # a finished upstream waits for the next loop.
        ("scheduler", "scheduler_idle_sleep_time"): "0.05",
        # Runs created, and runs examined, per scheduler loop (defaults 10 and 20): 500 DAGs due
        # on one minute take 50 loops at the default.
        ("scheduler", "max_dagruns_to_create_per_loop"): "1000",
        ("scheduler", "max_dagruns_per_loop_to_schedule"): "1000",
        ("scheduler", "max_tis_per_query"): "512",
        # One scheduler: no other to lock rows against.
        ("scheduler", "use_row_level_locking"): "False",
        # Re-parse each DAG file every 10 minutes, not every 30 s: the DAGs do not change, and
        # parsing 500 files takes the CPU the scheduler needs.
        ("dag_processor", "min_file_process_interval"): "600",
    },
)
AIRFLOW_VARIANTS = (AIRFLOW_DEFAULTS, AIRFLOW_TUNED)


@dataclass(frozen=True)
class Deployment:
    """Where one Airflow instance keeps its files and finds its database and API server."""

    home: str
    database_host: str
    """A folder: PostgreSQL's Unix socket (libpq's ``host``)."""
    database_port: int
    database_name: str
    database_user: str
    database_password: str
    api_port: int
    secret: str
    """Signs the Execution API's tokens (the scheduler issues, the API server checks)."""


def sql_alchemy_conn(d: Deployment) -> str:
    """psycopg2 over PostgreSQL's Unix socket (libpq's ``host`` and ``port`` as URL query)."""
    return (
        f"postgresql+psycopg2://{quote(d.database_user, safe='')}:"
        f"{quote(d.database_password, safe='')}@/{d.database_name}"
        f"?host={quote(d.database_host, safe='/')}&port={d.database_port}"
    )


def environment(variant: AirflowVariant, d: Deployment) -> dict[str, str]:
    """The ``AIRFLOW__SECTION__KEY`` variables of every Airflow process of one instance.

    Beside the variant's options, only what the bench machine needs: its own home, database
    and ports (another session may hold Airflow's 8080), no example DAGs, the LocalExecutor
    named (it is 3.x's default), one secret for the API server and the scheduler, DAGs paused
    when first parsed (the default, written out: the harness unpauses them once all are
    parsed)."""
    base: dict[tuple[str, str], str] = {
        ("core", "dags_folder"): f"{d.home}/dags",
        ("core", "executor"): "LocalExecutor",
        ("core", "load_examples"): "False",
        ("core", "dags_are_paused_at_creation"): "True",
        ("core", "execution_api_server_url"): f"http://127.0.0.1:{d.api_port}/execution/",
        ("database", "sql_alchemy_conn"): sql_alchemy_conn(d),
        ("api", "host"): "127.0.0.1",
        ("api", "port"): str(d.api_port),
        ("api", "secret_key"): d.secret,
        ("api_auth", "jwt_secret"): d.secret,
        ("logging", "base_log_folder"): f"{d.home}/logs",
    }
    env = {"AIRFLOW_HOME": d.home}
    for (section, key), value in {**base, **variant.options}.items():
        env[f"AIRFLOW__{section.upper()}__{key.upper()}"] = value
    return env


_HEADER = '''"""Written by kubedag's bench (bench/peers/airflow_config.py)."""

from datetime import datetime, timezone

from airflow.sdk import DAG
'''


def chain_dag_source(steps: int) -> str:
    """One DAG of ``steps`` BashOperator tasks running ``true``, each after the previous, run
    only when triggered (so it is unpaused from the start)."""
    if steps < 2:
        raise ValueError(f"a chain needs at least 2 steps, not {steps}")
    return f"""{_HEADER}from airflow.sdk import chain
from airflow.providers.standard.operators.bash import BashOperator

with DAG(
    dag_id={CHAIN_DAG_ID!r},
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    is_paused_upon_creation=False,
):
    chain(*(BashOperator(task_id=f"step_{{i:03d}}", bash_command="true") for i in range({steps})))
"""


def many_dags_id(index: int) -> str:
    return f"{MANY_DAGS_PREFIX}{index:04d}"


MANY_DAGS_FILE = "bench_many_dags.py"


def cron_dags_source(count: int) -> str:
    """``count`` DAGs due every minute, each with one EmptyOperator task, from one file (a
    loop, as a DAG factory writes them). The scheduler marks such a task done itself, no
    process runs it (as kwok finishes the other systems' pods), so a run costs Airflow its
    scheduling only. One file, not one per DAG: parsing 500 files took 300 to 380 s per
    instance here, and at the defaults the dag-processor re-parses every file each 30 s,
    beside the scheduler on the same two cores; one file is the lighter load for Airflow."""
    return f"""{_HEADER}from airflow.providers.standard.operators.empty import EmptyOperator

for index in range({count}):
    with DAG(
        dag_id=f"{MANY_DAGS_PREFIX}{{index:04d}}",
        schedule="* * * * *",
        start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
        catchup=False,
    ):
        EmptyOperator(task_id="only")
"""
