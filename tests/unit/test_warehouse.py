"""The example warehouse (examples/warehouse/) without a cluster: its manifests agree with each
other and with the pins, and its sample server answers what the example DAGs extract.
The warehouse itself runs in tests/e2e/test_warehouse.py."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import importlib.util
import io
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from devcluster import storage
from devcluster.versions import pinned_versions

REPO = Path(__file__).resolve().parents[2]
WAREHOUSE = REPO / "examples/warehouse"


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SERVER = _load(WAREHOUSE / "samples/server.py", "warehouse_samples_server")


def _objects() -> dict[tuple[str, str], dict[str, Any]]:
    kustomization = yaml.safe_load((WAREHOUSE / "kustomization.yaml").read_text())
    found = {}
    for resource in kustomization["resources"]:
        for doc in yaml.safe_load_all((WAREHOUSE / resource).read_text()):
            found[(doc["kind"], doc["metadata"]["name"])] = doc
    for generated in kustomization["configMapGenerator"]:
        for file in generated["files"]:
            assert (WAREHOUSE / file).is_file(), file
    return found


def _secret(doc: dict[str, Any]) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in doc.get("data", {}).items()}
    return {**data, **doc.get("stringData", {})}


def test_postgres_runs_the_pinned_server_image() -> None:
    build = _load(REPO / "task-images/build.py", "task_images_build_for_warehouse")
    pinned = pinned_versions()["POSTGRESQL_VERSION"]
    reference = build.IMAGES["warehouse-postgres"].reference
    assert reference == f"kubedag/warehouse-postgres:{pinned.replace('+', '-')}"
    pod = _objects()[("StatefulSet", "warehouse-postgres")]["spec"]["template"]["spec"]
    assert {c["image"] for c in pod["containers"] + pod["initContainers"]} == {reference}


def test_the_connection_reaches_the_postgres_service() -> None:
    objects = _objects()
    server = _secret(objects[("Secret", "warehouse-postgres")])
    connection = _secret(objects[("Secret", "warehouse")])
    service = objects[("Service", "warehouse-postgres")]
    assert connection == {
        "host": service["metadata"]["name"],
        "port": str(service["spec"]["ports"][0]["port"]),
        "dbname": server["POSTGRES_DB"],
        "user": server["POSTGRES_USER"],
        "password": server["POSTGRES_PASSWORD"],
    }
    assert connection["dbname"] == "warehouse" and connection["port"] == "5432"
    assert objects[("Secret", "warehouse")]["metadata"]["labels"]["kubedag.io/connection"] == (
        "postgresql"
    )


def test_the_data_volume_is_a_claim_of_the_default_class() -> None:
    statefulset = _objects()[("StatefulSet", "warehouse-postgres")]
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert "storageClassName" not in claim["spec"], "the default class: kind's and ours"
    assert storage.storage_class().metadata.name == "standard"
    assert storage.storage_class().provisioner == "kubernetes.io/host-path"


def test_samples_service_serves_http_on_port_80() -> None:
    objects = _objects()
    (port,) = objects[("Service", "warehouse-samples")]["spec"]["ports"]
    assert port["port"] == 80
    pod = objects[("Deployment", "warehouse-samples")]["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "kubedag/python-task:0.1.0"


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_name_gender_is_a_few_hundred_unique_names() -> None:
    rows = _rows(SERVER.body_for("/name_gender.csv"))
    assert len(rows) >= 200
    assert list(rows[0]) == ["name", "gender"]
    assert len({r["name"] for r in rows}) == len(rows)
    assert {r["gender"] for r in rows} == {"F", "M", "Unisex"}


def test_the_duplicate_key_variant_repeats_one_name_with_another_gender() -> None:
    good = _rows(SERVER.body_for("/name_gender.csv"))
    bad = _rows(SERVER.body_for("/name_gender_duplicate_key.csv"))
    assert bad[: len(good)] == good and len(bad) == len(good) + 1
    assert bad[-1]["name"] == good[0]["name"] and bad[-1]["gender"] != good[0]["gender"]


@pytest.mark.parametrize("day", ["2026-01-01", "2026-03-29", "2024-02-29", "1999-12-31"])
def test_events_are_that_days_and_the_same_on_every_call(day: str) -> None:
    body = SERVER.body_for(f"/events/{day}.csv")
    assert body == SERVER.body_for(f"/events/{day}.csv")
    rows = _rows(body)
    assert 20 <= len(rows) <= 40
    assert list(rows[0]) == ["id", "occurred_at", "kind", "amount"]
    start = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)
    for row in rows:
        assert start <= dt.datetime.fromisoformat(row["occurred_at"]) < start + dt.timedelta(1)
        assert row["id"].startswith(day.replace("-", ""))
    assert len({r["id"] for r in rows}) == len(rows)


def test_days_differ_and_unknown_paths_are_not_found() -> None:
    assert SERVER.body_for("/events/2026-01-01.csv") != SERVER.body_for("/events/2026-01-02.csv")
    for path in ("/events/2026-02-30.csv", "/events/today.csv", "/etc/passwd", "/"):
        assert SERVER.body_for(path) is None
