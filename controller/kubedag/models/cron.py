"""The schedule grammar: cron fields, presets, and the rules the CRD schema and the
scheduler both apply, so the API server and the controller agree on what is valid."""

import re
from dataclasses import dataclass
from typing import Final

from pydantic import JsonValue

ONCE: Final = "@once"

# Airflow 2.10's cron_presets (airflow/utils/dates.py), plus the two aliases croniter itself
# expands, which Airflow therefore accepts as well.
PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@midnight": "0 0 * * *",
}

# Airflow presets kubedag refuses, with the reason the refusal gives.
UNSUPPORTED_PRESETS: dict[str, str] = {
    "@continuous": "@continuous (Airflow's ContinuousTimetable: a new run as soon as the"
    " previous one ends) is not supported: kubedag creates runs for schedule ticks; use a"
    " frequent cron such as '*/5 * * * *' with maxActiveRuns: 1, or trigger runs",
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

    @property
    def allowed(self) -> str:
        """What the field takes, for messages."""
        values = f"{self.low}-{self.high}"
        if self.names:
            values += f" or {self.names[0]}-{self.names[-1]}"
        return values

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
    """The schedule grammar as one anchored regex: what the CRD's rules
    (``schedule_validations``, built from the same field regexes) accept together.

    Written for ECMA-262 and RE2 alike (no lookarounds, backreferences or inline flags). It
    cannot know that ``0 0 31 2 *`` never fires; ``parse_timetable`` also rejects that.
    """
    presets = "|".join(name.removeprefix("@") for name in PRESET_NAMES)
    cron = SEPARATOR.join(f"(?:{field.pattern()})" for field in FIELDS)
    return f"^(?:@(?:{presets})|{cron})$"


# --------------------------------------------------------------------------------------
# The CRD's validation rules for `schedule`: CEL with a message per cron field, so a typo
# is refused at `kubectl apply` with the field, the value and what it takes, never with
# the grammar's regex (a bare OpenAPI `pattern` would print it).

MAX_SCHEDULE_LENGTH: Final = 256
_CRON_FORMS = "a value, *, a range a-b, a step */n or a-b/n, or a comma-separated list of these"
# Fields are separated by spaces or tabs, as in crontab(5); CEL splits on one literal.
_CEL_FIELDS: Final = "self.replace('\\t', ' ').split(' ').filter(f, f != '')"


def _cel_string(text: str) -> str:
    """A CEL string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _quoted(expression: str) -> str:
    """A CEL expression for the string value of `expression` in single quotes."""
    return f'"\'" + {expression} + "\'"'


def schedule_validations() -> list[JsonValue]:
    """x-kubernetes-validations for the schedule field. They accept exactly what
    `cron_expression_pattern` matches, plus the presets kubedag refuses with their own
    reason; each field's regex is anchored, as CEL's RE2 `matches` searches."""
    is_preset = "self.startsWith('@')"
    accepted = [*PRESET_NAMES, *UNSUPPORTED_PRESETS]
    fields = " ".join(field.name for field in FIELDS)
    rules: list[JsonValue] = [
        {
            "rule": "self == self.trim()",
            "message": "schedule must not start or end with whitespace",
        },
        {
            "rule": f"!{is_preset} || self in [{', '.join(map(_cel_string, accepted))}]",
            "messageExpression": f"'unknown schedule preset ' + {_quoted('self')}"
            f" + ': expected one of {', '.join(PRESET_NAMES)}, or a cron expression of 5"
            f" fields ({fields})'",
        },
        {
            "rule": f"{is_preset} || {_CEL_FIELDS}.size() == 5",
            # No string() of the count: the API server estimates a conversion's cost as
            # unbounded and refuses the CRD.
            "messageExpression": f"'schedule ' + {_quoted('self')} + ' does not have 5 fields:"
            f" a cron expression is {fields}, or use a preset such as @daily'",
        },
    ]
    for name, reason in UNSUPPORTED_PRESETS.items():
        rules.append({"rule": f"self != {_cel_string(name)}", "message": reason})
    for index, field in enumerate(FIELDS):
        value = f"{_CEL_FIELDS}[{index}]"
        regex = _cel_string(f"^(?:{field.pattern()})$")
        rules.append(
            {
                "rule": f"{is_preset} || {_CEL_FIELDS}.size() != 5 || {value}.matches({regex})",
                "messageExpression": f"'schedule ' + {_quoted('self')} + ': the {field.name}"
                f" field ' + {_quoted(value)} + ' is not valid: it takes {field.allowed},"
                f" as {_CRON_FORMS}'",
            }
        )
    return rules
