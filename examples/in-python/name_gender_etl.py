# The Python form of examples/name-gender-etl.yaml: `kubedag build` of it gives that file's DAGs.
from kubedag.sdk import DAG, Task

with DAG(
    "name-gender-etl",
    owner="data-platform",
    description="Copies the name,gender CSV into raw_data.name_gender (daily full refresh).",
    tags=["example", "warehouse"],
    inputs=["http://warehouse-samples/name_gender.csv"],
    outputs=["postgres://warehouse/raw_data.name_gender"],
    schedule="@daily",
    start_date="2026-01-01",
    catchup=False,
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
    extract = Task(
        "extract",
        command=["kubedag-task", "extract"],
        args=[
            "--source",
            "http://warehouse-samples/name_gender.csv",
            "--to-table",
            "staging.name_gender",
        ],
    )
    transform = Task(
        "transform",
        command=["sh", "-c"],
        args=[
            """\
kubedag-task sql - <<'SQL'
UPDATE staging.name_gender
   SET name = trim(name), gender = lower(trim(gender));
SQL
""",
        ],
    )
    check_input = Task(
        "check-input",
        retries=0,
        command=["kubedag-task", "check"],
        args=[
            "--table",
            "staging.name_gender",
            "--min-rows",
            "1",
            "--unique",
            "name",
            "--no-duplicate-rows",
            "--not-null",
            "name",
        ],
    )
    load = Task(
        "load",
        command=["kubedag-task", "load"],
        args=[
            "--from-table",
            "staging.name_gender",
            "--table",
            "raw_data.name_gender",
            "--primary-key",
            "name",
            "--mode",
            "full",
            "--create",
            "name text, gender text",
        ],
    )
    check = Task(
        "check",
        retries=0,
        command=["kubedag-task", "check"],
        args=[
            "--table",
            "raw_data.name_gender",
            "--unique",
            "name",
            "--no-duplicate-rows",
            "--expect-rows",
            "{{ tasks.extract.outputs.rows }}",
        ],
    )
    extract >> transform
    transform >> check_input
    check_input >> load
    load >> check
