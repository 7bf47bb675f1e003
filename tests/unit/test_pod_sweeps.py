"""Pod sweeps: finished runs' pods deleted many runs to a DeleteCollection
(core/pod_sweeps.py), and the sweeper that carries them out (reconcilers/pod_sweeper.py),
against the in-memory API double."""

import asyncio
from typing import Any, cast

import pytest

from kubedag.core.naming import LABEL_DAGRUN, LABEL_MANAGED_BY, MANAGED_BY, label_value
from kubedag.core.pod_sweeps import (
    RUNS_PER_SWEEP,
    run_pods_selector,
    still_swept,
    sweep_selectors,
)
from kubedag.kube.client import ApiError, Kube, core_path
from kubedag.reconcilers.pod_sweeper import PodSweeper
from tests.unit.api_double import ApiDouble

NS = "team"
MANAGED = f"{LABEL_MANAGED_BY}={MANAGED_BY}"


def test_one_run_s_pods_are_selected_by_its_run_label() -> None:
    assert run_pods_selector("etl-20260101-0000") == (f"{LABEL_DAGRUN}=etl-20260101-0000,{MANAGED}")


def test_a_sweep_selects_its_runs_in_name_order_once_each() -> None:
    assert sweep_selectors({"b", "a", "c"}) == [f"{LABEL_DAGRUN} in (a,b,c),{MANAGED}"]
    assert sweep_selectors([]) == []


def test_more_runs_than_one_request_takes_are_split_in_name_order() -> None:
    runs = [f"run-{i:04d}" for i in range(RUNS_PER_SWEEP * 2 + 1)]
    selectors = sweep_selectors(reversed(runs))
    assert len(selectors) == 3
    assert selectors[0].startswith(f"{LABEL_DAGRUN} in (run-0000,run-0001,")
    assert selectors[2] == f"{LABEL_DAGRUN} in (run-{RUNS_PER_SWEEP * 2:04d}),{MANAGED}"


def test_a_run_name_longer_than_a_label_value_is_selected_by_its_label() -> None:
    long_name = "a-very-long-dag-name-" * 4 + "20260101-0000"
    label = label_value(long_name)
    assert label != long_name and len(label) <= 63
    assert sweep_selectors([long_name]) == [f"{LABEL_DAGRUN} in ({label}),{MANAGED}"]


def test_the_longest_sweep_fits_in_an_8_kib_request_line() -> None:
    runs = [f"{'x' * 50}-{i:012d}" for i in range(RUNS_PER_SWEEP)]
    (selector,) = sweep_selectors(runs)
    assert len(selector) < 8192 - 200  # the path and the other query parameters


def pod(run: str, task: str, phase: str = "Succeeded", try_number: int = 1) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{run}-{task}-{try_number}",
            "labels": {LABEL_DAGRUN: label_value(run), LABEL_MANAGED_BY: MANAGED_BY},
        },
        "status": {"phase": phase},
    }


def ALWAYS(namespace: str, run: str) -> bool:
    return True


def world(*runs: str) -> ApiDouble:
    api = ApiDouble()
    for run in runs:
        for task in ("a", "b"):
            body = pod(run, task)
            api.put(f"{core_path('pods', NS)}/{body['metadata']['name']}", body)
    return api


def pods_left(api: ApiDouble) -> list[str]:
    return sorted(p.rsplit("/", 1)[1] for p in api.objects)


def test_runs_joining_within_the_delay_share_one_delete_collection() -> None:
    async def scenario() -> None:
        api = world("r1", "r2", "r3")
        sweeper = PodSweeper(cast(Kube, api), delay=0.05, still_swept=ALWAYS)
        sweeper.add(NS, "r1")
        await asyncio.sleep(0.01)
        sweeper.add(NS, "r2")
        sweeper.add(NS, "r2")  # a second pass of the same run
        assert len(sweeper) == 2
        await asyncio.gather(*api.background)
        assert api.writes == [
            ("DELETECOLLECTION", f"{core_path('pods', NS)}?{LABEL_DAGRUN} in (r1,r2),{MANAGED}")
        ]
        assert pods_left(api) == ["r3-a-1", "r3-b-1"]
        assert len(sweeper) == 0
        # A run joining after the sweep went makes the next one.
        sweeper.add(NS, "r3")
        await asyncio.gather(*api.background)
        assert pods_left(api) == []
        assert len(api.writes) == 2

    asyncio.run(scenario())


def test_each_namespace_has_its_own_sweep() -> None:
    async def scenario() -> None:
        api = world("r1")
        other = pod("r1", "a")
        api.put(f"{core_path('pods', 'other')}/{other['metadata']['name']}", other)
        sweeper = PodSweeper(cast(Kube, api), delay=0.0, still_swept=ALWAYS)
        sweeper.add(NS, "r1")
        await asyncio.gather(*api.background)
        assert [p.rsplit("/", 1)[0] for p in api.objects] == [core_path("pods", "other")]

    asyncio.run(scenario())


class FailingOnce(ApiDouble):
    def __init__(self, error: ApiError) -> None:
        super().__init__()
        self.error: ApiError | None = error

    async def delete_collection(
        self, collection: str, *, label_selector: str, field_selector: str | None = None
    ) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            self.writes.append(("FAILED", label_selector))
            raise error
        await super().delete_collection(
            collection, label_selector=label_selector, field_selector=field_selector
        )


def test_a_sweep_refused_by_a_busy_api_server_is_tried_again() -> None:
    async def scenario() -> None:
        api = FailingOnce(ApiError(503, "ServiceUnavailable", "etcd leader changed"))
        for body in (pod("r1", "a"), pod("r2", "a")):
            api.put(f"{core_path('pods', NS)}/{body['metadata']['name']}", body)
        sweeper = PodSweeper(cast(Kube, api), delay=0.0, still_swept=ALWAYS)
        sweeper.add(NS, "r1")
        sweeper.add(NS, "r2")
        while api.background:
            await asyncio.gather(*api.background)
        assert [verb for verb, _ in api.writes] == ["FAILED", "DELETECOLLECTION"]
        assert pods_left(api) == []

    asyncio.run(scenario())


def test_a_sweep_refused_for_good_is_not_repeated() -> None:
    async def scenario() -> None:
        api = FailingOnce(ApiError(403, "Forbidden", "cannot deletecollection pods"))
        body = pod("r1", "a")
        api.put(f"{core_path('pods', NS)}/{body['metadata']['name']}", body)
        sweeper = PodSweeper(cast(Kube, api), delay=0.0, still_swept=ALWAYS)
        sweeper.add(NS, "r1")
        (sweep,) = api.background
        with pytest.raises(ApiError):
            await sweep
        assert not api.background and len(sweeper) == 0
        assert pods_left(api) == ["r1-a-1"]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("finished", "request_pending", "swept"),
    [
        (True, False, True),  # finished, nothing asked since: its pods go
        (None, False, True),  # deleted meanwhile: so do its pods
        (False, False, False),  # cleared meanwhile: running again
        (True, True, False),  # a clear or mark waiting to be applied
    ],
)
def test_a_run_stays_in_its_sweep_only_while_finished_and_left_alone(
    finished: bool | None, request_pending: bool, swept: bool
) -> None:
    assert still_swept(finished, request_pending) is swept


def test_a_run_cleared_after_joining_keeps_its_pods() -> None:
    async def scenario() -> None:
        api = world("r1", "r2")
        cleared = {"r2"}
        sweeper = PodSweeper(
            cast(Kube, api), delay=0.0, still_swept=lambda _ns, run: run not in cleared
        )
        sweeper.add(NS, "r1")
        sweeper.add(NS, "r2")
        await asyncio.gather(*api.background)
        assert api.writes == [
            ("DELETECOLLECTION", f"{core_path('pods', NS)}?{LABEL_DAGRUN} in (r1),{MANAGED}")
        ]
        assert pods_left(api) == ["r2-a-1", "r2-b-1"]

    asyncio.run(scenario())


def test_a_sweep_deletes_only_pods_that_ended() -> None:
    async def scenario() -> None:
        api = world("r1")
        for phase, try_number in (("Pending", 2), ("Running", 3)):
            body = pod("r1", "a", phase, try_number)  # a later try's, under the same run label
            api.put(f"{core_path('pods', NS)}/{body['metadata']['name']}", body)
        sweeper = PodSweeper(cast(Kube, api), delay=0.0, still_swept=ALWAYS)
        sweeper.add(NS, "r1")
        await asyncio.gather(*api.background)
        assert pods_left(api) == ["r1-a-2", "r1-a-3"]

    asyncio.run(scenario())
