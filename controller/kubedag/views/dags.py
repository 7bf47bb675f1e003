"""The DAGs list (Airflow's home page): one row per DAG with its schedule, owner, tags,
paused, last and next run, and health."""

from dataclasses import dataclass

from kubedag.models.dag import Dag
from kubedag.models.dagrun import DagRun
from kubedag.views.grid import run_logical_date, runs_oldest_first
from kubedag.views.states import state_class, state_label
from kubedag.views.timing import time_text

RECENT_RUNS = 10


@dataclass(frozen=True)
class RunLink:
    run: str
    state_class: str
    state: str
    logical_date: str


@dataclass(frozen=True)
class DagRow:
    namespace: str
    name: str
    schedule: str
    owner: str
    tags: tuple[str, ...]
    paused: bool
    last_run: RunLink | None
    next_run: str
    health: str
    """`healthy`, `failing` (its newest finished run failed) or `not ready` (the DAG is
    invalid; the reason follows in `problem`)."""
    problem: str
    recent: tuple[RunLink, ...]
    """The newest RECENT_RUNS runs, oldest first (Airflow's "Recent Tasks" circles)."""


def schedule_text(dag: Dag) -> str:
    if dag.spec.schedule:
        return dag.spec.schedule + ("" if dag.spec.timezone == "UTC" else f" ({dag.spec.timezone})")
    if dag.spec.schedule_on is not None:
        return "on datasets"
    return "none (triggered)"


def build_dag_rows(dags: list[Dag], runs: list[DagRun]) -> list[DagRow]:
    """Rows by namespace, then name."""
    by_dag: dict[tuple[str, str], list[DagRun]] = {}
    for run in runs:
        by_dag.setdefault((run.namespace, run.spec.dag_name), []).append(run)
    rows = []
    for dag in sorted(dags, key=lambda d: (d.namespace, d.name)):
        own = runs_oldest_first(by_dag.get((dag.namespace, dag.name), []))
        recent = tuple(_link(r) for r in own[-RECENT_RUNS:])
        status = dag.status
        ready = next((c for c in status.conditions if c.type == "Ready"), None) if status else None
        finished = [r for r in own if r.status.state is not None and r.status.state.finished]
        if ready is not None and ready.status == "False":
            health, problem = "not ready", f"{ready.reason}: {ready.message}"
        elif finished and str(finished[-1].status.state) == "failed":
            health, problem = "failing", f"run {finished[-1].name} failed"
        else:
            health, problem = "healthy", ""
        rows.append(
            DagRow(
                namespace=dag.namespace,
                name=dag.name,
                schedule=schedule_text(dag),
                owner=dag.spec.owner or "",
                tags=tuple(dag.spec.tags or ()),
                paused=dag.spec.paused,
                last_run=recent[-1] if recent else None,
                next_run=time_text(status.next_run_after) if status else "",
                health=health,
                problem=problem,
                recent=recent,
            )
        )
    return rows


def _link(run: DagRun) -> RunLink:
    return RunLink(
        run=run.name,
        state_class=state_class(run.status.state),
        state=state_label(run.status.state),
        logical_date=time_text(run_logical_date(run)),
    )
