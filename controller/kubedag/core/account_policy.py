"""Which ServiceAccounts a DAG's task pods may run as. A task names an account of its own
namespace only (a pod cannot name another namespace's), never the controller's own (its
pods would hold the controller's rights over every namespace it serves), and, where the
cluster admin lists the accounts a namespace allows (the chart's
`taskServiceAccounts.allowed`), only one of those."""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from kubedag.core.validation import Problem

ANY_NAMESPACE = "*"


@dataclass(frozen=True)
class AccountPolicy:
    controller: tuple[str, str] | None = None
    """The controller's own account, (namespace, name), when known."""
    allowed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Namespace (or "*" for every namespace not listed) -> the accounts its DAGs may name;
    a namespace neither listed nor covered by "*" may name any of its accounts."""

    def refusal(self, namespace: str, account: str) -> str | None:
        """Why a DAG in `namespace` may not name `account`; None when it may."""
        if self.controller == (namespace, account):
            return (
                f'serviceaccount "{account}" is the kubedag controller\'s own account; task'
                " pods never run with the controller's rights: name an account made for the"
                " tasks"
            )
        listed = self.allowed.get(namespace, self.allowed.get(ANY_NAMESPACE))
        if listed is not None and account not in listed:
            allowed = ", ".join(listed) if listed else "none"
            return (
                f'serviceaccount "{account}" is not allowed in namespace {namespace}'
                f" (allowed: {allowed}; the cluster admin lists them in the chart's"
                " taskServiceAccounts.allowed)"
            )
        return None


def parse_allowed(text: str) -> dict[str, tuple[str, ...]]:
    """KUBEDAG_TASK_SERVICE_ACCOUNTS: a JSON object, namespace (or "*") -> account names."""
    if not text.strip():
        return {}
    value = json.loads(text)
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, list) and all(isinstance(a, str) for a in v)
        for k, v in value.items()
    ):
        raise ValueError(
            'a JSON object mapping a namespace (or "*") to a list of ServiceAccount names,'
            f" not {text!r}"
        )
    return {namespace: tuple(accounts) for namespace, accounts in value.items()}


def account_policy_problems(
    namespace: str, accounts: Mapping[str, str], policy: AccountPolicy
) -> list[Problem]:
    """A problem per account the DAG names (account -> the field naming it) that the policy
    refuses: the DAG is not Ready, so no pod runs as it."""
    problems = []
    for account, where in sorted(accounts.items(), key=lambda item: item[1]):
        refusal = policy.refusal(namespace, account)
        if refusal:
            problems.append(Problem("ServiceAccountNotAllowed", f"{where}: {refusal}"))
    return problems
