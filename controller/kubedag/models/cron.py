"""The schedule grammar: cron fields, presets and the one regex the CRD schema and the
scheduler both accept, so the API server and the controller agree on what is valid."""

import re
from dataclasses import dataclass
from typing import Final

ONCE: Final = "@once"

PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
}


# --------------------------------------------------------------------------------------
# Cron grammar: one regex per field, shared by the CRD's OpenAPI pattern and by
# parse_timetable, so that the API server and the controller accept the same schedules.


@dataclass(frozen=True)
class CronField:
    """One of the five cron fields; ``number`` and ``step`` are regexes for its bounds."""

    name: str
    low: int
    high: int
    number: str  # low..high, one- or two-digit, a single leading zero allowed ("05")
    step: str  # 1..high, same digit rules
    names: tuple[str, ...] = ()  # three-letter names, case-insensitive

    def item_pattern(self) -> str:
        """``*``, ``N`` or ``N-M``, optionally ``/STEP``; N and M may be names."""
        atom = "|".join([self.number, *(_any_case(name) for name in self.names)])
        atom = f"(?:{atom})"
        return rf"(?:\*|{atom}(?:-{atom})?)(?:/(?:{self.step}))?"

    def pattern(self) -> str:
        """A comma-separated list of items."""
        item = self.item_pattern()
        return f"{item}(?:,{item})*"


def _any_case(word: str) -> str:
    """Case-insensitive letters without the ``i`` flag, which OpenAPI patterns lack."""
    return "".join(f"[{c.lower()}{c.upper()}]" for c in word)


_DAY_OF_MONTH_NUMBER: Final = r"0?[1-9]|[12][0-9]|3[01]"
_MONTH_NUMBER: Final = r"0?[1-9]|1[0-2]"

FIELDS: Final = (
    CronField("minute", 0, 59, number=r"[0-5]?[0-9]", step=r"0?[1-9]|[1-5][0-9]"),
    CronField("hour", 0, 23, number=r"[01]?[0-9]|2[0-3]", step=r"0?[1-9]|1[0-9]|2[0-3]"),
    CronField("day-of-month", 1, 31, number=_DAY_OF_MONTH_NUMBER, step=_DAY_OF_MONTH_NUMBER),
    CronField(
        "month",
        1,
        12,
        number=_MONTH_NUMBER,
        step=_MONTH_NUMBER,
        names=("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    ),
    CronField(
        "day-of-week",
        0,
        7,
        number=r"0?[0-7]",
        step=r"0?[1-7]",
        names=("sun", "mon", "tue", "wed", "thu", "fri", "sat"),
    ),
)
FIELD_REGEXES: Final = tuple(re.compile(field.pattern()) for field in FIELDS)
SEPARATOR: Final = r"[ \t]+"
PRESET_NAMES: Final = (ONCE, *PRESETS)


def cron_expression_pattern() -> str:
    """The schedule grammar as one anchored regex, for the CRD's OpenAPI ``pattern``.

    Written for ECMA-262 and RE2 alike (no lookarounds, backreferences or inline flags),
    so the API server rejects a typo at ``kubectl apply`` time. It cannot know that
    ``0 0 31 2 *`` never fires; ``parse_timetable`` also rejects that.
    """
    presets = "|".join(name.removeprefix("@") for name in PRESET_NAMES)
    cron = SEPARATOR.join(f"(?:{field.pattern()})" for field in FIELDS)
    return f"^(?:@(?:{presets})|{cron})$"
