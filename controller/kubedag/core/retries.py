"""When a failed try is retried: Airflow's retry delay, exponential backoff and its cap."""

import hashlib
from datetime import timedelta

DEFAULT_RETRY_DELAY = timedelta(minutes=5)
# Airflow's [core] max_task_retry_delay: backoff never waits longer than a day.
MAX_RETRY_DELAY = timedelta(hours=24)


def may_retry(*, try_number: int, retries: int, cleared_try: int | None) -> bool:
    """Whether failed try `try_number` is retried: the task has tries left of its budget of
    1 + `retries`, counted from the try after its last clear (Airflow's
    `retries and try_number <= max_tries`, with max_tries = try at clear + retries)."""
    return retries > 0 and try_number - (cleared_try or 0) <= retries


def retry_delay(
    *,
    base: timedelta,
    exponential: bool,
    max_delay: timedelta | None,
    next_try: int,
    jitter_key: str,
) -> timedelta:
    """Wait before try `next_try` (2 for the first retry).

    With backoff the wait lies in [base * 2^(n-2), base * 2^(n-1)), placed by a hash of
    `jitter_key` (dag, task, logical date, try) as Airflow does, so retries of many tasks do
    not stampede yet a restart computes the same time again. As in Airflow, `max_delay`
    only bounds the backoff (a zero one bounds nothing), and backoff stops at a day.
    """
    if not exponential:
        return base
    cap = int(MAX_RETRY_DELAY.total_seconds())
    # Integer maths: a float 2**n overflows long before a try count stops being plausible.
    # (2**64 ms is past the cap already, so larger exponents change nothing.)
    exponent = min(max(0, next_try - 2), 64)
    base_ms = int(base.total_seconds() * 1000)
    min_backoff = min(cap, max(1, -(-(base_ms << exponent) // 1000)))
    digest = int(hashlib.sha1(jitter_key.encode(), usedforsecurity=False).hexdigest(), 16)
    delay = timedelta(seconds=min(min_backoff + digest % min_backoff, cap))
    if max_delay:
        delay = min(delay, max_delay)
    return delay
