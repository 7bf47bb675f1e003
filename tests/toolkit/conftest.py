"""A real PostgreSQL server for the task toolkit's tests (devcluster/postgres.py): Debian's
binaries at the pinned version, started once per session on a Unix socket in a temp folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from devcluster.postgres import Postgres


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    server = Postgres(tmp_path_factory.mktemp("postgres"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def db(postgres: Postgres) -> Iterator[psycopg.Connection]:
    """An autocommit connection of the test's own, in a fresh database schema `t`."""
    with psycopg.connect(postgres.conninfo(), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS t CASCADE; CREATE SCHEMA t")
        yield conn


@pytest.fixture
def toolkit_env(postgres: Postgres, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The environment of a task pod: the connection, and outputs to a file read back here."""
    for name in list(os.environ):
        if name.startswith(
            ("KUBEDAG_CONN_", "KUBEDAG_DATA_INTERVAL_", "KUBEDAG_LOGICAL_DATE", "AIRFLOW_CTX_")
        ):
            monkeypatch.delenv(name)
    for name, value in postgres.env().items():
        monkeypatch.setenv(name, value)
    outputs = tmp_path / "termination-log"
    monkeypatch.setenv("KUBEDAG_OUTPUTS_FILE", str(outputs))
    return outputs
