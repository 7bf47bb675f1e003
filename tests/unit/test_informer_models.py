"""The informer parses a DAG's body once per resourceVersion (`Informer.dag_models`)."""

from typing import Any

import pytest
from pydantic import ValidationError

from kubedag.reconcilers.informer import Informer

KEY = ("etl", "daily")


def body(version: str, *, image: str = "busybox", schedule: Any = "@daily") -> dict[str, Any]:
    return {
        "metadata": {"name": "daily", "namespace": "etl", "resourceVersion": version},
        "spec": {"schedule": schedule, "tasks": [{"name": "a", "image": image}]},
    }


def test_a_dag_is_parsed_once_per_version() -> None:
    informer = Informer()
    first = informer.dag_models.parse(KEY, body("10"))
    assert informer.dag_models.parse(KEY, body("10")) is first  # same version: the same model
    changed = informer.dag_models.parse(KEY, body("11", image="alpine"))
    assert changed is not first
    assert changed.spec.tasks[0].image == "alpine"
    assert first.spec.tasks[0].image == "busybox"  # a model handed out never changes


def test_an_unversioned_body_is_always_parsed() -> None:
    informer = Informer()
    unversioned = body("10")
    del unversioned["metadata"]["resourceVersion"]
    assert informer.dag_models.parse(KEY, unversioned) is not informer.dag_models.parse(
        KEY, unversioned
    )


def test_an_invalid_body_raises_and_caches_nothing() -> None:
    informer = Informer()
    good = informer.dag_models.parse(KEY, body("10"))
    with pytest.raises(ValidationError):
        informer.dag_models.parse(KEY, body("11", schedule=["not", "a", "schedule"]))
    assert informer.dag_models.parse(KEY, body("10")) is good


def test_a_deleted_dag_loses_its_model() -> None:
    informer = Informer()
    informer.put_dag(KEY, body("10"))
    first = informer.dag_models.parse(KEY, body("10"))
    informer.forget_dag(KEY)
    assert informer.dag_models.parse(KEY, body("10")) is not first
