"""Task pods never run as the controller's ServiceAccount, nor as one their namespace does
not allow; pods are always created in their run's namespace."""

from dataclasses import dataclass, replace
from datetime import datetime
from typing import cast

import pytest

from kubedag.core.account_policy import AccountPolicy, account_policy_problems, parse_allowed
from kubedag.kube.client import Kube, core_path
from kubedag.manifests import render
from kubedag.reconcilers.controller import Controller
from kubedag.reconcilers.settings import account_policy_from_env
from tests.unit.builders import task
from tests.unit.test_reconcilers import NS, SETTINGS, World, dag_path, run_async
from tests.unit.test_render import launch

CONTROLLER = ("kubedag-system", "kubedag")


@dataclass(frozen=True)
class Case:
    name: str
    policy: AccountPolicy
    namespace: str
    account: str
    refused: str | None


CASES = [
    Case("no policy: any account", AccountPolicy(), "etl", "loader", None),
    Case("the controller's own account", AccountPolicy(controller=CONTROLLER),
         "kubedag-system", "kubedag", "the kubedag controller's own account"),
    Case("an account of that name elsewhere is another account",
         AccountPolicy(controller=CONTROLLER), "etl", "kubedag", None),
    Case("listed for the namespace", AccountPolicy(allowed={"etl": ("loader",)}),
         "etl", "loader", None),
    Case("not listed for the namespace", AccountPolicy(allowed={"etl": ("loader",)}),
         "etl", "admin", "not allowed in namespace etl (allowed: loader;"),
    Case("another namespace, no '*': free", AccountPolicy(allowed={"etl": ("loader",)}),
         "web", "admin", None),
    Case("'*' covers unlisted namespaces", AccountPolicy(allowed={"*": ()}),
         "web", "admin", "(allowed: none;"),
    Case("a listed namespace wins over '*'", AccountPolicy(allowed={"*": (), "etl": ("a",)}),
         "etl", "a", None),
    Case("the controller's account even when listed",
         AccountPolicy(controller=CONTROLLER, allowed={"kubedag-system": ("kubedag",)}),
         "kubedag-system", "kubedag", "controller's own"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_which_accounts_a_dag_may_name(case: Case) -> None:
    named = {case.account: "spec.tasks[0].serviceAccountName"}
    problems = account_policy_problems(case.namespace, named, case.policy)
    if case.refused is None:
        assert problems == []
    else:
        [problem] = problems
        assert problem.reason == "ServiceAccountNotAllowed"
        assert problem.message.startswith("spec.tasks[0].serviceAccountName: serviceaccount")
        assert case.refused in problem.message


def test_the_policy_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEDAG_SERVICE_ACCOUNT", "kubedag")
    monkeypatch.setenv("POD_NAMESPACE", "kubedag-system")
    monkeypatch.setenv("KUBEDAG_TASK_SERVICE_ACCOUNTS", '{"etl": ["loader"], "*": []}')
    policy = account_policy_from_env()
    assert policy.controller == CONTROLLER
    assert policy.allowed == {"etl": ("loader",), "*": ()}
    assert parse_allowed("") == {}
    with pytest.raises(ValueError, match="JSON object mapping a namespace"):
        parse_allowed('{"etl": "loader"}')


def test_pods_are_created_in_their_runs_namespace_only() -> None:
    # The pod's namespace is the run's: no DAG or task field can name another.
    pod = render.task_pod(launch(), namespace="etl", owner=None)
    assert pod["metadata"]["namespace"] == "etl"
    with pytest.raises(ValueError, match="namespace"):
        launch(namespace="kube-system")


def test_a_dag_naming_the_controllers_account_is_not_ready_and_runs_nothing() -> None:
    async def scenario() -> None:
        world = World()
        settings = replace(SETTINGS, accounts=AccountPolicy(controller=(NS, "kubedag")))
        world.controller = Controller(cast(Kube, world.api), settings, now=lambda: world.now)
        world.now = datetime.fromisoformat("2026-01-03T12:00:00+00:00")
        world.api.put(
            core_path("serviceaccounts", NS, "kubedag"), {"metadata": {"name": "kubedag"}}
        )
        world.apply_dag(
            task("a", serviceAccountName="kubedag"), schedule="@daily", startDate="2026-01-01"
        )
        await world.controller.dags.reconcile((NS, "etl"))
        assert not [p for p in world.api.objects if "/dagruns/" in p]
        ready = world.api.objects[dag_path()]["status"]["conditions"][0]
        assert (ready["status"], ready["reason"]) == ("False", "ServiceAccountNotAllowed")
        assert "controller's own account" in ready["message"]
        assert "ServiceAccountNotAllowed" in [e["reason"] for e in await world.api.posted_events()]

    run_async(scenario)
