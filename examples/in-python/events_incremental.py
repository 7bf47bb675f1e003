# The Python form of examples/events-incremental.yaml: `kubedag build` of it gives that file's DAGs.
from kubedag.sdk import DAG, Task

with DAG(
    "events-incremental",
    owner="data-platform",
    description="Loads each day's events (id, occurred_at, kind, amount) into raw_data.events.",
    tags=["example", "warehouse"],
    inputs=["http://warehouse-samples/events/{date}.csv"],
    outputs=["postgres://warehouse/raw_data.events"],
    schedule="@daily",
    start_date="2026-01-01",
    catchup=True,
    max_active_runs=4,
    default_args={
        "image": "kubedag/python-task:0.1.0",
        "image_pull_policy": "IfNotPresent",
        "retries": 2,
        "retry_delay": "30s",
        "execution_timeout": "10m",
        "env_from": [
            {
                "prefix": "KUBEDAG_CONN_WAREHOUSE_",
                "secretRef": {
                    "name": "warehouse",
                },
            },
        ],
    },
):
    load = Task(
        "load",
        command=["kubedag-task", "load"],
        args=[
            "--source",
            "http://warehouse-samples/events/{{ ds }}.csv",
            "--table",
            "raw_data.events",
            "--primary-key",
            "id",
            "--mode",
            "incremental",
            "--interval-column",
            "occurred_at",
            "--create",
            "id bigint, occurred_at timestamptz, kind text, amount numeric",
        ],
    )
    check = Task(
        "check",
        retries=0,
        command=["kubedag-task", "check"],
        args=[
            "--table",
            "raw_data.events",
            "--interval-column",
            "occurred_at",
            "--fresh-column",
            "occurred_at",
            "--unique",
            "id",
            "--no-duplicate-rows",
            "--not-null",
            "id,occurred_at",
            "--expect-rows",
            "{{ tasks.load.outputs.rows }}",
        ],
    )
    load >> check
