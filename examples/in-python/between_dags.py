# The Python form of examples/between-dags.yaml: `kubedag build` of it gives that file's DAGs.
from kubedag.sdk import DAG, Task

with DAG(
    "etl-a",
    schedule="@daily",
    start_date="2026-01-01",
):
    load = Task(
        "load",
        image="busybox:1.36",
        command=["sh", "-c", "echo load {{ ds }}"],
    )
    summarize = Task(
        "summarize",
        trigger_dag_run={
            "dagName": "summary",
            "logicalDate": "{{ logical_date }}",
            "conf": {
                "day": "{{ ds }}",
            },
            "waitForCompletion": True,
        },
    )
    load >> summarize

with DAG(
    "summary",
    params={
        "day": "unset",
    },
):
    report = Task(
        "report",
        image="busybox:1.36",
        command=["sh", "-c", "echo summary of {{ params.day }}"],
    )

with DAG(
    "reports",
    schedule="@daily",
    start_date="2026-01-01",
):
    wait_for_etl = Task(
        "wait-for-etl",
        external_task_sensor={
            "dagName": "etl-a",
            "timeout": "6h",
        },
    )
    wait_for_summary = Task(
        "wait-for-summary",
        external_task_sensor={
            "dagName": "summary",
            "taskName": "report",
            "allowedStates": ["success", "skipped"],
            "failedStates": ["failed", "upstream_failed"],
            "timeout": "6h",
        },
    )
    publish = Task(
        "publish",
        image="busybox:1.36",
        command=["sh", "-c", "echo publish {{ ds }}"],
    )
    [wait_for_etl, wait_for_summary] >> publish
