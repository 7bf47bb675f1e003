"""Which controller shard handles a namespace. A shard owns whole namespaces, so everything
it decides alone (pools, maxActiveRuns and maxActiveTasks, triggers and sensors within a
namespace, datasets, backfills, its share of `parallelism`) is whole inside it.

A namespace names its shard in one label, `kubedag.io/shard` (as Flux's
`sharding.fluxcd.io/key`). A label has one value, and every replica of a shard contends for
the one Lease of that shard, so no namespace is ever taken by two shards of one plan: the
plan (every shard's name, and the one that takes unlabelled namespaces) is the same for all
of them (the chart renders it from one value). What can go wrong is a gap: a label naming a
shard that does not exist. That namespace is nobody's; each shard reports it."""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

SHARD_LABEL = "kubedag.io/shard"
LEASE_PREFIX = "kubedag-controller"
# A shard's name is part of a Lease name (a DNS subdomain) and a label value: a DNS label
# keeps both valid, with room for the prefix.
_SHARD_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_SHARD_NAME = 63 - len(LEASE_PREFIX) - 1


class Ownership(StrEnum):
    LABELLED = "Labelled"
    """The namespace's label names a shard of the plan."""
    UNLABELLED = "Unlabelled"
    """No label: the plan's default shard takes it (no default: kubedag leaves it alone)."""
    UNKNOWN_SHARD = "UnknownShard"
    """The label names a shard the plan does not have: a gap, reported, never processed."""


@dataclass(frozen=True)
class NamespaceOwner:
    shard: str | None
    """The shard that handles the namespace; None: none does."""
    ownership: Ownership
    label: str | None = None
    """The label's value, when the namespace has the label."""

    @property
    def gap(self) -> bool:
        return self.ownership is Ownership.UNKNOWN_SHARD


@dataclass(frozen=True)
class ShardPlan:
    shards: tuple[str, ...]
    """Every shard of the installation."""
    default: str | None = None
    """The shard that takes namespaces without the label; None: no shard takes them."""

    def lease_name(self, shard: str) -> str:
        return f"{LEASE_PREFIX}-{shard}"

    def describe(self) -> str:
        default = f"; unlabelled namespaces: {self.default}" if self.default else ""
        return f"shards {', '.join(self.shards)}{default}"


def plan_problems(shards: Iterable[str], default: str | None, me: str | None) -> list[str]:
    """What is wrong with a plan and this process's place in it (empty: nothing)."""
    names = list(shards)
    problems = []
    if not names:
        problems.append("no shards: list every shard's name (--shards a,b)")
    for name in names:
        if not _SHARD_NAME.match(name) or len(name) > MAX_SHARD_NAME:
            problems.append(
                f"shard name {name!r}: lowercase letters, digits and '-', starting and ending"
                f" with a letter or digit, at most {MAX_SHARD_NAME} characters"
            )
    doubled = sorted({name for name in names if names.count(name) > 1})
    if doubled:
        problems.append(f"shard {', '.join(doubled)} listed more than once")
    listed = ", ".join(names) or "none"
    if default is not None and default not in names:
        problems.append(f"default shard {default!r} is not one of the shards ({listed})")
    if me is not None and me not in names:
        problems.append(f"this shard, {me!r}, is not one of the shards ({listed})")
    return problems


def namespace_owner(plan: ShardPlan, labels: Mapping[str, str] | None) -> NamespaceOwner:
    """The shard that handles a namespace with these labels."""
    label = (labels or {}).get(SHARD_LABEL)
    if label is None or label == "":
        return NamespaceOwner(plan.default, Ownership.UNLABELLED)
    if label in plan.shards:
        return NamespaceOwner(label, Ownership.LABELLED, label)
    return NamespaceOwner(None, Ownership.UNKNOWN_SHARD, label)


@dataclass(frozen=True)
class ShardSurvey:
    """What one shard makes of every namespace it sees."""

    owned: frozenset[str]
    """The namespaces this shard handles."""
    gaps: Mapping[str, str]
    """Namespace -> the unknown shard its label names."""
    by_shard: Mapping[str, int]
    """Namespaces each shard of the plan handles."""

    def gap_message(self, plan: ShardPlan) -> str | None:
        if not self.gaps:
            return None
        listed = ", ".join(f"{ns} ({shard!r})" for ns, shard in sorted(self.gaps.items()))
        return (
            f"namespaces labelled {SHARD_LABEL} for a shard that does not exist, handled by no"
            f" shard: {listed}; the {plan.describe()}"
        )


def survey(plan: ShardPlan, me: str, namespaces: Mapping[str, Mapping[str, str]]) -> ShardSurvey:
    """Sort namespaces (name -> labels) into this shard's, the others' and the gaps."""
    owned = set()
    gaps = {}
    by_shard = dict.fromkeys(plan.shards, 0)
    for namespace, labels in namespaces.items():
        owner = namespace_owner(plan, labels)
        if owner.gap:
            gaps[namespace] = str(owner.label)
        elif owner.shard is not None:
            by_shard[owner.shard] += 1
            if owner.shard == me:
                owned.add(namespace)
    return ShardSurvey(frozenset(owned), gaps, by_shard)


def unknown_shard_message(plan: ShardPlan, namespace: str, label: str) -> str:
    """The Event on a namespace no shard handles."""
    return (
        f"namespace {namespace} is labelled {SHARD_LABEL}={label}, but there is no shard"
        f" {label!r} ({plan.describe()}): no kubedag controller handles its DAGs; label it"
        f" with one of the shards, or add shard {label!r} to the chart's `shards`"
    )
