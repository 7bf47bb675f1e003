"""The run's interval from flags or environment, the templates, the connection variables:
pure functions, no server."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from kubedag.toolkit.connection import connection_names, read_connection
from kubedag.toolkit.context import RunInterval, render, resolve_interval
from kubedag.toolkit.errors import ToolkitError
from kubedag.toolkit.outputs import fit

JAN1 = datetime(2026, 1, 1, tzinfo=UTC)
JAN2 = datetime(2026, 1, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("flags", "environ", "expected"),
    [
        ((None, None, None), {}, None),
        (
            (None, None, None),
            {
                "KUBEDAG_LOGICAL_DATE": "2026-01-01T00:00:00Z",
                "KUBEDAG_DATA_INTERVAL_START": "2026-01-01T00:00:00Z",
                "KUBEDAG_DATA_INTERVAL_END": "2026-01-02T00:00:00Z",
            },
            RunInterval(JAN1, JAN1, JAN2),
        ),
        (
            (None, None, None),
            {
                "AIRFLOW_CTX_DATA_INTERVAL_START": "2026-01-01T00:00:00+00:00",
                "AIRFLOW_CTX_DATA_INTERVAL_END": "2026-01-02T00:00:00+00:00",
            },
            RunInterval(JAN1, JAN1, JAN2),
        ),
        (("2026-01-01", None, None), {}, RunInterval(JAN1, JAN1, JAN2)),
        (
            (None, "2026-01-01", "2026-01-02T00:00:00+00:00"),
            {
                "KUBEDAG_DATA_INTERVAL_START": "2020-01-01",
                "KUBEDAG_DATA_INTERVAL_END": "2020-01-02",
            },
            RunInterval(JAN1, JAN1, JAN2),
        ),
    ],
)
def test_interval_from_flags_then_environment(
    flags: tuple[str | None, str | None, str | None],
    environ: dict[str, str],
    expected: RunInterval | None,
) -> None:
    assert resolve_interval(*flags, environ=environ) == expected


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("yesterday", None, None), "--logical-date: 'yesterday' is not a date"),
        ((None, "2026-01-01", None), "a data interval needs both ends"),
        ((None, "2026-01-02", "2026-01-01"), "ends (2026-01-01T00:00:00+00:00) before it starts"),
    ],
)
def test_bad_intervals_are_refused_readably(
    flags: tuple[str | None, str | None, str | None], message: str
) -> None:
    with pytest.raises(ToolkitError, match=re.escape(message)):
        resolve_interval(*flags, environ={})


def test_templates_use_airflow_names_and_quote_for_sql() -> None:
    interval = RunInterval(JAN1, JAN1, JAN2)
    text = (
        "{{ ds }} {{ ds_nodash }} {{ data_interval_end | ds }} {{ params.who | sql_literal }} "
        "{{ params.table | sql_identifier }}"
    )
    rendered = render(text, "t", interval, {"who": "O'Brien", "table": "raw.x"})
    assert rendered == "2026-01-01 20260101 2026-01-02 'O''Brien' \"raw\".\"x\""


def test_a_template_outside_a_run_says_what_is_missing() -> None:
    with pytest.raises(ToolkitError, match=r"--source: template error: 'ds' is undefined \(no"):
        render("http://feed/{{ ds }}.csv", "--source", None, {})


def test_connection_from_a_secrets_keys_under_its_prefix() -> None:
    environ = {
        "KUBEDAG_CONN_WAREHOUSE_host": "pg",
        "KUBEDAG_CONN_WAREHOUSE_port": "5432",
        "KUBEDAG_CONN_WAREHOUSE_dbname": "dw",
        "KUBEDAG_CONN_WAREHOUSE_user": "etl",
        "KUBEDAG_CONN_WAREHOUSE_password": "s3cret",
        "KUBEDAG_CONN_WAREHOUSE_options": "-c search_path=raw",
        "KUBEDAG_CONN_OTHER_DB_HOST": "other",
    }
    assert connection_names(environ) == ["other_db", "warehouse"]
    conn = read_connection("warehouse", environ)
    assert conn.params == {
        "host": "pg",
        "port": "5432",
        "dbname": "dw",
        "user": "etl",
        "password": "s3cret",
        "options": "-c search_path=raw",
    }
    assert conn.describe() == "etl@pg:5432/dw"
    assert conn.redact("password s3cret rejected") == "password *** rejected"
    assert read_connection("other-db", environ).params == {"host": "other"}
    with pytest.raises(ToolkitError, match=r"several \(other_db, warehouse\): choose one"):
        read_connection(None, environ)
    with pytest.raises(ToolkitError, match="connection 'nope': no KUBEDAG_CONN_NOPE_HOST"):
        read_connection("nope", environ)


def test_outputs_stay_under_the_termination_message_limit() -> None:
    big = {
        "passed": False,
        "checks": {f"c{i}": {"ok": False, "details": ["x" * 200] * 3} for i in range(30)},
    }
    text = fit(big)
    assert len(text.encode()) <= 3072 and '"passed":false' in text and '"truncated":true' in text
