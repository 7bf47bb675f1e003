"""Reading the times users write: a naive startDate is wall time in the DAG's timezone."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def localize(value: datetime, timezone: str) -> datetime:
    """Aware UTC time; naive values are read in `timezone` (as Airflow reads start_date)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value.astimezone(UTC)


def parse_time(text: str) -> datetime:
    """RFC 3339 or a bare date; a result without offset is UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def utc(value: datetime) -> datetime:
    """Aware UTC time; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def rfc3339(value: datetime) -> str:
    """RFC 3339 in UTC with a Z suffix, whole seconds unless sub-second precision matters."""
    value = utc(value)
    text = value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def earliest(*moments: datetime | None) -> datetime | None:
    """The earliest of the given times, ignoring None; None if there is none."""
    present = [m for m in moments if m is not None]
    return min(present) if present else None
