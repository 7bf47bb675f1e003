"""How many examples the fuzz tests try: a reproducible slice in `make test`, the full run in
`make fuzz` (which `make chaos` runs too).

`KUBEDAG_FUZZ=full` selects the full run: random examples (a new seed each time, printed
with any failure), as many as the issue asks for. Otherwise the examples are derandomized
(the same ones on every machine, no example database), so CI fails the same way twice.
The tests are the same in both; only the counts differ.
"""

import os
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings

from kubedag.models.dag import MAX_TASKS

T = TypeVar("T")
FULL = os.environ.get("KUBEDAG_FUZZ", "") == "full"

# Examples per test: (make test, make fuzz).
VALIDATE_EXAMPLES = (40, 5000)
TEMPLATE_EXAMPLES = (50, 3000)
DRY_RUN_EXAMPLES = (30, 600)
LIVE_APPLIES = (24, 300)
# Oversize objects: tasks in the wide DAG; params sizes, in bytes, sent to a live controller.
WIDE_DAG_TASKS = (100, MAX_TASKS)
PARAMS_SIZES = ((1 << 20,), (900_000, 1 << 20, 2 << 20))


def fuzz_settings(examples: tuple[int, int], **extra: Any) -> settings:
    """Settings for one fuzz test: its slice or full count, no deadline (a loaded machine is
    slow, not wrong), and derandomized unless this is the full run."""
    return settings(
        max_examples=examples[1] if FULL else examples[0],
        derandomize=not FULL,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.function_scoped_fixture,
            HealthCheck.large_base_example,
        ],
        **extra,
    )


def count(sizes: tuple[T, T]) -> T:
    """The slice's value, or the full run's."""
    return sizes[1] if FULL else sizes[0]
