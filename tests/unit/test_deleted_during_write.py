"""A run deleted while a write to it is out: the watch's DELETED event is handled before the
write's answer, and the answer must not bring the run back into the caches, where nothing
would ever remove it (the soak's "every cache empty" caught it)."""

import asyncio
from typing import Any

from kubedag.kube.client import custom_path
from kubedag.reconcilers.informer import Informer
from kubedag.reconcilers.status import StatusWriter
from tests.unit.api_double import ApiDouble

KEY = ("ns", "etl-manual-1")
PATH = custom_path("dagruns", *KEY)


def _run_body() -> dict[str, Any]:
    return {
        "apiVersion": "kubedag.io/v1alpha1",
        "kind": "DagRun",
        "metadata": {"namespace": KEY[0], "name": KEY[1], "resourceVersion": "1"},
        "spec": {"dagName": "etl", "runType": "manual", "logicalDate": "2026-01-01T00:00:00Z"},
        "status": {"state": "running"},
    }


class DeletedWhileWriting(ApiDouble):
    """Answers a status write after the informer has seen the run deleted."""

    def __init__(self, informer: Informer) -> None:
        super().__init__()
        self.informer = informer

    async def patch_status(
        self, path: str, status: dict[str, Any], resource_version: str | None
    ) -> dict[str, Any]:
        written = await super().patch_status(path, status, resource_version)
        self.informer.forget_run(KEY)
        return written


def _informer_with_the_run() -> Informer:
    informer = Informer()
    informer.put_run(KEY, _run_body())
    assert informer.knows("DagRun", KEY)
    return informer


def test_a_status_write_answered_after_the_deletion_leaves_nothing_cached() -> None:
    informer = _informer_with_the_run()
    api = DeletedWhileWriting(informer)
    api.objects[PATH] = _run_body()
    writer = StatusWriter(api, informer, "DagRun")  # type: ignore[arg-type]

    written = asyncio.run(writer.write(KEY, {"state": "success"}, "1"))

    assert written["status"]["state"] == "success"  # the write itself went through
    assert not informer.knows("DagRun", KEY)
    assert informer.run_summary(KEY) is None
    sizes = informer.sizes()
    assert sizes["run_summaries"] == sizes["run_dags"] == sizes["written_versions"] == 0, sizes


def test_a_status_write_of_a_known_run_is_cached() -> None:
    informer = _informer_with_the_run()
    api = ApiDouble()
    api.objects[PATH] = _run_body()
    writer = StatusWriter(api, informer, "DagRun")  # type: ignore[arg-type]

    asyncio.run(writer.write(KEY, {"state": "success"}, "1"))

    summary = informer.run_summary(KEY)
    assert summary is not None and summary.state is not None
    assert summary.state.value == "success"


def test_a_run_forgotten_is_no_longer_known_and_a_new_one_is() -> None:
    informer = _informer_with_the_run()
    informer.forget_run(KEY)
    assert not informer.knows("DagRun", KEY)
    informer.put_run(KEY, _run_body())  # a create's answer, or the watch: a run new to it
    assert informer.knows("DagRun", KEY)
