"""Table tests for kubedag.schedule, in the style of the Kubernetes CronJob controller's
utils_test.go: each case states its inputs and the expected outcome, worked out by hand
(never by calling the code under test), so a case documents the rule it checks.

Times are written in UTC; a comment gives the wall-clock time where a timezone is involved.
DST transitions in 2026: America/New_York springs forward on 8 March at 02:00 EST
(07:00 UTC) and falls back on 1 November at 02:00 EDT (06:00 UTC); Europe/Berlin on
29 March at 02:00 CET (01:00 UTC) and on 25 October at 03:00 CEST (01:00 UTC).
"""

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from zoneinfo import ZoneInfo

import pytest

from kubedag.core.schedule import (
    PRESETS,
    DataInterval,
    PlannedRun,
    ScheduleError,
    Window,
    adjacent_logical_dates,
    due_runs,
    manual_interval,
    next_run,
    next_wakeup,
    parse_timetable,
    upcoming_runs,
)
from kubedag.models.cron import PRESET_NAMES, cron_expression_pattern, schedule_validations

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


def run(start: datetime, end: datetime) -> PlannedRun:
    """A cron run: it may be created once its interval has ended."""
    return PlannedRun(DataInterval(start, end), run_after=end)


def once(at: datetime) -> PlannedRun:
    """The @once run: an empty interval at start_date, created at start_date."""
    return PlannedRun(DataInterval(at, at), run_after=at)


def daily(first: datetime, days: int) -> list[PlannedRun]:
    """Consecutive one-day runs, for UTC schedules where every day is 24 hours."""
    return [run(first + timedelta(days=i), first + timedelta(days=i + 1)) for i in range(days)]


class Unchecked(Enum):
    """Marks an expectation a case does not state."""

    TOKEN = 0


UNCHECKED = Unchecked.TOKEN


@dataclass(frozen=True)
class Case:
    name: str
    schedule: str
    start_date: datetime
    now: datetime
    timezone: str = "UTC"
    end_date: datetime | None = None
    catchup: bool = True
    last_interval: DataInterval | None = None
    limit: int | None = None
    upcoming_count: int = 3
    # Expectations.
    next_run: PlannedRun | Unchecked | None = UNCHECKED
    due: list[PlannedRun] | Unchecked = UNCHECKED
    # For long backlogs, instead of `due`: how many, and the first and last of them.
    due_count: int | Unchecked = UNCHECKED
    due_first: PlannedRun | Unchecked = UNCHECKED
    due_last: PlannedRun | Unchecked = UNCHECKED
    # The due runs follow each other without gap or overlap, each this long in UTC.
    due_each: timedelta | Unchecked = UNCHECKED
    upcoming: list[PlannedRun] | Unchecked = UNCHECKED
    wakeup: datetime | Unchecked | None = UNCHECKED


CASES: list[Case] = [
    # ----------------------------------------------------------------------------------
    # Presets.
    Case(
        name="@hourly: first interval runs at its end",
        schedule="@hourly",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 1, 1, 0, 30),
        next_run=run(utc(2026, 1, 1, 0), utc(2026, 1, 1, 1)),
        due=[],
        upcoming=[
            run(utc(2026, 1, 1, 0), utc(2026, 1, 1, 1)),
            run(utc(2026, 1, 1, 1), utc(2026, 1, 1, 2)),
            run(utc(2026, 1, 1, 2), utc(2026, 1, 1, 3)),
        ],
        wakeup=utc(2026, 1, 1, 1),
    ),
    Case(
        name="@daily: two complete days are due",
        schedule="@daily",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 1, 3, 12),
        next_run=run(utc(2026, 1, 1), utc(2026, 1, 2)),
        due=daily(utc(2026, 1, 1), 2),
        upcoming=daily(utc(2026, 1, 3), 3),
        wakeup=utc(2026, 1, 4),
    ),
    Case(
        name="@midnight: croniter's alias of @daily",
        schedule="@midnight",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 1, 3, 12),
        due=daily(utc(2026, 1, 1), 2),
        wakeup=utc(2026, 1, 4),
    ),
    Case(
        # Airflow's cron_presets: "0 0 1 */3 *", the first of January, April, July, October.
        name="@quarterly: starts aligned to the next quarter",
        schedule="@quarterly",
        start_date=utc(2026, 2, 10),
        now=utc(2026, 10, 2),
        due=[run(utc(2026, 4, 1), utc(2026, 7, 1)), run(utc(2026, 7, 1), utc(2026, 10, 1))],
        upcoming=[run(utc(2026, 10, 1), utc(2027, 1, 1)), run(utc(2027, 1, 1), utc(2027, 4, 1))],
        upcoming_count=2,
        wakeup=utc(2027, 1, 1),
    ),
    Case(
        name="@quarterly in Amsterdam: quarters start at local midnight",
        schedule="@quarterly",
        timezone="Europe/Amsterdam",
        start_date=datetime(2026, 1, 1, tzinfo=ZoneInfo("Europe/Amsterdam")),
        now=utc(2026, 7, 2),
        due=[
            run(utc(2025, 12, 31, 23), utc(2026, 3, 31, 22)),  # 00:00 CET -> 00:00 CEST
            run(utc(2026, 3, 31, 22), utc(2026, 6, 30, 22)),
        ],
        wakeup=utc(2026, 9, 30, 22),
    ),
    Case(
        name="@annually: croniter's alias of @yearly",
        schedule="@annually",
        start_date=utc(2025, 1, 1),
        now=utc(2026, 6, 1),
        due=[run(utc(2025, 1, 1), utc(2026, 1, 1))],
        wakeup=utc(2027, 1, 1),
    ),
    Case(
        # 2026-01-01 is a Thursday; @weekly is Sunday midnight, the first Sunday is 4 Jan.
        name="@weekly: aligned to Sunday",
        schedule="@weekly",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 1, 20),
        next_run=run(utc(2026, 1, 4), utc(2026, 1, 11)),
        due=[run(utc(2026, 1, 4), utc(2026, 1, 11)), run(utc(2026, 1, 11), utc(2026, 1, 18))],
        wakeup=utc(2026, 1, 25),
    ),
    Case(
        name="@monthly: months of different lengths",
        schedule="@monthly",
        start_date=utc(2026, 1, 15),
        now=utc(2026, 4, 10),
        due=[run(utc(2026, 2, 1), utc(2026, 3, 1)), run(utc(2026, 3, 1), utc(2026, 4, 1))],
        upcoming=[
            run(utc(2026, 4, 1), utc(2026, 5, 1)),
            run(utc(2026, 5, 1), utc(2026, 6, 1)),
            run(utc(2026, 6, 1), utc(2026, 7, 1)),
        ],
        wakeup=utc(2026, 5, 1),
    ),
    Case(
        name="@yearly: start mid-year aligns to next 1 January",
        schedule="@yearly",
        start_date=utc(2024, 6, 1),
        now=utc(2026, 3, 1),
        due=[run(utc(2025, 1, 1), utc(2026, 1, 1))],
        wakeup=utc(2027, 1, 1),
    ),
    Case(
        name="preset and its cron expression schedule alike",
        schedule="0 0 * * *",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 1, 3, 12),
        due=daily(utc(2026, 1, 1), 2),
        wakeup=utc(2026, 1, 4),
    ),
    # ----------------------------------------------------------------------------------
    # Every 5 minutes.
    Case(
        name="every 5 minutes: three complete intervals",
        schedule="*/5 * * * *",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 1, 1, 0, 17),
        due=[
            run(utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 5)),
            run(utc(2026, 1, 1, 0, 5), utc(2026, 1, 1, 0, 10)),
            run(utc(2026, 1, 1, 0, 10), utc(2026, 1, 1, 0, 15)),
        ],
        upcoming=[
            run(utc(2026, 1, 1, 0, 15), utc(2026, 1, 1, 0, 20)),
            run(utc(2026, 1, 1, 0, 20), utc(2026, 1, 1, 0, 25)),
            run(utc(2026, 1, 1, 0, 25), utc(2026, 1, 1, 0, 30)),
        ],
        wakeup=utc(2026, 1, 1, 0, 20),
    ),
    Case(
        name="every 5 minutes: unaligned start waits for the next tick",
        schedule="*/5 * * * *",
        start_date=utc(2026, 1, 1, 0, 2, 30),
        now=utc(2026, 1, 1, 0, 12),
        next_run=run(utc(2026, 1, 1, 0, 5), utc(2026, 1, 1, 0, 10)),
        due=[run(utc(2026, 1, 1, 0, 5), utc(2026, 1, 1, 0, 10))],
        wakeup=utc(2026, 1, 1, 0, 15),
    ),
    Case(
        name="every 5 minutes: a whole day is 288 runs",
        schedule="*/5 * * * *",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 1, 2),
        due_count=288,
        due_first=run(utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 5)),
        due_last=run(utc(2026, 1, 1, 23, 55), utc(2026, 1, 2, 0, 0)),
        due_each=timedelta(minutes=5),
        wakeup=utc(2026, 1, 2, 0, 5),
    ),
    # ----------------------------------------------------------------------------------
    # Daily, catchup on and off, at the boundary: the 1 January run is due on 2 January.
    Case(
        name="daily catchup: due exactly at the interval end",
        schedule="@daily",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 1, 2),
        due=[run(utc(2026, 1, 1), utc(2026, 1, 2))],
        wakeup=utc(2026, 1, 3),
    ),
    Case(
        name="daily catchup: not due one microsecond before",
        schedule="@daily",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 1, 1, 23, 59, 59, 999999),
        next_run=run(utc(2026, 1, 1), utc(2026, 1, 2)),
        due=[],
        upcoming=daily(utc(2026, 1, 1), 3),
        wakeup=utc(2026, 1, 2),
    ),
    Case(
        # skip_to_latest: now is on a tick, so the interval ending now is the latest.
        name="daily no catchup: due exactly at the interval end",
        schedule="@daily",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 1, 2),
        catchup=False,
        next_run=run(utc(2026, 1, 1), utc(2026, 1, 2)),
        due=[run(utc(2026, 1, 1), utc(2026, 1, 2))],
        wakeup=utc(2026, 1, 3),
    ),
    Case(
        # skip_to_latest would pick 31 Dec, but never before the aligned start date.
        name="daily no catchup: not due one microsecond before",
        schedule="@daily",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 1, 1, 23, 59, 59, 999999),
        catchup=False,
        next_run=run(utc(2026, 1, 1), utc(2026, 1, 2)),
        due=[],
        wakeup=utc(2026, 1, 2),
    ),
    Case(
        name="daily no catchup: only the latest complete interval of a backlog",
        schedule="@daily",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 1, 10, 8),
        catchup=False,
        next_run=run(utc(2026, 1, 9), utc(2026, 1, 10)),
        due=[run(utc(2026, 1, 9), utc(2026, 1, 10))],
        upcoming=daily(utc(2026, 1, 10), 3),
        wakeup=utc(2026, 1, 11),
    ),
    # ----------------------------------------------------------------------------------
    # Start date.
    Case(
        name="unaligned start date: first interval starts at the next midnight",
        schedule="@daily",
        start_date=utc(2026, 1, 1, 10, 30),
        now=utc(2026, 1, 5),
        next_run=run(utc(2026, 1, 2), utc(2026, 1, 3)),
        due=daily(utc(2026, 1, 2), 3),
        wakeup=utc(2026, 1, 6),
    ),
    Case(
        name="unaligned start date, no catchup: next midnight, not the day before",
        schedule="@daily",
        start_date=utc(2026, 1, 1, 10, 30),
        now=utc(2026, 1, 1, 12),
        catchup=False,
        next_run=run(utc(2026, 1, 2), utc(2026, 1, 3)),
        due=[],
        wakeup=utc(2026, 1, 3),
    ),
    Case(
        name="start date in the future: nothing due, first run planned",
        schedule="@daily",
        start_date=utc(2026, 6, 1),
        now=utc(2026, 1, 1),
        next_run=run(utc(2026, 6, 1), utc(2026, 6, 2)),
        due=[],
        upcoming=daily(utc(2026, 6, 1), 3),
        wakeup=utc(2026, 6, 2),
    ),
    Case(
        name="start date in the future, no catchup: never before the start date",
        schedule="@daily",
        start_date=utc(2026, 6, 1),
        now=utc(2026, 1, 1),
        catchup=False,
        next_run=run(utc(2026, 6, 1), utc(2026, 6, 2)),
        due=[],
        wakeup=utc(2026, 6, 2),
    ),
    Case(
        name="start date given in another timezone is the same instant",
        schedule="@daily",
        start_date=datetime(2025, 12, 31, 19, 0, tzinfo=NEW_YORK),  # 2026-01-01 00:00 UTC
        now=utc(2026, 1, 2),
        due=[run(utc(2026, 1, 1), utc(2026, 1, 2))],
    ),
    # ----------------------------------------------------------------------------------
    # End date: inclusive, compared with the interval start.
    Case(
        name="end date on a tick: the run starting at end date is the last",
        schedule="@daily",
        start_date=utc(2026, 1, 1),
        end_date=utc(2026, 1, 3),
        now=utc(2026, 1, 10),
        due=daily(utc(2026, 1, 1), 3),
        upcoming=[],
        wakeup=None,
    ),
    Case(
        name="end date between ticks",
        schedule="@daily",
        start_date=utc(2026, 1, 1),
        end_date=utc(2026, 1, 3, 12),
        now=utc(2026, 1, 10),
        due=daily(utc(2026, 1, 1), 3),
        wakeup=None,
    ),
    Case(
        name="end date: nothing after the last run",
        schedule="@daily",
        start_date=utc(2026, 1, 1),
        end_date=utc(2026, 1, 3),
        last_interval=DataInterval(utc(2026, 1, 3), utc(2026, 1, 4)),
        now=utc(2026, 1, 10),
        next_run=None,
        due=[],
        wakeup=None,
    ),
    Case(
        name="end date: upcoming runs stop at it",
        schedule="@daily",
        start_date=utc(2026, 1, 1),
        end_date=utc(2026, 1, 5),
        now=utc(2026, 1, 3, 12),
        upcoming_count=5,
        due=daily(utc(2026, 1, 1), 2),
        upcoming=daily(utc(2026, 1, 3), 3),
        wakeup=utc(2026, 1, 4),
    ),
    Case(
        name="end date before start date: never runs",
        schedule="@daily",
        start_date=utc(2026, 1, 5),
        end_date=utc(2026, 1, 3),
        now=utc(2026, 1, 10),
        next_run=None,
        due=[],
        upcoming=[],
        wakeup=None,
    ),
    Case(
        name="end date, no catchup: latest interval after end date is not run",
        schedule="@daily",
        start_date=utc(2026, 1, 1),
        end_date=utc(2026, 1, 3),
        now=utc(2026, 1, 10),
        catchup=False,
        next_run=None,
        due=[],
        wakeup=None,
    ),
    # ----------------------------------------------------------------------------------
    # Continuing from the last scheduled run.
    Case(
        name="last interval given: continues from its end",
        schedule="@daily",
        start_date=utc(2026, 1, 1),
        last_interval=DataInterval(utc(2026, 1, 3), utc(2026, 1, 4)),
        now=utc(2026, 1, 6, 6),
        next_run=run(utc(2026, 1, 4), utc(2026, 1, 5)),
        due=daily(utc(2026, 1, 4), 2),
        wakeup=utc(2026, 1, 7),
    ),
    Case(
        name="last interval given, start date moved later: resumes at the start date",
        schedule="@daily",
        start_date=utc(2026, 1, 10),
        last_interval=DataInterval(utc(2026, 1, 3), utc(2026, 1, 4)),
        now=utc(2026, 1, 12),
        next_run=run(utc(2026, 1, 10), utc(2026, 1, 11)),
        due=daily(utc(2026, 1, 10), 2),
    ),
    Case(
        name="last interval given, no catchup, long pause: skips to the latest interval",
        schedule="@daily",
        start_date=utc(2025, 1, 1),
        last_interval=DataInterval(utc(2025, 3, 1), utc(2025, 3, 2)),
        now=utc(2026, 1, 10, 8),
        catchup=False,
        next_run=run(utc(2026, 1, 9), utc(2026, 1, 10)),
        due=[run(utc(2026, 1, 9), utc(2026, 1, 10))],
        upcoming=daily(utc(2026, 1, 10), 3),
        wakeup=utc(2026, 1, 11),
    ),
    Case(
        name="last interval given, no catchup, not paused: next interval as usual",
        schedule="@daily",
        start_date=utc(2025, 1, 1),
        last_interval=DataInterval(utc(2026, 1, 8), utc(2026, 1, 9)),
        now=utc(2026, 1, 10, 8),
        catchup=False,
        due=[run(utc(2026, 1, 9), utc(2026, 1, 10))],
        wakeup=utc(2026, 1, 11),
    ),
    Case(
        name="last interval given, no catchup, up to date: nothing due",
        schedule="@daily",
        start_date=utc(2025, 1, 1),
        last_interval=DataInterval(utc(2026, 1, 9), utc(2026, 1, 10)),
        now=utc(2026, 1, 10, 8),
        catchup=False,
        next_run=run(utc(2026, 1, 10), utc(2026, 1, 11)),
        due=[],
        wakeup=utc(2026, 1, 11),
    ),
    Case(
        name="hourly no catchup, years after the start date: the latest hour",
        schedule="@hourly",
        start_date=utc(2020, 1, 1),
        now=utc(2026, 1, 10, 8, 30),
        catchup=False,
        due=[run(utc(2026, 1, 10, 7), utc(2026, 1, 10, 8))],
        wakeup=utc(2026, 1, 10, 9),
    ),
    Case(
        name="hourly no catchup, now on a tick: the hour ending now",
        schedule="@hourly",
        start_date=utc(2020, 1, 1),
        now=utc(2026, 1, 10, 8),
        catchup=False,
        due=[run(utc(2026, 1, 10, 7), utc(2026, 1, 10, 8))],
        wakeup=utc(2026, 1, 10, 9),
    ),
    # ----------------------------------------------------------------------------------
    # Schedule edited since the last run: realign with align_to_prev(last end).
    Case(
        # align_to_prev(5 Jan 11:00) = 5 Jan 00:00 (the tick after it is 6 Jan, not 11:00).
        name="edited hourly to daily: realigns to the midnight before the last end",
        schedule="@daily",
        start_date=utc(2026, 1, 1),
        last_interval=DataInterval(utc(2026, 1, 5, 10), utc(2026, 1, 5, 11)),
        now=utc(2026, 1, 7),
        next_run=run(utc(2026, 1, 5), utc(2026, 1, 6)),
        due=daily(utc(2026, 1, 5), 2),
        wakeup=utc(2026, 1, 8),
    ),
    Case(
        # align_to_prev(5 Jan 00:00) = 4 Jan 12:00; the intervals overlap the old one.
        name="edited midnight to noon: realigns to the noon before the last end",
        schedule="0 12 * * *",
        start_date=utc(2026, 1, 1),
        last_interval=DataInterval(utc(2026, 1, 4), utc(2026, 1, 5)),
        now=utc(2026, 1, 6, 13),
        next_run=run(utc(2026, 1, 4, 12), utc(2026, 1, 5, 12)),
        due=[
            run(utc(2026, 1, 4, 12), utc(2026, 1, 5, 12)),
            run(utc(2026, 1, 5, 12), utc(2026, 1, 6, 12)),
        ],
        wakeup=utc(2026, 1, 7, 12),
    ),
    Case(
        name="edited daily to hourly: last end is on a tick, continues from it",
        schedule="@hourly",
        start_date=utc(2026, 1, 1),
        last_interval=DataInterval(utc(2026, 1, 4), utc(2026, 1, 5)),
        now=utc(2026, 1, 5, 2, 30),
        due=[
            run(utc(2026, 1, 5, 0), utc(2026, 1, 5, 1)),
            run(utc(2026, 1, 5, 1), utc(2026, 1, 5, 2)),
        ],
        wakeup=utc(2026, 1, 5, 3),
    ),
    # ----------------------------------------------------------------------------------
    # DST, daily at a time that does not exist on spring-forward day: 02:30 is read with
    # the offset before the gap, i.e. becomes 03:30 daylight time.
    Case(
        name="New York daily 02:30 across spring forward",
        schedule="30 2 * * *",
        timezone="America/New_York",
        start_date=datetime(2026, 3, 6, 2, 30, tzinfo=NEW_YORK),  # 07:30 UTC
        now=utc(2026, 3, 10, 12),
        due=[
            run(utc(2026, 3, 6, 7, 30), utc(2026, 3, 7, 7, 30)),  # 02:30 EST -> 02:30 EST
            run(utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 30)),  # -> "02:30" = 03:30 EDT
            run(utc(2026, 3, 8, 7, 30), utc(2026, 3, 9, 6, 30)),  # 23 h, -> 02:30 EDT
            run(utc(2026, 3, 9, 6, 30), utc(2026, 3, 10, 6, 30)),
        ],
        wakeup=utc(2026, 3, 11, 6, 30),
    ),
    Case(
        name="Berlin daily 02:30 across spring forward",
        schedule="30 2 * * *",
        timezone="Europe/Berlin",
        start_date=datetime(2026, 3, 27, 2, 30, tzinfo=BERLIN),  # 01:30 UTC
        now=utc(2026, 3, 31),
        due=[
            run(utc(2026, 3, 27, 1, 30), utc(2026, 3, 28, 1, 30)),  # 02:30 CET -> 02:30 CET
            run(utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30)),  # -> "02:30" = 03:30 CEST
            run(utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)),  # 23 h, -> 02:30 CEST
        ],
        wakeup=utc(2026, 3, 31, 0, 30),
    ),
    # DST, daily at a time that occurs twice on fall-back day: the first occurrence.
    Case(
        name="New York daily 01:30 across fall back",
        schedule="30 1 * * *",
        timezone="America/New_York",
        start_date=datetime(2026, 10, 30, 1, 30, tzinfo=NEW_YORK),  # 05:30 UTC
        now=utc(2026, 11, 3),
        due=[
            run(utc(2026, 10, 30, 5, 30), utc(2026, 10, 31, 5, 30)),
            # 25 h: the repeated 01:30 is its second occurrence (EST), as in Airflow
            run(utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 6, 30)),
            run(utc(2026, 11, 1, 6, 30), utc(2026, 11, 2, 6, 30)),
        ],
        wakeup=utc(2026, 11, 3, 6, 30),
    ),
    Case(
        name="New York daily 01:30 across spring forward: 23 h interval",
        schedule="30 1 * * *",
        timezone="America/New_York",
        start_date=datetime(2026, 3, 8, 1, 30, tzinfo=NEW_YORK),  # 06:30 UTC (EST)
        now=utc(2026, 3, 9, 12),
        due=[run(utc(2026, 3, 8, 6, 30), utc(2026, 3, 9, 5, 30))],  # -> 01:30 EDT
        wakeup=utc(2026, 3, 10, 5, 30),
    ),
    Case(
        name="New York daily 02:30 across fall back: 25 h, 02:30 is not repeated",
        schedule="30 2 * * *",
        timezone="America/New_York",
        start_date=datetime(2026, 10, 31, 2, 30, tzinfo=NEW_YORK),  # 06:30 UTC (EDT)
        now=utc(2026, 11, 1, 12),
        due=[run(utc(2026, 10, 31, 6, 30), utc(2026, 11, 1, 7, 30))],  # -> 02:30 EST
        wakeup=utc(2026, 11, 2, 7, 30),
    ),
    Case(
        name="Berlin daily 02:30 across fall back: second of the two 02:30s",
        schedule="30 2 * * *",
        timezone="Europe/Berlin",
        start_date=datetime(2026, 10, 23, 2, 30, tzinfo=BERLIN),  # 00:30 UTC (CEST)
        now=utc(2026, 10, 26, 12),
        due=[
            run(utc(2026, 10, 23, 0, 30), utc(2026, 10, 24, 0, 30)),
            run(utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 1, 30)),  # 25 h, -> 02:30 CET
            run(utc(2026, 10, 25, 1, 30), utc(2026, 10, 26, 1, 30)),
        ],
        wakeup=utc(2026, 10, 27, 1, 30),
    ),
    Case(
        name="Berlin daily 01:30 across fall back: 25 h, 01:30 is not repeated",
        schedule="30 1 * * *",
        timezone="Europe/Berlin",
        start_date=datetime(2026, 10, 25, 1, 30, tzinfo=BERLIN),  # 24 Oct 23:30 UTC (CEST)
        now=utc(2026, 10, 26, 12),
        due=[run(utc(2026, 10, 24, 23, 30), utc(2026, 10, 26, 0, 30))],  # -> 01:30 CET
        wakeup=utc(2026, 10, 27, 0, 30),
    ),
    Case(
        name="Berlin daily 01:30 across spring forward: 23 h interval",
        schedule="30 1 * * *",
        timezone="Europe/Berlin",
        start_date=datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN),  # 00:30 UTC (CET)
        now=utc(2026, 3, 30, 12),
        due=[run(utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 23, 30))],  # -> 01:30 CEST
        wakeup=utc(2026, 3, 30, 23, 30),
    ),
    Case(
        # During the second 01:xx hour the 01:30 EDT tick has passed but the tick after
        # the latest one before now (01:00 EST) is 05:30 UTC, before now: Airflow asserts
        # here. The interval ending at that tick is complete, so it is the one run.
        name="New York daily 01:30 no catchup, evaluated in the repeated hour",
        schedule="30 1 * * *",
        timezone="America/New_York",
        start_date=datetime(2026, 10, 1, 1, 30, tzinfo=NEW_YORK),
        now=utc(2026, 11, 1, 6),  # 01:00 EST
        catchup=False,
        # The 1 November 01:30 tick is the second (EST, 06:30 UTC) one, not yet passed, so
        # the latest complete interval is the one ending on 31 October.
        next_run=run(utc(2026, 10, 30, 5, 30), utc(2026, 10, 31, 5, 30)),
        due=[run(utc(2026, 10, 30, 5, 30), utc(2026, 10, 31, 5, 30))],
        wakeup=utc(2026, 11, 1, 6, 30),
    ),
    # DST with catchup=False on the day the clocks change (apache/airflow#70089): the run
    # offered is the latest interval that has ended, never one that ends later. Released
    # Airflow 2.10 and 3.x take the tick before a gap tick to be the gap tick itself, and
    # the tick before 01:30 EDT on fall-back day to be 01:00 EST (later), so they offer the
    # interval that starts at the latest tick, which has not ended.
    Case(
        name="no catchup, New York daily 02:00 on spring-forward day",
        schedule="0 2 * * *",
        timezone="America/New_York",
        start_date=utc(2026, 1, 1),
        # 03:30 EDT; today's "02:00" tick is 03:00 EDT (07:00 UTC), half an hour ago.
        now=utc(2026, 3, 8, 7, 30),
        catchup=False,
        # Released Airflow: 8 Mar 07:00 -> 9 Mar 06:00 UTC, which ends tomorrow.
        due=[run(utc(2026, 3, 7, 7), utc(2026, 3, 8, 7))],  # 02:00 EST -> 03:00 EDT
        wakeup=utc(2026, 3, 9, 6),  # 02:00 EDT
    ),
    Case(
        name="no catchup, New York daily 01:00 on fall-back day, first 01:xx hour",
        schedule="0 1 * * *",
        timezone="America/New_York",
        start_date=utc(2026, 1, 1),
        # 01:30 EDT; today's 01:00 tick is the second one, 01:00 EST (06:00 UTC), to come.
        now=utc(2026, 11, 1, 5, 30),
        catchup=False,
        # Released Airflow: 31 Oct 05:00 -> 1 Nov 06:00 UTC, which ends in half an hour.
        due=[run(utc(2026, 10, 30, 5), utc(2026, 10, 31, 5))],  # 01:00 EDT -> 01:00 EDT
        wakeup=utc(2026, 11, 1, 6),  # 01:00 EST
    ),
    Case(
        name="no catchup, Amsterdam daily 02:30 on spring-forward day",
        schedule="30 2 * * *",
        timezone="Europe/Amsterdam",
        start_date=utc(2026, 1, 1),
        # 03:45 CEST; today's "02:30" tick is 03:30 CEST (01:30 UTC).
        now=utc(2026, 3, 29, 1, 45),
        catchup=False,
        due=[run(utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30))],  # 02:30 CET -> 03:30 CEST
        wakeup=utc(2026, 3, 30, 0, 30),  # 02:30 CEST
    ),
    Case(
        name="no catchup, Amsterdam daily 02:30 on fall-back day, first 02:xx hour",
        schedule="30 2 * * *",
        timezone="Europe/Amsterdam",
        start_date=utc(2026, 1, 1),
        # 02:45 CEST; today's 02:30 tick is the second one, 02:30 CET (01:30 UTC).
        now=utc(2026, 10, 25, 0, 45),
        catchup=False,
        # Released Airflow: 24 Oct 00:30 -> 25 Oct 01:30 UTC, not ended.
        due=[run(utc(2026, 10, 23, 0, 30), utc(2026, 10, 24, 0, 30))],  # CEST -> CEST
        wakeup=utc(2026, 10, 25, 1, 30),
    ),
    Case(
        name="no catchup, Amsterdam daily 02:30 on fall-back day, second 02:xx hour",
        schedule="30 2 * * *",
        timezone="Europe/Amsterdam",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 10, 25, 1, 45),  # 02:45 CET: today's tick (02:30 CET) has passed
        catchup=False,
        due=[run(utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 1, 30))],  # 25 h
        wakeup=utc(2026, 10, 26, 1, 30),
    ),
    Case(
        name="no catchup, Amsterdam midnight on spring-forward day",
        schedule="@daily",
        timezone="Europe/Amsterdam",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 3, 29, 1, 30),  # 03:30 CEST
        catchup=False,
        due=[run(utc(2026, 3, 27, 23), utc(2026, 3, 28, 23))],  # 00:00 CET -> 00:00 CET
        wakeup=utc(2026, 3, 29, 22),  # 00:00 CEST: a 23-hour day
    ),
    Case(
        name="no catchup, Amsterdam hourly on spring-forward day",
        schedule="@hourly",
        timezone="Europe/Amsterdam",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 3, 29, 1, 30),  # 03:30 CEST, half an hour after the jump
        catchup=False,
        due=[run(utc(2026, 3, 29, 0), utc(2026, 3, 29, 1))],  # 01:00 CET -> 03:00 CEST
        wakeup=utc(2026, 3, 29, 2),  # 04:00 CEST
    ),
    Case(
        name="no catchup, Amsterdam hourly on fall-back day, second 02:xx hour",
        schedule="@hourly",
        timezone="Europe/Amsterdam",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 10, 25, 1, 30),  # 02:30 CET
        catchup=False,
        due=[run(utc(2026, 10, 25, 0), utc(2026, 10, 25, 1))],  # 02:00 CEST -> 02:00 CET
        wakeup=utc(2026, 10, 25, 2),  # 03:00 CET
    ),
    Case(
        name="no catchup, New York hourly on spring-forward day",
        schedule="@hourly",
        timezone="America/New_York",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 3, 8, 7, 30),  # 03:30 EDT
        catchup=False,
        due=[run(utc(2026, 3, 8, 6), utc(2026, 3, 8, 7))],  # 01:00 EST -> 03:00 EDT
        wakeup=utc(2026, 3, 8, 8),
    ),
    Case(
        name="no catchup, New York hourly on fall-back day, first 01:xx hour",
        schedule="@hourly",
        timezone="America/New_York",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 11, 1, 5, 30),  # 01:30 EDT
        catchup=False,
        due=[run(utc(2026, 11, 1, 4), utc(2026, 11, 1, 5))],  # 00:00 EDT -> 01:00 EDT
        wakeup=utc(2026, 11, 1, 6),  # 01:00 EST
    ),
    # DST, hourly: stays one hour apart in UTC, no duplicates, no gaps.
    Case(
        name="New York hourly across spring forward: 01:00 EST then 03:00 EDT",
        schedule="@hourly",
        timezone="America/New_York",
        start_date=datetime(2026, 3, 8, 0, 0, tzinfo=NEW_YORK),  # 05:00 UTC
        now=utc(2026, 3, 8, 9),
        due=[
            run(utc(2026, 3, 8, 5), utc(2026, 3, 8, 6)),  # 00:00 EST
            run(utc(2026, 3, 8, 6), utc(2026, 3, 8, 7)),  # 01:00 EST
            run(utc(2026, 3, 8, 7), utc(2026, 3, 8, 8)),  # 03:00 EDT
            run(utc(2026, 3, 8, 8), utc(2026, 3, 8, 9)),  # 04:00 EDT
        ],
        wakeup=utc(2026, 3, 8, 10),
    ),
    Case(
        name="New York hourly across fall back: 01:00 EDT and 01:00 EST both run",
        schedule="@hourly",
        timezone="America/New_York",
        start_date=datetime(2026, 11, 1, 0, 0, tzinfo=NEW_YORK),  # 04:00 UTC
        now=utc(2026, 11, 1, 9),
        due=[
            run(utc(2026, 11, 1, 4), utc(2026, 11, 1, 5)),  # 00:00 EDT
            run(utc(2026, 11, 1, 5), utc(2026, 11, 1, 6)),  # 01:00 EDT
            run(utc(2026, 11, 1, 6), utc(2026, 11, 1, 7)),  # 01:00 EST
            run(utc(2026, 11, 1, 7), utc(2026, 11, 1, 8)),  # 02:00 EST
            run(utc(2026, 11, 1, 8), utc(2026, 11, 1, 9)),  # 03:00 EST
        ],
        wakeup=utc(2026, 11, 1, 10),
    ),
    Case(
        name="New York hourly, whole spring-forward day: 23 runs",
        schedule="@hourly",
        timezone="America/New_York",
        start_date=datetime(2026, 3, 8, 0, 0, tzinfo=NEW_YORK),  # 05:00 UTC
        now=datetime(2026, 3, 9, 0, 0, tzinfo=NEW_YORK),  # 04:00 UTC
        due_count=23,
        due_first=run(utc(2026, 3, 8, 5), utc(2026, 3, 8, 6)),
        due_last=run(utc(2026, 3, 9, 3), utc(2026, 3, 9, 4)),
        due_each=timedelta(hours=1),
    ),
    Case(
        name="New York hourly, whole fall-back day: 25 runs",
        schedule="@hourly",
        timezone="America/New_York",
        start_date=datetime(2026, 11, 1, 0, 0, tzinfo=NEW_YORK),  # 04:00 UTC
        now=datetime(2026, 11, 2, 0, 0, tzinfo=NEW_YORK),  # 05:00 UTC
        due_count=25,
        due_first=run(utc(2026, 11, 1, 4), utc(2026, 11, 1, 5)),
        due_last=run(utc(2026, 11, 2, 4), utc(2026, 11, 2, 5)),
        due_each=timedelta(hours=1),
    ),
    Case(
        name="Berlin hourly across spring forward: 01:00 CET then 03:00 CEST",
        schedule="@hourly",
        timezone="Europe/Berlin",
        start_date=datetime(2026, 3, 29, 0, 0, tzinfo=BERLIN),  # 28 Mar 23:00 UTC
        now=utc(2026, 3, 29, 3),
        due=[
            run(utc(2026, 3, 28, 23), utc(2026, 3, 29, 0)),  # 00:00 CET
            run(utc(2026, 3, 29, 0), utc(2026, 3, 29, 1)),  # 01:00 CET
            run(utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)),  # 03:00 CEST
            run(utc(2026, 3, 29, 2), utc(2026, 3, 29, 3)),  # 04:00 CEST
        ],
        wakeup=utc(2026, 3, 29, 4),
    ),
    Case(
        name="Berlin hourly across fall back: 02:00 CEST and 02:00 CET both run",
        schedule="@hourly",
        timezone="Europe/Berlin",
        start_date=datetime(2026, 10, 25, 1, 0, tzinfo=BERLIN),  # 24 Oct 23:00 UTC
        now=utc(2026, 10, 25, 3),
        due=[
            run(utc(2026, 10, 24, 23), utc(2026, 10, 25, 0)),  # 01:00 CEST
            run(utc(2026, 10, 25, 0), utc(2026, 10, 25, 1)),  # 02:00 CEST
            run(utc(2026, 10, 25, 1), utc(2026, 10, 25, 2)),  # 02:00 CET
            run(utc(2026, 10, 25, 2), utc(2026, 10, 25, 3)),  # 03:00 CET
        ],
        wakeup=utc(2026, 10, 25, 4),
    ),
    Case(
        name="New York hourly at :30 across spring forward",
        schedule="30 * * * *",
        timezone="America/New_York",
        start_date=datetime(2026, 3, 8, 0, 30, tzinfo=NEW_YORK),  # 05:30 UTC
        now=utc(2026, 3, 8, 8, 45),
        due=[
            run(utc(2026, 3, 8, 5, 30), utc(2026, 3, 8, 6, 30)),  # 00:30 EST
            run(utc(2026, 3, 8, 6, 30), utc(2026, 3, 8, 7, 30)),  # 01:30 EST
            run(utc(2026, 3, 8, 7, 30), utc(2026, 3, 8, 8, 30)),  # 03:30 EDT
        ],
        wakeup=utc(2026, 3, 8, 9, 30),
    ),
    # DST, daily at midnight: intervals are 23 h and 25 h long in UTC.
    Case(
        name="New York midnight across spring forward: 23 h interval",
        schedule="@daily",
        timezone="America/New_York",
        start_date=datetime(2026, 3, 7, 0, 0, tzinfo=NEW_YORK),  # 05:00 UTC
        now=utc(2026, 3, 10, 12),
        due=[
            run(utc(2026, 3, 7, 5), utc(2026, 3, 8, 5)),
            run(utc(2026, 3, 8, 5), utc(2026, 3, 9, 4)),
            run(utc(2026, 3, 9, 4), utc(2026, 3, 10, 4)),
        ],
        wakeup=utc(2026, 3, 11, 4),
    ),
    Case(
        name="New York midnight across fall back: 25 h interval",
        schedule="@daily",
        timezone="America/New_York",
        start_date=datetime(2026, 10, 31, 0, 0, tzinfo=NEW_YORK),  # 04:00 UTC
        now=utc(2026, 11, 2, 12),
        due=[
            run(utc(2026, 10, 31, 4), utc(2026, 11, 1, 4)),
            run(utc(2026, 11, 1, 4), utc(2026, 11, 2, 5)),
        ],
        wakeup=utc(2026, 11, 3, 5),
    ),
    Case(
        name="Berlin midnight across spring forward: 23 h interval",
        schedule="@daily",
        timezone="Europe/Berlin",
        start_date=datetime(2026, 3, 28, 0, 0, tzinfo=BERLIN),  # 27 Mar 23:00 UTC
        now=utc(2026, 3, 30, 12),
        due=[
            run(utc(2026, 3, 27, 23), utc(2026, 3, 28, 23)),
            run(utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)),
        ],
        wakeup=utc(2026, 3, 30, 22),
    ),
    Case(
        name="Berlin midnight across fall back: 25 h interval",
        schedule="@daily",
        timezone="Europe/Berlin",
        start_date=datetime(2026, 10, 24, 0, 0, tzinfo=BERLIN),  # 23 Oct 22:00 UTC
        now=utc(2026, 10, 26, 12),
        due=[
            run(utc(2026, 10, 23, 22), utc(2026, 10, 24, 22)),
            run(utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)),
        ],
        wakeup=utc(2026, 10, 26, 23),
    ),
    Case(
        name="Berlin midnight no catchup: latest interval is in local days",
        schedule="@daily",
        timezone="Europe/Berlin",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 7, 10, 12),  # 14:00 CEST
        catchup=False,
        due=[run(utc(2026, 7, 8, 22), utc(2026, 7, 9, 22))],
        wakeup=utc(2026, 7, 10, 22),
    ),
    # Lord Howe Island moves its clocks back by 30 minutes at 02:00 (15:00 UTC): the
    # hourly tick after 01:30 standard time is 02:00, only 30 minutes later. From
    # [15:00, 15:30) Airflow's rule would step back to [14:30, 15:00); instead the next
    # interval starts where the last ended, so runs never go backwards.
    Case(
        name="Lord Howe hourly across a 30-minute fall back: never steps back",
        schedule="@hourly",
        timezone="Australia/Lord_Howe",
        start_date=utc(2026, 4, 1),
        last_interval=DataInterval(utc(2026, 4, 4, 14), utc(2026, 4, 4, 15)),
        now=utc(2026, 4, 4, 17),
        next_run=run(utc(2026, 4, 4, 15), utc(2026, 4, 4, 15, 30)),
        due=[
            run(utc(2026, 4, 4, 15), utc(2026, 4, 4, 15, 30)),  # 01:30 -> 02:00 LHST
            run(utc(2026, 4, 4, 15, 30), utc(2026, 4, 4, 16, 30)),  # 02:00 -> 03:00 LHST
        ],
        wakeup=utc(2026, 4, 4, 17, 30),
    ),
    Case(
        name="Lord Howe hourly, last interval the short one: continues from its end",
        schedule="@hourly",
        timezone="Australia/Lord_Howe",
        start_date=utc(2026, 4, 1),
        last_interval=DataInterval(utc(2026, 4, 4, 15), utc(2026, 4, 4, 15, 30)),
        now=utc(2026, 4, 4, 17),
        next_run=run(utc(2026, 4, 4, 15, 30), utc(2026, 4, 4, 16, 30)),
    ),
    # ----------------------------------------------------------------------------------
    # @once: a single run at start_date, whatever catchup says.
    Case(
        name="@once before start date: planned at start date",
        schedule="@once",
        start_date=utc(2026, 1, 10, 9, 15),
        now=utc(2026, 1, 5),
        next_run=once(utc(2026, 1, 10, 9, 15)),
        due=[],
        upcoming=[once(utc(2026, 1, 10, 9, 15))],
        wakeup=utc(2026, 1, 10, 9, 15),
    ),
    Case(
        name="@once exactly at start date: due",
        schedule="@once",
        start_date=utc(2026, 1, 10, 9, 15),
        now=utc(2026, 1, 10, 9, 15),
        due=[once(utc(2026, 1, 10, 9, 15))],
        upcoming=[],
        wakeup=None,
    ),
    Case(
        name="@once long after start date: due",
        schedule="@once",
        start_date=utc(2026, 1, 10, 9, 15),
        now=utc(2027, 1, 1),
        due=[once(utc(2026, 1, 10, 9, 15))],
        wakeup=None,
    ),
    Case(
        name="@once no catchup after start date: still due",
        schedule="@once",
        start_date=utc(2026, 1, 10, 9, 15),
        now=utc(2027, 1, 1),
        catchup=False,
        next_run=once(utc(2026, 1, 10, 9, 15)),
        due=[once(utc(2026, 1, 10, 9, 15))],
        wakeup=None,
    ),
    Case(
        name="@once after it ran: done",
        schedule="@once",
        start_date=utc(2026, 1, 10, 9, 15),
        last_interval=DataInterval(utc(2026, 1, 10, 9, 15), utc(2026, 1, 10, 9, 15)),
        now=utc(2027, 1, 1),
        next_run=None,
        due=[],
        upcoming=[],
        wakeup=None,
    ),
    Case(
        name="@once with end date before start date: never",
        schedule="@once",
        start_date=utc(2026, 1, 10),
        end_date=utc(2026, 1, 9),
        now=utc(2027, 1, 1),
        next_run=None,
        due=[],
        wakeup=None,
    ),
    Case(
        name="@once with end date equal to start date: runs",
        schedule="@once",
        start_date=utc(2026, 1, 10),
        end_date=utc(2026, 1, 10),
        now=utc(2027, 1, 1),
        due=[once(utc(2026, 1, 10))],
    ),
    Case(
        name="@once in a timezone: the start instant, in UTC",
        schedule="@once",
        timezone="Europe/Berlin",
        start_date=datetime(2026, 7, 1, 9, 0, tzinfo=BERLIN),  # 07:00 UTC
        now=utc(2026, 6, 1),
        next_run=once(utc(2026, 7, 1, 7)),
        wakeup=utc(2026, 7, 1, 7),
    ),
    # ----------------------------------------------------------------------------------
    # Backlogs and limits.
    Case(
        name="daily catchup 2023 to 2026: 1096 runs",
        schedule="@daily",
        start_date=utc(2023, 1, 1),
        now=utc(2026, 1, 1),
        due_count=1096,
        due_first=run(utc(2023, 1, 1), utc(2023, 1, 2)),
        due_last=run(utc(2025, 12, 31), utc(2026, 1, 1)),
        due_each=timedelta(days=1),
        upcoming=daily(utc(2026, 1, 1), 3),
        wakeup=utc(2026, 1, 2),
    ),
    Case(
        name="daily catchup backlog with limit: the oldest first",
        schedule="@daily",
        start_date=utc(2023, 1, 1),
        now=utc(2026, 1, 1),
        limit=10,
        due=daily(utc(2023, 1, 1), 10),
    ),
    Case(
        name="limit zero: nothing",
        schedule="@daily",
        start_date=utc(2023, 1, 1),
        now=utc(2026, 1, 1),
        limit=0,
        due=[],
    ),
    Case(
        name="limit above the backlog: the whole backlog",
        schedule="@daily",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 1, 3),
        limit=100,
        due=daily(utc(2026, 1, 1), 2),
    ),
    Case(
        name="upcoming count zero: nothing",
        schedule="@daily",
        start_date=utc(2026, 1, 1),
        now=utc(2026, 1, 3),
        upcoming_count=0,
        upcoming=[],
    ),
    Case(
        name="weekdays at 09:00 Berlin: weekend skipped",
        schedule="0 9 * * mon-fri",
        timezone="Europe/Berlin",
        start_date=utc(2026, 1, 1),  # Thursday
        now=utc(2026, 1, 6),  # Tuesday
        due=[
            run(utc(2026, 1, 1, 8), utc(2026, 1, 2, 8)),  # Thu 09:00 CET -> Fri
            run(utc(2026, 1, 2, 8), utc(2026, 1, 5, 8)),  # Fri -> Mon
        ],
        wakeup=utc(2026, 1, 6, 8),
    ),
]


def _check_utc(runs: list[PlannedRun]) -> None:
    for planned in runs:
        for moment in (planned.interval.start, planned.interval.end, planned.run_after):
            assert moment.tzinfo is UTC, f"{moment!r} is not in UTC"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_schedule(case: Case) -> None:
    tt = parse_timetable(case.schedule, case.timezone)
    window = Window(
        timetable=tt,
        start_date=case.start_date,
        end_date=case.end_date,
        catchup=case.catchup,
        last_interval=case.last_interval,
        now=case.now,
    )

    got_next = next_run(window)
    if case.next_run is not UNCHECKED:
        assert got_next == case.next_run
    if got_next is not None:
        _check_utc([got_next])
        assert got_next.logical_date == got_next.interval.start

    got_due = due_runs(window, limit=case.limit)
    _check_utc(got_due)
    if case.due is not UNCHECKED:
        assert got_due == case.due
    if case.due_count is not UNCHECKED:
        assert len(got_due) == case.due_count
    if case.due_first is not UNCHECKED:
        assert got_due[0] == case.due_first
    if case.due_last is not UNCHECKED:
        assert got_due[-1] == case.due_last
    if case.due_each is not UNCHECKED:
        for earlier, later in itertools.pairwise(got_due):
            assert later.interval.start == earlier.interval.end, (earlier, later)
        for planned in got_due:
            assert planned.interval.end - planned.interval.start == case.due_each, planned
    for planned in got_due:
        assert planned.run_after <= case.now

    got_upcoming = upcoming_runs(window, count=case.upcoming_count)
    _check_utc(got_upcoming)
    if case.upcoming is not UNCHECKED:
        assert got_upcoming == case.upcoming
    for planned in got_upcoming:
        assert planned.run_after > case.now

    got_wakeup = next_wakeup(window)
    if case.wakeup is not UNCHECKED:
        assert got_wakeup == case.wakeup
    if got_wakeup is not None:
        assert got_wakeup.tzinfo is UTC


# --------------------------------------------------------------------------------------
# Parsing.


def test_presets() -> None:
    """Airflow 2.10's cron_presets, and croniter's @annually and @midnight, which Airflow
    therefore accepts."""
    assert PRESETS == {
        "@hourly": "0 * * * *",
        "@daily": "0 0 * * *",
        "@weekly": "0 0 * * 0",
        "@monthly": "0 0 1 * *",
        "@quarterly": "0 0 1 */3 *",
        "@yearly": "0 0 1 1 *",
        "@annually": "0 0 1 1 *",
        "@midnight": "0 0 * * *",
    }


@dataclass(frozen=True)
class ParseCase:
    name: str
    schedule: str
    timezone: str
    expression: str
    is_once: bool = False


PARSE_CASES = [
    ParseCase("preset expands", "@daily", "UTC", "0 0 * * *"),
    ParseCase(
        "cron kept as written", "*/5 9-17 * * mon-fri", "Europe/Berlin", "*/5 9-17 * * mon-fri"
    ),
    ParseCase("@once is not a cron", "@once", "America/New_York", "@once", is_once=True),
]


@pytest.mark.parametrize("case", PARSE_CASES, ids=[case.name for case in PARSE_CASES])
def test_parse_timetable(case: ParseCase) -> None:
    tt = parse_timetable(case.schedule, case.timezone)
    assert tt.schedule == case.schedule
    assert tt.expression == case.expression
    assert tt.timezone == ZoneInfo(case.timezone)
    assert tt.is_once is case.is_once


def test_timezone_defaults_to_utc() -> None:
    assert parse_timetable("@daily").timezone == ZoneInfo("UTC")


@dataclass(frozen=True)
class ErrorCase:
    schedule: str
    message: str
    timezone: str = "UTC"


_FIELDS = "expected 5 fields (minute hour day-of-month month day-of-week)"
_ZONE_HINT = "expected an IANA time zone name such as 'UTC' or 'Europe/Berlin'"

ERROR_CASES = [
    ErrorCase("61 * * * *", "invalid cron expression '61 * * * *': minute 61 out of range 0-59"),
    ErrorCase("* * *", f"invalid cron expression '* * *': {_FIELDS}, got 3"),
    ErrorCase("banana", f"invalid cron expression 'banana': {_FIELDS}, got 1"),
    ErrorCase("", f"invalid cron expression '': {_FIELDS}, got 0"),
    ErrorCase("* * * * * *", f"invalid cron expression '* * * * * *': {_FIELDS}, got 6"),
    ErrorCase("0 24 * * *", "invalid cron expression '0 24 * * *': hour 24 out of range 0-23"),
    ErrorCase("0 0 0 * *", "invalid cron expression '0 0 0 * *': day-of-month 0 out of range 1-31"),
    ErrorCase("0 0 * 13 *", "invalid cron expression '0 0 * 13 *': month 13 out of range 1-12"),
    ErrorCase("0 0 * * 8", "invalid cron expression '0 0 * * 8': day-of-week 8 out of range 0-7"),
    ErrorCase("0 9-25 * * *", "invalid cron expression '0 9-25 * * *': hour 25 out of range 0-23"),
    ErrorCase(
        "*/0 * * * *", "invalid cron expression '*/0 * * * *': minute step 0 out of range 1-59"
    ),
    ErrorCase(
        "*/60 * * * *", "invalid cron expression '*/60 * * * *': minute step 60 out of range 1-59"
    ),
    ErrorCase(
        "*/x * * * *", "invalid cron expression '*/x * * * *': minute step 'x' is not a number"
    ),
    ErrorCase(
        "0 0 * foo *",
        "invalid cron expression '0 0 * foo *': "
        "month 'foo' is neither a number 1-12 nor a name jan-dec",
    ),
    ErrorCase(
        "0 0 * * funday",
        "invalid cron expression '0 0 * * funday': "
        "day-of-week 'funday' is neither a number 0-7 nor a name sun-sat",
    ),
    ErrorCase("0 0 L * *", "invalid cron expression '0 0 L * *': day-of-month 'L' is not a number"),
    ErrorCase(
        "0 0 31 2 *",
        "invalid cron expression '0 0 31 2 *': "
        "no date matches both its day-of-month and month fields",
    ),
    ErrorCase(
        "1,,2 * * * *",
        "invalid cron expression '1,,2 * * * *': minute field '1,,2' has an empty list item",
    ),
    ErrorCase(
        "1- * * * *", "invalid cron expression '1- * * * *': minute range '1-' is incomplete"
    ),
    ErrorCase(
        "*-5 * * * *",
        "invalid cron expression '*-5 * * * *': minute range '*-5' cannot contain '*'",
    ),
    ErrorCase(
        "/5 * * * *",
        "invalid cron expression '/5 * * * *': minute item '/5' has nothing before '/'",
    ),
    ErrorCase(
        "005 * * * *", "invalid cron expression '005 * * * *': minute '005' has too many digits"
    ),
    ErrorCase(" 0 0 * * *", "invalid cron expression ' 0 0 * * *': leading or trailing whitespace"),
    ErrorCase(
        "@quaterly",
        "unknown schedule preset '@quaterly' (did you mean '@quarterly'?): expected one of"
        " @once, @hourly, @daily, @weekly, @monthly, @quarterly, @yearly, @annually,"
        " @midnight, or a cron expression of 5 fields",
    ),
    ErrorCase(
        "@DAILY",
        "unknown schedule preset '@DAILY' (did you mean '@daily'?): expected one of"
        " @once, @hourly, @daily, @weekly, @monthly, @quarterly, @yearly, @annually,"
        " @midnight, or a cron expression of 5 fields",
    ),
    ErrorCase(
        "@fortnightly",
        "unknown schedule preset '@fortnightly': expected one of"
        " @once, @hourly, @daily, @weekly, @monthly, @quarterly, @yearly, @annually,"
        " @midnight, or a cron expression of 5 fields",
    ),
    ErrorCase(
        "@continuous",
        "@continuous (Airflow's ContinuousTimetable: a new run as soon as the previous one"
        " ends) is not supported: kubedag creates runs for schedule ticks; use a frequent cron"
        " such as '*/5 * * * *' with maxActiveRuns: 1, or trigger runs",
    ),
    ErrorCase("@daily", f"unknown timezone 'Mars/Olympus': {_ZONE_HINT}", "Mars/Olympus"),
    ErrorCase(
        "@daily",
        f"unknown timezone 'America/NewYork' (did you mean 'America/New_York'?): {_ZONE_HINT}",
        "America/NewYork",
    ),
    ErrorCase("@daily", f"unknown timezone 'utc' (did you mean 'UTC'?): {_ZONE_HINT}", "utc"),
    ErrorCase("@daily", f"unknown timezone '': {_ZONE_HINT}", ""),
    ErrorCase("@daily", f"unknown timezone '../etc/passwd': {_ZONE_HINT}", "../etc/passwd"),
    ErrorCase("@once", f"unknown timezone 'localtime': {_ZONE_HINT}", "localtime"),
]


@pytest.mark.parametrize(
    "case", ERROR_CASES, ids=[f"{case.schedule!r} in {case.timezone!r}" for case in ERROR_CASES]
)
def test_parse_errors(case: ErrorCase) -> None:
    with pytest.raises(ScheduleError) as raised:
        parse_timetable(case.schedule, case.timezone)
    assert str(raised.value) == case.message
    assert isinstance(raised.value, ValueError)


def test_naive_datetimes_are_refused() -> None:
    tt = parse_timetable("@daily")
    with pytest.raises(ValueError, match="now must be timezone-aware"):
        next_run(Window(tt, utc(2026, 1, 1), None, True, None, now=datetime(2026, 1, 2)))
    with pytest.raises(ValueError, match=r"DataInterval\.start must be timezone-aware"):
        DataInterval(datetime(2026, 1, 1), utc(2026, 1, 2))


def test_negative_limit_and_count_are_refused() -> None:
    tt = parse_timetable("@daily")
    window = Window(tt, utc(2026, 1, 1), None, True, last_interval=None, now=utc(2026, 1, 3))
    with pytest.raises(ValueError, match="limit"):
        due_runs(window, limit=-1)
    with pytest.raises(ValueError, match="count"):
        upcoming_runs(window, count=-1)


# --------------------------------------------------------------------------------------
# The CRD pattern, and its agreement with parse_timetable.

PATTERN_CASES: list[tuple[str, bool]] = [
    ("@once", True),
    ("@hourly", True),
    ("@daily", True),
    ("@weekly", True),
    ("@monthly", True),
    ("@yearly", True),
    ("* * * * *", True),
    ("0 0 * * *", True),
    ("*/5 * * * *", True),
    ("0,15,30,45 * * * *", True),
    ("5/15 * * * *", True),
    ("0 9-17 * * mon-fri", True),
    ("0 9-17/2 * * MON-FRI", True),
    ("30 2 * * *", True),
    ("59 23 31 12 6", True),
    ("00 05 * * *", True),
    ("0 0 1 jan *", True),
    ("0 0 1 Jan,JUL *", True),
    ("0 0 1-31/2 * *", True),
    ("0 12 * */3 *", True),
    ("0 0 * * 7", True),
    ("0 0 * * 0-7", True),
    ("0 0 * * Sun", True),
    ("0 0 * * 1,3-5/2", True),
    ("10-5 * * * *", True),  # a wrapping range, which croniter accepts
    ("*/59 */23 */31 */12 */7", True),
    ("0\t0 * * *", True),
    ("0  0 * * *", True),
    ("61 * * * *", False),
    ("* * *", False),
    ("banana", False),
    ("", False),
    ("@quarterly", True),
    ("@annually", True),
    ("@midnight", True),
    ("@continuous", False),
    ("@quaterly", False),
    ("@DAILY", False),
    ("@once ", False),
    ("0 24 * * *", False),
    ("0 0 0 * *", False),
    ("0 0 32 * *", False),
    ("0 0 * 0 *", False),
    ("0 0 * 13 *", False),
    ("0 0 * * 8", False),
    ("0 0 * foo *", False),
    ("0 0 * * mon-", False),
    ("*/0 * * * *", False),
    ("*/60 * * * *", False),
    ("*/5/2 * * * *", False),
    ("-1 * * * *", False),
    ("1.5 * * * *", False),
    ("005 * * * *", False),
    ("1,,2 * * * *", False),
    ("0 0 * * 1#2", False),
    ("0 0 L * *", False),
    ("H * * * *", False),
    ("0 0 ? * *", False),
    ("* * * * * *", False),
    (" 0 0 * * *", False),
    ("0 0 * * * ", False),
]


@pytest.mark.parametrize(
    ("expression", "accepted"), PATTERN_CASES, ids=[repr(e) for e, _ in PATTERN_CASES]
)
def test_pattern_agrees_with_parse_timetable(expression: str, accepted: bool) -> None:
    assert (re.fullmatch(cron_expression_pattern(), expression) is not None) is accepted
    # The pattern is anchored itself, as OpenAPI patterns are searched, not matched.
    assert (re.search(cron_expression_pattern(), expression) is not None) is accepted
    try:
        parse_timetable(expression)
    except ScheduleError:
        parsed = False
    else:
        parsed = True
    assert parsed is accepted


def test_pattern_accepts_impossible_dates_that_parse_timetable_rejects() -> None:
    """A regex cannot know that 31 February never comes; the controller reports it."""
    assert re.fullmatch(cron_expression_pattern(), "0 0 31 2 *")
    with pytest.raises(ScheduleError):
        parse_timetable("0 0 31 2 *")


def test_pattern_is_portable() -> None:
    """ECMA-262 and RE2 share no lookarounds, backreferences or inline flags."""
    pattern = cron_expression_pattern()
    for construct in ("(?=", "(?!", "(?<", "(?P", "(?i", "\\1"):
        assert construct not in pattern
    assert pattern.startswith("^")
    assert pattern.endswith("$")


def _cel_rules_accept(expression: str) -> bool:
    """The CRD's schedule rules evaluated as CEL would (Kubernetes' strings library: replace,
    split on one literal, trim; RE2 `matches` searches), the regexes read back from the rules
    themselves so that their escaping is checked too."""
    rules = [rule["rule"] for rule in schedule_validations()]
    fields = [f for f in expression.replace("\t", " ").split(" ") if f != ""]
    regexes = [
        re.search(r'\.matches\("(.*)"\)$', rule).group(1).replace("\\\\", "\\")
        for rule in rules
        if ".matches(" in rule
    ]
    if expression != expression.strip():
        return False
    if expression.startswith("@"):
        return expression in PRESET_NAMES
    return len(fields) == 5 and all(
        re.search(regex, field) for regex, field in zip(regexes, fields, strict=True)
    )


@pytest.mark.parametrize(
    ("expression", "accepted"), PATTERN_CASES, ids=[repr(e) for e, _ in PATTERN_CASES]
)
def test_cel_rules_agree_with_the_pattern(expression: str, accepted: bool) -> None:
    assert _cel_rules_accept(expression) is accepted


def test_cel_messages_name_the_field_never_a_regex() -> None:
    messages = [
        str(rule.get("messageExpression", rule.get("message"))) for rule in schedule_validations()
    ]
    for name in ("minute", "hour", "day-of-month", "month", "day-of-week"):
        assert any(f"the {name} field" in message for message in messages)
    for message in messages:
        assert "(?:" not in message and "[0-9]" not in message


# --------------------------------------------------------------------------------------
# Airflow 2's prev_execution_date / next_execution_date (the prev_ds and next_ds template
# variables): TaskInstance.get_template_context in Airflow 2.10 gives a manual run
# (external_trigger) its own logical date for both; otherwise prev is the timetable's
# _get_prev(logical_date) (None unless the timetable is a cron data-interval one) and next
# is next_dagrun_info(this run's interval, restricted=False): the interval's end aligned
# back to a tick (None for @once, whose next_dagrun_info after a run is None).


@dataclass(frozen=True)
class AdjacentCase:
    name: str
    schedule: str | None
    logical_date: datetime
    interval_end: datetime
    previous: datetime | None
    next: datetime | None
    timezone: str = "UTC"
    manual: bool = False


ADJACENT_CASES = [
    AdjacentCase(
        "daily: the day before and the day after",
        "@daily",
        utc(2026, 1, 1),
        utc(2026, 1, 2),
        previous=utc(2025, 12, 31),
        next=utc(2026, 1, 2),
    ),
    AdjacentCase(
        # The templates reference's own example: ds 2018-01-08, @weekly, prev_ds 2018-01-01.
        "weekly on Sundays",
        "@weekly",
        utc(2026, 1, 4),  # a Sunday
        utc(2026, 1, 11),
        previous=utc(2025, 12, 28),
        next=utc(2026, 1, 11),
    ),
    AdjacentCase(
        "quarterly",
        "@quarterly",
        utc(2026, 4, 1),
        utc(2026, 7, 1),
        previous=utc(2026, 1, 1),
        next=utc(2026, 7, 1),
    ),
    AdjacentCase(
        "manual run: its own logical date for both",
        "@daily",
        utc(2026, 1, 5, 10, 17),
        utc(2026, 1, 5, 10, 17),
        previous=utc(2026, 1, 5, 10, 17),
        next=utc(2026, 1, 5, 10, 17),
        manual=True,
    ),
    AdjacentCase(
        "manual run of a DAG without schedule",
        None,
        utc(2026, 1, 5, 10, 17),
        utc(2026, 1, 5, 10, 17),
        previous=utc(2026, 1, 5, 10, 17),
        next=utc(2026, 1, 5, 10, 17),
        manual=True,
    ),
    AdjacentCase(
        "@once: none",
        "@once",
        utc(2026, 1, 1),
        utc(2026, 1, 1),
        previous=None,
        next=None,
    ),
    AdjacentCase(
        "interval ending off the schedule (schedule edited): next aligned back to a tick",
        "@daily",
        utc(2026, 1, 1),
        utc(2026, 1, 2, 12),
        previous=utc(2025, 12, 31),
        next=utc(2026, 1, 2),
    ),
    AdjacentCase(
        "hourly New York on spring-forward day: 01:00 EST before 03:00 EDT",
        "@hourly",
        utc(2026, 3, 8, 7),  # 03:00 EDT
        utc(2026, 3, 8, 8),
        previous=utc(2026, 3, 8, 6),  # 01:00 EST
        next=utc(2026, 3, 8, 8),
        timezone="America/New_York",
    ),
    AdjacentCase(
        # The "02:00" tick of 8 March is 03:00 EDT (07:00 UTC); the tick before it is
        # 7 March 02:00 EST. Released Airflow gives the logical date itself (prev_ds = ds).
        "daily 02:00 New York, the run of spring-forward day",
        "0 2 * * *",
        utc(2026, 3, 8, 7),
        utc(2026, 3, 9, 6),
        previous=utc(2026, 3, 7, 7),
        next=utc(2026, 3, 9, 6),
        timezone="America/New_York",
    ),
    AdjacentCase(
        "daily 02:00 New York, the run after spring-forward day",
        "0 2 * * *",
        utc(2026, 3, 9, 6),  # 02:00 EDT
        utc(2026, 3, 10, 6),
        previous=utc(2026, 3, 8, 7),
        next=utc(2026, 3, 10, 6),
        timezone="America/New_York",
    ),
]


@pytest.mark.parametrize("case", ADJACENT_CASES, ids=[case.name for case in ADJACENT_CASES])
def test_adjacent_logical_dates(case: AdjacentCase) -> None:
    tt = parse_timetable(case.schedule, case.timezone) if case.schedule else None
    got = adjacent_logical_dates(tt, case.logical_date, case.interval_end, manual=case.manual)
    assert (got.previous, got.next) == (case.previous, case.next)


def test_manual_interval_on_spring_forward_day_is_a_whole_day() -> None:
    """apache/airflow#70089's example: a manual run at 07:30 UTC on spring-forward day of a
    daily 02:00 New York DAG got the zero-length interval 07:00 -> 07:00."""
    tt = parse_timetable("0 2 * * *", "America/New_York")
    assert manual_interval(tt, utc(2026, 3, 8, 7, 30)) == DataInterval(
        utc(2026, 3, 7, 7), utc(2026, 3, 8, 7)
    )


def test_manual_interval_on_fall_back_day_has_ended() -> None:
    """The other side of #70089: at 01:30 EDT the previous 01:00 tick is 01:00 EDT, not the
    later 01:00 EST, so the interval ends before the run."""
    tt = parse_timetable("0 1 * * *", "America/New_York")
    assert manual_interval(tt, utc(2026, 11, 1, 5, 30)) == DataInterval(
        utc(2026, 10, 30, 5), utc(2026, 10, 31, 5)
    )
