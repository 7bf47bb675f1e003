"""Pods deleted while the pod watch was down (reconcilers/relist.py): after a re-list, the
pods it did not deliver are read, and only those the API server no longer has are handed
back as deleted; Retry-After is honoured as client-go does (kube/client.py)."""

import asyncio
from typing import Any

import pytest

from kubedag.kube.client import MAX_RETRY_AFTER, retry_after
from kubedag.reconcilers.relist import RelistSweep
from tests.unit.api_double import ApiDouble

NS = "data"


def pod(name: str, run: str = "r1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"kubedag.io/dagrun": run},
            "ownerReferences": [{"kind": "DagRun", "name": run}],
        },
    }


def test_a_relist_hands_back_only_the_pods_deleted_in_the_gap() -> None:
    async def scenario() -> list[dict[str, Any]]:
        api = ApiDouble()
        deleted: list[dict[str, Any]] = []
        sweep = RelistSweep(api, deleted.append, quiet=0.05)  # type: ignore[arg-type]
        for name in ("kept", "gone", "missed", "touched"):
            api.put(f"/api/v1/namespaces/{NS}/pods/{name}", pod(name))
            sweep.pod_event("ADDED", pod(name))
        # The watch is down: "gone" is deleted. The re-list misses "missed" too (as if it
        # came later), but a GET finds it; "touched" has an event since the burst began.
        del api.objects[f"/api/v1/namespaces/{NS}/pods/gone"]
        sweep.pod_event(None, pod("kept"))
        sweep.pod_event("MODIFIED", pod("touched"))
        sweep.pod_event(None, pod("fresh"))
        await asyncio.sleep(0.2)
        await sweep.stop()
        return deleted

    deleted = asyncio.run(scenario())
    assert [d["metadata"]["name"] for d in deleted] == ["gone"]
    assert deleted[0]["metadata"]["ownerReferences"] == [{"kind": "DagRun", "name": "r1"}]


def test_the_first_listing_checks_nothing_and_deleted_pods_are_forgotten() -> None:
    async def scenario() -> tuple[int, int]:
        api = ApiDouble()
        sweep = RelistSweep(api, lambda _: None, quiet=0.05)  # type: ignore[arg-type]
        sweep.pod_event(None, pod("a"))
        sweep.pod_event(None, pod("b"))
        await asyncio.sleep(0.2)
        sweep.pod_event("DELETED", pod("a"))
        sweep.pod_event("DELETED", pod("b"))
        await sweep.stop()
        return sweep.sweeps, len(sweep) + len(api.writes)

    assert asyncio.run(scenario()) == (1, 0)


@pytest.mark.parametrize(
    ("status", "header", "wait"),
    [
        (429, "1", 1.0),
        (429, " 3 ", 3.0),
        (503, "2", 2.0),
        (429, "600", MAX_RETRY_AFTER),
        (429, None, None),  # no Retry-After: the caller's backoff decides
        (429, "Wed, 21 Oct 2015 07:28:00 GMT", None),  # the API server sends seconds
        (409, "1", None),
        (200, "1", None),
    ],
)
def test_retry_after_as_client_go(status: int, header: str | None, wait: float | None) -> None:
    assert retry_after(status, header) == wait
