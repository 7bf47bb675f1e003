# The Python form of examples/hello-dag.yaml: `kubedag build` of it gives that file's DAGs.
from kubedag.sdk import DAG, Task

with DAG(
    "hello",
    owner="data-team",
    description="Copies a name/gender CSV into the warehouse and reports on it.",
    tags=["example"],
    inputs=["web/name_gender.csv"],
    outputs=["warehouse.name_gender"],
    schedule="@daily",
    start_date="2026-11-19",
    timezone="UTC",
    max_active_runs=2,
    params={
        "table": "name_gender",
    },
    default_args={
        "image": "kubedag/python-task:0.1.0",
        "image_pull_policy": "Never",
        "retries": 1,
        "retry_delay": "10s",
        "execution_timeout": "5m",
    },
):
    extract = Task(
        "extract",
        command=["python3", "-c"],
        args=[
            """\
import os
print("extract: reading name_gender.csv for", os.environ["KUBEDAG_LOGICAL_DATE"])
""",
        ],
    )
    transform = Task(
        "transform",
        command=["python3", "-c"],
        args=[
            'print("transform {{ params.table }} for {{ ds }} (try {{ try_number }})")',
        ],
    )
    report = Task(
        "report",
        command=["python3", "-c"],
        args=[
            'print("report for {{ ds }}: interval {{ data_interval_start }} to {{ data_interval_end }}")',
        ],
    )
    extract >> [transform, report]
