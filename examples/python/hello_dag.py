"""examples/hello-dag.yaml in Python: `kubedag build examples/python -o manifests/` writes it."""

from datetime import date, timedelta

from kubedag.sdk import DAG, Task

with DAG(
    "hello",
    owner="data-team",
    description="Copies a name/gender CSV into the warehouse and reports on it.",
    tags=["example"],
    inputs=["web/name_gender.csv"],
    outputs=["warehouse.name_gender"],
    schedule="@daily",
    start_date=date(2026, 11, 19),  # two days of catchup on the first apply, then one a day
    timezone="UTC",
    max_active_runs=2,
    params={"table": "name_gender"},
    default_args={
        "image": "kubedag/python-task:0.1.0",
        "image_pull_policy": "Never",
        "retries": 1,
        "retry_delay": timedelta(seconds=10),
        "execution_timeout": timedelta(minutes=5),
    },
) as dag:
    extract = Task(
        "extract",
        command=["python3", "-c"],
        args=[
            "import os\n"
            'print("extract: reading name_gender.csv for", os.environ["KUBEDAG_LOGICAL_DATE"])\n'
        ],
    )
    transform = Task(
        "transform",
        command=["python3", "-c"],
        args=['print("transform {{ params.table }} for {{ ds }} (try {{ try_number }})")'],
    )
    report = Task(
        "report",
        command=["python3", "-c"],
        args=[
            'print("report for {{ ds }}: interval {{ data_interval_start }}'
            ' to {{ data_interval_end }}")'
        ],
    )
    extract >> [transform, report]
