"""The leader-election rule: who may hold the Lease."""

from datetime import UTC, datetime, timedelta

import pytest

from kubedag.kube.leader import LeaseView, decide

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
FIFTEEN = timedelta(seconds=15)


@pytest.mark.parametrize(
    ("holder", "renewed", "me", "expected"),
    [
        (None, None, "a", True),
        ("a", NOW - timedelta(seconds=1), "a", True),
        ("a", NOW - timedelta(hours=1), "a", True),
        ("b", NOW - timedelta(seconds=1), "a", False),
        ("b", NOW - FIFTEEN, "a", False),
        ("b", NOW - FIFTEEN - timedelta(microseconds=1), "a", True),
        ("b", None, "a", True),
    ],
    ids=["free", "mine", "mine-stale", "held", "held-at-deadline", "expired", "never-renewed"],
)
def test_decide(holder: str | None, renewed: datetime | None, me: str, expected: bool) -> None:
    assert decide(LeaseView(holder, renewed, FIFTEEN, 0), me, NOW) is expected


def test_lease_view_reads_micro_time() -> None:
    view = LeaseView.of(
        {
            "spec": {
                "holderIdentity": "pod-1",
                "renewTime": "2026-01-01T12:00:00.123456Z",
                "leaseDurationSeconds": 30,
                "leaseTransitions": 2,
            }
        }
    )
    assert view == LeaseView(
        "pod-1", NOW + timedelta(microseconds=123456), timedelta(seconds=30), 2
    )
