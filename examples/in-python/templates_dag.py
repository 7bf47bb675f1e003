# The Python form of examples/templates-dag.yaml: `kubedag build` of it gives that file's DAGs.
from kubedag.sdk import DAG, Task

with DAG(
    "sales",
    schedule="0 2 * * *",
    timezone="Europe/Amsterdam",
    start_date="2026-03-01",
    catchup=False,
    params={
        "table": "sales",
    },
    default_args={
        "image": "kubedag/python-task:0.1.0",
        "image_pull_policy": "Never",
    },
):
    load = Task(
        "load",
        command=["echo"],
        args=[
            "{{ params.table }} for {{ ds }} (execution_date {{ execution_date }})",
            "previous tick {{ prev_ds }}, next tick {{ next_ds }} = {{ data_interval_end | ds }}",
            "window {{ data_interval_start | ts }} to {{ data_interval_end | ts }}",
            "last success covered {{ prev_data_interval_start_success | ds }}",
            "try {{ ti.try_number }}, yesterday {{ yesterday_ds_nodash }}",
            "a week back {{ macros.ds_add(ds, -7) }}",
        ],
    )
