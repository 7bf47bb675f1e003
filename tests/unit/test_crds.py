"""The CRDs in crds/ are generated from the models: up to date, structural, no $ref."""

from pathlib import Path
from typing import Any

import yaml

from kubedag.manifests.crds import render_crds

CRDS = Path(__file__).resolve().parents[2] / "crds"


def test_committed_crds_match_the_models() -> None:
    for name, text in render_crds().items():
        path = CRDS / name
        assert path.is_file(), f"{path} missing: run `kubedag crds`"
        assert path.read_text() == text, f"{path} is out of date: run `kubedag crds`"


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, value in node.items():
            found.extend(_walk(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_walk(value, f"{path}[{i}]"))
    return found


def test_schemas_are_structural() -> None:
    for name, text in render_crds().items():
        schema = yaml.safe_load(text)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        for path, node in _walk(schema):
            assert "$ref" not in node and "$defs" not in node, f"{name}{path}"
            assert "anyOf" not in node and "title" not in node, f"{name}{path}"
            if "properties" in node and isinstance(node.get("properties"), dict):
                assert "additionalProperties" not in node, f"{name}{path}"
            if node.get("type") == "object" and path.endswith(("items", "conf", "params")):
                assert "properties" in node or node.get("x-kubernetes-preserve-unknown-fields")


def test_tasks_are_a_list_map_keyed_by_name_with_dns_label_names() -> None:
    dag = yaml.safe_load(render_crds()["kubedag.io_dags.yaml"])
    spec = dag["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    tasks = spec["properties"]["tasks"]
    assert tasks["x-kubernetes-list-type"] == "map"
    assert tasks["x-kubernetes-list-map-keys"] == ["name"]
    assert tasks["items"]["properties"]["name"]["pattern"] == "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
    assert "trigger_rule" not in tasks["items"]["properties"]
    assert tasks["items"]["properties"]["triggerRule"]["enum"][0] == "all_success"
    assert spec["properties"]["maxActiveRuns"]["default"] == 16
    assert "default" not in spec["properties"]["catchup"]  # the controller's default applies
    rules = [r["rule"] for r in spec["x-kubernetes-validations"]]
    assert "!has(self.schedule) || has(self.startDate)" in rules


def test_status_subresource_and_short_names() -> None:
    for name, short in (("kubedag.io_dags.yaml", "dag"), ("kubedag.io_dagruns.yaml", "dr")):
        crd = yaml.safe_load(render_crds()[name])
        assert crd["spec"]["names"]["shortNames"] == [short]
        assert crd["spec"]["versions"][0]["subresources"] == {"status": {}}


def test_the_chart_ships_the_same_crds() -> None:
    chart_copy = CRDS.parent / "charts" / "kubedag" / "files" / "crds"
    for name in render_crds():
        assert (chart_copy / name).read_text() == (CRDS / name).read_text(), (
            f"charts/kubedag/files/crds/{name} differs from crds/: run `make crds`"
        )
