"""Which shard handles a namespace: a table of labels and plans, a property (never two
shards), the survey of many namespaces, and the plan's checks."""

import asyncio
from dataclasses import dataclass, replace
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubedag.cli import main
from kubedag.core.sharding import (
    SHARD_LABEL,
    NamespaceOwner,
    Ownership,
    ShardPlan,
    namespace_owner,
    plan_problems,
    survey,
)
from kubedag.kube.client import Kube
from kubedag.reconcilers import shards
from kubedag.reconcilers.controller import Controller
from tests.unit.test_reconcilers import NS, SETTINGS, World, dag_path

TWO = ShardPlan(("a", "b"))
TWO_WITH_DEFAULT = ShardPlan(("a", "b"), default="a")


@dataclass(frozen=True)
class Case:
    name: str
    plan: ShardPlan
    labels: dict[str, str] | None
    owner: NamespaceOwner


CASES = [
    Case("labelled for a shard", TWO, {SHARD_LABEL: "b"},
         NamespaceOwner("b", Ownership.LABELLED, "b")),
    Case("labelled for the default shard", TWO_WITH_DEFAULT, {SHARD_LABEL: "a"},
         NamespaceOwner("a", Ownership.LABELLED, "a")),
    Case("labelled for another shard than the default", TWO_WITH_DEFAULT, {SHARD_LABEL: "b"},
         NamespaceOwner("b", Ownership.LABELLED, "b")),
    Case("unlabelled, no default: kubedag leaves it alone", TWO, {"team": "x"},
         NamespaceOwner(None, Ownership.UNLABELLED)),
    Case("no labels at all, no default", TWO, None, NamespaceOwner(None, Ownership.UNLABELLED)),
    Case("unlabelled goes to the default", TWO_WITH_DEFAULT, {},
         NamespaceOwner("a", Ownership.UNLABELLED)),
    Case("an empty value counts as unlabelled", TWO_WITH_DEFAULT, {SHARD_LABEL: ""},
         NamespaceOwner("a", Ownership.UNLABELLED)),
    Case("a shard that does not exist: a gap, even with a default", TWO_WITH_DEFAULT,
         {SHARD_LABEL: "c"}, NamespaceOwner(None, Ownership.UNKNOWN_SHARD, "c")),
    Case("a shard that does not exist, no default", TWO, {SHARD_LABEL: "A"},
         NamespaceOwner(None, Ownership.UNKNOWN_SHARD, "A")),
    Case("other labels do not matter", TWO, {SHARD_LABEL: "a", "sharding.fluxcd.io/key": "b"},
         NamespaceOwner("a", Ownership.LABELLED, "a")),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_namespace_owner(case: Case) -> None:
    owner = namespace_owner(case.plan, case.labels)
    assert owner == case.owner
    assert owner.gap == (case.owner.ownership is Ownership.UNKNOWN_SHARD)


SHARD_NAMES = st.sampled_from(["a", "b", "c", "d"])


@given(
    shards=st.lists(SHARD_NAMES, min_size=1, max_size=3, unique=True),
    default=st.one_of(st.none(), SHARD_NAMES),
    namespaces=st.dictionaries(
        st.from_regex(r"ns-[a-z]{1,3}", fullmatch=True),
        st.one_of(st.just({}), st.builds(lambda v: {SHARD_LABEL: v}, SHARD_NAMES)),
        max_size=12,
    ),
)
def test_every_namespace_has_at_most_one_shard_and_the_surveys_agree(
    shards: list[str], default: str | None, namespaces: dict[str, dict[str, str]]
) -> None:
    plan = ShardPlan(tuple(shards), default if default in shards else None)
    surveys = {shard: survey(plan, shard, namespaces) for shard in shards}
    for namespace, labels in namespaces.items():
        takers = [shard for shard, seen in surveys.items() if namespace in seen.owned]
        owner = namespace_owner(plan, labels)
        assert takers == ([owner.shard] if owner.shard else [])
        assert (namespace in surveys[shards[0]].gaps) == owner.gap
    first = surveys[shards[0]]
    for shard, seen in surveys.items():  # every shard sees the same picture
        assert seen.by_shard == first.by_shard
        assert seen.gaps == first.gaps
        assert seen.by_shard[shard] == len(seen.owned)


def test_the_survey_names_the_gaps_and_counts_each_shard() -> None:
    namespaces = {
        "etl": {SHARD_LABEL: "a"},
        "reports": {SHARD_LABEL: "b"},
        "ml": {SHARD_LABEL: "c"},
        "kube-system": {},
    }
    seen = survey(TWO_WITH_DEFAULT, "a", namespaces)
    assert seen.owned == {"etl", "kube-system"}
    assert seen.by_shard == {"a": 2, "b": 1}
    assert seen.gaps == {"ml": "c"}
    assert seen.gap_message(TWO_WITH_DEFAULT) == (
        "namespaces labelled kubedag.io/shard for a shard that does not exist, handled by no"
        " shard: ml ('c'); the shards a, b; unlabelled namespaces: a"
    )
    assert survey(TWO, "b", {"etl": {}}).gap_message(TWO) is None


@pytest.mark.parametrize(
    ("shards", "default", "me", "problems"),
    [
        (["a", "b"], "a", "b", []),
        (["a", "b"], None, "a", []),
        ([], None, "a", ["no shards: list every shard's name (--shards a,b)",
                         "this shard, 'a', is not one of the shards (none)"]),
        (["a", "B_2"], None, "a", ["shard name 'B_2': lowercase letters, digits and '-',"
                                   " starting and ending with a letter or digit, at most 44"
                                   " characters"]),
        (["a", "x" * 45], None, "a", ["shard name 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx':"
                                      " lowercase letters, digits and '-', starting and ending"
                                      " with a letter or digit, at most 44 characters"]),
        (["a", "b", "a"], None, "a", ["shard a listed more than once"]),
        (["a", "b"], "c", "a", ["default shard 'c' is not one of the shards (a, b)"]),
        (["a", "b"], None, "c", ["this shard, 'c', is not one of the shards (a, b)"]),
    ],
)  # fmt: skip
def test_plan_problems(
    shards: list[str], default: str | None, me: str, problems: list[str]
) -> None:
    assert plan_problems(shards, default, me) == problems


def test_each_shard_has_its_own_lease() -> None:
    assert TWO.lease_name("a") == "kubedag-controller-a"
    assert len(TWO.lease_name("x" * 44)) == 63


def test_a_dag_pass_records_the_shard_that_handles_it() -> None:
    async def scenario(shard: str | None) -> dict[str, Any]:
        world = World()
        world.controller = Controller(
            cast(Kube, world.api), replace(SETTINGS, shard=shard), now=lambda: world.now
        )
        world.apply_dag()
        await world.controller.dags.reconcile((NS, "etl"))
        return cast(dict[str, Any], world.api.objects[dag_path()]["status"])

    assert asyncio.run(scenario("a"))["shard"] == "a"
    assert "shard" not in asyncio.run(scenario(None))


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--shards", "a,b"], "--shards and --shard-default need --shard"),
        (["--shard", "a", "-n", "etl", "--shards", "a"], "--shard and --namespace"),
        (["--shard", "c", "--shards", "a,b"], "this shard, 'c', is not one of the shards"),
        (["--shard", "a", "--shards", "a,b", "--shard-default", "x"],
         "default shard 'x' is not one of the shards (a, b)"),
    ],
)  # fmt: skip
def test_the_controller_refuses_a_bad_shard_plan(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", *flags]) == 1
    assert message in capsys.readouterr().err


def test_a_burst_of_relabels_is_one_change_of_a_shard_s_namespaces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shards, "SETTLE", 0.05)
    membership = shards.NamespaceMembership(cast(Kube, None), TWO, "a")

    def label(namespace: str, shard: str) -> None:
        metadata = {"name": namespace, "resourceVersion": "7", "labels": {SHARD_LABEL: shard}}
        event = {"type": "MODIFIED", "object": {"metadata": metadata}}
        assert membership._apply(event, "6") == "7"

    async def scenario() -> tuple[frozenset[str], frozenset[str]]:
        label("etl", "a")
        before = membership.survey.owned
        changed = asyncio.create_task(membership.changed(before))
        for namespace in ("ml", "reports", "web"):  # one event each, within the settle time
            await asyncio.sleep(0.01)
            label(namespace, "a")
            assert not changed.done()
        label("etl", "b")
        return before, (await changed).owned

    before, after = asyncio.run(scenario())
    assert before == {"etl"}
    assert after == {"ml", "reports", "web"}
    assert shards.SHARD_NAMESPACES.labels("a")._value.get() == 3
