"""Every kopf handler, registered in one place: this module reads as the controller's table
of contents. Handlers only feed watch events to the Controller (controller.py); the task
pods' and the DagRuns' events come from the controller's own watches (list_watch.py),
started and stopped here with the controller."""

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import kopf
from kubernetes.aio.client import Configuration

from kubedag import GROUP, VERSION
from kubedag.core.naming import LABEL_MANAGED_BY, MANAGED_BY
from kubedag.kube.client import Kube, core_path, custom_path, load_configuration
from kubedag.models import compact_tasks
from kubedag.reconcilers.controller import Controller
from kubedag.reconcilers.list_watch import ListWatch
from kubedag.reconcilers.settings import ControllerSettings

log = logging.getLogger(__name__)


class _NoDiffBase(kopf.DiffBaseStorage):
    """kubedag registers only event handlers, so kopf's change detection is never used; its
    default storage deep-copies every object (a 2,000-task run is 400 KB) on every event."""

    def build(self, *, body: Any, extra_fields: Any = None) -> Any:
        return {}

    def fetch(self, *, body: Any) -> Any:
        return None

    def store(self, *, body: Any, patch: Any, essence: Any) -> None:
        return None


def configure_kopf(settings: kopf.OperatorSettings) -> None:
    # kubedag writes its own status, conditions and events; kopf only delivers watch events.
    settings.posting.enabled = False
    settings.persistence.finalizer = "kubedag.io/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="kubedag.io")
    settings.persistence.diffbase_storage = _NoDiffBase()
    # kubedag's resources are known up front: no cluster-wide watch of CRDs (and no RBAC for
    # it) to discover them at run time.
    settings.scanning.disabled = True
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    # kopf runs one worker per object with events, kept for idle_timeout after its last one.
    # No limit on workers: a limit makes a new object's events wait for an idle worker to
    # expire (with 64, 2,000 new pods were seen at 13 a second). The handlers only update
    # caches, so a worker is a small task; a short idle time frees it soon.
    settings.queueing.worker_limit = None
    settings.queueing.idle_timeout = 1.0


def own_watches(controller: Controller, namespaces: frozenset[str] | None) -> list[ListWatch]:
    """The task pods' and the DagRuns' watches: of the whole cluster, or one a namespace, as
    kopf's."""
    scopes: list[str | None] = [None] if namespaces is None else [*sorted(namespaces)]
    pods = [
        ListWatch(
            controller.kube,
            "/api/v1/pods" if scope is None else core_path("pods", scope),
            f"{LABEL_MANAGED_BY}={MANAGED_BY}",
            controller.on_pod_event,
            controller.relist.listed,
            what="pod watch",
        )
        for scope in scopes
    ]
    runs = [
        ListWatch(
            controller.kube,
            f"/apis/{GROUP}/{VERSION}/dagruns" if scope is None else custom_path("dagruns", scope),
            "",  # every DagRun: those made by hand carry no label of kubedag's
            controller.on_run_event,
            lambda _namespace: None,
            what="run watch",
        )
        for scope in scopes
    ]
    return pods + runs


def build_registry(
    controller_settings: ControllerSettings,
    kubeconfig: str | None = None,
    on_started: Callable[[Controller], None] | None = None,
    on_stopped: Callable[[], None] | None = None,
    namespaces: frozenset[str] | None = None,
) -> kopf.OperatorRegistry:
    """`namespaces`: those kopf watches (None: all), for the pod and run watches to match."""
    registry = kopf.OperatorRegistry()
    state: dict[str, Any] = {}
    watching: set[asyncio.Task[None]] = set()

    def controller() -> Controller:
        return state["controller"]  # type: ignore[no-any-return]

    @kopf.on.login(registry=registry)
    async def login(**_: Any) -> kopf.ConnectionInfo:
        # kopf calls it again when a token stops working: a projected one is rotated.
        return await connection_info(await load_configuration(kubeconfig))

    @kopf.on.startup(registry=registry)
    async def start(settings: kopf.OperatorSettings, **_: Any) -> None:
        configure_kopf(settings)
        kube = await Kube.connect(kubeconfig)
        if controller_settings.shard is not None:
            kube.field_manager = controller_settings.shard_plan.lease_name(
                controller_settings.shard
            )
        compact_tasks.set_threshold(controller_settings.compact_tasks_over)
        state["controller"] = Controller(kube, controller_settings)
        controller().start()
        for watch in own_watches(controller(), namespaces):
            watching.add(asyncio.create_task(watch.run(), name=f"pod watch {watch.path}"))
        if on_started is not None:
            on_started(controller())

    @kopf.on.cleanup(registry=registry)
    async def stop(**_: Any) -> None:
        for task in watching:
            task.cancel()
        await asyncio.gather(*watching, return_exceptions=True)
        watching.clear()
        await controller().stop()
        await controller().relist.stop()
        await controller().kube.close()
        if on_stopped is not None:
            on_stopped()

    # async: kopf runs plain `def` handlers in a thread pool, and the caches and work queues
    # belong to the event loop.
    @kopf.on.event(GROUP, VERSION, "dags", registry=registry)
    async def dag_event(type: str | None, body: kopf.Body, **_: Any) -> None:
        controller().on_dag_event(type, _plain(body))

    @kopf.on.event(GROUP, VERSION, "backfills", registry=registry)
    async def backfill_event(type: str | None, body: kopf.Body, **_: Any) -> None:
        controller().on_backfill_event(type, _plain(body))

    @kopf.on.event(GROUP, VERSION, "pools", registry=registry)
    async def pool_event(type: str | None, body: kopf.Body, **_: Any) -> None:
        controller().on_pool_event(type, _plain(body))

    @kopf.on.event(GROUP, VERSION, "datasets", registry=registry)
    async def dataset_event(type: str | None, body: kopf.Body, **_: Any) -> None:
        links = controller().dags.datasets
        if links is not None:
            links.dataset_event(type, _plain(body), controller().dag_queue.add)

    return registry


async def connection_info(configuration: Configuration) -> kopf.ConnectionInfo:
    """kopf's credentials from the kubernetes client's configuration, so kopf's watches log in
    as kubedag's own requests do (kube/client.py), as kopf.login_via_client does for the
    synchronous client."""
    # "Bearer <token>" (or "Basic <base64>"), from the in-cluster token file or the kubeconfig.
    header = await configuration.get_api_key_with_prefix("BearerToken")
    scheme, _, token = (header or "").partition(" ")
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        scheme=scheme or None,
        token=token or None,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
    )


def _plain(body: kopf.Body) -> dict[str, Any]:
    return dict(body)
