"""`has_news`: which pod observations give a run's pass something to decide on."""

from dataclasses import replace

import pytest

from kubedag.core.pod_observation import PodObservation, has_news
from tests.unit.builders import T0

PENDING = PodObservation(name="r1-a-1", phase="Pending", run="r1", task="a", version=10)


def test_a_pod_not_seen_before_is_news() -> None:
    assert has_news(None, PENDING)


def test_a_new_resource_version_alone_is_not_news() -> None:
    assert not has_news(PENDING, replace(PENDING, version=11))
    assert not has_news(PENDING, replace(PENDING, version=None))


@pytest.mark.parametrize(
    "change",
    [
        {"phase": "Running", "started": T0},
        {"phase": "Succeeded", "finished": T0, "exit_code": 0},
        {"reason": "ErrImagePull: not found"},
        {"unrunnable": "image not found"},
        {"deleting": True},
        {"output": '{"rows": 3}'},
    ],
    ids=lambda change: "-".join(change),
)
def test_a_change_a_pass_reads_is_news(change: dict[str, object]) -> None:
    assert has_news(PENDING, replace(PENDING, version=11, **change))
