"""A small in-memory stand-in for the API server, for reconciler unit tests only: objects by
path, increasing resourceVersions, AlreadyExists on a repeated create, Conflict on a stale
resourceVersion, and merge patches. The real-apiserver tests are in tests/integration."""

import asyncio
import copy
import re
from collections.abc import Coroutine
from typing import Any

from kubedag.kube.client import ApiError


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 merge patch."""
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


class ApiDouble:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.background: set[asyncio.Task[Any]] = set()
        self.writes: list[tuple[str, str]] = []  # (verb, path)
        self._version = 100

    def _stamp(self, body: dict[str, Any]) -> dict[str, Any]:
        self._version += 1
        body["metadata"]["resourceVersion"] = str(self._version)
        return copy.deepcopy(body)

    def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Store an object as another client would (a user's apply, the kubelet)."""
        body = copy.deepcopy(body)
        body["metadata"].setdefault("uid", f"uid-{body['metadata']['name']}")
        body["metadata"].setdefault("generation", 1)
        body["metadata"].setdefault("creationTimestamp", "2026-01-02T00:00:00Z")
        self.objects[path] = body
        return self._stamp(body)

    async def get(self, path: str) -> dict[str, Any] | None:
        body = self.objects.get(path)
        return copy.deepcopy(body) if body is not None else None

    async def create(self, collection: str, manifest: dict[str, Any]) -> dict[str, Any] | None:
        path = f"{collection}/{manifest['metadata']['name']}"
        self.writes.append(("POST", path))
        if path in self.objects:
            return None
        return self.put(path, manifest)

    async def delete(self, path: str, *, propagation: str = "Background") -> bool:
        self.writes.append(("DELETE", path))
        return self.objects.pop(path, None) is not None

    def _selected(self, collection: str, label_selector: str) -> list[str]:
        wanted = _label_requirements(label_selector)
        return [
            path
            for path, body in self.objects.items()
            if path.rsplit("/", 1)[0] == collection
            and all(
                (body["metadata"].get("labels") or {}).get(k) in values
                for k, values in wanted.items()
            )
        ]

    async def list(self, collection: str, *, label_selector: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(self.objects[p]) for p in self._selected(collection, label_selector)]

    async def delete_collection(
        self, collection: str, *, label_selector: str, field_selector: str | None = None
    ) -> None:
        self.writes.append(("DELETECOLLECTION", f"{collection}?{label_selector}"))
        excluded = _excluded_phases(field_selector)
        for path in self._selected(collection, label_selector):
            if (self.objects[path].get("status") or {}).get("phase", "Pending") not in excluded:
                del self.objects[path]

    async def patch_status(
        self, path: str, status: dict[str, Any], resource_version: str | None
    ) -> dict[str, Any]:
        return await self.request(
            "PATCH", path + "/status", {"status": status, "metadata": _rv(resource_version)}
        )

    async def request(self, method: str, path: str, body: Any = None, **_: Any) -> dict[str, Any]:
        assert method == "PATCH", method
        self.writes.append((method, path))
        target = path.removesuffix("/status")
        stored = self.objects.get(target)
        if stored is None:
            raise ApiError(404, "NotFound", f"{target} not found")
        expected = (body.get("metadata") or {}).get("resourceVersion")
        if expected and expected != stored["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified")
        patch = dict(body)
        patch["metadata"] = {
            k: v for k, v in (body.get("metadata") or {}).items() if k != "resourceVersion"
        }
        if path.endswith("/status"):
            patch = {"status": body["status"]}
        self.objects[target] = _merge(stored, patch)
        return self._stamp(self.objects[target])

    async def post_event(self, involved: dict[str, Any], **fields: Any) -> None:
        self.events.append({"involved": involved, **fields})

    async def posted_events(self) -> "list[dict[str, Any]]":
        """The events posted, once the posts started in the background are done."""
        await asyncio.gather(*self.background)
        return self.events

    def in_background(self, requests: Coroutine[Any, Any, Any], what: str) -> None:
        """As the real client, minus the logging: a task the event loop runs soon."""
        task = asyncio.get_running_loop().create_task(requests, name=what)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def close(self) -> None:
        return None


def _rv(resource_version: str | None) -> dict[str, Any]:
    return {"resourceVersion": resource_version} if resource_version else {}


def _label_requirements(selector: str) -> dict[str, set[str]]:
    """The `key=value` and `key in (a,b)` terms of a label selector: key -> values allowed."""
    wanted: dict[str, set[str]] = {}
    for term in re.findall(r"[^,(]+(?:\([^)]*\))?", selector):
        if " in (" in term:
            key, values = term.split(" in (", 1)
            wanted[key.strip()] = set(values.rstrip(")").split(","))
        else:
            key, value = term.split("=", 1)
            wanted[key.strip()] = {value}
    return wanted


def _excluded_phases(selector: str | None) -> set[str]:
    """The phases a `status.phase!=X,...` field selector leaves out (the only kind used)."""
    if not selector:
        return set()
    terms = [term.split("!=", 1) for term in selector.split(",")]
    assert all(field == "status.phase" for field, _ in terms), selector
    return {phase for _, phase in terms}
