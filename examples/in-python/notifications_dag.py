# The Python form of examples/notifications-dag.yaml: `kubedag build` of it gives that file's DAGs.
from kubedag.sdk import DAG, Task

with DAG(
    "etl",
    schedule="@daily",
    start_date="2026-11-01",
    on_run_failure=[
        {
            "secretKeyRef": {
                "name": "etl-hooks",
                "key": "pager",
            },
        },
    ],
    on_run_success=[
        {
            "type": "slack",
            "secretKeyRef": {
                "name": "etl-hooks",
                "key": "slack",
            },
        },
    ],
    deadline={
        "reference": "intervalEnd",
        "after": "2h",
    },
    on_deadline_miss=[
        {
            "type": "slack",
            "secretKeyRef": {
                "name": "etl-hooks",
                "key": "slack",
            },
        },
    ],
    default_args={
        "image": "busybox",
        "retries": 1,
        "on_failure": [
            {
                "type": "slack",
                "secretKeyRef": {
                    "name": "etl-hooks",
                    "key": "slack",
                },
            },
            {
                "secretKeyRef": {
                    "name": "etl-hooks",
                    "key": "pager",
                },
                "logTailLines": 20,
            },
        ],
        "on_retry": [
            {
                "type": "slack",
                "secretKeyRef": {
                    "name": "etl-hooks",
                    "key": "slack",
                },
            },
        ],
    },
):
    extract = Task(
        "extract",
        command=["sh", "-c", "echo extracting; exit 1"],
    )
    load = Task(
        "load",
        command=["sh", "-c", "echo loading"],
        on_success=[
            {
                "secretKeyRef": {
                    "name": "etl-hooks",
                    "key": "pager",
                },
            },
        ],
        deadline={
            "reference": "queued",
            "after": "30m",
        },
        on_deadline_miss=[
            {
                "secretKeyRef": {
                    "name": "etl-hooks",
                    "key": "pager",
                },
            },
        ],
    )
    extract >> load
