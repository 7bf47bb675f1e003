"""The local single-node cluster itself: a real kubelet runs pods from locally built images, pods
reach the API through the ``kubernetes`` Service (by IP and by name), controllers collect
garbage and finalize namespaces, and no cluster traffic can leave the machine."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
import urllib.request
import uuid
from pathlib import Path

from kubernetes import client
from kubernetes.client import ApiException

from devcluster import admin, coredns, localcluster, node
from devcluster.admin import exists
from devcluster.binaries import binary_path
from devcluster.pause import PAUSE_IMAGE, pause_image
from devcluster.versions import KUBERNETES_VERSION
from devcluster.wait import wait_for


def _pod(
    name: str, image: str, *, args: list[str] | None = None, env: dict[str, str] | None = None
) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            restart_policy="Never",
            termination_grace_period_seconds=1,
            containers=[
                client.V1Container(
                    name="main",
                    image=image,
                    image_pull_policy="Never",  # nothing can be pulled here
                    args=args,
                    env=[client.V1EnvVar(name=k, value=v) for k, v in (env or {}).items()],
                )
            ],
        ),
    )


def _finished_pod(core: client.CoreV1Api, namespace: str, name: str) -> client.V1Pod:
    def finished() -> client.V1Pod | None:
        pod = core.read_namespaced_pod(name, namespace)
        return pod if pod.status.phase in ("Succeeded", "Failed") else None

    pod: client.V1Pod = wait_for(finished, f"pod {namespace}/{name} to finish", timeout=90)
    return pod


def _running_container_pid(core: client.CoreV1Api, namespace: str, name: str) -> int:
    def running() -> str | None:
        pod = core.read_namespaced_pod(name, namespace)
        statuses = pod.status.container_statuses or []
        if pod.status.phase == "Running" and statuses and statuses[0].state.running:
            container_id: str = statuses[0].container_id
            return container_id
        return None

    container_id = wait_for(running, f"pod {namespace}/{name} Running", timeout=90)
    return node.container_pid(container_id)


def test_node_is_ready_with_pinned_kubelet(core: client.CoreV1Api) -> None:
    n = core.read_node(node.NODE_NAME)
    ready = {c.type: c.status for c in n.status.conditions}
    assert ready["Ready"] == "True", n.status.conditions
    assert n.status.node_info.kubelet_version == KUBERNETES_VERSION
    assert n.status.node_info.container_runtime_version.startswith("containerd://1.")
    assert {"type": "InternalIP", "address": node.API_ADDRESS} in [
        {"type": a.type, "address": a.address} for a in n.status.addresses
    ]
    assert n.spec.pod_cidr == node.POD_SUBNET
    assert not n.spec.taints, n.spec.taints


def test_pod_runs_a_command_to_completion_and_logs_it(
    core: client.CoreV1Api, namespace: str, echo_image: str
) -> None:
    core.create_namespaced_pod(
        namespace,
        _pod("echo", echo_image, args=["hello", "wörld"], env={"E2E_MESSAGE": "from-e2e"}),
    )
    pod = _finished_pod(core, namespace, "echo")
    assert pod.status.phase == "Succeeded", pod.status
    terminated = pod.status.container_statuses[0].state.terminated
    assert terminated.exit_code == 0
    assert pod.status.pod_ip.startswith("198.18.0."), pod.status.pod_ip
    logs = localcluster.kubectl("logs", "-n", namespace, "echo").stdout
    assert logs.splitlines() == ["args: hello wörld", "E2E_MESSAGE=from-e2e"]


def test_failing_container_reports_its_exit_code(
    core: client.CoreV1Api, namespace: str, echo_image: str
) -> None:
    core.create_namespaced_pod(namespace, _pod("fail", echo_image, env={"E2E_EXIT_CODE": "42"}))
    pod = _finished_pod(core, namespace, "fail")
    assert pod.status.phase == "Failed", pod.status
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (42, "Error")


_IN_POD_CLIENT = textwrap.dedent(
    """
    import json, os, ssl, sys, urllib.request
    root, env = sys.argv[1], dict(kv.split("=", 1) for kv in sys.argv[2:])
    secrets = root + "/var/run/secrets/kubernetes.io/serviceaccount"
    token = open(secrets + "/token").read()
    context = ssl.create_default_context(cafile=secrets + "/ca.crt")
    host, port = env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]
    request = urllib.request.Request(
        f"https://{host}:{port}/apis/authentication.k8s.io/v1/selfsubjectreviews",
        data=json.dumps({"apiVersion": "authentication.k8s.io/v1",
                         "kind": "SelfSubjectReview"}).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    print(opener.open(request, timeout=10).read().decode())
    """
)


def test_pod_reaches_the_api_through_the_kubernetes_service(
    core: client.CoreV1Api, namespace: str
) -> None:
    """From the pod's own network namespace, with its mounted service-account token."""
    core.create_namespaced_pod(namespace, _pod("client", PAUSE_IMAGE))
    pid = _running_container_pid(core, namespace, "client")
    environ = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    env = [kv for kv in environ if kv.startswith("KUBERNETES_SERVICE_")]
    assert f"KUBERNETES_SERVICE_HOST={node.KUBERNETES_SERVICE_IP}" in env
    result = subprocess.run(
        ["nsenter", f"--target={pid}", "--net", "--", sys.executable, "-c", _IN_POD_CLIENT,
         f"/proc/{pid}/root", *env],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    user = json.loads(result.stdout)["status"]["userInfo"]
    assert user["username"] == f"system:serviceaccount:{namespace}:default"


def test_host_reaches_the_api_through_the_service_ip_and_tokens_authenticate(
    core: client.CoreV1Api, api_client: client.ApiClient, namespace: str
) -> None:
    service = core.read_namespaced_service("kubernetes", "default")
    assert service.spec.cluster_ip == node.KUBERNETES_SERVICE_IP
    # kube-proxy's iptables rules carry this to the API server at 198.19.255.1:6443.
    with localcluster.admin_client(f"https://{node.KUBERNETES_SERVICE_IP}") as through_service:
        assert admin.get_text(through_service, "/readyz") == "ok"
    proxy_mode = urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
        "http://127.0.0.1:10249/proxyMode", timeout=5
    )
    assert proxy_mode.read().decode() == "iptables"

    token = core.create_namespaced_service_account_token(
        "default",
        namespace,
        client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600)
        ),
    ).status.token
    review = client.AuthenticationV1Api(api_client).create_token_review(
        client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token))
    )
    assert review.status.authenticated, review.status
    assert review.status.user.username == f"system:serviceaccount:{namespace}:default"
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    review = client.AuthenticationV1Api(api_client).create_token_review(
        client.V1TokenReview(spec=client.V1TokenReviewSpec(token=forged))
    )
    assert not review.status.authenticated


def test_owned_configmap_is_garbage_collected(core: client.CoreV1Api, namespace: str) -> None:
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    reference = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid
    )
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="dependent", owner_references=[reference])
        ),
    )
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="bystander"))
    )
    core.delete_namespaced_config_map("owner", namespace)

    def dependent_gone() -> bool:
        try:
            core.read_namespaced_config_map("dependent", namespace)
        except ApiException as error:
            return error.status == 404
        return False

    wait_for(dependent_gone, "the garbage collector to delete the dependent ConfigMap")
    core.read_namespaced_config_map("bystander", namespace)  # still there


def test_deleted_namespace_with_a_running_pod_finalizes(core: client.CoreV1Api) -> None:
    name = f"e2e-finalize-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    wait_for(
        lambda: exists(lambda: core.read_namespaced_service_account("default", name)),
        f"ServiceAccount {name}/default",
    )
    core.create_namespaced_config_map(
        name, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="data"))
    )
    core.create_namespaced_pod(name, _pod("sleeper", PAUSE_IMAGE))
    _running_container_pid(core, name, "sleeper")
    core.delete_namespace(name)

    def namespace_gone() -> bool:
        return not exists(lambda: core.read_namespace(name))

    wait_for(namespace_gone, f"namespace {name} to finalize", timeout=120)


def test_cluster_traffic_cannot_leave_the_machine(local_cluster: localcluster.Cluster) -> None:
    """Routing decisions only: ``ip route get`` asks the kernel and sends nothing."""

    def route(*args: str) -> tuple[int, str]:
        result = subprocess.run(
            ["ip", "-o", "route", "get", *args], capture_output=True, text=True, check=False
        )
        return result.returncode, (result.stdout + result.stderr).strip()

    # Unused cluster addresses are blackholed (the kernel refuses them: EINVAL), never sent
    # towards the default gateway...
    for address in ("198.18.100.1", "198.19.0.1"):
        assert route(address) == (2, "RTNETLINK answers: Invalid argument"), route(address)
    # ...and Service IPs go into kubedag0, a bridge without ports (a dead end for what
    # kube-proxy does not rewrite to an endpoint).
    code, decision = route("198.18.200.1")
    assert code == 0 and f"dev {node.HOST_INTERFACE} " in decision, decision
    # What a pod sends to a host elsewhere is unreachable (EHOSTUNREACH, from the policy
    # table's "unreachable default"); to this host it is local.
    pod = ["from", "198.18.0.99", "iif", node.CNI_BRIDGE]
    for outside in ("192.0.2.1", "203.0.113.7", "8.8.8.8"):
        assert route(outside, *pod) == (2, "RTNETLINK answers: No route to host"), outside
    code, decision = route(node.API_ADDRESS, *pod)
    assert code == 0 and decision.startswith(f"local {node.API_ADDRESS} "), decision


def test_missing_image_is_never_pulled_from_a_registry(
    core: client.CoreV1Api, namespace: str
) -> None:
    """containerd runs with a proxy nobody serves: a pull fails at once, locally."""
    pod = _pod("absent", "kubedag/not-imported:1")
    pod.spec.containers[0].image_pull_policy = "IfNotPresent"
    core.create_namespaced_pod(namespace, pod)

    def pull_failure() -> str | None:
        events = core.list_namespaced_event(
            namespace, field_selector="involvedObject.name=absent"
        ).items
        messages = [e.message for e in events if e.reason == "Failed" and "pull" in e.message]
        return messages[0] if messages else None

    message = wait_for(pull_failure, "the pull to fail", timeout=60)
    assert "proxyconnect tcp: dial tcp 127.0.0.1:9" in message, message


def test_pause_image_binary_sleeps_until_sigterm(tmp_path: Path) -> None:
    """The sandbox image's one file: a static /pause that exits 0 on SIGTERM or SIGINT."""
    with tarfile.open(pause_image()) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert manifest[0]["RepoTags"] == [f"docker.io/{PAUSE_IMAGE}"]
        layer = archive.extractfile(manifest[0]["Layers"][0])
        assert layer is not None
        with tarfile.open(fileobj=io.BytesIO(layer.read())) as files:
            assert files.getnames() == ["pause"]
            files.extract("pause", tmp_path)
    binary = tmp_path / "pause"  # static: the image has no libc (pods running it prove that)
    for signum in (signal.SIGTERM, signal.SIGINT):
        process = subprocess.Popen([binary])
        time.sleep(0.2)
        assert process.poll() is None, "pause exited by itself"
        process.send_signal(signum)
        assert process.wait(timeout=5) == 0


_IN_POD_RESOLVER = textwrap.dedent(
    """
    import json, socket
    def lookup(name):
        try:
            return sorted({a[4][0] for a in socket.getaddrinfo(name, 443, socket.AF_INET)})
        except socket.gaierror as error:
            return error.errno == socket.EAI_NONAME and "NXDOMAIN"
    print(json.dumps({n: lookup(n) for n in (
        "kubernetes.default.svc", "kubernetes.default", "kubernetes",
        "kubernetes.default.svc.cluster.local.", "no-such-service.default.svc",
        "example.com")}))
    """
)


def test_pods_resolve_service_names_and_nothing_else(
    core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    """glibc's resolver with the pod's own resolv.conf, from the pod's network namespace."""
    core.create_namespaced_pod(namespace, _pod("resolver", PAUSE_IMAGE))
    pid = _running_container_pid(core, namespace, "resolver")
    resolv_conf = Path(f"/proc/{pid}/root/etc/resolv.conf").read_text()
    assert f"nameserver {node.API_ADDRESS}" in resolv_conf.splitlines(), resolv_conf
    # A copy: a bind mount of the /proc/<pid>/root path would show the host's file.
    (tmp_path / "resolv.conf").write_text(resolv_conf)
    script = (
        f"mount --bind {tmp_path / 'resolv.conf'} /etc/resolv.conf && "
        f"exec {sys.executable} -c '{_IN_POD_RESOLVER}'"
    )
    result = subprocess.run(
        ["nsenter", f"--target={pid}", "--net", "--", "unshare", "--mount", "--", "sh", "-c",
         script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    kubernetes = [node.KUBERNETES_SERVICE_IP]
    # Short names go through the pod's search list: "kubernetes.default" + svc.cluster.local
    # matches; bare "kubernetes" would only in namespace default (this pod's is another).
    assert json.loads(result.stdout) == {
        "kubernetes.default.svc": kubernetes,
        "kubernetes.default": kubernetes,
        "kubernetes": "NXDOMAIN",
        "kubernetes.default.svc.cluster.local.": kubernetes,
        "no-such-service.default.svc": "NXDOMAIN",
        "example.com": "NXDOMAIN",
    }


def test_coredns_serves_service_names_and_nothing_else(
    core: client.CoreV1Api, namespace: str
) -> None:
    """A new Service's name resolves to its ClusterIP through CoreDNS; outside names do not
    exist, and the binary could not forward one anyway (built without ``forward``)."""
    service = core.create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80)]),
        ),
    )
    name = f"web.{namespace}.svc.cluster.local"
    found = wait_for(
        lambda: coredns.lookup(node.API_ADDRESS, name) == ("NOERROR", [service.spec.cluster_ip]),
        f"{name} to resolve to {service.spec.cluster_ip}",
        timeout=30,
    )
    assert found
    assert coredns.lookup(node.API_ADDRESS, f"absent.{namespace}.svc.cluster.local") == (
        "NXDOMAIN",
        [],
    )
    for outside in ("example.com", "kubernetes.io"):
        assert coredns.lookup(node.API_ADDRESS, outside) == ("NXDOMAIN", []), outside
    plugins = subprocess.run(
        [binary_path("coredns"), "-plugins"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "kubernetes" in plugins and "forward" not in plugins, plugins
    assert "forward" not in localcluster.COREFILE.read_text()
