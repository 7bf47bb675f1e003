# The Python form of examples/outputs-dag.yaml: `kubedag build` of it gives that file's DAGs.
from kubedag.sdk import DAG, Task

with DAG(
    "sales",
    schedule="@daily",
    start_date="2026-01-01",
    default_args={
        "image": "kubedag/python-task:0.1.0",
    },
):
    extract = Task(
        "extract",
        command=["python3", "-c"],
        args=[
            """\
import json
rows, path = 42, "s3://sales/{{ ds }}.csv"   # the real work goes here
with open("/dev/termination-log", "w") as out:
    json.dump({"rows": rows, "file": path}, out)
""",
        ],
    )
    load = Task(
        "load",
        command=[
            "python3",
            "-c",
            "import sys; print('loading', *sys.argv[1:])",
        ],
        args=[
            "{{ tasks.extract.outputs.rows }}",
            "{{ ti.xcom_pull(task_ids='extract', key='file') }}",
        ],
    )
    extract >> load
