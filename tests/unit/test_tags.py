"""Tags as labels: the mapping (a Case table), and the DAG pass that patches the labels and
names a tag that cannot map in a condition and a Warning event."""

from dataclasses import dataclass

import pytest

from kubedag.core.tags import labels_patch, tag_labels
from tests.unit.builders import task
from tests.unit.test_reconcilers import NS, World, dag_path, run_async


@dataclass
class Case:
    tags: list[str]
    labels: dict[str, str]
    unmappable: int = 0


CASES = [
    Case(["finance"], {"kubedag.io/tag-finance": "true"}),
    Case(
        ["Finance", "a.b_c-d"], {"kubedag.io/tag-Finance": "true", "kubedag.io/tag-a.b_c-d": "true"}
    ),
    Case(["x" * 59], {"kubedag.io/tag-" + "x" * 59: "true"}),
    Case(["x" * 60], {}, 1),
    Case(["has space", "ok"], {"kubedag.io/tag-ok": "true"}, 1),
    Case(["-leading", "trailing.", "ünï", ""], {}, 4),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: ",".join(c.tags)[:40])
def test_tag_labels(case: Case) -> None:
    mapped = tag_labels(case.tags)
    assert mapped.labels == case.labels
    assert len(mapped.unmappable) == case.unmappable


def test_labels_patch_sets_new_and_removes_old_tag_labels_only() -> None:
    current = {"app": "x", "kubedag.io/tag-old": "true", "kubedag.io/tag-kept": "true"}
    wanted = {"kubedag.io/tag-kept": "true", "kubedag.io/tag-new": "true"}
    assert labels_patch(current, wanted) == {
        "kubedag.io/tag-old": None,
        "kubedag.io/tag-new": "true",
    }
    assert labels_patch(wanted, wanted) == {}


def test_the_dag_pass_labels_tags_and_names_one_that_cannot_map() -> None:
    async def scenario() -> None:
        world = World()
        world.apply_dag(task("a"), tags=["finance", "has space"])
        await world.controller.dags.reconcile((NS, "etl"))
        stored = world.api.objects[dag_path()]
        assert stored["metadata"]["labels"]["kubedag.io/tag-finance"] == "true"
        condition = next(c for c in stored["status"]["conditions"] if c["type"] == "TagsLabelled")
        assert (condition["status"], condition["reason"]) == ("False", "TagNotALabel")
        assert "'has space'" in condition["message"]
        ready = next(c for c in stored["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True"  # the DAG runs all the same
        events = await world.api.posted_events()
        assert [e["reason"] for e in events] == ["TagNotALabel"]

        stored["spec"]["tags"] = ["ops"]
        world.controller.on_dag_event("MODIFIED", world.api.put(dag_path(), stored))
        await world.controller.dags.reconcile((NS, "etl"))
        stored = world.api.objects[dag_path()]
        tags = {k for k in stored["metadata"]["labels"] if k.startswith("kubedag.io/tag-")}
        assert tags == {"kubedag.io/tag-ops"}
        condition = next(c for c in stored["status"]["conditions"] if c["type"] == "TagsLabelled")
        assert condition["status"] == "True"

    run_async(scenario)
