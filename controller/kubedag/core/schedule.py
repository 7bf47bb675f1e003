"""When DagRuns are due: Apache Airflow 2's cron and ``@once`` timetables, as pure functions.

DAG authors migrating from Airflow expect a given ``schedule``/``start_date``/``catchup``
to produce exactly the data intervals Airflow would have produced, so this module
reproduces ``CronDataIntervalTimetable`` (airflow/timetables/interval.py with the
``CronMixin`` of airflow/timetables/_cron.py) and ``OnceTimetable``
(airflow/timetables/simple.py) rather than inventing its own rules. Everything here is
free of I/O and of clock reads (``now`` is always a parameter) so that the controller's
decisions are reproducible in table tests and across restarts.

Conventions:

* Every datetime taken must be timezone-aware (a naive one raises ``ValueError``); every
  datetime returned is in UTC. The DAG's timezone only decides which *wall-clock* times
  the cron expression names.
* A data interval runs once it has ended: for a cron schedule ``run_after`` is the
  interval's end, so the run for 1 January (daily) is created on 2 January 00:00.
  ``@once`` has the empty interval ``[start_date, start_date]`` and runs at start_date.
* ``end_date`` is inclusive and compared with the interval *start*, as in Airflow.

Daylight saving time. croniter only understands naive wall-clock times, so, like
Airflow, a cron tick is computed on the naive wall time in the DAG's timezone and then
made aware again. How that is done depends on the schedule:

* Schedules that fire at least once every hour (croniter's expanded hour field is ``*``,
  e.g. ``@hourly``, ``*/5 * * * *``) advance the *instant* by the naive wall-clock
  distance to the next tick. Hourly runs therefore stay exactly one hour apart in UTC
  across both transitions: no duplicate run in the repeated hour, no gap at the skipped
  one (the 02:00 run on a spring-forward night in New York is simply the 03:00 EDT one).
* Other schedules (daily at 02:30, midnight, ...) place the tick at that wall time of
  that day, so intervals spanning a transition are 23 or 25 hours long in UTC. A wall
  time is made aware as Airflow 2 does (its ``make_aware`` sets ``fold=1`` before pendulum
  converts), i.e. the later of the ``fold=0`` and ``fold=1`` instants:

  - a time that does not exist (spring forward, e.g. 02:30 on 8 March 2026 in
    America/New_York) is shifted forward by the gap: 02:30 becomes 03:30 EDT (07:30 UTC).
  - a time that occurs twice (fall back, e.g. 01:30 on 1 November 2026 in
    America/New_York) takes its *second* occurrence, 01:30 EST (06:30 UTC).

The tick before an instant is always strictly earlier, and the tick after it strictly
later, as Airflow main has it since apache/airflow#70089 (released Airflow 2.10 and 3.3
lack it): the rules above can otherwise place the "previous" tick at the instant itself
(a gap tick) or after it (a repeated hour's second occurrence), which offers a
catchup=False DAG an interval that has not ended and a manual run a zero-length one.

Deliberate departures from Airflow, only reachable around DST transitions, where Airflow
itself misbehaves:

* With catchup=False, Airflow raises ``AssertionError("next schedule shouldn't be
  earlier")`` when the tick following the latest tick before ``now`` is itself before
  ``now``. The first-occurrence rule makes that reachable (a daily 01:30 New York job
  evaluated during the second 01:xx hour), so the interval from that latest tick, which
  has completed, is taken, as when ``now`` is exactly on a tick.
* When the next interval would not end strictly after the last one (seen with the
  30-minute DST shift of Australia/Lord_Howe and an hourly schedule, where Airflow steps
  back to an earlier start), the next interval starts at the last one's end instead.
  Every run therefore ends later than the one before, which also guarantees that
  ``due_runs`` and ``upcoming_runs`` terminate.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from kubedag.core.suggestions import did_you_mean
from kubedag.models.cron import (
    FIELD_REGEXES,
    FIELDS,
    ONCE,
    PRESET_NAMES,
    PRESETS,
    SEPARATOR,
    UNSUPPORTED_PRESETS,
    CronField,
)


class ScheduleError(ValueError):
    """A schedule or timezone a user wrote that cannot be scheduled; the message says why."""


@dataclass(frozen=True)
class DataInterval:
    """The span of data a run processes; half-open ``[start, end)`` except for ``@once``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        # Naive datetimes would silently be compared as wall times of an unknown zone;
        # fail where the bad value is built rather than deep inside the scheduler.
        _require_aware(self.start, "DataInterval.start")
        _require_aware(self.end, "DataInterval.end")


@dataclass(frozen=True)
class PlannedRun:
    """A run the schedule calls for, which may be created once ``run_after`` has passed."""

    interval: DataInterval
    run_after: datetime

    @property
    def logical_date(self) -> datetime:
        """Airflow's name for the interval start, which identifies a scheduled run."""
        return self.interval.start


@dataclass(frozen=True)
class Timetable:
    """A validated schedule; build it with ``parse_timetable`` so the cron is known good.

    ``expression`` is the cron expression the schedule stands for (presets expanded), or
    ``"@once"``; ``schedule`` is the text as the user wrote it, for messages.
    """

    schedule: str
    expression: str
    timezone: ZoneInfo

    @property
    def is_once(self) -> bool:
        """``@once`` is not a cron: it has its own rules (OnceTimetable)."""
        return self.expression == ONCE


@lru_cache(maxsize=1024)
def parse_timetable(schedule: str, timezone: str = "UTC") -> Timetable:
    """Validate once, up front, so scheduling itself never meets a bad expression.

    Cached: a Timetable is immutable, and the controller parses every DAG's schedule on
    every pass (a ScheduleError is not cached, so a bad schedule is reported each time).
    """
    if schedule == ONCE:
        expression = ONCE
    elif schedule in UNSUPPORTED_PRESETS:
        raise ScheduleError(UNSUPPORTED_PRESETS[schedule])
    elif schedule.startswith("@"):
        if schedule not in PRESETS:
            known = ", ".join(PRESET_NAMES)
            raise ScheduleError(
                f"unknown schedule preset {schedule!r}{did_you_mean(schedule, PRESET_NAMES)}:"
                f" expected one of {known}, or a cron expression of 5 fields"
            )
        expression = PRESETS[schedule]
    else:
        _validate_cron(schedule)
        expression = schedule
    return Timetable(schedule=schedule, expression=expression, timezone=parse_timezone(timezone))


def parse_timezone(name: str) -> ZoneInfo:
    """IANA names only: "localtime" would make the schedule depend on the controller host."""
    try:
        if name != "localtime":
            return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    hint = "expected an IANA time zone name such as 'UTC' or 'Europe/Berlin'"
    suggestion = did_you_mean(name, _zone_names()) if name else ""
    raise ScheduleError(f"unknown timezone {name!r}{suggestion}: {hint}")


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    """The IANA zones, for suggestions only (listing them reads the whole zone database)."""
    return frozenset(available_timezones() - {"localtime"})


def _validate_cron(expression: str) -> None:
    """Check field by field so the message names the offending field and value."""

    def fail(reason: str) -> ScheduleError:
        return ScheduleError(f"invalid cron expression {expression!r}: {reason}")

    if expression != expression.strip():
        raise fail("leading or trailing whitespace")
    fields = re.split(SEPARATOR, expression) if expression else []
    if len(fields) != len(FIELDS):
        names = " ".join(field.name for field in FIELDS)
        raise fail(f"expected 5 fields ({names}), got {len(fields)}")
    for spec, regex, text in zip(FIELDS, FIELD_REGEXES, fields, strict=True):
        if not regex.fullmatch(text):
            raise fail(_explain_field(spec, text))
    try:
        cron = copy.copy(_parsed_cron(expression))
    except CroniterBadCronError as error:  # the grammar above should have caught it
        raise fail(str(error)) from None
    try:
        cron.get_next()
    except CroniterBadDateError:
        raise fail("no date matches both its day-of-month and month fields") from None


@lru_cache(maxsize=1024)
def _parsed_cron(expression: str) -> croniter[datetime]:
    # Any fixed start: croniter would otherwise read the clock.
    return croniter(expression, datetime(2000, 1, 1), datetime)


def _explain_field(spec: CronField, text: str) -> str:
    """Why ``text`` does not match ``spec``'s regex, as precisely as can be said."""
    for item in text.split(","):
        if not item:
            return f"{spec.name} field {text!r} has an empty list item"
        base, slash, step = item.partition("/")
        if slash:
            problem = _explain_number(step, 1, spec.high, f"{spec.name} step")
            if problem:
                return problem
        if base == "*":
            continue
        if not base:
            return f"{spec.name} item {item!r} has nothing before '/'"
        low, dash, high = base.partition("-")
        for atom in (low, high) if dash else (low,):
            if not atom:
                return f"{spec.name} range {base!r} is incomplete"
            if atom == "*":
                return f"{spec.name} range {base!r} cannot contain '*'"
            if atom.isascii() and atom.lower() in spec.names:
                continue
            problem = _explain_number(atom, spec.low, spec.high, spec.name, spec.names)
            if problem:
                return problem
    return f"invalid {spec.name} field {text!r}"


def _explain_number(
    text: str, low: int, high: int, what: str, names: tuple[str, ...] = ()
) -> str | None:
    """The problem with a number (or name) token, or None if it is fine."""
    if not re.fullmatch(r"[0-9]+", text):
        if names:
            either = f"a number {low}-{high} nor a name {names[0]}-{names[-1]}"
            return f"{what} {text!r} is neither {either}"
        return f"{what} {text!r} is not a number"
    value = int(text)
    if not low <= value <= high:
        return f"{what} {value} out of range {low}-{high}"
    if len(text) > 2:
        return f"{what} {text!r} has too many digits"
    return None


# --------------------------------------------------------------------------------------
# Airflow's CronMixin: cron ticks as aware instants.


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")


def _to_utc(value: datetime, what: str) -> datetime:
    """Normalise on the way in: aware datetimes sharing a non-UTC tzinfo compare by wall
    time (ignoring fold), which would misorder instants around a fall-back."""
    _require_aware(value, what)
    return value.astimezone(UTC)


def _from_wall_clock(wall: datetime, timezone: ZoneInfo) -> datetime:
    """Airflow's rule (pendulum, fold=1): the later of the fold=0 and fold=1 instants. A
    skipped time is so shifted forward by the gap; a repeated time is its second
    occurrence."""
    first = wall.replace(tzinfo=timezone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=timezone, fold=1).astimezone(UTC)
    return max(first, second)


@lru_cache(maxsize=16384)
def _cron_step(expression: str, timezone: ZoneInfo, instant: datetime, forward: bool) -> datetime:
    """The cron's first tick after (or last before) the UTC ``instant``, as a UTC instant.

    A pure function of its arguments, so it is memoised across passes and DAGs: croniter
    is slow (tens of microseconds a call, more to parse), the scheduler asks for the same
    ticks on every pass, and DAGs often share a schedule. Keyed on UTC instants, because
    aware datetimes in one zone compare equal across a repeated hour's two passes.
    """
    # A private copy of the parsed croniter: the copy's cursor is its own.
    cron = copy.copy(_parsed_cron(expression))
    # The wall time croniter works on, fold dropped as in Airflow's make_naive.
    wall = instant.astimezone(timezone).replace(tzinfo=None, fold=0)
    if forward:
        scheduled = cron.get_next(datetime, start_time=wall)
    else:
        scheduled = cron.get_prev(datetime, start_time=wall)
    # Airflow's _covers_every_hour: croniter normalises an hour field covering all hours
    # ("0-23", "*/1") to "*". Such schedules are spaced in real time, not wall time.
    if cron.expanded[1] == ["*"]:
        # Move the instant by the wall-clock distance. Added in UTC, as pendulum adds a
        # plain timedelta as elapsed seconds, so every-hour schedules ignore DST.
        return instant + (scheduled - wall)
    tick = _from_wall_clock(scheduled, timezone)
    # Airflow main (apache/airflow#70089): a wall time in a spring-forward gap is moved
    # onto the instant after the gap, and a repeated one onto its second occurrence, so
    # the tick croniter found may not lie on the asked side of the instant (the previous
    # tick of 03:00 EDT is "02:00", i.e. 03:00 EDT itself; the previous tick of 01:30 EDT
    # on fall-back day is 01:00 EST, half an hour later). Step on until it does, or a
    # catchup=False DAG is offered an interval that has not ended and a manual run a
    # zero-length one.
    while (tick <= instant) if forward else (tick >= instant):
        scheduled = cron.get_next(datetime) if forward else cron.get_prev(datetime)
        tick = _from_wall_clock(scheduled, timezone)
    return tick


class _Ticks:
    """The cron's ticks as UTC instants; results depend only on the instant passed, not
    on its tzinfo."""

    def __init__(self, tt: Timetable) -> None:
        self._timezone = tt.timezone
        self._schedule = tt.schedule
        self._expression = tt.expression

    def next(self, current: datetime) -> datetime:
        """CronMixin._get_next: the first tick strictly after ``current``."""
        return self._step(current, forward=True)

    def prev(self, current: datetime) -> datetime:
        """CronMixin._get_prev: the last tick strictly before ``current``."""
        return self._step(current, forward=False)

    def _step(self, current: datetime, *, forward: bool) -> datetime:
        try:
            return _cron_step(self._expression, self._timezone, current.astimezone(UTC), forward)
        except CroniterBadDateError as error:  # parse_timetable rejects impossible dates
            message = f"schedule {self._schedule!r} has no tick near {current.isoformat()}"
            raise ScheduleError(message) from error

    def first_after(self, instant: datetime) -> datetime:
        """The first tick later than ``instant`` in real time.

        ``next`` alone can return an earlier instant when ``instant`` lies in the second
        pass of a repeated hour (its wall time's next tick is read as the first pass).
        """
        tick = self.next(instant)
        while tick <= instant:
            following = self.next(tick)
            if following <= tick:  # cannot happen with fold=0; never loop forever
                raise ScheduleError(f"schedule {self._schedule!r} is stuck at {tick.isoformat()}")
            tick = following
        return tick

    def align_to_next(self, current: datetime) -> datetime:
        """``current`` if it is a tick, else the next tick."""
        next_time = self.next(current)
        if self.prev(next_time) != current:
            return next_time
        return current

    def align_to_prev(self, current: datetime) -> datetime:
        """``current`` if it is a tick, else the previous one.

        Airflow applies this to the last run's end so that a DAG whose schedule was edited
        re-aligns to the new ticks instead of keeping the old phase.
        """
        prev_time = self.prev(current)
        if self.next(prev_time) != current:
            return prev_time
        return current

    def skip_to_latest(self, earliest: datetime, now: datetime) -> datetime:
        """catchup=False: start at the latest interval that has completed by ``now``.

        When ``now`` is exactly on a tick, the interval ending now is complete and is the
        one chosen (Airflow 2's default, without ``catchup_false_no_dagrun_airflow_2_fix``).
        Never earlier than the aligned start date.
        """
        last_start = self.prev(now)
        next_start = self.next(last_start)
        # next_start == now: now is on a boundary and the interval from last_start has just
        # completed. next_start < now (only around a DST fold, where Airflow asserts): that
        # interval is complete as well.
        new_start = self.prev(last_start) if next_start > now else last_start
        return max(new_start, self.align_to_next(earliest))


@dataclass(frozen=True)
class Window:
    """Where a DAG's schedule stands: the facts every schedule function below takes.

    ``last_interval`` is that of the latest *scheduled* run (manual runs do not count);
    None before the first. Only catchup=False looks at ``now`` to place the first run.
    """

    timetable: Timetable
    start_date: datetime
    end_date: datetime | None
    catchup: bool
    last_interval: DataInterval | None
    now: datetime

    def after(self, last_interval: DataInterval | None) -> Window:
        return replace(self, last_interval=last_interval)


# --------------------------------------------------------------------------------------
# Airflow's next_dagrun_info and the controller-facing helpers built on it.


def next_run(window: Window) -> PlannedRun | None:
    """Airflow's ``next_dagrun_info``: the run after the one covering ``last_interval``.

    ``last_interval`` is that of the latest *scheduled* run (manual runs do not count);
    None before the first. The result may lie in the future: only catchup=False looks at
    ``now``, to skip a backlog. None once ``end_date`` is passed or ``@once`` has run.
    """
    return _Planner(window).after(window.last_interval)


class _Planner:
    """next_dagrun_info with what does not depend on the last run worked out once, so a
    walk through a long catchup backlog costs about two cron lookups per run."""

    def __init__(self, window: Window) -> None:
        self._start_date = _to_utc(window.start_date, "start_date")
        end_date = window.end_date
        self._end_date = None if end_date is None else _to_utc(end_date, "end_date")
        now = _to_utc(window.now, "now")
        self._ticks = None if window.timetable.is_once else _Ticks(window.timetable)
        if self._ticks is None:
            self._earliest = self._start_date
        elif window.catchup:
            self._earliest = self._ticks.align_to_next(self._start_date)
        else:
            self._earliest = self._ticks.skip_to_latest(self._start_date, now)

    def after(self, last_interval: DataInterval | None) -> PlannedRun | None:
        if self._ticks is None:
            # OnceTimetable: a single run at start_date, catchup or not.
            if last_interval is not None:
                return None
            if self._end_date is not None and self._start_date > self._end_date:
                return None
            return PlannedRun(DataInterval(self._start_date, self._start_date), self._start_date)
        if last_interval is None:
            start = self._earliest
            end = self._ticks.next(start)
        else:
            last_end = _to_utc(last_interval.end, "last_interval.end")
            # catchup=True: earliest is the aligned start_date, which matters when the
            # start date was moved later; catchup=False: the latest complete interval.
            start = max(self._ticks.align_to_prev(last_end), self._earliest)
            end = self._ticks.next(start)
            if end <= last_end:
                # Only around a DST transition (see the module docstring): Airflow would
                # step back and schedule data it has covered; carry on from where it ended.
                start = last_end
                end = self._ticks.first_after(start)
        if self._end_date is not None and start > self._end_date:
            return None
        return PlannedRun(DataInterval(start, end), run_after=end)


def _iter_runs(window: Window) -> Iterator[PlannedRun]:
    """The schedule's runs in order, as the scheduler would create them one by one.

    Endless unless the schedule ends; callers stop it. Each run ends strictly later than
    the one before (next_run guarantees it), so stopping at ``now`` always happens.
    """
    planner = _Planner(window)
    last = window.last_interval
    while (run := planner.after(last)) is not None:
        yield run
        last = run.interval


def due_runs(window: Window, limit: int | None = None) -> list[PlannedRun]:
    """Runs to create now, oldest first: a catchup backlog can be long, hence ``limit``.

    Work is linear in the number of due runs, so pass a limit when a schedule may have a
    large backlog (e.g. every 5 minutes since a start date years ago).
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    now = _to_utc(window.now, "now")
    due = itertools.takewhile(lambda run: run.run_after <= now, _iter_runs(window))
    return list(itertools.islice(due, limit))


def runs_between(
    tt: Timetable, first: datetime, last: datetime, *, ended_before: datetime
) -> Iterator[PlannedRun]:
    """A backfill's runs (Airflow 3's ``iter_dagrun_infos_between`` with catchup): the
    timetable's intervals whose start lies in ``[first, last]``, ``first`` aligned up to the
    next tick, and only those that ended strictly before ``ended_before``."""
    window = Window(tt, first, last, catchup=True, last_interval=None, now=ended_before)
    cutoff = _to_utc(ended_before, "ended_before")
    for run in _iter_runs(window):
        if run.interval.end >= cutoff:  # every later interval ends later still
            return
        yield run


@dataclass(frozen=True)
class Backlog:
    """The due runs after the window's last interval: how many (exact up to the count
    asked for, else estimated) and the oldest, which is the next to create."""

    count: int
    estimated: bool
    oldest: PlannedRun


def backlog(window: Window, exact_up_to: int) -> Backlog | None:
    """Count the due runs after ``last_interval`` without walking a huge backlog: a
    minutely DAG ten years behind has 5.2 million. Beyond ``exact_up_to`` the rest are
    estimated from the average spacing of those counted (exact for evenly spaced
    schedules; close for the others, which repeat weekly or monthly). None if none is due.
    """
    counted = due_runs(window, limit=exact_up_to + 1)
    if not counted:
        return None
    if len(counted) <= exact_up_to or len(counted) < 2:
        return Backlog(len(counted), False, counted[0])
    first, last = counted[0].run_after, counted[-1].run_after
    spacing = (last - first) / (len(counted) - 1)
    horizon = _to_utc(window.now, "now")
    if window.end_date is not None:
        horizon = min(horizon, _to_utc(window.end_date, "end_date") + spacing)
    more = int((horizon - last) / spacing) if spacing and horizon > last else 0
    return Backlog(len(counted) + more, True, counted[0])


def upcoming_runs(window: Window, count: int) -> list[PlannedRun]:
    """The next ``count`` runs not yet due, for status display and previews.

    They follow the due runs (which are walked through, not returned), because where
    the future runs fall can depend on realigning from ``last_interval``.
    """
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    now = _to_utc(window.now, "now")
    later = (run for run in _iter_runs(window) if run.run_after > now)
    return list(itertools.islice(later, count))


def next_wakeup(window: Window) -> datetime | None:
    """When to requeue the DAG: the first run not yet due becomes due then.

    Due runs are the caller's to create now, so they do not count; None means the
    schedule has nothing left to wait for (end_date passed, ``@once`` done or due).
    Like ``upcoming_runs`` it walks through the due runs, so it is cheapest once they
    have been created and ``last_interval`` is the latest of them.
    """
    upcoming = upcoming_runs(window, count=1)
    return upcoming[0].run_after if upcoming else None


def manual_interval(tt: Timetable, run_after: datetime) -> DataInterval:
    """The data interval of a manual run triggered at `run_after` (Airflow's
    infer_manual_data_interval): the last complete interval before it, so a run triggered
    at 01:00 on the 25th of a daily DAG covers the 24th. `@once` gives [run_after, run_after].
    """
    moment = _to_utc(run_after, "run_after")
    if tt.is_once:
        return DataInterval(moment, moment)
    ticks = _Ticks(tt)
    end = ticks.align_to_prev(moment)
    return DataInterval(ticks.prev(end), end)


@dataclass(frozen=True)
class AdjacentDates:
    """Airflow 2's prev_execution_date and next_execution_date of a run."""

    previous: datetime | None
    next: datetime | None


def adjacent_logical_dates(
    tt: Timetable | None, logical_date: datetime, interval_end: datetime, *, manual: bool
) -> AdjacentDates:
    """As Airflow 2.10's template context computes them: a manual run's are its own logical
    date; otherwise the schedule's tick before the logical date, and the logical date of the
    run after this one (next_dagrun_info from this run's interval, unrestricted: the
    interval's end aligned to a tick). Without a cron schedule (none, or @once) both are
    None."""
    if manual:
        return AdjacentDates(logical_date, logical_date)
    if tt is None or tt.is_once:
        return AdjacentDates(None, None)
    ticks = _Ticks(tt)
    previous = ticks.prev(_to_utc(logical_date, "logical_date"))
    return AdjacentDates(previous, ticks.align_to_prev(_to_utc(interval_end, "interval_end")))
