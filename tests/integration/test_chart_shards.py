"""The chart's `shards` value (`helm template`): one Deployment per shard with its flags, its
own selector and replicas, the whole plan in each; the Namespaces' labels readable; the
default stays one unsharded controller; a bad plan is refused at template time."""

import subprocess
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from tests.integration.test_chart import (  # noqa: F401 - fixture
    CHART,
    _create_namespace,
    run,
    template,
    tools,
)

SHARDED = ("shards[0].name=a", "shards[0].default=true", "shards[1].name=b",
           "shards[1].replicaCount=3", "replicaCount=2")  # fmt: skip


def documents(rendered: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(rendered) if d}


def controller_args(deployment: dict[str, Any]) -> list[str]:
    return list(deployment["spec"]["template"]["spec"]["containers"][0]["args"])


def reads_namespaces(role: dict[str, Any]) -> bool:
    return any("namespaces" in rule["resources"] for rule in role["rules"])


def test_the_default_is_one_unsharded_controller(tools: dict[str, Path]) -> None:
    rendered = documents(template(tools, "kubedag-system"))
    deployments = [key for key in rendered if key[0] == "Deployment"]
    assert deployments == [("Deployment", "kubedag")]
    assert not any(a.startswith("--shard") for a in controller_args(rendered[deployments[0]]))
    assert not reads_namespaces(rendered[("ClusterRole", "kubedag")])


def test_each_shard_is_a_deployment_of_its_own(tools: dict[str, Path]) -> None:
    rendered = documents(template(tools, "kubedag-system", *SHARDED))
    assert sorted(name for kind, name in rendered if kind == "Deployment") == [
        "kubedag-a",
        "kubedag-b",
    ]
    a, b = rendered[("Deployment", "kubedag-a")], rendered[("Deployment", "kubedag-b")]
    assert controller_args(a)[-3:] == ["--shard=a", "--shards=a,b", "--shard-default=a"]
    assert controller_args(b)[-3:] == ["--shard=b", "--shards=a,b", "--shard-default=a"]
    assert "--leader-elect" in controller_args(a) and "--leader-elect" in controller_args(b)
    assert (a["spec"]["replicas"], b["spec"]["replicas"]) == (2, 3)  # b's own, else the chart's
    # Each selects its own pods only; the metrics Service selects every shard's.
    service = rendered[("Service", "kubedag-metrics")]["spec"]["selector"]
    for deployment, shard in ((a, "a"), (b, "b")):
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector["kubedag.io/shard"] == shard
        assert selector.items() <= labels.items()
        assert service.items() <= labels.items()
        assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert reads_namespaces(rendered[("ClusterRole", "kubedag")])
    [rule] = [r for r in rendered[("ClusterRole", "kubedag")]["rules"]
              if "namespaces" in r["resources"]]  # fmt: skip
    assert rule == {"apiGroups": [""], "resources": ["namespaces"],
                    "verbs": ["get", "list", "watch"]}  # fmt: skip


def test_a_bad_plan_is_refused(tools: dict[str, Path]) -> None:
    refusals = {
        ("shards[0].name=a", "shards[0].default=true", "shards[1].name=b",
         "shards[1].default=true"): "a and b are both default",
        ("shards[0].name=a", "watchNamespaces[0]=etl"): "shards and watchNamespaces",
        ("shards[0].name=Big_A",): "values don't meet the specifications of the schema",
        ("shards[0].default=true",): "values don't meet the specifications of the schema",
    }  # fmt: skip
    for values, message in refusals.items():
        sets = [arg for value in values for arg in ("--set", value)]
        result = subprocess.run(
            [str(tools["helm"]), "template", "kubedag", str(CHART), *sets],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode != 0 and message in result.stderr, (values, result.stderr)


def test_a_sharded_install_is_accepted_by_the_api_server(
    tools: dict[str, Path], kubeconfig: str, api_client: client.ApiClient
) -> None:
    _create_namespace(api_client, "kubedag-system")
    rendered = template(tools, "kubedag-system", *SHARDED)
    output = run(tools["kubectl"], "--kubeconfig", kubeconfig, "apply", "--dry-run=server",
                 "-f", "-", stdin=rendered)  # fmt: skip
    assert "deployment.apps/kubedag-a created (server dry run)" in output
    assert "deployment.apps/kubedag-b created (server dry run)" in output
