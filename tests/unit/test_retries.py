"""Retry delays against Apache Airflow 2.x TaskInstance.next_retry_datetime.

Airflow (airflow/models/taskinstance.py, 2.6+):

    delay = task.retry_delay
    if task.retry_exponential_backoff:
        min_backoff = max(1, ceil(delay.total_seconds() * 2 ** (try_number - 1)))
        modded_hash = min_backoff + sha1(f"{dag_id}#{task_id}#{date}#{try}") % min_backoff
        delay = timedelta(seconds=min(modded_hash, MAX_RETRY_DELAY))   # 24h by default
        if task.max_retry_delay:
            delay = min(task.max_retry_delay, delay)

try_number there is the try that just failed, i.e. `next_try - 1` here. MAX_RETRY_DELAY is
airflow/models/abstractoperator.py: conf core.max_task_retry_delay, fallback 24 * 60 * 60.
"""

import hashlib
from datetime import timedelta

import pytest

from kubedag.core.retries import DEFAULT_RETRY_DELAY, retry_delay

AIRFLOW_MAX_RETRY_DELAY = timedelta(seconds=24 * 60 * 60)
KEYS = [f"etl#load#2026-01-01T00:00:00+00:00#{i}" for i in range(20)]


def _backoff(
    base: timedelta, next_try: int, key: str, max_delay: timedelta | None = None
) -> timedelta:
    return retry_delay(
        base=base, exponential=True, max_delay=max_delay, next_try=next_try, jitter_key=key
    )


def test_default_retry_delay_is_airflows() -> None:
    # airflow/models/abstractoperator.py: default_task_retry_delay fallback 300 seconds.
    assert timedelta(seconds=300) == DEFAULT_RETRY_DELAY


@pytest.mark.parametrize("next_try", range(2, 9), ids=lambda n: f"try{n}")
@pytest.mark.parametrize(
    "base",
    [timedelta(seconds=1), timedelta(seconds=30), timedelta(minutes=5), timedelta(hours=1)],
    ids=["1s", "30s", "5m", "1h"],
)
def test_without_backoff_the_delay_is_the_base(base: timedelta, next_try: int) -> None:
    delay = retry_delay(
        base=base, exponential=False, max_delay=None, next_try=next_try, jitter_key=KEYS[0]
    )
    assert delay == base


@pytest.mark.parametrize("next_try", range(2, 9), ids=lambda n: f"try{n}")
@pytest.mark.parametrize("base_seconds", [1, 7, 60, 300], ids=lambda s: f"base{s}s")
def test_backoff_lies_in_its_window(base_seconds: int, next_try: int) -> None:
    base = timedelta(seconds=base_seconds)
    low = base * 2 ** (next_try - 2)
    high = base * 2 ** (next_try - 1)
    for key in KEYS:
        delay = _backoff(base, next_try, key)
        assert low <= delay < high, (key, delay)
        assert delay.microseconds == 0  # whole seconds, like Airflow's timedelta(seconds=int)


def test_backoff_exact_value_matches_airflows_formula() -> None:
    key = "etl#load#2026-01-01T00:00:00+00:00#3"
    min_backoff = 60 * 2 ** (3 - 2)
    digest = int(hashlib.sha1(key.encode()).hexdigest(), 16)
    expected = timedelta(seconds=min_backoff + digest % min_backoff)
    assert _backoff(timedelta(seconds=60), 3, key) == expected


@pytest.mark.parametrize("next_try", [2, 3, 5, 8], ids=lambda n: f"try{n}")
def test_backoff_is_deterministic_for_a_key(next_try: int) -> None:
    base = timedelta(minutes=5)
    first = [_backoff(base, next_try, key) for key in KEYS]
    again = [_backoff(base, next_try, key) for key in KEYS]
    assert first == again


def test_different_keys_spread_over_the_window() -> None:
    base = timedelta(minutes=5)
    next_try = 8  # window [38400s, 76800s)
    keys = [f"etl#task-{i}#2026-01-01T00:00:00+00:00#{next_try}" for i in range(50)]
    delays = [_backoff(base, next_try, key).total_seconds() for key in keys]
    assert len(set(delays)) >= 45
    window = base.total_seconds() * 2 ** (next_try - 2)
    assert max(delays) - min(delays) > window / 2
    below_middle = sum(1 for d in delays if d < window * 1.5)
    assert 10 <= below_middle <= 40


def test_backoff_grows_with_each_try() -> None:
    base = timedelta(seconds=10)
    delays = [_backoff(base, n, KEYS[n]) for n in range(2, 14)]
    assert delays == sorted(delays)
    assert len(set(delays)) == len(delays)


@pytest.mark.parametrize(
    ("base", "next_try", "max_delay", "expected"),
    [
        pytest.param(
            timedelta(minutes=5), 5, timedelta(minutes=10), timedelta(minutes=10), id="capped"
        ),
        pytest.param(
            timedelta(seconds=1), 30, timedelta(hours=2), timedelta(hours=2), id="capped-late-try"
        ),
        pytest.param(
            timedelta(hours=1), 2, timedelta(hours=1), timedelta(hours=1), id="cap-equals-floor"
        ),
    ],
)
def test_backoff_is_capped_by_max_delay(
    base: timedelta, next_try: int, max_delay: timedelta, expected: timedelta
) -> None:
    for key in KEYS:
        assert _backoff(base, next_try, key, max_delay) == expected


def test_a_cap_above_the_backoff_changes_nothing() -> None:
    base = timedelta(seconds=30)
    for key in KEYS:
        assert _backoff(base, 4, key, timedelta(days=1)) == _backoff(base, 4, key)


def test_without_backoff_max_delay_is_ignored_like_airflow() -> None:
    # Airflow applies max_retry_delay only inside the `if retry_exponential_backoff:` branch:
    # a 10-minute retry_delay with max_retry_delay=5m still waits 10 minutes.
    delay = retry_delay(
        base=timedelta(minutes=10),
        exponential=False,
        max_delay=timedelta(minutes=5),
        next_try=2,
        jitter_key=KEYS[0],
    )
    assert delay == timedelta(minutes=10)


def test_zero_max_delay_means_no_cap_like_airflow() -> None:
    # Airflow: `if self.task.max_retry_delay:` - timedelta(0) is falsy, so it does not cap.
    base = timedelta(minutes=5)
    for key in KEYS:
        assert _backoff(base, 3, key, timedelta(0)) == _backoff(base, 3, key, None)


@pytest.mark.parametrize(
    ("base", "next_try"),
    [
        pytest.param(timedelta(minutes=5), 12, id="5m-try12"),
        pytest.param(timedelta(hours=1), 7, id="1h-try7"),
        pytest.param(timedelta(seconds=1), 40, id="1s-try40"),
    ],
)
def test_backoff_without_max_delay_is_capped_at_airflows_24h(
    base: timedelta, next_try: int
) -> None:
    # Airflow 2.6+: delay_backoff_in_seconds = min(modded_hash, MAX_RETRY_DELAY), 86400 by default.
    assert base * 2 ** (next_try - 2) > AIRFLOW_MAX_RETRY_DELAY
    assert _backoff(base, next_try, KEYS[0]) == AIRFLOW_MAX_RETRY_DELAY


@pytest.mark.parametrize("next_try", [2, 3, 8, 20], ids=lambda n: f"try{n}")
def test_zero_base_with_backoff_waits_one_second(next_try: int) -> None:
    # min_backoff = max(1, ceil(0 * 2**k)) = 1, so the delay is 1 + hash % 1 = 1 second.
    for key in KEYS:
        assert _backoff(timedelta(0), next_try, key) == timedelta(seconds=1)


def test_zero_base_without_backoff_retries_at_once() -> None:
    delay = retry_delay(
        base=timedelta(0), exponential=False, max_delay=None, next_try=3, jitter_key=KEYS[0]
    )
    assert delay == timedelta(0)


def test_sub_second_base_rounds_up_to_whole_seconds() -> None:
    # ceil(0.2s * 2**0) = 1 -> [1s, 2s) -> exactly 1 second.
    assert _backoff(timedelta(milliseconds=200), 2, KEYS[0]) == timedelta(seconds=1)


@pytest.mark.parametrize(
    ("base", "next_try"),
    [
        pytest.param(timedelta(minutes=5), 64, id="5m-try64"),
        pytest.param(timedelta(minutes=5), 101, id="5m-try101"),
        pytest.param(timedelta(seconds=1), 1_026, id="1s-try1026"),
        pytest.param(timedelta(minutes=5), 1_100, id="5m-try1100"),
        pytest.param(timedelta(minutes=5), 10_000, id="5m-try10000"),
        pytest.param(timedelta(0), 10_000, id="0s-try10000"),
    ],
)
def test_huge_try_numbers_do_not_overflow(base: timedelta, next_try: int) -> None:
    cap = timedelta(hours=1)
    delay = _backoff(base, next_try, KEYS[0], cap)
    assert timedelta(0) < delay <= cap
    if base:
        assert delay == cap
