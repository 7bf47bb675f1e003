"""What both reconcilers work with: the API, the informer, the snapshots, the settings and
the clock (injected, so unit tests run at a time of their choosing)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubedag.core.account_policy import account_policy_problems
from kubedag.core.validation import Problem, missing_account_problems, named_service_accounts
from kubedag.kube.client import Kube, custom_path
from kubedag.models.dag import Dag
from kubedag.reconcilers.accounts import ServiceAccounts
from kubedag.reconcilers.caches import NamespacedName
from kubedag.reconcilers.datasets import DatasetLinks
from kubedag.reconcilers.informer import Informer
from kubedag.reconcilers.settings import ControllerSettings
from kubedag.reconcilers.snapshots import SnapshotStore


@dataclass(frozen=True)
class ReconcilerContext:
    kube: Kube
    informer: Informer
    snapshots: SnapshotStore
    settings: ControllerSettings
    now: Callable[[], datetime]
    accounts: ServiceAccounts
    datasets: DatasetLinks | None = None


class Reconciler:
    """What the DAG and run reconcilers share: the context's parts, by name, and reading an
    object from the informer (a GET only for one the watch has not delivered yet)."""

    def __init__(self, context: ReconcilerContext) -> None:
        self.kube = context.kube
        self.informer = context.informer
        self.snapshots = context.snapshots
        self.settings = context.settings
        self.now = context.now
        self.accounts = context.accounts
        self.datasets = context.datasets

    async def dag_problems(self, dag: Dag) -> list[Problem]:
        """What keeps the DAG from running: its spec's problems, else a ServiceAccount it
        names that it may not use or that its namespace lacks."""
        problems = await self.informer.problems(dag)
        if problems:
            return problems
        named = named_service_accounts(dag.spec)
        refused = account_policy_problems(dag.namespace, named, self.settings.accounts)
        if refused:
            return refused
        missing = await self.accounts.missing(dag.namespace, named) if named else set()
        return missing_account_problems(dag.namespace, named, missing)

    async def dag_body(self, key: NamespacedName) -> dict[str, Any] | None:
        body = self.informer.dag(key)
        if body is None:
            body = await self.kube.get(custom_path("dags", *key))
            if body is not None:
                self.informer.put_dag(key, body)
        return body

    async def run_body(self, key: NamespacedName) -> dict[str, Any] | None:
        body = self.informer.run(key)
        if body is None:
            body = await self.kube.get(custom_path("dagruns", *key))
            if body is not None:
                self.informer.put_run(key, body)
        return body
