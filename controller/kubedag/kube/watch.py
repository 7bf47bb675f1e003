"""A watch of a collection, as a stream of its events (for the task pods' watch, the shard's
namespace watch and the web view's; the controller's watches of its own resources are
kopf's)."""

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import orjson

from kubedag.kube.client import ApiError, Kube

WATCH_SECONDS = 300  # how long the API server keeps a watch open before it ends it


async def watch_events(
    kube: Kube,
    path: str,
    resource_version: str,
    *,
    seconds: int = WATCH_SECONDS,
    label_selector: str | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """The events of a watch of the collection at `path` from `resource_version` (of the
    objects with the labels, if given), with bookmarks, until the server ends it after
    `seconds`. An `ERROR` event (usually 410 Gone: the version is too old) comes like the
    others; the caller lists again."""
    query = {
        "watch": "true",
        "resourceVersion": resource_version,
        "allowWatchBookmarks": "true",
        "timeoutSeconds": str(seconds),
    }
    if label_selector:
        query["labelSelector"] = label_selector
    api = kube.api_client
    params = await api.param_serialize(
        method="GET",
        resource_path=f"{path}?{urlencode(query)}",
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
    )
    import aiohttp

    unbounded = aiohttp.ClientTimeout(total=None, sock_connect=30)
    response = await api.call_api(*params, _request_timeout=unbounded)
    if response.status >= 400:
        raise ApiError(response.status, str(response.reason), f"watch of {path} refused")
    pending = b""
    # Split lines by hand: a large run's event can be longer than aiohttp's line limit.
    async for chunk in response.response.content.iter_any():
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.strip():
                yield orjson.loads(line)
