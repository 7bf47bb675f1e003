"""Every command that prints objects takes `-o json` and `-o yaml` and prints what parses:
the test walks the parser, so a new command is either in NO_OBJECTS or has the flag, and
runs each one (cluster commands against an in-memory double of the API)."""

import argparse
import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubedag import cli
from kubedag.kube.client import ApiError, Kube, custom_path
from tests.unit.api_double import ApiDouble

NS = "ns"
# Commands that print no objects, and why.
NO_OBJECTS = {
    "crds": "writes files",
    "run": "runs the controller",
    "web": "serves the web view",
    "logs": "prints a pod's log",
    "completion": "prints a shell script",
    "build": "writes manifests to the folder -o names",
    "import-airflow": "prints DAG manifests as YAML, or writes them to the folder -o names",
}

DAG_YAML = """\
apiVersion: kubedag.io/v1alpha1
kind: DAG
metadata: {name: etl, namespace: ns}
spec:
  schedule: "@daily"
  startDate: "2026-01-01"
  outputs: ["s3://lake/etl"]
  tasks:
    - {name: a, image: busybox, command: [echo, hi]}
"""


def leaf_commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    found = []
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if path and (not subparsers or not subparsers[0].required):
        found.append((path, parser))  # e.g. `datasets` lists, `datasets touch` records
    for action in subparsers:
        for name, child in action.choices.items():
            found.extend(leaf_commands(child, (*path, name)))
    return found


class CliDouble(ApiDouble):
    """The API double, also answering LISTs (GET of a collection) as the CLI makes them, and
    finishing a test run as soon as it is created (as a controller would, later)."""

    async def request(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        if method != "GET":
            return await super().request(method, path, body, **kw)
        if path in self.objects:
            return copy.deepcopy(self.objects[path])
        plural = path.rsplit("/", 1)[1]
        items = [
            copy.deepcopy(o)
            for p, o in self.objects.items()
            if p.rsplit("/", 1)[0] == path
            or ("/namespaces/" not in path and p.rsplit("/", 2)[1] == plural)
        ]
        return {"items": items}

    async def create(self, collection: str, manifest: dict[str, Any]) -> dict[str, Any] | None:
        manifest = copy.deepcopy(manifest)
        metadata = manifest["metadata"]
        metadata.setdefault("name", f"{metadata.get('generateName', '')}x1")
        if manifest.get("spec", {}).get("runType") == "test":
            manifest["status"] = {"state": "success", "tasks": []}
        return await super().create(collection, manifest)

    async def pod_log(self, *_: Any, **__: Any) -> Any:
        raise ApiError(404, "NotFound", "no pods here")
        yield b""


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> CliDouble:
    double = CliDouble()
    double.put(
        custom_path("dags", NS, "etl"),
        {"metadata": {"name": "etl", "namespace": NS}, "spec": yaml.safe_load(DAG_YAML)["spec"]},
    )
    status = {"state": "success", "tasks": [{"name": "a", "state": "success", "outputs": {"n": 1}}]}
    double.put(
        custom_path("dagruns", NS, "etl-20260101-0000"),
        {
            "metadata": {"name": "etl-20260101-0000", "namespace": NS},
            "spec": {"dagName": "etl", "runType": "scheduled"},
            "status": status,
        },
    )

    async def connect(_: Any, kubeconfig: str | None = None) -> CliDouble:
        return double

    monkeypatch.setattr(Kube, "connect", classmethod(connect))
    return double


def argv_for(command: tuple[str, ...], dag_file: str) -> list[str]:
    """How to run each printing command once (cluster ones against the double)."""
    run = "etl-20260101-0000"
    table: dict[tuple[str, ...], list[str]] = {
        ("validate",): [dag_file],
        ("plan",): [dag_file, "--now", "2026-01-03"],
        ("render",): [dag_file, "--task", "a", "--logical-date", "2026-01-01"],
        ("pause",): ["etl"],
        ("unpause",): ["etl"],
        ("outputs",): [run],
        ("tasks",): [run],
        ("clear",): [run, "--no-wait"],
        ("mark",): [run, "success", "--task", "a", "--no-wait"],
        ("trigger",): ["etl", "--logical-date", "2026-01-05"],
        ("backfill",): ["etl", "--from", "2026-01-01", "--to", "2026-01-02"],
        ("connection", "create"): ["c", "--from-url", "postgresql://u:p@h/db", "--dry-run"],
        ("datasets",): [],
        ("datasets", "touch"): ["s3://lake/etl"],
        ("lineage",): [],
        ("stale",): [],
        ("test",): ["etl", "--logical-date", "2026-01-07"],
    }
    offline = command in (("validate",), ("plan",), ("render",))
    return [*command, *table[command], *([] if offline else ["-n", NS])]


def printing_commands() -> list[tuple[str, ...]]:
    return [path for path, _ in leaf_commands(cli.build_parser()) if path[0] not in NO_OBJECTS]


def test_every_printing_command_has_json_and_yaml() -> None:
    for path, parser in leaf_commands(cli.build_parser()):
        if path[0] in NO_OBJECTS:
            continue
        flag = parser._option_string_actions.get("-o")
        assert flag is not None and {"json", "yaml"} <= set(flag.choices or ()), path


@pytest.mark.parametrize("command", printing_commands(), ids=" ".join)
@pytest.mark.parametrize("output", ["json", "yaml"])
def test_the_output_parses(
    command: tuple[str, ...],
    output: str,
    api: CliDouble,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dag_file = tmp_path / "etl.yaml"
    dag_file.write_text(DAG_YAML)
    argv = argv_for(command, str(dag_file))
    code = cli.main([*argv, "-o", output])
    printed, errors = capsys.readouterr()
    assert code == 0, printed + errors
    parsed = json.loads(printed) if output == "json" else yaml.safe_load(printed)
    assert parsed not in (None, "", [], {}), printed
