"""Controller settings: flags of `kubedag run`, with environment variables as defaults
(the Helm chart sets those)."""

import os
from dataclasses import dataclass, field


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


@dataclass(frozen=True)
class ControllerSettings:
    catchup_by_default: bool = field(
        default_factory=lambda: _env_bool("KUBEDAG_CATCHUP_BY_DEFAULT", True)
    )
    """Catchup for DAGs that do not set spec.catchup (Airflow's catchup_by_default)."""
    namespaces: tuple[str, ...] = field(
        default_factory=lambda: tuple(_env_list("KUBEDAG_NAMESPACES"))
    )
    """Namespaces to watch; empty means all."""
    run_workers: int = field(
        default_factory=lambda: int(os.environ.get("KUBEDAG_RUN_WORKERS", "8"))
    )
    dag_workers: int = field(
        default_factory=lambda: int(os.environ.get("KUBEDAG_DAG_WORKERS", "16"))
    )
