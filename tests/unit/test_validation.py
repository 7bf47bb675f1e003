"""Whole-DAG validation: every problem named, with the reason the Ready condition carries."""

from datetime import date, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from kubedag.core.templating import TOO_DEEP
from kubedag.core.validation import (
    MAX_SPEC_BYTES,
    describe_validation_error,
    missing_account_problems,
    named_service_accounts,
    validate_dag,
)
from kubedag.manifests.documents import Loaded, parse_dag
from kubedag.models.dag import DagSpec
from tests.unit.builders import dag_spec, task

CASES: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    ("valid", {"schedule": "@daily", "startDate": "2026-01-01"}, []),
    ("unknown-timezone", {"timezone": "Nowhere/City"},
     [("InvalidTimezone", "spec.timezone: unknown timezone 'Nowhere/City': expected an IANA "
                          "time zone name such as 'UTC' or 'Europe/Berlin'")]),
    ("misspelt-timezone", {"timezone": "Europe/Amsterdm"},
     [("InvalidTimezone", "spec.timezone: unknown timezone 'Europe/Amsterdm' (did you mean "
                          "'Europe/Amsterdam'?): expected an IANA time zone name such as 'UTC' "
                          "or 'Europe/Berlin'")]),
    ("misspelt-preset", {"schedule": "@quaterly", "startDate": "2026-01-01"},
     [("InvalidSchedule", "spec.schedule: unknown schedule preset '@quaterly' (did you mean "
                          "'@quarterly'?): expected one of @once, @hourly, @daily, @weekly, "
                          "@monthly, @quarterly, @yearly, @annually, @midnight, or a cron "
                          "expression of 5 fields")]),
    ("continuous", {"schedule": "@continuous", "startDate": "2026-01-01"},
     [("InvalidSchedule", "spec.schedule: @continuous (Airflow's ContinuousTimetable: a new run "
                          "as soon as the previous one ends) is not supported: kubedag creates "
                          "runs for schedule ticks; use a frequent cron such as '*/5 * * * *' "
                          "with maxActiveRuns: 1, or trigger runs")]),
    ("bad-cron-field", {"schedule": "0 24 * * *", "startDate": "2026-01-01"},
     [("InvalidSchedule", "spec.schedule: invalid cron expression '0 24 * * *': hour 24 out of "
                          "range 0-23")]),
    ("schedule-without-start", {"schedule": "@daily"},
     [("InvalidSchedule", "startDate is required when schedule is set")]),
    ("end-before-start", {"schedule": "@daily", "startDate": "2026-02-01", "endDate": "2026-01-01"},
     [("InvalidSchedule", "spec.endDate 2026-01-01T00:00:00Z is before spec.startDate "
                          "2026-02-01T00:00:00Z: the end date must be at or after the start "
                          "date")]),
    ("impossible-date", {"schedule": "0 0 31 2 *", "startDate": "2026-01-01"},
     [("InvalidSchedule", "spec.schedule: invalid cron expression '0 0 31 2 *': no date "
                          "matches both its "
                          "day-of-month and month fields")]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "fields", "expected"), CASES, ids=[c[0] for c in CASES])
def test_dag_level_checks(
    name: str, fields: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    problems = validate_dag("d", dag_spec(task("a"), **fields))
    assert [(p.reason, p.message) for p in problems] == expected


def test_graph_problems_name_the_tasks() -> None:
    problems = validate_dag("d", dag_spec(task("a", "b"), task("b", "a"), task("c", "zzz")))
    assert [(p.reason, p.message) for p in problems] == [
        ("InvalidGraph", "task 'c' depends on unknown task 'zzz'"),
        ("InvalidGraph", "dependency cycle: 'a' -> 'b' -> 'a'"),
    ]


def test_unknown_dependency_suggests_a_close_task_name() -> None:
    problems = validate_dag("d", dag_spec(task("extract"), task("transform", "extrat")))
    assert [p.message for p in problems] == [
        "task 'transform' depends on unknown task 'extrat' (did you mean 'extract'?)"
    ]


@pytest.mark.parametrize(
    ("template", "message"),
    [
        pytest.param(
            "{{ execution_dat }}",
            "task 'a' command[0]: 'execution_dat' is undefined (did you mean 'execution_date'?)",
            id="misspelt-variable",
        ),
        pytest.param(
            "{{ next_ds_nodsh }}",
            "task 'a' command[0]: 'next_ds_nodsh' is undefined (did you mean 'next_ds_nodash'?)",
            id="misspelt-deprecated-variable",
        ),
        pytest.param(
            "{{ conf.table }}",
            "task 'a' command[0]: 'conf' is undefined: kubedag does not offer conf (Airflow's"
            " configuration; a run's conf is {{ dag_run.conf }})",
            id="airflow-conf",
        ),
        pytest.param(
            "{{ var.value.bucket }}",
            "task 'a' command[0]: 'var' is undefined: kubedag does not offer var (Airflow"
            " Variables live in its database; use env with valueFrom (a ConfigMap or Secret))",
            id="airflow-variables",
        ),
        pytest.param(
            "{{ macros.ds_ad(ds, 1) }}",
            "task 'a' command[0]: macros.ds_ad is not a macro (did you mean 'ds_add'?): kubedag"
            " offers macros.ds_add, macros.ds_format, macros.datetime, macros.timedelta",
            id="misspelt-macro",
        ),
        pytest.param(
            "{{ macros.uuid.uuid4() }}",
            "task 'a' command[0]: macros.uuid is not offered by kubedag: it would render"
            " differently each time; use {{ run_id }} or `uuidgen` in the container",
            id="refused-macro",
        ),
        pytest.param("{{ tomorow_ds }}", "(did you mean 'tomorrow_ds'?)", id="tomorrow"),
        pytest.param("{{ banana }}", "task 'a' command[0]: 'banana' is undefined", id="no-match"),
    ],
)
def test_template_refusals_suggest_a_close_name(template: str, message: str) -> None:
    problems = validate_dag("d", dag_spec(task("a", command=[template])))
    assert [p.reason for p in problems] == ["InvalidTemplate"]
    assert problems[0].message.endswith(message)


def test_every_template_variable_validates() -> None:
    """A DAG may use every variable, including the dates a first run sees as None."""
    spec = dag_spec(
        task(
            "a",
            args=[
                "{{ prev_start_date_success.isoformat() }} {{ next_execution_date.year }}",
                "{{ prev_data_interval_end_success | ds }} {{ prev_ds_nodash[:4] }}",
            ],
        )
    )
    assert validate_dag("d", spec) == []


def test_template_problems_name_task_and_field() -> None:
    spec = dag_spec(
        task("a", command=["{{ nope }}"]),
        task("b", args=["ok {{ ds }}", "{% if %}"]),
        task("c", env=[{"name": "X", "value": "{{ params.table }}"}]),
        params={"table": "t"},
    )
    messages = [p.message for p in validate_dag("d", spec)]
    assert len(messages) == 2
    assert messages[0].startswith("task 'a' command[0]:") and "nope" in messages[0]
    assert messages[1].startswith("task 'b' args[1]: syntax error")


def test_env_in_defaults_is_validated_for_every_task() -> None:
    spec = dag_spec(task("a"), task("b"), defaults={"env": [{"name": "X", "value": "{{ oops }}"}]})
    assert [p.message.split(":")[0] for p in validate_dag("d", spec)] == [
        "task 'a' env X",
        "task 'b' env X",
    ]


def test_named_accounts_come_from_tasks_then_defaults_each_with_its_first_field() -> None:
    spec = DagSpec.model_validate(
        {
            "defaults": {"image": "busybox", "serviceAccountName": "etl"},
            "tasks": [
                {"name": "a"},
                {"name": "b", "serviceAccountName": "loader"},
                {"name": "c", "serviceAccountName": "loader"},
            ],
        }
    )
    named = named_service_accounts(spec)
    assert named == {
        "etl": "spec.defaults.serviceAccountName",
        "loader": "spec.tasks[1].serviceAccountName",
    }
    problems = missing_account_problems("team-a", named, {"loader"})
    assert [p.reason for p in problems] == ["ServiceAccountNotFound"]
    assert problems[0].message.startswith(
        'spec.tasks[1].serviceAccountName: serviceaccount "loader" not found in namespace team-a'
    )
    # Every task overriding the default account: the default is never used, never required.
    overridden = spec.model_copy(update={"tasks": spec.tasks[1:]})
    assert named_service_accounts(overridden) == {"loader": "spec.tasks[0].serviceAccountName"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param(
            {"tasks": [task("a", triggerRule="one_sucess")]},
            "tasks[0].triggerRule: unsupported value 'one_sucess' (did you mean 'one_success'?):"
            " expected one of 'all_success', 'all_failed', 'all_done', 'all_done_setup_success',"
            " 'all_done_min_one_success', 'all_skipped', 'one_success', 'one_failed', 'one_done',"
            " 'none_failed',"
            " 'none_failed_min_one_success', 'none_skipped' or 'always'",
            id="trigger-rule",
        ),
        pytest.param(
            {"tasks": [task("a", imagePullPolicy="always")]},
            "tasks[0].imagePullPolicy: unsupported value 'always' (did you mean 'Always'?):"
            " expected one of 'Always', 'IfNotPresent' or 'Never'",
            id="literal",
        ),
        pytest.param(
            {"tasks": [task("a")], "podGC": "sometimes"},
            "podGC: unsupported value 'sometimes': expected one of 'OnRunSuccess',"
            " 'OnRunCompletion', 'OnTaskSuccess' or 'Never'",
            id="no-close-value",
        ),
    ],
)
def test_enum_refusals_name_field_value_and_suggest(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        DagSpec.model_validate(fields)
    assert describe_validation_error(raised.value) == [message]


# Found by the fuzz tests (tests/unit/test_fuzz_validate.py): each refusal quotes the value.
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param(
            {"tasks": [task("a")], "maxActiveRuns": "many"},
            "maxActiveRuns: Input should be a valid integer, unable to parse string as an"
            " integer (got 'many')",
            id="wrong-type",
        ),
        pytest.param(
            {"tasks": [task("Bad_Name")]},
            "tasks[0].name: String should match pattern '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'"
            " (got 'Bad_Name')",
            id="pattern",
        ),
        pytest.param(
            {"tasks": [task("a", retries=101)]},
            "tasks[0].retries: Input should be less than or equal to 100 (got 101)",
            id="range",
        ),
        pytest.param(
            {"tasks": [task("a", retrys=3)]},
            "tasks[0].retrys: Extra inputs are not permitted (got 3)",
            id="unknown-field",
        ),
        pytest.param(
            {"tasks": [task("a", args="x" * 100)]},
            "tasks[0].args: Input should be a valid list (got 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            "xxxxxxxxxxxxxxxxxxxxxx...)",
            id="long-value-cut",
        ),
        pytest.param({}, "tasks: Field required", id="missing-has-no-value"),
    ],
)
def test_refusals_quote_the_bad_value(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        DagSpec.model_validate(fields)
    assert describe_validation_error(raised.value) == [message]


@pytest.mark.parametrize(
    ("field", "value", "refused"),
    [
        # kubectl sends JSON types as written; the API server converts none of them.
        pytest.param("retries", "3", "retries: Input should be a valid integer (got '3')"),
        pytest.param("retries", 2.5, "retries: Input should be a valid integer (got 2.5)"),
        pytest.param("retries", True, "retries: Input should be a valid integer (got True)"),
        pytest.param("dependsOn", "a", "dependsOn: Input should be a valid array (got 'a')"),
        pytest.param("image", 7, "image: Input should be a valid string (got 7)"),
        pytest.param("retries", 3, None),
    ],
)
def test_kubedag_validate_types_values_as_the_api_server_does(
    field: str, value: Any, refused: str | None
) -> None:
    spec = {"tasks": [task("b", **{field: value})]}
    body = {"kind": "DAG", "metadata": {"name": "d"}, "spec": spec}
    if refused is None:
        parse_dag(Loaded("d.yaml", body))
        return
    with pytest.raises(ValidationError) as raised:
        parse_dag(Loaded("d.yaml", body))
    assert describe_validation_error(raised.value) == [f"spec.tasks[0].{refused}"]


def test_kubedag_validate_reads_yaml_dates_as_kubectl_sends_them() -> None:
    body = {
        "kind": "DAG",
        "metadata": {"name": "d"},
        "spec": {
            "schedule": "@daily",
            "startDate": date(2026, 1, 1),  # an unquoted YAML date
            "endDate": "2026-02-01",
            "tasks": [task("a")],
        },
    }
    dag = parse_dag(Loaded("d.yaml", body))
    assert dag.spec.start_date == datetime(2026, 1, 1)
    assert dag.spec.end_date == datetime(2026, 2, 1)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        pytest.param("sales.daily-2", True, id="subdomain"),
        pytest.param("d" * 253, True, id="253-characters"),
        pytest.param("d" * 254, False, id="254-characters"),
        pytest.param("Sales", False, id="uppercase"),
        pytest.param("sales_daily", False, id="underscore"),
        pytest.param("ventes-été", False, id="unicode"),
        pytest.param("-sales", False, id="leading-dash"),
    ],
)
def test_a_dag_name_is_checked_as_the_api_server_checks_it(name: str, valid: bool) -> None:
    problems = validate_dag(name, dag_spec(task("a")))
    assert (problems == []) == valid
    if not valid:
        [problem] = problems
        assert problem.reason == "InvalidName"
        assert problem.message.startswith(f"metadata.name: {name[:40]!r}"[:40])


@pytest.mark.parametrize(
    ("params_size", "refused"),
    [
        pytest.param(900_000, False, id="900KB"),
        pytest.param(MAX_SPEC_BYTES, True, id="at-the-limit-with-the-tasks"),
        pytest.param(2 << 20, True, id="2MiB"),
    ],
)
def test_a_dag_too_large_for_its_snapshot_is_refused_naming_its_largest_field(
    params_size: int, refused: bool
) -> None:
    spec = dag_spec(task("a"), params={"blob": "x" * params_size})
    problems = validate_dag("big", spec)
    if not refused:
        assert problems == []
        return
    [problem] = problems
    assert problem.reason == "TooLarge"
    assert problem.message.startswith(f"spec.params: {params_size + 11} bytes of the DAG's ")
    assert f"over the {MAX_SPEC_BYTES} a DAG may hold" in problem.message


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("{{ " + "(" * 400 + "1" + ")" * 400 + " }}", id="brackets"),
        pytest.param("{{ " + "[" * 400 + "]" * 400 + " }}", id="lists"),
        pytest.param("{% if true %}" * 300 + "{% endif %}" * 300, id="ifs"),
        pytest.param("{% for a in [1] %}" * 25 + "{% endfor %}" * 25, id="loops"),
        pytest.param("{{ 1" + " + 1" * 5000 + " }}", id="operators"),
        pytest.param("{{ 'x'" + "|upper" * 5000 + " }}", id="filters"),
    ],
)
def test_a_deeply_nested_template_is_refused_not_a_crash(template: str) -> None:
    # Before: RecursionError out of validate_dag (the output-reference walk), IndentationError
    # or "too many statically nested blocks" from compiling Jinja's module.
    problems = validate_dag("deep", dag_spec(task("a", args=["ok", template])))
    [problem] = problems
    assert problem.reason == "InvalidTemplate"
    assert problem.message == f"task 'a' args[1]: {TOO_DEEP}"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param(
            {"tasks": [task("a"), task("b", "a", "a")]},
            "spec.tasks[1].dependsOn: 'a' is listed twice: name each once",
            id="depends-on",
        ),
        pytest.param(
            {"tasks": [task("a", outlets=["s3://x", "s3://x"])]},
            "spec.tasks[0].outlets: 's3://x' is listed twice: name each once",
            id="outlets",
        ),
        pytest.param(
            {"tasks": [task("a")], "externalNamespaces": ["etl", "etl"]},
            "spec.externalNamespaces: 'etl' is listed twice: name each once",
            id="external-namespaces",
        ),
    ],
)
def test_a_set_naming_an_entry_twice_is_refused_as_the_api_server_refuses_it(
    fields: dict[str, Any], message: str
) -> None:
    # Found by the fuzz tests: the API server refuses these ("Duplicate value"), validate
    # accepted them.
    assert [p.message for p in validate_dag("d", dag_spec(**fields))] == [message]
