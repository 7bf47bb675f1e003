"""A run pass's Events, posted in the background: routine news (a run succeeded, a task
skipped itself, a branch decided) within its DAG's budget (core/event_budget.py), the rest
always; what the budget holds back is counted (`kubedag_events_held_back_total`)."""

from datetime import datetime
from typing import Any

from kubedag.core import event_budget
from kubedag.core.run_engine import RunEvent
from kubedag.kube.client import Kube
from kubedag.reconcilers import metrics
from kubedag.reconcilers.caches import NamespacedName
from kubedag.reconcilers.requests import post_run_events


class RunEvents:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.budgets: dict[NamespacedName, event_budget.EventBudget] = {}  # by DAG

    def post(self, body: dict[str, Any], events: list[RunEvent], now: datetime) -> None:
        namespace = body["metadata"]["namespace"]
        dag = (namespace, str(body["spec"]["dagName"]))
        admitted = event_budget.admit(events, self.budgets.get(dag), now)
        if admitted.budget is not None:
            self.budgets[dag] = admitted.budget
        for event in admitted.held_back:
            metrics.EVENTS_HELD_BACK.labels(namespace, event.reason).inc()
        post_run_events(self.kube, body, admitted.post, now)

    def forget_dag(self, dag: NamespacedName) -> None:
        self.budgets.pop(dag, None)

    def __len__(self) -> int:
        return len(self.budgets)
