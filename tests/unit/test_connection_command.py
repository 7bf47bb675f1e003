"""`kubedag connection create`: the URL as the Secret's keys, the Secret, the dry run; the
password never in a message."""

from __future__ import annotations

import base64

import pytest
import yaml

from kubedag.cli import main
from kubedag.commands.common import CliError
from kubedag.commands.connection import env_prefix, parse_url
from kubedag.manifests import render


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgresql://etl:s3cret@pg.data:5433/dw",
            {
                "host": "pg.data",
                "port": "5433",
                "dbname": "dw",
                "user": "etl",
                "password": "s3cret",
            },
        ),
        (
            "postgres://etl@pg",
            {"host": "pg", "port": "5432", "dbname": "etl", "user": "etl"},
        ),
        (
            "postgresql://etl:p%40ss%2Fw@pg/dw?options=-csearch_path%3Draw&sslmode=require",
            {
                "host": "pg",
                "port": "5432",
                "dbname": "dw",
                "user": "etl",
                "password": "p@ss/w",
                "options": "-csearch_path=raw",
                "sslmode": "require",
            },
        ),
        (
            "postgresql://etl:pw@/dw?host=/var/run/postgresql",
            {
                "host": "/var/run/postgresql",
                "port": "5432",
                "dbname": "dw",
                "user": "etl",
                "password": "pw",
            },
        ),
    ],
)
def test_url_to_keys(url: str, expected: dict[str, str]) -> None:
    assert parse_url(url) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://etl:s3cret@db/dw", "'mysql://etl:***@db/dw': expected postgresql://"),
        ("postgresql://etl:s3cret@db:port/dw", "'postgresql://etl:***@db:port/dw': the port"),
        ("postgresql://etl:s3cret@db/dw?schema=x", "unknown parameter schema; allowed: options"),
        ("postgresql://:s3cret@db/dw", "no user"),
    ],
)
def test_bad_urls_are_refused_without_the_password(url: str, message: str) -> None:
    with pytest.raises(CliError) as raised:
        parse_url(url)
    assert message in str(raised.value) and "s3cret" not in str(raised.value)


def test_the_secret_and_its_env_prefix() -> None:
    secret = render.connection_secret("warehouse", "etl", {"host": "pg", "password": "s3cret"})
    assert secret == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "warehouse",
            "namespace": "etl",
            "labels": {
                "kubedag.io/connection": "postgresql",
                "app.kubernetes.io/managed-by": "kubedag",
            },
        },
        "type": "Opaque",
        "data": {"host": "cGc=", "password": "czNjcmV0"},
    }
    assert env_prefix("my-warehouse") == "KUBEDAG_CONN_MY_WAREHOUSE_"
    with pytest.raises(ValueError, match="unknown connection keys"):
        render.connection_secret("w", "etl", {"url": "x"})


def test_dry_run_prints_the_secret(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "connection",
            "create",
            "warehouse",
            "-n",
            "etl",
            "--dry-run",
            "--from-url",
            "postgresql://etl:s3cret@pg/dw",
        ]
    )
    assert code == 0
    secret = yaml.safe_load(capsys.readouterr().out)
    assert secret["metadata"] == {
        "name": "warehouse",
        "namespace": "etl",
        "labels": {
            "kubedag.io/connection": "postgresql",
            "app.kubernetes.io/managed-by": "kubedag",
        },
    }
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == {
        "host": "pg",
        "port": "5432",
        "dbname": "dw",
        "user": "etl",
        "password": "s3cret",
    }
    assert (
        main(
            [
                "connection",
                "create",
                "Bad_Name",
                "--dry-run",
                "-n",
                "x",
                "--from-url",
                "postgresql://etl@pg",
            ]
        )
        == 1
    )
    assert "connection name 'Bad_Name'" in capsys.readouterr().err
