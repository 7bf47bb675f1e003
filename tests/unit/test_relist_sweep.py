"""Pods deleted while the pod watch was down (reconcilers/relist.py): after a re-list, the
pods it did not deliver are read, and only those the API server no longer has are handed
back as deleted; Retry-After is honoured as client-go does (kube/client.py)."""

import asyncio
from typing import Any

import pytest

from kubedag.core.pod_observation import observe_pod
from kubedag.kube.client import MAX_RETRY_AFTER, retry_after
from kubedag.reconcilers.informer import Informer
from kubedag.reconcilers.relist import RelistSweep
from tests.unit.api_double import ApiDouble

NS = "data"


def pod(name: str, run: str = "r1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"kubedag.io/dagrun": run}},
        "status": {"phase": "Running"},
    }


def test_a_relist_forgets_only_the_pods_deleted_in_the_gap_and_wakes_their_runs() -> None:
    async def scenario() -> tuple[list[str], list[tuple[str, str]]]:
        api = ApiDouble()
        informer = Informer()
        informer.put_run((NS, "r1"), {"metadata": {"name": "r1"}, "spec": {"dagName": "d"}})
        woken: list[tuple[str, str]] = []
        sweep = RelistSweep(api, informer, woken.append, lambda: None, quiet=0.05)  # type: ignore[arg-type]
        for name in ("kept", "gone", "missed", "touched"):
            api.put(f"/api/v1/namespaces/{NS}/pods/{name}", pod(name))
            informer.put_pod(NS, observe_pod(pod(name)))
        # The watch was down: "gone" was deleted. The re-list misses "missed" too (as if it
        # came later), but a GET finds it; "touched" is updated after the burst began.
        del api.objects[f"/api/v1/namespaces/{NS}/pods/gone"]
        for name in ("kept", "fresh"):
            sweep.listed(NS)
            informer.put_pod(NS, observe_pod(pod(name)))
        informer.put_pod(NS, observe_pod(pod("touched")))
        await asyncio.sleep(0.2)
        await sweep.stop()
        cached = [
            n for n in ("kept", "gone", "missed", "touched", "fresh") if informer.pods.get(NS, n)
        ]
        return cached, woken

    cached, woken = asyncio.run(scenario())
    assert cached == ["kept", "missed", "touched", "fresh"]
    assert woken == [(NS, "r1")]


def test_the_first_listing_checks_nothing() -> None:
    async def scenario() -> tuple[int, int]:
        api = ApiDouble()
        informer = Informer()
        sweep = RelistSweep(api, informer, lambda _: None, lambda: None, quiet=0.05)  # type: ignore[arg-type]
        for name in ("a", "b"):
            sweep.listed(NS)
            informer.put_pod(NS, observe_pod(pod(name)))
        await asyncio.sleep(0.2)
        await sweep.stop()
        return sweep.sweeps, len(api.writes)

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
