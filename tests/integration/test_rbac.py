"""The chart's RBAC, applied to the real API server (RBAC authorization on) in both install
modes and checked with `kubectl auth can-i --as=system:serviceaccount:NS:NAME`: the
controller may do everything its code does, nothing this file lists as forbidden, and task
pods' accounts can do nothing with the API unless an admin binds them a role.

CONTROLLER_USES is the table of what the controller asks of the API server; a test reads
the controller's source and fails when it names a resource the table does not list, so the
table (and charts/kubedag/templates/rbac.yaml with it) follows the code."""

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from devcluster.binaries import ensure_binaries
from tests.integration.harness import REPO, crds  # noqa: F401 - fixture
from tests.integration.test_chart import CHART, run

CONTROLLER = REPO / "controller" / "kubedag"

# (verb, resource[/subresource], where in the code) for each namespace the controller serves.
CONTROLLER_USES: list[tuple[str, str, str]] = [
    *(
        (v, "dags.kubedag.io", "kopf watch, reconcilers/context.py")
        for v in ("get", "list", "watch")
    ),
    ("patch", "dags.kubedag.io", "reconcilers/tags.py: the tag labels"),
    *((v, "dagruns.kubedag.io", "kopf watch") for v in ("get", "list", "watch")),
    ("create", "dagruns.kubedag.io", "reconcilers/dags.py, backfills.py, cross_dag.py"),
    ("patch", "dagruns.kubedag.io", "reconcilers/runs.py adopt, backfills.py, cross_dag.py"),
    ("delete", "dagruns.kubedag.io", "reconcilers/cleanup.py"),
    *(
        (v, "backfills.kubedag.io", "kopf watch, reconcilers/backfills.py")
        for v in ("get", "list", "watch")
    ),
    *((v, "pools.kubedag.io", "kopf watch") for v in ("get", "list", "watch")),
    *(
        (v, "datasets.kubedag.io", "kopf watch, reconcilers/datasets.py")
        for v in ("get", "list", "watch", "create")
    ),
    *(
        ("patch", f"{kind}.kubedag.io/status", "reconcilers/status.py")
        for kind in ("dags", "dagruns", "backfills", "pools", "datasets")
    ),
    *(
        (v, "pods", "kopf watch, reconcilers/pods.py")
        for v in ("get", "list", "watch", "create", "delete")
    ),
    ("deletecollection", "pods", "reconcilers/cleanup.py"),
    *(
        (v, "configmaps", "reconcilers/snapshots.py, outputs.py, cleanup.py")
        for v in ("get", "list", "create", "patch", "delete")
    ),
    ("create", "events", "kube/client.py post_event"),
    ("get", "serviceaccounts", "reconcilers/accounts.py"),
    ("get", "secrets", "reconcilers/notifier.py: a notifier's URL, by name"),
    ("get", "pods/log", "reconcilers/notifier.py: a log tail"),
]
# In the release's namespace only.
LEADER_ELECTION = [(v, "leases.coordination.k8s.io") for v in ("get", "create", "update")]

# What the controller must never be able to do, wherever it runs.
FORBIDDEN: list[tuple[str, str]] = [
    ("list", "secrets"),
    ("watch", "secrets"),
    ("create", "secrets"),
    ("delete", "secrets"),
    ("create", "pods/exec"),
    ("create", "pods/attach"),
    ("create", "serviceaccounts/token"),
    ("create", "serviceaccounts"),
    ("list", "serviceaccounts"),
    ("update", "dags.kubedag.io"),
    ("delete", "dags.kubedag.io"),
    ("create", "dags.kubedag.io"),
    ("delete", "datasets.kubedag.io"),
    ("create", "roles.rbac.authorization.k8s.io"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
    ("update", "leases.coordination.k8s.io"),  # outside the release namespace
    ("create", "deployments.apps"),
]
# The watches of a cluster-wide install span every namespace (one request each).
ACROSS_NAMESPACES = [
    ("watch", "dags.kubedag.io"),
    ("list", "dagruns.kubedag.io"),
    ("watch", "pods"),
]
# With shards (the chart's `shards`): the Namespaces' labels (reconcilers/shards.py).
SHARDS_READ = [(v, "namespaces") for v in ("get", "list", "watch")]
# Cluster-scoped: the rules review of any namespace includes them.
CLUSTER_FORBIDDEN: list[tuple[str, str]] = [
    ("create", "namespaces"),
    ("delete", "namespaces"),
    ("create", "clusterroles.rbac.authorization.k8s.io"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
    ("update", "customresourcedefinitions.apiextensions.k8s.io"),
    ("delete", "nodes"),
    ("impersonate", "serviceaccounts"),
    ("escalate", "clusterroles.rbac.authorization.k8s.io"),
    ("bind", "clusterroles.rbac.authorization.k8s.io"),
]
# Anything at all, for a task pod's account.
ANYTHING: list[tuple[str, str]] = [
    ("get", "pods"),
    ("list", "pods"),
    ("create", "pods"),
    ("get", "secrets"),
    ("list", "configmaps"),
    ("get", "dags.kubedag.io"),
    ("create", "dagruns.kubedag.io"),
    ("patch", "dagruns.kubedag.io/status"),
    ("create", "events"),
    ("get", "serviceaccounts"),
    ("list", "namespaces"),
]


def _code_resources() -> set[str]:
    """The resources the controller's code builds request paths for (kube/, reconcilers/):
    `custom_path("dagruns", ...)`, `core_path("pods", ...)`, the status writers' plurals,
    and a pod's log."""
    found: set[str] = set()
    for folder in ("kube", "reconcilers"):
        for path in (CONTROLLER / folder).glob("*.py"):
            text = path.read_text()
            found |= set(re.findall(r'(?:custom|core)_path\(\s*"([a-z]+)"', text))
            for plurals in re.findall(r"_PLURALS[^=]*= \{([^}]*)\}", text):
                found |= {f"{p}/status" for p in re.findall(r': "([a-z]+)"', plurals)}
            if '+ "/log"' in text:
                found.add("pods/log")
    return found


def test_the_table_covers_every_resource_the_code_uses() -> None:
    listed = {resource.replace(".kubedag.io", "") for _, resource, _ in CONTROLLER_USES}
    found = _code_resources()
    assert {"dagruns", "pods", "configmaps", "dags/status", "pods/log"} <= found
    assert found <= listed, f"the controller's code uses {found - listed}: add them"


class Auth:
    """`kubectl auth can-i` as a ServiceAccount: `--list` once per namespace (the API
    server's rules review, which every check of that namespace reads), and single checks
    (`can-i VERB RESOURCE`, `--all-namespaces` for the cluster) where a list cannot say."""

    def __init__(self, kubectl: Path, kubeconfig: str) -> None:
        self.kubectl = kubectl
        self.kubeconfig = kubeconfig
        self._cache: dict[tuple[str, str], list[tuple[str, set[str]]]] = {}

    def _kubectl(self, who: str, *args: str) -> str:
        as_ = f"--as=system:serviceaccount:{who}"
        return run(
            self.kubectl, "--kubeconfig", self.kubeconfig, "auth", "can-i", *args, as_, check=False
        )

    def rules(self, who: str, namespace: str) -> list[tuple[str, set[str]]]:
        """(resource, verbs) of each rule that names no particular object."""
        rules = []
        for line in self._kubectl(who, "--list", "-n", namespace).splitlines()[1:]:
            columns = re.split(r"\s{2,}", line.strip())
            if len(columns) == 4 and columns[0] and columns[2] == "[]":
                rules.append((columns[0], set(columns[3].strip("[]").split())))
        return rules

    def can(self, who: str, verb: str, resource: str, namespace: str | None) -> bool:
        if namespace is not None:
            return any(
                (rule in (resource, "*.*", "*")) and (verb in verbs or "*" in verbs)
                for rule, verbs in self.rules_of(who, namespace)
            )
        resource, _, sub = resource.partition("/")
        args = [verb, resource, "--all-namespaces", *([f"--subresource={sub}"] if sub else [])]
        return self._kubectl(who, *args).strip().splitlines()[-1:] == ["yes"]

    def rules_of(self, who: str, namespace: str) -> list[tuple[str, set[str]]]:
        key = (who, namespace)
        if key not in self._cache:
            self._cache[key] = self.rules(who, namespace)
        return self._cache[key]

    def check(
        self, who: str, expected: bool, checks: list[tuple[str, str, str | None]]
    ) -> list[str]:
        """The checks whose answer is not `expected`."""
        namespaces = sorted({ns for _, _, ns in checks if ns is not None})
        with ThreadPoolExecutor(max_workers=4) as pool:  # the lists, and the cluster checks
            list(pool.map(lambda ns: self.rules_of(who, ns), namespaces))
            answers = list(pool.map(lambda c: self.can(who, *c), checks))
        word = "refused" if expected else "allowed"
        return [
            f"{who}: {v} {r} in {ns or 'every namespace'} {word}"
            for (v, r, ns), a in zip(checks, answers, strict=True)
            if a != expected
        ]


def _namespace(api_client: client.ApiClient, name: str) -> None:
    core = client.CoreV1Api(api_client)
    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    except client.ApiException as error:
        if error.status != 409:
            raise


@pytest.fixture(scope="module")
def auth(kubeconfig: str, crds: None) -> Iterator[Auth]:
    yield Auth(ensure_binaries("kubectl")["kubectl"], kubeconfig)


def _install_rbac(
    kubeconfig: str, api_client: client.ApiClient, release: str, namespace: str, *values: str
) -> str:
    """The chart's RBAC (and ServiceAccount) applied; the controller's account name."""
    helm = ensure_binaries("helm")["helm"]
    sets = [arg for value in values for arg in ("--set", value)]
    rendered = run(helm, "template", release, CHART, "--namespace", namespace, *sets)
    documents = [
        d
        for d in yaml.safe_load_all(rendered)
        if d
        and d["kind"]
        in ("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
    ]
    for document in documents:
        if document["metadata"].get("namespace"):
            _namespace(api_client, document["metadata"]["namespace"])
    kubectl = ensure_binaries("kubectl")["kubectl"]
    run(
        kubectl, "--kubeconfig", kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(documents)
    )
    account = next(d for d in documents if d["kind"] == "ServiceAccount")
    return f"{namespace}:{account['metadata']['name']}"


def _uses(namespace: str) -> list[tuple[str, str, str | None]]:
    return [(verb, resource, namespace) for verb, resource, _ in CONTROLLER_USES]


def test_cluster_wide_install(auth: Auth, kubeconfig: str, api_client: client.ApiClient) -> None:
    who = _install_rbac(kubeconfig, api_client, "rbac-cw", "rbac-cw")
    _namespace(api_client, "rbac-cw-team")
    allowed = [
        *_uses("rbac-cw-team"),
        *_uses("default"),
        *((v, r, None) for v, r in ACROSS_NAMESPACES),
        *((v, r, "rbac-cw") for v, r in LEADER_ELECTION),
    ]
    refused = [
        *((v, r, "rbac-cw-team") for v, r in FORBIDDEN),
        *((v, r, "rbac-cw-team") for v, r in CLUSTER_FORBIDDEN),
        *((v, r, None) for v, r in SHARDS_READ),
    ]
    failures = auth.check(who, True, allowed) + auth.check(who, False, refused)
    assert not failures, "\n".join(failures)


def test_sharded_install_also_reads_namespaces(
    auth: Auth, kubeconfig: str, api_client: client.ApiClient
) -> None:
    who = _install_rbac(
        kubeconfig, api_client, "rbac-sh", "rbac-sh", "shards[0].name=a", "shards[1].name=b"
    )
    allowed = [
        *_uses("default"),
        *((v, r, None) for v, r in (*ACROSS_NAMESPACES, *SHARDS_READ)),
        *((v, r, "rbac-sh") for v, r in LEADER_ELECTION),
    ]
    refused = [
        *((v, r, "default") for v, r in FORBIDDEN),
        *((v, r, "default") for v, r in CLUSTER_FORBIDDEN),
    ]
    failures = auth.check(who, True, allowed) + auth.check(who, False, refused)
    assert not failures, "\n".join(failures)


def test_namespaced_install(auth: Auth, kubeconfig: str, api_client: client.ApiClient) -> None:
    who = _install_rbac(
        kubeconfig, api_client, "rbac-ns", "rbac-ns", "watchNamespaces={rbac-ns-a,rbac-ns-b}"
    )
    _namespace(api_client, "rbac-ns-other")
    allowed = [
        *_uses("rbac-ns-a"),
        *_uses("rbac-ns-b"),
        *((v, r, "rbac-ns") for v, r in LEADER_ELECTION),
    ]
    refused = [
        *((v, r, ns) for v, r, _ in CONTROLLER_USES for ns in ("rbac-ns-other", "default")),
        *((v, r, None) for v, r in ACROSS_NAMESPACES),
        *((v, r, "rbac-ns-a") for v, r in FORBIDDEN),
        *((v, r, "rbac-ns-a") for v, r in CLUSTER_FORBIDDEN),
    ]
    failures = auth.check(who, True, allowed) + auth.check(who, False, refused)
    assert not failures, "\n".join(failures)


def test_task_accounts_can_do_nothing_unless_granted(
    auth: Auth, kubeconfig: str, api_client: client.ApiClient
) -> None:
    """A task runs as its namespace's `default` account (the chart binds it nothing) or an
    account the DAG names, which can do what an admin bound it and no more."""
    namespace = "rbac-tasks"
    _namespace(api_client, namespace)
    core = client.CoreV1Api(api_client)
    rbac = client.RbacAuthorizationV1Api(api_client)
    for name in ("default", "etl-runner"):
        try:
            core.create_namespaced_service_account(
                namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
            )
        except client.ApiException as error:
            if error.status != 409:
                raise
    role = {
        "metadata": {"name": "read-config"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
    }
    binding = {
        "metadata": {"name": "etl-runner-reads-config"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-config"},
        "subjects": [{"kind": "ServiceAccount", "name": "etl-runner", "namespace": namespace}],
    }
    for create, body in (
        (rbac.create_namespaced_role, role),
        (rbac.create_namespaced_role_binding, binding),
    ):
        try:
            create(namespace, body)
        except client.ApiException as error:
            if error.status != 409:
                raise
    anything = [(v, r, namespace) for v, r in ANYTHING]
    failures = auth.check(f"{namespace}:default", False, anything)
    failures += auth.check(f"{namespace}:etl-runner", False, anything)
    failures += auth.check(f"{namespace}:etl-runner", True, [("get", "configmaps", namespace)])
    assert not failures, "\n".join(failures)
