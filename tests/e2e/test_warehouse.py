"""The example pipelines (examples/name-gender-etl.yaml, events-incremental.yaml,
daily-summary.yaml) against the example warehouse (examples/warehouse/: PostgreSQL in a pod on
a provisioned volume, the sample server), as a user runs them: `kubectl apply -k`, then the
DAGs, on the local cluster.

One warehouse serves the whole module (it takes a few seconds to start); the tests run in file
order, each leaving the tables as a finished pipeline does. Tables are read with psql inside the
PostgreSQL pod; a table's checksum is the md5 of its rows in order.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.kube import REPO, Kubectl, wait_for
from tests.unit.test_warehouse import SERVER

EXAMPLES = REPO / "examples"
POSTGRES_POD = "warehouse-postgres-0"


@pytest.fixture(scope="module")
def warehouse(kubedag: None, kubectl: Kubectl) -> Iterator[str]:
    """A namespace with the example warehouse up and ready in it (deleted afterwards, and
    with it the PostgreSQL volume)."""
    subprocess.run(
        [
            str(REPO / ".venv/bin/python"),
            str(REPO / "task-images/build.py"),
            "--import",
            "warehouse-postgres",
        ],
        check=True,
    )
    ns = f"e2e-warehouse-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", ns)
    try:
        kubectl("apply", "-k", str(EXAMPLES / "warehouse"), "-n", ns)
        for workload in ("statefulset/warehouse-postgres", "deployment/warehouse-samples"):
            kubectl.rollout(workload, ns)
        yield ns
    finally:
        kubectl("delete", "namespace", ns, "--wait=false")


def psql(kubectl: Kubectl, ns: str, query: str) -> list[list[str]]:
    """The query's rows (tab-separated fields), run by psql in the PostgreSQL pod."""
    script = (
        'PGPASSWORD="$POSTGRES_PASSWORD" psql -X -q -At -F "\t" -v ON_ERROR_STOP=1 '
        '-h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$0"'
    )
    out = kubectl("exec", "-n", ns, POSTGRES_POD, "-c", "postgres", "--", "sh", "-c", script, query)
    return [line.split("\t") for line in out.splitlines()]


def checksum(kubectl: Kubectl, ns: str, table: str) -> str:
    query = (
        f"SELECT count(*) || ' rows, md5 ' || coalesce(md5(string_agg(t::text, E'\\n' "
        f"ORDER BY t::text)), '-') FROM {table} t"
    )
    return psql(kubectl, ns, query)[0][0]


def example_dag(file: str, **changes: Any) -> dict[str, Any]:
    """The DAG of an example file, with top-level spec fields changed."""
    (dag,) = [d for d in yaml.safe_load_all((EXAMPLES / file).read_text()) if d["kind"] == "DAG"]
    dag["spec"].update(changes)
    return dict(dag)


def apply(kubectl: Kubectl, ns: str, *docs: dict[str, Any]) -> None:
    kubectl("apply", "-n", ns, "-f", "-", stdin=yaml.safe_dump_all(docs))


def dag_runs(kubectl: Kubectl, ns: str, dag: str) -> list[dict[str, Any]]:
    items = kubectl.json("get", "dagruns", "-n", ns, "-l", f"kubedag.io/dag={dag}")["items"]
    return sorted(items, key=lambda r: r["spec"].get("logicalDate", ""))


def finished_runs(kubectl: Kubectl, ns: str, dag: str, count: int) -> list[dict[str, Any]]:
    """The DAG's runs once there are `count` and all have finished."""

    def check() -> list[dict[str, Any]] | None:
        found = dag_runs(kubectl, ns, dag)
        done = [r for r in found if r.get("status", {}).get("state") in ("success", "failed")]
        return found if len(found) == count and len(done) == count else None

    return wait_for(check, f"{count} finished runs of {dag}", timeout=240)


def task(run: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [t for t in run["status"]["tasks"] if t["name"] == name]
    return found


def cli(kubectl: Kubectl, ns: str, *args: str, check: bool = True) -> str:
    command = [str(REPO / ".venv/bin/kubedag"), *args, "-n", ns, "--kubeconfig",
               str(kubectl.kubeconfig)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert not check or result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def expected_names() -> list[list[str]]:
    """raw_data.name_gender as the example's transform leaves it: gender in lower case."""
    rows = csv.DictReader(io.StringIO(SERVER.body_for("/name_gender.csv")))
    return sorted([r["name"].strip(), r["gender"].strip().lower()] for r in rows)


def test_name_gender_loads_the_csv_and_its_checks_pass(warehouse: str, kubectl: Kubectl) -> None:
    # The summary first: it runs once both of its input tables have been updated after it was
    # made (test_the_summary_runs_once_both_inputs_were_updated), not on this load alone.
    kubectl("apply", "-n", warehouse, "-f", str(EXAMPLES / "daily-summary.yaml"))
    apply(kubectl, warehouse, example_dag("name-gender-etl.yaml"))
    (run,) = finished_runs(kubectl, warehouse, "name-gender-etl", 1)
    assert run["status"]["state"] == "success", run["status"]
    assert run["spec"]["runType"] == "scheduled"  # catchup false: the latest interval only

    names = expected_names()
    assert psql(kubectl, warehouse, "SELECT name, gender FROM raw_data.name_gender ORDER BY 1") == (
        names
    )
    assert task(run, "extract")["outputs"]["rows"] == len(names)
    for check in ("check-input", "check"):
        outputs = task(run, check)["outputs"]
        assert outputs["passed"] is True and outputs["failed"] == [], outputs
    assert dag_runs(kubectl, warehouse, "daily-summary") == [], "one input is not enough"


def test_a_duplicate_key_in_the_source_fails_the_input_check_and_the_run(
    warehouse: str, kubectl: Kubectl
) -> None:
    before = checksum(kubectl, warehouse, "raw_data.name_gender")
    dag = example_dag("name-gender-etl.yaml")
    dag["metadata"]["name"] = "name-gender-corrupt"
    (extract,) = [t for t in dag["spec"]["tasks"] if t["name"] == "extract"]
    extract["args"][1] = "http://warehouse-samples/name_gender_duplicate_key.csv"
    apply(kubectl, warehouse, dag)

    (run,) = finished_runs(kubectl, warehouse, "name-gender-corrupt", 1)
    assert run["status"]["state"] == "failed"
    assert task(run, "check-input")["state"] == "failed"
    assert task(run, "load")["state"] == "upstream_failed"
    assert task(run, "check-input")["outputs"]["failed"] == ["unique(name)"]
    first = expected_names()[0][0]
    report = cli(kubectl, warehouse, "logs", run["metadata"]["name"], "--task", "check-input")
    assert "check staging.name_gender over [" in report, report
    assert "1 of 4 checks failed" in report, report
    assert "FAIL  unique(name): 1 duplicated keys (expected 0)" in report, report
    assert f"name='{first}' (2 rows)" in report, report
    assert checksum(kubectl, warehouse, "raw_data.name_gender") == before, "never loaded"


def catchup_days() -> list[dt.date]:
    """The dates events-incremental catches up when it starts three days ago."""
    today = dt.datetime.now(dt.UTC).date()
    return [today - dt.timedelta(days=n) for n in (3, 2, 1)]


def expected_events(days: list[dt.date]) -> list[list[str]]:
    rows = []
    for day in days:
        for row in csv.DictReader(io.StringIO(SERVER.events(day))):
            rows.append([row["id"], str(day), row["kind"]])
    return sorted(rows)


def test_the_incremental_dag_catches_up_each_date_with_that_dates_rows(
    warehouse: str, kubectl: Kubectl
) -> None:
    days = catchup_days()
    apply(kubectl, warehouse, example_dag("events-incremental.yaml", startDate=str(days[0])))

    found = finished_runs(kubectl, warehouse, "events-incremental", len(days))
    assert [r["spec"]["logicalDate"][:10] for r in found] == [str(d) for d in days]
    assert [r["status"]["state"] for r in found] == ["success"] * len(days), found
    # The runs went at once, and the first tries all made it: no one lost a race to create
    # raw_data.events (the toolkit's creators take turns).
    assert {t["try"] for r in found for t in r["status"]["tasks"]} == {1}, found
    query = (
        "SELECT id, (occurred_at AT TIME ZONE 'UTC')::date, kind FROM raw_data.events ORDER BY 1"
    )
    assert psql(kubectl, warehouse, query) == expected_events(days)
    for run, day in zip(found, days, strict=True):
        assert task(run, "load")["outputs"]["rows"] == len(expected_events([day]))


def test_the_summary_runs_once_both_inputs_were_updated(warehouse: str, kubectl: Kubectl) -> None:
    (summary,) = finished_runs(kubectl, warehouse, "daily-summary", 1)
    assert summary["status"]["state"] == "success", summary["status"]
    assert summary["spec"]["runType"] == "dataset_triggered"
    triggers = summary["spec"]["triggeredBy"]["events"]
    assert {e["dag"] for e in triggers} == {"name-gender-etl", "events-incremental"}
    (names_run,) = dag_runs(kubectl, warehouse, "name-gender-etl")
    first_events = min(
        r["status"]["endTime"] for r in dag_runs(kubectl, warehouse, "events-incremental")
    )
    inputs_done = [names_run["status"]["endTime"], first_events]
    assert summary["metadata"]["creationTimestamp"] >= max(inputs_done), "not before both"
    assert task(summary, "check")["outputs"]["passed"] is True

    genders = [g for _, g in expected_names()]
    events: dict[tuple[str, str], int] = {}
    for _, day, kind in expected_events(catchup_days()):
        events[(day, kind)] = events.get((day, kind), 0) + 1
    query = "SELECT day, kind, events, female_names, male_names FROM mart.daily_summary"
    rows = psql(kubectl, warehouse, query)
    assert rows
    for day, kind, count, female, male in rows:
        # It ran once the first day's load had committed: the days it saw came whole.
        assert int(count) == events[(day, kind)], (day, kind)
        assert (int(female), int(male)) == (genders.count("f"), genders.count("m"))


def test_rerunning_a_date_leaves_the_same_table(warehouse: str, kubectl: Kubectl) -> None:
    middle = dag_runs(kubectl, warehouse, "events-incremental")[1]
    name, first_try = middle["metadata"]["name"], task(middle, "load")["try"]
    before = checksum(kubectl, warehouse, "raw_data.events")

    cli(kubectl, warehouse, "clear", name)

    def rerun() -> dict[str, Any] | None:
        run: dict[str, Any] = kubectl.json("get", "dagrun", name, "-n", warehouse)
        again = run["status"].get("state") in ("success", "failed")
        return run if again and task(run, "check")["try"] > first_try else None

    run = wait_for(rerun, f"run {name} to run again")
    assert run["status"]["state"] == "success", run["status"]
    assert task(run, "load")["outputs"]["deleted"] == task(run, "load")["outputs"]["rows"]
    assert checksum(kubectl, warehouse, "raw_data.events") == before


def test_the_warehouse_keeps_its_data_on_the_claimed_volume(
    warehouse: str, kubectl: Kubectl
) -> None:
    claim = kubectl.json("get", "pvc", f"data-{POSTGRES_POD}", "-n", warehouse)
    assert claim["status"]["phase"] == "Bound"
    volume = kubectl.json("get", "pv", claim["spec"]["volumeName"])
    assert volume["spec"]["storageClassName"] == "standard"
    assert Path(volume["spec"]["hostPath"]["path"], "pgdata", "PG_VERSION").is_file()


def test_a_rollout_that_fails_says_what_kept_it_back(warehouse: str, kubectl: Kubectl) -> None:
    """The diagnosis a failed rollout carries (the cluster's own logs go with the session)."""
    diagnosis = kubectl.diagnosis(warehouse)
    assert "warehouse-postgres-0" in diagnosis and "Running" in diagnosis
    assert "--- kubectl get events" in diagnosis and "--- kubectl logs" in diagnosis
    assert "postgres" in diagnosis.split("--- kubectl logs", 1)[1]  # the pods' own lines
