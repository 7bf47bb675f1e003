"""Fuzzed DAGs and DagRuns through the real API server and the live controller.

- The two layers agree: whatever the CRD's schema and CEL rules refuse (a server-side dry
  run, with kubectl's strict field validation), `kubedag validate` refuses too; what a case
  expects the schema to refuse, it refuses; what only the controller can refuse (a cycle, a
  template), the API server stores.
- Through the live controller: every stored DAG or run that is invalid gets a status
  condition and a Warning Event naming the field and the value; the controller stays up,
  and a valid DAG beside them keeps its schedule (its runs are created on time) while a
  run asked for by hand still starts at once.
- Oversize objects get a clear answer (a refusal at apply naming the limit, or a working
  DAG), never a hang; a DAG edited while its run is in flight leaves the run on its snapshot.

Counts: tests/fuzz/profiles.py (`make fuzz` runs the full ones).
"""

import json
import random
import string
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import Phase, given
from hypothesis import strategies as st
from kubernetes.client import ApiException

from devcluster.wait import WaitTimeout
from kubedag.core.dates import parse_time, rfc3339
from kubedag.core.validation import MAX_SPEC_BYTES
from kubedag.models.dag import MAX_TASKS, Dag
from kubedag.models.dagrun import DagRun
from tests.fuzz.checks import refusal_problems, validate
from tests.fuzz.manifests import (
    CONTROLLER_MUTATIONS,
    MUTATIONS,
    Case,
    dag_cases,
    run_cases,
)
from tests.fuzz.profiles import (
    DRY_RUN_EXAMPLES,
    LIVE_APPLIES,
    PARAMS_SIZES,
    WIDE_DAG_TASKS,
    count,
    fuzz_settings,
)
from tests.integration.harness import (  # noqa: F401 - fixtures
    GROUP,
    VERSION,
    Cluster,
    ControllerProcess,
    cluster,
    controller,
    crds,
    wait_for,
)


def _create(
    cluster: Cluster, body: dict[str, Any], *, dry_run: bool = False
) -> ApiException | None:
    """Create as `kubectl apply` does (strict field validation); the refusal, if any."""
    plural = "dags" if body["kind"] == "DAG" else "dagruns"
    try:
        cluster.custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            cluster.ns,
            plural,
            body,
            field_validation="Strict",
            **({"dry_run": "All"} if dry_run else {}),
        )
    except ApiException as error:
        if error.status not in (400, 413, 422, 500):
            raise
        return error
    return None


def _api_message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body)["message"])
    except (ValueError, KeyError, TypeError):
        return str(error.body or error.reason)


def _disagreement(case: Case, refused: ApiException | None) -> str | None:
    """How `kubedag validate` and the API server disagree on the case, if they do."""
    code, messages = validate(case.body)
    layer = case.refusal.layer if case.refusal else None
    if refused is not None and code == 0:
        return f"the API server refuses what validate accepts: {_api_message(refused)}"
    if layer == "schema" and refused is None:
        return f"{case.refusal.mutation if case.refusal else ''}: the API server stored it"
    if layer == "controller" and refused is not None:
        return f"the API server refuses a controller-layer case: {_api_message(refused)}"
    if case.refusal is None and code != 0:
        return f"validate refuses a valid DAG: {messages}"
    return None


@fuzz_settings(DRY_RUN_EXAMPLES)
@given(case=dag_cases())
def test_the_schema_and_validate_agree(crds: None, cluster: Cluster, case: Case) -> None:
    problem = _disagreement(case, _create(cluster, case.body, dry_run=True))
    assert problem is None, problem


def _canary(now: datetime) -> dict[str, Any]:
    return {
        "schedule": "* * * * *",
        "startDate": rfc3339(now - timedelta(minutes=5)),
        "catchup": False,
        "maxActiveRuns": 10000,  # no kubelet here: its runs never finish
        "tasks": [{"name": "tick", "image": "busybox"}],
    }


def _ready(body: dict[str, Any]) -> dict[str, Any] | None:
    status = body.get("status") or {}
    if status.get("observedGeneration") != body["metadata"]["generation"]:
        return None
    return next((c for c in status.get("conditions", []) if c["type"] == "Ready"), None)


def _settled(cluster: Cluster, case: Case) -> str | None:
    """The case's outcome once the controller has reported it (None: not yet)."""
    try:
        if case.body["kind"] == "DAG":
            ready = _ready(cluster.dag(case.name))
            return None if ready is None else f"{ready['status']}: {ready['message']}"
        status = cluster.run(case.name).get("status") or {}
    except ApiException as error:
        return f"gone: {error.status}"
    failed = next((c for c in status.get("conditions", []) if c["status"] == "False"), None)
    if status.get("state") == "failed" and failed:
        return f"False: {failed['message']}"
    return "True: pinned" if status.get("snapshot") else None


@st.composite
def live_cases(draw: st.DrawFn) -> Case:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(run_cases("target"))
    # Half the DAGs broken in a way only the controller can see, so that most are stored.
    case = draw(dag_cases(mutations=CONTROLLER_MUTATIONS if kind == 1 else MUTATIONS))
    # Every DAG stored is paused: it is validated and reported, and no run of it competes
    # with the canary's.
    if not (case.refusal and "spec.paused" in case.refusal.field):
        case.body["spec"]["paused"] = True
    return case


def test_the_live_controller_reports_every_refusal_and_keeps_its_schedule(
    controller: ControllerProcess, cluster: Cluster
) -> None:
    started = datetime.now(UTC)
    cluster.apply_dag("canary", _canary(started))
    # The fuzzed runs' DAG: paused, so its runs are pinned and wait.
    cluster.apply_dag("target", {"paused": True, "tasks": [{"name": "a", "image": "busybox"}]})
    cases: list[Case] = []
    applied_count = [0]

    # No shrinking: each attempt stores objects, so a replay is another experiment.
    @fuzz_settings(LIVE_APPLIES, phases=[Phase.explicit, Phase.generate])
    @given(live_cases())
    def apply(case: Case) -> None:
        applied_count[0] += 1
        # Unique, and as valid or invalid as it was: a digit after a dash.
        case.body["metadata"]["name"] += f"-{applied_count[0]}"
        refused = _create(cluster, case.body)
        if case.body["kind"] == "DAG":
            problem = _disagreement(case, refused)
            assert problem is None, problem
        if refused is None:
            cases.append(case)
        if case.body["kind"] == "DagRun" and refused is None:
            # What the API server stores, the controller's model reads.
            DagRun.model_validate(cluster.run(case.name))

    apply()
    applied = time.monotonic()
    outcomes: dict[str, str] = {}

    def all_settled() -> bool:
        for case in cases:
            if case.name not in outcomes and (outcome := _settled(cluster, case)):
                outcomes[case.name] = outcome
        return len(outcomes) == len(cases)

    wait_for(all_settled, f"{len(cases)} fuzzed objects reported", timeout=120)
    settled_in = time.monotonic() - applied

    def refusals_announced() -> dict[str, list[str]] | None:
        # An Event is a write apart from the status that reports the refusal: it may land later.
        events = _warnings(cluster)
        refused = [c.name for c in cases if outcomes[c.name].startswith("False")]
        return events if all(name in events for name in refused) else None

    try:
        events = wait_for(refusals_announced, "a Warning event for every refused object", 30)
    except WaitTimeout:
        events = _warnings(cluster)  # the failures below name the objects without one
    failures = []
    for case in cases:
        outcome = outcomes[case.name]
        refusal = case.refusal if case.refusal and case.refusal.layer != "schema" else None
        if refusal is None:
            if not outcome.startswith("True") and case.refusal is None:
                failures.append(f"{case.name}: a valid object was refused: {outcome}")
            continue
        if not outcome.startswith("False"):
            failures.append(f"{case.name}: {refusal.mutation} was not refused: {outcome}")
            continue
        failures += [f"{case.name} status: {p}" for p in refusal_problems(refusal, [outcome])]
        failures += [
            f"{case.name} event: {p}" for p in refusal_problems(refusal, events.get(case.name, []))
        ]
    assert not failures, "\n".join(failures)
    controller.assert_alive()
    _assert_on_schedule(cluster, started)
    # Not stalled: a run asked for now is pinned at once.
    cluster.create_run("canary-now", {"dagName": "canary"})
    wait_for(lambda: (cluster.run("canary-now").get("status") or {}).get("snapshot"), "pinned", 15)
    print(f"{applied_count[0]} applied, {len(cases)} stored and reported in {settled_in:.1f}s")


def _warnings(cluster: Cluster) -> dict[str, list[str]]:
    by_object: dict[str, list[str]] = {}
    for event in cluster.core.list_namespaced_event(cluster.ns).items:
        if event.type == "Warning":
            by_object.setdefault(event.involved_object.name, []).append(event.message or "")
    return by_object


def _assert_on_schedule(cluster: Cluster, started: datetime) -> None:
    """Every minute that ended since the canary was applied has its run, created within
    a few seconds of the minute's end."""
    now = datetime.now(UTC)
    runs = {r["spec"].get("dataIntervalEnd"): r for r in cluster.runs("canary")}
    tick = started.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while tick <= now - timedelta(seconds=10):
        run = runs.get(rfc3339(tick))
        assert run is not None, f"no canary run for the minute ending {tick}: {sorted(runs)}"
        lag = parse_time(run["metadata"]["creationTimestamp"]) - tick
        assert lag < timedelta(seconds=10), f"the run for {tick} was created {lag} late"
        tick += timedelta(minutes=1)


# -- oversize objects ------------------------------------------------------------------------


def _noise(size: int, seed: int) -> str:
    """Text that gzip cannot shrink much (as real data may be)."""
    rng = random.Random(seed)
    return "".join(rng.choices(string.ascii_letters + string.digits, k=size))


ETCD_LIMIT = 1536 * 1024  # etcd's request limit, which a stored object must fit


def _dag_body(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "DAG",
        "metadata": {"name": name},
        "spec": spec,
    }


@pytest.mark.parametrize("params_size", count(PARAMS_SIZES))
def test_oversize_params_get_a_clear_answer(
    crds: None, cluster: Cluster, params_size: int, request: pytest.FixtureRequest
) -> None:
    """Up to the limit a DAG works; past it `kubedag validate` refuses it, and so does the
    controller (Ready False, naming the field and the sizes) when the API server stores it;
    past etcd's 1.5 MiB the API server refuses it too (a bare 500, hence validate's check)."""
    name, api_refuses = f"params-{params_size}", params_size > ETCD_LIMIT
    body = _dag_body(
        name,
        {"params": {"blob": _noise(params_size, 1)}, "tasks": [{"name": "a", "image": "busybox"}]},
    )
    code, messages = validate(body)
    started = time.monotonic()
    if not api_refuses:  # a controller to report it (the API server's refusal needs none)
        request.getfixturevalue("controller")
    refused = _create(cluster, body)
    assert (refused is not None) == api_refuses
    if refused is not None:
        print(f"{name}: the API server answers {refused.status} {_api_message(refused)[:200]}")
    if params_size > MAX_SPEC_BYTES:
        assert code == 1
        assert any(m.startswith("spec.params: ") and str(MAX_SPEC_BYTES) in m for m in messages)
        if refused is None:
            ready = wait_for(lambda: _ready(cluster.dag(name)), f"{name} reported", 60)
            assert ready["status"] == "False" and ready["reason"] == "TooLarge", ready
            # The Event is a separate write from the status: wait for it too.
            warned = wait_for(
                lambda: any(str(MAX_SPEC_BYTES) in m for m in _warnings(cluster).get(name, [])),
                f"{name}'s Warning event",
                30,
            )
            assert warned
        return
    assert code == 0, messages
    ready = wait_for(lambda: _ready(cluster.dag(name)), f"{name} reported", 60)
    assert ready["status"] == "True", ready
    # 100 KiB of conf, beside the params: the run starts.
    cluster.create_run(f"{name}-run", {"dagName": name, "conf": {"blob": _noise(100 << 10, 2)}})
    pod = cluster.wait_pod(f"{name}-run", "a", timeout=60)
    assert pod.metadata.name
    print(f"{name}: Ready, and its run's pod created in {time.monotonic() - started:.1f}s")


def test_a_wide_dag_validates_and_runs(controller: ControllerProcess, cluster: Cluster) -> None:
    # The image in defaults, as a DAG this wide must: 10,000 tasks of a chain take 1.3 MB
    # stored (managedFields take half), and each byte a task adds costs 10 KB.
    tasks = [
        {"name": f"t{i}", "dependsOn": [f"t{i - 1}"] if i else []}
        for i in range(count(WIDE_DAG_TASKS))
    ]
    body = _dag_body(
        "wide", {"defaults": {"image": "busybox"}, "tasks": tasks, "maxActiveTasks": 4}
    )
    started = time.process_time()
    code, messages = validate(body)
    validated = time.process_time() - started
    assert code == 0, messages[:3]
    applied = time.monotonic()
    assert _create(cluster, body) is None
    ready = wait_for(lambda: _ready(cluster.dag("wide")), "wide reported", 120)
    assert ready["status"] == "True", ready
    cluster.create_run("wide-run", {"dagName": "wide"})
    cluster.wait_pod("wide-run", "t0", timeout=120)
    wide = len(tasks)
    wait_for(lambda: len(cluster.task_states("wide-run")) == wide, f"{wide} task records", 60)
    elapsed = time.monotonic() - applied
    print(f"{wide} tasks: validate {validated:.1f}s CPU, a run pinned in {elapsed:.1f}s")
    more = [{"name": f"t{i}", "image": "busybox"} for i in range(wide, MAX_TASKS + 1)]
    too_many = _dag_body("too-wide", {"defaults": {"image": "busybox"}, "tasks": [*tasks, *more]})
    assert _create(cluster, too_many, dry_run=True) is not None
    code, messages = validate(too_many)
    assert code == 1 and any("spec.tasks" in m and str(MAX_TASKS) in m for m in messages), messages


def test_a_dag_edited_while_its_run_is_in_flight_leaves_the_run_on_its_snapshot(
    controller: ControllerProcess, cluster: Cluster
) -> None:
    cluster.apply_dag(
        "edited",
        {
            "tasks": [
                {"name": "a", "image": "busybox"},
                {"name": "b", "image": "busybox", "args": ["v1"], "dependsOn": ["a"]},
            ]
        },
    )
    wait_for(lambda: _ready(cluster.dag("edited")), "edited reported", 30)
    # 100 KiB of conf: the run starts all the same.
    cluster.create_run("edited-run", {"dagName": "edited", "conf": {"blob": _noise(100 << 10, 2)}})
    pod = cluster.wait_pod("edited-run", "a")
    cluster.patch_dag(
        "edited",
        {
            "tasks": [
                {"name": "a", "image": "busybox"},
                {"name": "b", "image": "busybox", "args": ["v2"], "dependsOn": ["a"]},
                {"name": "c", "image": "busybox", "dependsOn": ["b"]},
            ]
        },
    )
    wait_for(lambda: cluster.dag("edited")["status"].get("observedGeneration") == 2, "edit seen")
    cluster.set_pod(pod.metadata.name, "Succeeded", 0)
    second = cluster.wait_pod("edited-run", "b")
    assert second.spec.containers[0].args == ["v1"]
    # The run's status is written just after b's pod is made (its start was held till then).
    wait_for(lambda: set(cluster.task_states("edited-run")) == {"a", "b"}, "the old version")
    # A run created after the edit takes the new version.
    cluster.create_run("edited-after", {"dagName": "edited"})
    wait_for(lambda: set(cluster.task_states("edited-after")) == {"a", "b", "c"}, "new version")
    Dag.model_validate(cluster.dag("edited"))
