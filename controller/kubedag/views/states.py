"""Airflow's state colours (airflow/utils/state.py, STATE_COLORS), so a grid reads as it does
in Airflow. The pages name them as CSS classes (`state-<state>`): the web view's style sheet
holds the colours, as its Content-Security-Policy allows no inline styles."""

from kubedag.models.dagrun import RunState, TaskState

STATE_COLORS: dict[str, str] = {
    "deferred": "mediumpurple",
    "failed": "red",
    "queued": "gray",
    "removed": "lightgrey",
    "restarting": "violet",
    "running": "lime",
    "scheduled": "tan",
    "skipped": "hotpink",
    "success": "green",
    "up_for_reschedule": "turquoise",
    "up_for_retry": "gold",
    "upstream_failed": "orange",
}
"""Airflow's colour of each state; a task with no state (`none`) is drawn as an empty box."""


def state_class(state: TaskState | RunState | str | None) -> str:
    """The CSS class of a state: `state-success`, ..., `state-none` for no state yet."""
    value = str(state) if state else "none"
    return f"state-{value if value in STATE_COLORS else 'none'}"


def state_label(state: TaskState | RunState | str | None) -> str:
    return str(state) if state else "no status"
