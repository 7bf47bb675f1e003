"""examples/outputs-dag.yaml in Python: extract's output read by load's args."""

from datetime import date

from kubedag.sdk import DAG, Task

EXTRACT = """\
import json
rows, path = 42, "s3://sales/{{ ds }}.csv"   # the real work goes here
with open("/dev/termination-log", "w") as out:
    json.dump({"rows": rows, "file": path}, out)
"""

with DAG(
    "sales",
    schedule="@daily",
    start_date=date(2026, 1, 1),
    default_args={"image": "kubedag/python-task:0.1.0"},
):
    extract = Task("extract", command=["python3", "-c"], args=[EXTRACT])
    load = Task(
        "load",
        command=["python3", "-c", "import sys; print('loading', *sys.argv[1:])"],
        args=[
            "{{ tasks.extract.outputs.rows }}",
            "{{ ti.xcom_pull(task_ids='extract', key='file') }}",
        ],
    )
    extract >> load
