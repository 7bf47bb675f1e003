"""The Helm chart: lint-clean, and what it renders is accepted by the real API server, with
the RBAC it grants checked by the API server's own authorizer."""

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from devcluster.binaries import ensure_binaries
from tests.integration.harness import REPO, wait_for

CHART = REPO / "charts" / "kubedag"


@pytest.fixture(scope="module")
def tools() -> dict[str, Path]:
    return ensure_binaries("helm", "kubectl")


def run(*command: str | Path, stdin: str | None = None, check: bool = True) -> str:
    result = subprocess.run(
        [str(c) for c in command], input=stdin, capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{command} failed: {result.stdout}\n{result.stderr}")
    return result.stdout + result.stderr


def template(tools: dict[str, Path], namespace: str, *values: str) -> str:
    sets = [arg for value in values for arg in ("--set", value)]
    return run(tools["helm"], "template", "kubedag", CHART, "--namespace", namespace, *sets)


def test_helm_lint_is_clean(tools: dict[str, Path]) -> None:
    output = run(tools["helm"], "lint", "--strict", CHART)
    assert "0 chart(s) failed" in output


def test_values_schema_refuses_unknown_and_mistyped_values(tools: dict[str, Path]) -> None:
    for bad in ("replicas=2", "catchupByDefault=maybe", "logLevel=loud"):
        result = subprocess.run(
            [str(tools["helm"]), "template", "kubedag", str(CHART), "--set", bad],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode != 0, bad
        assert "values don't meet the specifications of the schema" in result.stderr, bad


def _kinds(rendered: str) -> list[tuple[str, str, str | None]]:
    return sorted(
        (d["kind"], d["metadata"]["name"], d["metadata"].get("namespace"))
        for d in yaml.safe_load_all(rendered)
        if d
    )


def _create_namespace(api_client: client.ApiClient, name: str) -> None:
    core = client.CoreV1Api(api_client)
    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    except client.ApiException as error:
        if error.status != 409:
            raise


def test_default_install_is_accepted_by_the_api_server(
    tools: dict[str, Path], kubeconfig: str, api_client: client.ApiClient
) -> None:
    _create_namespace(api_client, "kubedag-system")
    rendered = template(tools, "kubedag-system")
    kinds = _kinds(rendered)
    assert ("ClusterRole", "kubedag", None) in kinds
    assert ("CustomResourceDefinition", "dags.kubedag.io", None) in kinds
    # Task pods use each namespace's own default account: the chart creates none for them.
    assert [k for k in kinds if k[0] == "ServiceAccount"] == [
        ("ServiceAccount", "kubedag", "kubedag-system")
    ]
    assert ("Deployment", "kubedag", "kubedag-system") in kinds
    # The metrics Service, and neither the ServiceMonitor nor the dashboard (off by default).
    assert ("Service", "kubedag-metrics", "kubedag-system") in kinds
    assert not [k for k in kinds if k[0] == "ServiceMonitor" or "dashboard" in k[1]]
    output = run(
        tools["kubectl"],
        "--kubeconfig",
        kubeconfig,
        "apply",
        "--dry-run=server",
        "-f",
        "-",
        stdin=rendered,
    )
    assert "deployment.apps/kubedag created (server dry run)" in output
    assert "customresourcedefinition.apiextensions.k8s.io/dags.kubedag.io" in output
    crd = next(
        d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "CustomResourceDefinition"
    )
    assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}


def test_chart_crds_are_the_generated_ones(tools: dict[str, Path]) -> None:
    rendered = template(tools, "kubedag-system")
    shipped = {
        d["metadata"]["name"]: d["spec"]
        for d in yaml.safe_load_all(rendered)
        if d and d["kind"] == "CustomResourceDefinition"
    }
    generated = {
        (body := yaml.safe_load(path.read_text()))["metadata"]["name"]: body["spec"]
        for path in (REPO / "crds").glob("*.yaml")
    }
    assert shipped == generated


def test_namespaced_install_grants_least_privilege(
    tools: dict[str, Path], kubeconfig: str, api_client: client.ApiClient
) -> None:
    for ns in ("kd-chart", "team-a", "team-b", "team-c"):
        _create_namespace(api_client, ns)
    rendered = template(tools, "kd-chart", "watchNamespaces={team-a,team-b}", "replicaCount=2")
    kinds = _kinds(rendered)
    assert ("Role", "kubedag", "team-a") in kinds and ("Role", "kubedag", "team-b") in kinds
    assert not [k for k in kinds if k[0] == "ClusterRole"]
    deployment = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--leader-elect" in args and "--namespace=team-a" in args
    assert deployment["spec"]["replicas"] == 2
    # Applied for real (CRDs included, so kubectl can resolve kubedag's resources by name).
    run(tools["kubectl"], "--kubeconfig", kubeconfig, "apply", "-f", "-", stdin=rendered)
    wait_for(
        lambda: (
            "error"
            not in run(
                tools["kubectl"],
                "--kubeconfig",
                kubeconfig,
                "get",
                "dagruns.kubedag.io",
                "-n",
                "team-a",
                check=False,
            ).lower()
        ),
        "the new CRDs in discovery",
    )

    def can(verb: str, resource: str, namespace: str, who: str = "kd-chart:kubedag") -> bool:
        """`kubectl auth can-i` as the given ServiceAccount: the API server's authorizer."""
        resource, _, sub = resource.partition("/")
        command = [
            tools["kubectl"],
            "--kubeconfig",
            kubeconfig,
            "auth",
            "can-i",
            verb,
            resource,
            "-n",
            namespace,
            f"--as=system:serviceaccount:{who}",
        ]
        if sub:
            command.append(f"--subresource={sub}")
        return run(*command, check=False).strip() == "yes"

    assert can("create", "pods", "team-a")
    assert can("patch", "dagruns.kubedag.io/status", "team-b")
    assert can("update", "leases.coordination.k8s.io", "kd-chart")
    assert not can("create", "pods", "team-c")  # not watched
    assert can("patch", "dagruns.kubedag.io", "team-a")  # adopting runs created by hand
    # History cleanup: runs with their pods, and snapshots no run uses.
    assert can("delete", "dagruns.kubedag.io", "team-a")
    assert can("deletecollection", "pods", "team-a")
    assert can("delete", "configmaps", "team-b")
    assert can("patch", "configmaps", "team-a")  # outputs the DagRun has no room for
    assert not can("delete", "dags.kubedag.io", "team-a")
    # Tags as labels: the controller's only write to a DAG is a merge patch of its
    # kubedag.io/tag-* labels (reconcilers/tags.py); the spec stays its owner's.
    assert can("patch", "dags.kubedag.io", "team-a")
    assert not can("update", "dags.kubedag.io", "team-a")
    # Dataset scheduling: Datasets made on a first update, events recorded in the status.
    assert can("create", "datasets.kubedag.io", "team-a")
    assert can("patch", "datasets.kubedag.io/status", "team-b")
    assert not can("delete", "datasets.kubedag.io", "team-a")
    assert not can("list", "customresourcedefinitions", "team-a")
    # Notifier URLs: a Secret read by name, never listed or watched; a task's log tail.
    assert can("get", "secrets", "team-a") and can("get", "pods/log", "team-a")
    assert not can("list", "secrets", "team-a") and not can("watch", "secrets", "team-a")
    assert not can("get", "secrets", "team-c")  # not watched
    assert can("get", "serviceaccounts", "team-a")  # a DAG's named task account exists?
    assert not can("list", "serviceaccounts", "team-a")
    assert not can("list", "pods", "team-a", who="team-a:default")


def test_service_monitor_and_dashboard_render_only_when_enabled(tools: dict[str, Path]) -> None:
    rendered = template(
        tools,
        "kubedag-system",
        "metrics.serviceMonitor.enabled=true",
        "metrics.serviceMonitor.labels.release=prometheus",
        "metrics.dashboard.enabled=true",
        "metrics.dashboard.namespace=monitoring",
        "logFormat=json",
    )
    documents = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(rendered) if d}
    monitor = documents[("ServiceMonitor", "kubedag")]
    service = documents[("Service", "kubedag-metrics")]
    deployment = documents[("Deployment", "kubedag")]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    # The monitor selects the metrics Service, whose port leads to the container's.
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert selected.items() <= service["metadata"]["labels"].items()
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
    assert [p["name"] for p in service["spec"]["ports"]] == ["metrics"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "metrics", "containerPort": 8081} in container["ports"]
    assert "--metrics-port=8081" in container["args"]
    assert {"name": "KUBEDAG_LOG_FORMAT", "value": "json"} in container["env"]
    assert service["spec"]["selector"].items() <= (
        deployment["spec"]["template"]["metadata"]["labels"].items()
    )
    dashboard = documents[("ConfigMap", "kubedag-dashboard")]
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    panels = json.loads(dashboard["data"]["kubedag.json"])["panels"]
    assert any("kubedag_scheduling_lag_seconds_bucket" in str(p.get("targets")) for p in panels)
    refused = subprocess.run(
        [str(tools["helm"]), "template", "kubedag", str(CHART), "--set",
         "metrics.serviceMonitor.enabled=true", "--set", "metrics.service.enabled=false"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "needs metrics.service.enabled" in refused.stderr
