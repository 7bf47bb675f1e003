"""The watches that feed the web view's Store: a list, then a watch from its
resourceVersion, again from a fresh list when the watch ends or its version is too old."""

import asyncio
import logging

from kubedag import GROUP, VERSION
from kubedag.kube.client import Kube
from kubedag.kube.watch import watch_events
from kubedag.web.store import Kind, Store

log = logging.getLogger(__name__)
PLURALS: dict[Kind, str] = {"DAG": "dags", "DagRun": "dagruns", "Backfill": "backfills"}
RETRY_SECONDS = 2.0


def collection_path(plural: str, namespace: str | None) -> str:
    where = f"/namespaces/{namespace}" if namespace else ""
    return f"/apis/{GROUP}/{VERSION}{where}/{plural}"


async def keep_watching(kube: Kube, store: Store, kind: Kind, namespace: str | None) -> None:
    """Until cancelled: keep `store`'s table of `kind` in step with the API server."""
    path = collection_path(PLURALS[kind], namespace)
    while True:
        try:
            listed = await kube.request("GET", path)
            store.replace(kind, list(listed.get("items") or []))
            version = str(listed["metadata"]["resourceVersion"])
            while version:
                version = await _watch(kube, store, kind, path, version)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a broken connection, a 410 Gone: list again
            log.warning("watch of %s: %s; listing again", path, error)
            await asyncio.sleep(RETRY_SECONDS)


async def _watch(kube: Kube, store: Store, kind: Kind, path: str, version: str) -> str:
    """Apply the watch's events; the version to go on from, "" to list again."""
    async for event in watch_events(kube, path, version):
        body = event.get("object") or {}
        if event.get("type") == "ERROR":
            return ""  # usually 410 Gone: the version is too old
        version = str((body.get("metadata") or {}).get("resourceVersion") or version)
        if event["type"] in ("ADDED", "MODIFIED"):
            store.put(kind, body)
        elif event["type"] == "DELETED":
            store.delete(kind, body)
    return version
