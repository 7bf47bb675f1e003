# The Python form of examples/pools.yaml: `kubedag build` of it gives that file's DAGs.
from kubedag.sdk import DAG, Task

with DAG(
    "sales",
    schedule="@hourly",
    start_date="2026-01-01",
    max_active_tasks=8,
    default_args={
        "image": "busybox:1.36",
        "pool": "warehouse",
    },
):
    extract = Task(
        "extract",
        pool="default-pool",
        command=["sh", "-c", "echo extracting {{ ds }}"],
    )
    load = Task(
        "load",
        pool_slots=2,
        max_active_tis_per_dag=1,
        command=["sh", "-c", "echo loading {{ ds }}"],
    )
    extract >> load

with DAG(
    "report",
    schedule="@daily",
    start_date="2026-01-01",
    default_args={
        "image": "busybox:1.36",
    },
):
    load = Task(
        "load",
        pool="warehouse",
        priority_weight=10,
        weight_rule="absolute",
        command=["sh", "-c", "echo report {{ ds }}"],
    )
