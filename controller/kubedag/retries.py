"""When a failed try is retried: Airflow's retry delay, exponential backoff and its cap."""

import hashlib
import math
from datetime import timedelta

DEFAULT_RETRY_DELAY = timedelta(minutes=5)
_MAX_SECONDS = timedelta.max.total_seconds() - 1


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
    not stampede yet a restart computes the same time again.
    """
    delay = base
    if exponential:
        min_backoff = max(1, math.ceil(base.total_seconds() * 2 ** (next_try - 2)))
        digest = int(hashlib.sha1(jitter_key.encode(), usedforsecurity=False).hexdigest(), 16)
        delay = timedelta(seconds=min(min_backoff + digest % min_backoff, _MAX_SECONDS))
    if max_delay is not None:
        delay = min(delay, max_delay)
    return delay
