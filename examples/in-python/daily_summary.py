# The Python form of examples/daily-summary.yaml: `kubedag build` of it gives that file's DAGs.
from kubedag.sdk import DAG, Task

with DAG(
    "daily-summary",
    owner="analytics",
    description="Daily event totals per kind, with name counts by gender (mart.daily_summary).",
    tags=["example", "warehouse", "mart"],
    inputs=[
        "postgres://warehouse/raw_data.name_gender",
        "postgres://warehouse/raw_data.events",
    ],
    outputs=["postgres://warehouse/mart.daily_summary"],
    schedule_on={
        "datasets": [
            "postgres://warehouse/raw_data.name_gender",
            "postgres://warehouse/raw_data.events",
        ],
    },
    max_active_runs=1,
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
    summarize = Task(
        "summarize",
        command=["kubedag-task", "sql", "/sql/daily_summary.sql"],
        args=[
            "--ctas",
            "mart.daily_summary",
            "--primary-key",
            "day,kind",
        ],
        volume_mounts=[
            {
                "name": "sql",
                "mountPath": "/sql",
                "readOnly": True,
            },
        ],
        volumes=[
            {
                "name": "sql",
                "configMap": {
                    "name": "daily-summary-sql",
                },
            },
        ],
    )
    check = Task(
        "check",
        retries=0,
        command=["kubedag-task", "check"],
        args=[
            "--table",
            "mart.daily_summary",
            "--unique",
            "day,kind",
            "--not-null",
            "day,kind,events",
            "--assert",
            "totals match=SELECT (SELECT sum(events) FROM mart.daily_summary) = (SELECT count(*) FROM raw_data.events)",
        ],
    )
    summarize >> check
