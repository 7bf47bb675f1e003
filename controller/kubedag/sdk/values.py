"""Python values as the manifests spell them: timedeltas as Go durations, dates as the
dates or RFC 3339 times startDate takes, the place in a user's file an object was made."""

import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

_SDK_FOLDER = str(Path(__file__).resolve().parent)


@dataclass(frozen=True)
class Location:
    """Where in the user's file a DAG or task was made: the place an error points at."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class SdkError(Exception):
    """A DAG or task the SDK cannot turn into a valid manifest; names where it was made."""

    def __init__(self, message: str, location: Location | None = None) -> None:
        super().__init__(f"{location}: {message}" if location else message)
        self.location = location
        self.detail = message


def caller_location() -> Location:
    """The first frame outside this package: the line of the user's code that called us."""
    frame = sys._getframe(1)
    while frame.f_back is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(
        _SDK_FOLDER
    ):
        frame = frame.f_back
    return Location(frame.f_code.co_filename, frame.f_lineno)


def go_duration(span: timedelta) -> str:
    """timedelta(minutes=90) -> '1h30m', as the CRD's duration fields take it."""
    if span < timedelta(0):
        raise ValueError(f"a duration cannot be negative: {span}")
    total_ms = round(span.total_seconds() * 1000)
    if total_ms == 0:
        return "0"
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    text = "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m")) if n)
    if millis:
        text += f"{seconds}.{millis:03d}".rstrip("0") + "s" if seconds else f"{millis}ms"
    elif seconds:
        text += f"{seconds}s"
    return text


def plain(value: Any) -> Any:
    """A keyword argument's value with Python conveniences turned into the manifest's forms:
    timedeltas into durations, tuples into lists, dates into their ISO text."""
    if isinstance(value, timedelta):
        return go_duration(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def timestamp_text(value: datetime) -> str:
    """startDate as a person writes it: a bare date for midnight without an offset (read in
    the DAG's timezone, as the README says), else RFC 3339."""
    if value.tzinfo is None and value.time() == datetime.min.time():
        return value.date().isoformat()
    if value.tzinfo is not None and value.utcoffset() == timedelta(0):
        return value.replace(tzinfo=None).isoformat() + "Z"
    return value.isoformat()


def zone_name(value: Any) -> str | None:
    """The IANA name of an aware datetime's zone (zoneinfo's `key`, pendulum's `name`)."""
    tzinfo = getattr(value, "tzinfo", None)
    name = getattr(tzinfo, "key", None) or getattr(tzinfo, "name", None)
    if not isinstance(name, str):
        return None
    return name if "/" in name or name == "UTC" else None
