"""Metrics of the I/O layer: every request kubedag's own client and its lease lock make to
the API server (kopf's LIST+WATCH streams are kopf's), and whether this process leads.
Created unregistered; `reconcilers/metrics.py` puts them in the registry `/metrics` serves."""

from prometheus_client import Counter, Gauge, Histogram

API_REQUESTS = Counter(
    "kubedag_kube_requests",
    "Requests to the Kubernetes API by verb, resource and HTTP status code "
    "(<error>: no response, e.g. a dropped connection or a timeout)",
    ["verb", "resource", "code"],
    registry=None,
)
API_LATENCY = Histogram(
    "kubedag_kube_request_duration_seconds",
    "Time from sending a request to the Kubernetes API to its response, by verb and resource",
    ["verb", "resource"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=None,
)
LEADER = Gauge(
    "kubedag_leader",
    "1 while this process holds the kubedag-controller Lease (or runs without leader "
    "election), 0 while it stands by",
    registry=None,
)
NO_RESPONSE = "<error>"

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}
_latency: dict[tuple[str, str], Histogram] = {}
_counts: dict[tuple[str, str, str], Counter] = {}


def describe(method: str, path: str) -> tuple[str, str]:
    """(verb, resource) of a request, in the API server's terms: GET of a name is `get`, of a
    collection `list`; a subresource is `plural/sub` (`dagruns/status`, `pods/log`)."""
    parts = path.partition("?")[0].strip("/").split("/")
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    resource = rest[0] if rest else ""
    if len(rest) >= 3:
        resource += "/" + rest[2]
    named = len(rest) >= 2
    if method == "GET":
        return ("get" if named else "list"), resource
    if method == "DELETE":
        return ("delete" if named else "deletecollection"), resource
    return _VERBS.get(method, method.lower()), resource


def record(verb: str, resource: str, code: int | str, seconds: float) -> None:
    """One request made: counted by its outcome, timed (children cached: a request of the
    hot path pays two dictionary lookups, not the client's label resolution)."""
    key = (verb, resource, str(code))
    count = _counts.get(key)
    if count is None:
        count = _counts[key] = API_REQUESTS.labels(*key)
    count.inc()
    timing = _latency.get(key[:2])
    if timing is None:
        timing = _latency[key[:2]] = API_LATENCY.labels(verb, resource)
    timing.observe(seconds)
