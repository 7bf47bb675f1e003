"""Go-style durations ("90s", "5m", "1h30m"), the form Kubernetes APIs use for time spans."""

import re
from datetime import timedelta

from kubedag.models.common import DURATION_PATTERN

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")


def parse_duration(text: str) -> timedelta:
    """Parse a Go-style duration; raises ValueError naming the text when it is not one."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"invalid duration {text!r}: use e.g. '30s', '5m', '1h30m'")
    seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _PART.findall(text))
    return timedelta(seconds=seconds)


def format_duration(span: timedelta) -> str:
    """The shortest Go-style text for a span, as `kubectl` prints ages ("1h2m3s")."""
    total = int(span.total_seconds())
    if total <= 0:
        return "0s"
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return text + (f"{seconds}s" if seconds or not text else "")
