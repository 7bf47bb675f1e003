"""Pipelines to look at, perhaps to remove (the course notes' "delete unused pipelines"), as
a pure function of DAG objects and the time: DAGs paused, DAGs that never succeeded, DAGs
with no successful run in N days, each with its owner (`kubedag stale`)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from kubedag.core.dates import parse_time, rfc3339
from kubedag.models.dag import Dag


@dataclass(frozen=True)
class StaleDag:
    namespace: str
    name: str
    owner: str | None
    reasons: list[str]
    last_success: datetime | None
    created: datetime | None


def stale_dags(dags: Sequence[Dag], *, days: int, now: datetime) -> list[StaleDag]:
    """Every DAG that is paused, never succeeded, or has no successful run that finished in
    the last `days` days (a DAG younger than that which never succeeded is listed too: it
    may never have been meant to run)."""
    cutoff = now - timedelta(days=days)
    found: list[StaleDag] = []
    for dag in sorted(dags, key=lambda d: (d.namespace, d.name)):
        success = dag.status.last_successful_run if dag.status else None
        last = success.finished_at if success else None
        reasons = []
        if dag.spec.paused:
            reasons.append("paused")
        if success is None:
            reasons.append("never succeeded")
        elif last is None or last < cutoff:
            reasons.append(f"no success in {days} days")
        if reasons:
            created = dag.metadata.get("creationTimestamp")
            found.append(
                StaleDag(
                    namespace=dag.namespace,
                    name=dag.name,
                    owner=dag.spec.owner,
                    reasons=reasons,
                    last_success=last,
                    created=parse_time(created) if created else None,
                )
            )
    return found


def stale_table(found: Sequence[StaleDag]) -> str:
    header = ["NAMESPACE", "DAG", "OWNER", "WHY", "LAST SUCCESS", "CREATED"]
    rows = [
        [
            s.namespace,
            s.name,
            s.owner or "-",
            ", ".join(s.reasons),
            rfc3339(s.last_success) if s.last_success else "-",
            rfc3339(s.created) if s.created else "-",
        ]
        for s in found
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    )
