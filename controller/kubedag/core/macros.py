"""Airflow 2.10's `macros` in templates, as a closed list (airflow/macros/__init__.py).

Only what renders the same every time is offered: a task's rendered command must not depend
on when or how often it is rendered (the core reads no clock and no randomness). The rest of
Airflow's macros are refused by name, with the reason and what to use instead.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

from kubedag.core.suggestions import did_you_mean


class MacroError(ValueError):
    """A macro kubedag does not offer."""


def ds_add(ds: str, days: int) -> str:
    """Airflow's macros.ds_add: add (or subtract) days to a YYYY-MM-DD date; adding zero
    days returns the input untouched, as Airflow's does."""
    if not days:
        return str(ds)
    return (datetime.strptime(str(ds), "%Y-%m-%d") + timedelta(days=days)).strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """Airflow's macros.ds_format: reformat a date string."""
    return datetime.strptime(str(ds), input_format).strftime(output_format)


OFFERED: Final[dict[str, Callable[..., Any] | type]] = {
    "ds_add": ds_add,
    "ds_format": ds_format,
    "datetime": datetime,
    "timedelta": timedelta,
}

_NOT_DETERMINISTIC = "it would render differently each time; "
REFUSED: Final[dict[str, str]] = {
    "time": _NOT_DETERMINISTIC + "use {{ ts }} or `date` in the container",
    "uuid": _NOT_DETERMINISTIC + "use {{ run_id }} or `uuidgen` in the container",
    "random": _NOT_DETERMINISTIC + "use $RANDOM in the container",
    "datetime_diff_for_humans": _NOT_DETERMINISTIC[:-2] + " (it reads the clock)",
    "ds_format_locale": "it needs Babel's locale data; use ds_format with strftime codes",
    "dateutil": "kubedag's templates carry no third-party modules; use macros.timedelta",
    "json": "use Jinja's tojson filter: {{ params | tojson }}",
    "hive": "it needs a Hive metastore",
}


class Macros:
    """`macros` in a template: attribute access to the offered macros only."""

    def __getattr__(self, name: str) -> Any:
        if name in OFFERED:
            return OFFERED[name]
        if name in REFUSED:
            raise MacroError(f"macros.{name} is not offered by kubedag: {REFUSED[name]}")
        if name.startswith("_"):
            raise AttributeError(name)
        raise MacroError(
            f"macros.{name} is not a macro{did_you_mean(name, OFFERED)}:"
            f" kubedag offers macros.{', macros.'.join(OFFERED)}"
        )


MACROS: Final = Macros()
