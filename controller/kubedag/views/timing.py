"""Durations and times as the pages show them."""

from datetime import datetime


def duration_text(start: datetime | None, end: datetime | None, now: datetime) -> str:
    """`1h 02m 03s`, `4m 05s`, `6s`; until `now` while unfinished; "" before the start."""
    if start is None:
        return ""
    seconds = max(0, int(((end or now) - start).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def time_text(moment: datetime | None) -> str:
    """UTC, to the second: `2026-11-30 07:10:00`; "" when absent."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""
