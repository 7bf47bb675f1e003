"""Every template variable kubedag offers, with its value worked out by hand from Airflow
2.10's definitions (TaskInstance.get_template_context and the templates reference):

- execution_date is the logical date; yesterday_ds / tomorrow_ds are the logical date -/+
  one day as YYYY-MM-DD; the _nodash forms drop the dashes.
- prev_execution_date / next_execution_date come from the timetable (see
  test_schedule.test_adjacent_logical_dates); prev_ds / next_ds are them as YYYY-MM-DD and
  None when they are None (rendered "None", as Jinja renders Python's None).
- prev_data_interval_{start,end}_success, prev_start_date_success, prev_end_date_success
  and prev_execution_date_success come from the latest earlier successful run; None when
  there is none.
- Airflow's filters ds, ds_nodash, ts, ts_nodash, ts_nodash_with_tz format any date.

The run: DAG etl, daily at midnight UTC, task load, try 2, the run of 2026-01-01 (interval
1 Jan -> 2 Jan, started 2 Jan 00:00:03); the previous successful run is that of 30 Dec
(interval 30 -> 31 Dec, ran 31 Dec 00:00:05 -> 00:01:00).
"""

from datetime import UTC, datetime
from typing import Any

import pytest

from kubedag.core.earlier_runs import PastRun
from kubedag.core.templating import RunContext, render
from kubedag.models.dagrun import RunState, RunType

PREVIOUS_SUCCESS = PastRun(
    name="etl-20251230-0000",
    run_type=RunType.SCHEDULED,
    logical_date=datetime(2025, 12, 30, tzinfo=UTC),
    state=RunState.SUCCESS,
    data_interval_start=datetime(2025, 12, 30, tzinfo=UTC),
    data_interval_end=datetime(2025, 12, 31, tzinfo=UTC),
    start_time=datetime(2025, 12, 31, 0, 0, 5, tzinfo=UTC),
    end_time=datetime(2025, 12, 31, 0, 1, tzinfo=UTC),
)


def _context(**overrides: Any) -> RunContext:
    values: dict[str, Any] = {
        "dag_name": "etl",
        "run_id": "etl-20260101-0000",
        "run_type": "scheduled",
        "task_name": "load",
        "try_number": 2,
        "logical_date": datetime(2026, 1, 1, tzinfo=UTC),
        "data_interval_start": datetime(2026, 1, 1, tzinfo=UTC),
        "data_interval_end": datetime(2026, 1, 2, tzinfo=UTC),
        "params": {},
        "conf": {},
        "previous_success": PREVIOUS_SUCCESS,
        "prev_execution_date": datetime(2025, 12, 31, tzinfo=UTC),
        "next_execution_date": datetime(2026, 1, 2, tzinfo=UTC),
        "schedule": "@daily",
        "timezone": "UTC",
        "run_start_date": datetime(2026, 1, 2, 0, 0, 3, tzinfo=UTC),
    }
    values.update(overrides)
    return RunContext(**values)


SCHEDULED_RUN: list[tuple[str, str]] = [
    ("{{ ds }}", "2026-01-01"),
    ("{{ ds_nodash }}", "20260101"),
    ("{{ ts }}", "2026-01-01T00:00:00+00:00"),
    ("{{ ts_nodash }}", "20260101T000000"),
    ("{{ ts_nodash_with_tz }}", "20260101T000000+0000"),
    ("{{ logical_date }}", "2026-01-01T00:00:00+00:00"),
    ("{{ execution_date }}", "2026-01-01T00:00:00+00:00"),
    ("{{ data_interval_start }}", "2026-01-01T00:00:00+00:00"),
    ("{{ data_interval_end }}", "2026-01-02T00:00:00+00:00"),
    ("{{ prev_execution_date }}", "2025-12-31T00:00:00+00:00"),
    ("{{ prev_ds }}", "2025-12-31"),
    ("{{ prev_ds_nodash }}", "20251231"),
    ("{{ next_execution_date }}", "2026-01-02T00:00:00+00:00"),
    ("{{ next_ds }}", "2026-01-02"),
    ("{{ next_ds_nodash }}", "20260102"),
    ("{{ yesterday_ds }}", "2025-12-31"),
    ("{{ yesterday_ds_nodash }}", "20251231"),
    ("{{ tomorrow_ds }}", "2026-01-02"),
    ("{{ tomorrow_ds_nodash }}", "20260102"),
    ("{{ prev_data_interval_start_success }}", "2025-12-30T00:00:00+00:00"),
    ("{{ prev_data_interval_end_success }}", "2025-12-31T00:00:00+00:00"),
    ("{{ prev_start_date_success }}", "2025-12-31T00:00:05+00:00"),
    ("{{ prev_end_date_success }}", "2025-12-31T00:01:00+00:00"),
    ("{{ prev_execution_date_success }}", "2025-12-30T00:00:00+00:00"),
    ("{{ run_id }}", "etl-20260101-0000"),
    ("{{ task_instance_key_str }}", "etl__load__20260101"),
    ("{{ try_number }}", "2"),
    ("{{ ti.try_number }}", "2"),
    ("{{ ti.task_id }} {{ ti.dag_id }} {{ ti.run_id }}", "load etl etl-20260101-0000"),
    ("{{ ti.map_index }}", "-1"),
    ("{{ ti.execution_date }}", "2026-01-01T00:00:00+00:00"),
    ("{{ task_instance.try_number }} {{ task_instance.task_id }}", "2 load"),
    ("{{ task.task_id }} {{ task.dag_id }} {{ task.name }}", "load etl load"),
    ("{{ dag.dag_id }} {{ dag.name }}", "etl etl"),
    ("{{ dag.schedule }} {{ dag.timezone }}", "@daily UTC"),
    ("{{ dag_run.dag_id }} {{ dag_run.run_id }}", "etl etl-20260101-0000"),
    ("{{ dag_run.run_type }} {{ dag_run.external_trigger }}", "scheduled False"),
    ("{{ dag_run.execution_date }}", "2026-01-01T00:00:00+00:00"),
    ("{{ dag_run.data_interval_start }}", "2026-01-01T00:00:00+00:00"),
    ("{{ dag_run.data_interval_end }}", "2026-01-02T00:00:00+00:00"),
    ("{{ dag_run.start_date }}", "2026-01-02T00:00:03+00:00"),
    ("{{ test_mode }} {{ expanded_ti_count }}", "False None"),
    # Airflow's filters, as its deprecation warnings recommend ({{ data_interval_end | ds }}).
    ("{{ data_interval_end | ds }}", "2026-01-02"),
    ("{{ data_interval_end | ds_nodash }}", "20260102"),
    ("{{ data_interval_end | ts }}", "2026-01-02T00:00:00+00:00"),
    ("{{ data_interval_end | ts_nodash }}", "20260102T000000"),
    ("{{ data_interval_end | ts_nodash_with_tz }}", "20260102T000000+0000"),
    ("{{ prev_start_date_success | ts_nodash_with_tz }}", "20251231T000005+0000"),
    ("{{ macros.ds_add(next_ds, 1) }}", "2026-01-03"),
    ("{{ (next_execution_date - prev_execution_date).days }}", "2"),
]


@pytest.mark.parametrize(("template", "expected"), SCHEDULED_RUN, ids=[t for t, _ in SCHEDULED_RUN])
def test_scheduled_run(template: str, expected: str) -> None:
    assert render(template, _context().variables()) == expected


FIRST_RUN: list[tuple[str, str]] = [
    ("{{ prev_data_interval_start_success }}", "None"),
    ("{{ prev_data_interval_end_success }}", "None"),
    ("{{ prev_start_date_success }}", "None"),
    ("{{ prev_end_date_success }}", "None"),
    ("{{ prev_execution_date_success }}", "None"),
    ("{{ prev_start_date_success | ds }}", "None"),
    ("{{ prev_start_date_success or 'first run' }}", "first run"),
]


@pytest.mark.parametrize(("template", "expected"), FIRST_RUN, ids=[t for t, _ in FIRST_RUN])
def test_first_run_has_no_previous_success(template: str, expected: str) -> None:
    assert render(template, _context(previous_success=None).variables()) == expected


# A manual run at 10:17 on 5 January: Airflow gives it its own logical date as the previous
# and next execution dates ("triggered_date == execution_date").
MANUAL_RUN: list[tuple[str, str]] = [
    ("{{ prev_execution_date }}", "2026-01-05T10:17:00+00:00"),
    ("{{ next_execution_date }}", "2026-01-05T10:17:00+00:00"),
    ("{{ prev_ds }} {{ ds }} {{ next_ds }}", "2026-01-05 2026-01-05 2026-01-05"),
    ("{{ prev_ds_nodash }} {{ next_ds_nodash }}", "20260105 20260105"),
    ("{{ yesterday_ds }} {{ tomorrow_ds }}", "2026-01-04 2026-01-06"),
    ("{{ ts_nodash }}", "20260105T101700"),
    ("{{ dag_run.external_trigger }}", "True"),
]


@pytest.mark.parametrize(("template", "expected"), MANUAL_RUN, ids=[t for t, _ in MANUAL_RUN])
def test_manual_run(template: str, expected: str) -> None:
    logical = datetime(2026, 1, 5, 10, 17, tzinfo=UTC)
    ctx = _context(
        run_type="manual",
        logical_date=logical,
        data_interval_start=datetime(2026, 1, 4, tzinfo=UTC),
        data_interval_end=datetime(2026, 1, 5, tzinfo=UTC),
        prev_execution_date=logical,
        next_execution_date=logical,
    )
    assert render(template, ctx.variables()) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ prev_execution_date }} {{ next_execution_date }}", "None None"),
        (
            "{{ prev_ds }} {{ next_ds }} {{ prev_ds_nodash }} {{ next_ds_nodash }}",
            "None " * 3 + "None",
        ),
    ],
)
def test_without_a_cron_schedule_the_adjacent_dates_are_none(template: str, expected: str) -> None:
    ctx = _context(schedule="@once", prev_execution_date=None, next_execution_date=None)
    assert render(template, ctx.variables()) == expected


def test_yesterday_and_tomorrow_cross_month_and_leap_day() -> None:
    ctx = _context(logical_date=datetime(2028, 3, 1, 6, tzinfo=UTC))
    rendered = render("{{ yesterday_ds }} {{ tomorrow_ds_nodash }}", ctx.variables())
    assert rendered == "2028-02-29 20280302"


def test_ts_nodash_with_tz_keeps_microseconds_as_airflow() -> None:
    """Airflow's ts_nodash_with_tz is ts without '-' and ':', so microseconds stay."""
    ctx = _context(logical_date=datetime(2026, 1, 1, 12, 30, 0, 250000, tzinfo=UTC))
    assert render("{{ ts_nodash_with_tz }}", ctx.variables()) == "20260101T123000.250000+0000"
