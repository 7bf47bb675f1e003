"""Backfills with their progress (Airflow 3's backfill list)."""

from dataclasses import dataclass

from kubedag.models.backfill import Backfill
from kubedag.views.timing import time_text


@dataclass(frozen=True)
class BackfillRow:
    namespace: str
    name: str
    dag: str
    from_: str
    to: str
    state: str
    state_class: str
    planned: int
    created: int
    running: int
    succeeded: int
    failed: int
    skipped: int
    percent: int
    """Dates done (succeeded, failed or skipped) of those planned, 0 to 100."""
    message: str
    """Why it was refused or is waiting, from its conditions."""


_STATE_CLASSES = {"Completed": "success", "Refused": "failed", "Cancelled": "skipped"}


def build_backfill_rows(backfills: list[Backfill]) -> list[BackfillRow]:
    """Newest first (by creation), as a list of recent work reads."""
    rows = []
    ordered = sorted(
        backfills,
        key=lambda b: (str(b.metadata.get("creationTimestamp", "")), b.name),
        reverse=True,
    )
    for backfill in ordered:
        status = backfill.status
        succeeded = status.succeeded.count if status.succeeded else 0
        failed = status.failed.count if status.failed else 0
        skipped = sum(s.count for s in status.skipped)
        done = succeeded + failed + skipped
        state = str(status.state) if status.state else "Pending"
        if state == "Completed" and failed:
            state_key = "failed"
        else:
            state_key = _STATE_CLASSES.get(state, "running")
        rows.append(
            BackfillRow(
                namespace=backfill.namespace,
                name=backfill.name,
                dag=backfill.spec.dag_name,
                from_=time_text(backfill.spec.from_),
                to=time_text(backfill.spec.to),
                state=state,
                state_class="state-" + state_key,
                planned=status.planned,
                created=status.created.count if status.created else 0,
                running=status.running.count if status.running else 0,
                succeeded=succeeded,
                failed=failed,
                skipped=skipped,
                percent=min(100, round(100 * done / status.planned)) if status.planned else 0,
                message="; ".join(
                    f"{c.reason}: {c.message}" for c in status.conditions if c.status != "True"
                ),
            )
        )
    return rows
