"""The controller's in-memory views: the newest body of each object wins. No cluster."""

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kubedag.core import past
from kubedag.core.dag_scheduler import RunSummary
from kubedag.core.pod_observation import PodObservation
from kubedag.models.dagrun import RunState, RunType
from kubedag.reconcilers.caches import BodyCache, PodCache, RunCache


def body(version: str | None, state: str = "running") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "r", "namespace": "etl"}
    if version is not None:
        metadata["resourceVersion"] = version
    return {"metadata": metadata, "status": {"state": state}}


KEY = ("etl", "r")


def test_a_newer_body_replaces_an_older_one() -> None:
    cache = BodyCache()
    cache.put(KEY, body("9"))
    cache.put(KEY, body("10", "success"))  # numeric, not string, order: "10" < "9" as text
    assert cache.get(KEY) == body("10", "success")


def test_a_late_watch_event_does_not_replace_the_response_to_a_newer_write() -> None:
    cache = BodyCache()
    cache.put(KEY, body("12", "success"))
    cache.put(KEY, body("11"))
    assert cache.get(KEY) == body("12", "success")


def test_an_equal_version_replaces_and_an_unreadable_one_is_taken_as_newest() -> None:
    cache = BodyCache()
    cache.put(KEY, body("5"))
    cache.put(KEY, body("5", "failed"))
    assert cache.get(KEY) == body("5", "failed")
    cache.put(KEY, body(None, "queued"))
    assert cache.get(KEY) == body(None, "queued")
    cache.put(KEY, body("opaque", "success"))
    assert cache.get(KEY) == body("opaque", "success")


def test_a_pod_observation_never_goes_back_to_an_older_version() -> None:
    cache = PodCache()
    assert cache.update("etl", PodObservation("p", "Succeeded", run="r", version=12))
    assert not cache.update("etl", PodObservation("p", "Pending", run="r", version=11))
    assert cache.get("etl", "p") == PodObservation("p", "Succeeded", run="r", version=12)
    assert cache.update("etl", PodObservation("p", "Succeeded", run="r", version=12))  # equal
    assert cache.update("etl", PodObservation("p", "Failed", run="r"))  # unreadable: newest
    assert [pod.phase for pod in cache.of_run("etl", "r")] == ["Failed"]


def test_a_response_read_before_a_deletion_does_not_bring_the_pod_back() -> None:
    cache = PodCache()
    cache.update("etl", PodObservation("p", "Running", run="r", version=5))
    cache.remove("etl", "p", deleted_at=7)  # the watch's DELETED
    assert not cache.update("etl", PodObservation("p", "Running", run="r", version=5))
    assert cache.get("etl", "p") is None and cache.of_run("etl", "r") == []
    assert cache.update("etl", PodObservation("p", "Pending", run="r", version=9))  # made again
    cache.remove("etl", "p")  # forgotten without a version (a delete of the controller's own)
    assert cache.update("etl", PodObservation("p", "Pending", run="r", version=9))


def test_drop_forgets_and_keys_are_separate() -> None:
    cache = BodyCache()
    cache.put(KEY, body("1"))
    cache.put(("etl", "other"), body("1"))
    cache.drop(KEY)
    cache.drop(KEY)  # dropping twice is fine
    assert cache.get(KEY) is None
    assert cache.get(("etl", "other")) == body("1")
    assert len(cache) == 1


def summary(state: RunState | None) -> RunSummary:
    return RunSummary("r", RunType.SCHEDULED, None, None, state)


def test_a_run_summary_never_goes_back_to_an_older_version() -> None:
    runs = RunCache()
    runs.update("etl", "sales", summary(RunState.QUEUED), 12)  # the pin's response
    # the create's response, handled late: older, so the run stays queued
    assert runs.update("etl", "sales", summary(None), 11) == summary(RunState.QUEUED)
    assert runs.get("etl", "sales", "r") == summary(RunState.QUEUED)
    # a manifest (no version) never replaces a versioned summary
    runs.update("etl", "sales", summary(None))
    assert runs.for_dag("etl", "sales") == [summary(RunState.QUEUED)]
    assert runs.update("etl", "sales", summary(RunState.RUNNING), 12) == summary(RunState.QUEUED)
    assert runs.update("etl", "sales", summary(RunState.SUCCESS), 13) == summary(RunState.RUNNING)
    assert runs.get("etl", "sales", "r") == summary(RunState.SUCCESS)


def test_unversioned_summaries_replace_each_other_and_remove_forgets() -> None:
    runs = RunCache()
    assert runs.update("etl", "sales", summary(None)) is None
    assert runs.update("etl", "sales", summary(RunState.QUEUED)) == summary(None)
    runs.update("etl", "sales", summary(RunState.RUNNING), 3)
    runs.remove("etl", "sales", "r")
    assert runs.get("etl", "sales", "r") is None
    assert runs.update("etl", "sales", summary(None), 1) is None  # a new run of that name


_DATES = [datetime(2026, 1, day, tzinfo=UTC) for day in range(1, 6)]
_OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["update", "remove"]),
        st.sampled_from(["a", "b", "c", "d"]),
        st.sampled_from([None, *_DATES]),
        st.sampled_from([None, *range(1, 6)]),
    ),
    max_size=30,
)


@given(operations=_OPERATIONS, before=st.sampled_from(_DATES))
def test_newest_before_lists_what_a_walk_of_every_run_would(
    operations: list[tuple[str, str, datetime | None, int | None]], before: datetime
) -> None:
    runs = RunCache()
    for operation, name, date, version in operations:
        if operation == "remove":
            runs.remove("etl", "sales", name)
        else:
            dated = RunSummary(name, RunType.MANUAL, date, None, RunState.RUNNING)
            runs.update("etl", "sales", dated, version)
    walked = past.newest_first_before(runs.for_dag("etl", "sales"), before)
    assert list(runs.newest_before("etl", "sales", before)) == walked
    if not runs.for_dag("etl", "sales"):
        assert len(runs) == 0  # the index forgets a DAG with its last run
