"""The controller's in-memory views: the newest body of each object wins. No cluster."""

from typing import Any

from kubedag.caches import BodyCache


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


def test_drop_forgets_and_keys_are_separate() -> None:
    cache = BodyCache()
    cache.put(KEY, body("1"))
    cache.put(("etl", "other"), body("1"))
    cache.drop(KEY)
    cache.drop(KEY)  # dropping twice is fine
    assert cache.get(KEY) is None
    assert cache.get(("etl", "other")) == body("1")
    assert len(cache) == 1
