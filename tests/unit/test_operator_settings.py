"""The kopf settings the controller runs with: each one guards a measured cost or stall."""

import kopf

from kubedag.reconcilers.operator import configure_kopf


def configured() -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    configure_kopf(settings)
    return settings


def test_every_object_gets_a_worker_at_once() -> None:
    # A worker limit made new objects' events wait for idle workers to expire.
    settings = configured()
    assert settings.queueing.worker_limit is None
    assert settings.queueing.idle_timeout <= 1.0


def test_no_diff_base_is_built_or_stored() -> None:
    storage = configured().persistence.diffbase_storage
    body = kopf.Body({"metadata": {"name": "r", "annotations": {}}, "spec": {"a": 1}})
    assert storage.build(body=body) == {}
    assert storage.fetch(body=body) is None
    patch = kopf.Patch()
    storage.store(body=body, patch=patch, essence=kopf.BodyEssence())
    assert not patch  # nothing written back to the object


def test_kopf_posts_no_events_and_discovers_no_resources() -> None:
    settings = configured()
    assert settings.posting.enabled is False
    assert settings.scanning.disabled is True
