"""What must hold after a chaos run, as pure functions of what was recorded: the pods the
watch saw created (and the final listing), the stand-in kubelet's verdict on each pod, the
runs' final bodies and the notifications received. Each check returns the violations it
found, as sentences; none means nothing was lost or doubled."""

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

FINISHED_RUN = ("success", "failed")
FINISHED_TASK = ("success", "failed", "upstream_failed", "skipped")
BAD_LEAF = ("failed", "upstream_failed")


@dataclass(frozen=True)
class PodCreation:
    """One pod object the API server held (its uid), by the labels kubedag gave it."""

    uid: str
    name: str
    run: str
    task: str
    try_number: int


def one_pod_per_try(
    creations: Iterable[PodCreation], deleted: Collection[str] = ()
) -> tuple[list[str], list[str]]:
    """Every (run, task, try) had exactly one pod: a second uid under one try is a pod made
    again (a try run twice); tries are numbered 1..n without a gap. Returns the violations,
    and apart the tries made again after all their earlier pods were deleted (`deleted`:
    uids): the window in which a pod deleted before its launch was recorded is made again
    (docs/reliability.md)."""
    uids: dict[tuple[str, str, int], set[str]] = defaultdict(set)
    for pod in creations:
        uids[(pod.run, pod.task, pod.try_number)].add(pod.uid)
    problems, again = [], []
    for (run, task, number), found in sorted(uids.items()):
        if len(found) == 1:
            continue
        line = f"{run}/{task} try {number} had {len(found)} pods"
        (again if len(found - set(deleted)) <= 1 else problems).append(line)
    tries: dict[tuple[str, str], set[int]] = defaultdict(set)
    for run, task, number in uids:
        tries[(run, task)].add(number)
    for (run, task), numbers in sorted(tries.items()):
        if numbers != set(range(1, max(numbers) + 1)):
            problems.append(f"{run}/{task} has pods for tries {sorted(numbers)}")
    return problems, again


def runs_consistent(
    runs: Iterable[Mapping[str, Any]],
    leaves: Mapping[str, set[str]],
    creations: Iterable[PodCreation],
    verdicts: Mapping[str, str],
) -> list[str]:
    """Every run finished, with a state its leaves decide (failed if a leaf failed or is
    upstream_failed, else success); every task finished, its try count matches its pods, and
    its state matches the kubelet's verdict on its last try's pod (`verdicts`: pod uid ->
    Succeeded, Failed or Deleted)."""
    by_try: dict[tuple[str, str, int], PodCreation] = {}
    for pod in creations:
        by_try[(pod.run, pod.task, pod.try_number)] = pod
    tries: Counter[tuple[str, str]] = Counter((run, task) for run, task, _ in by_try)
    problems = []
    for run in runs:
        name = run["metadata"]["name"]
        status = run.get("status") or {}
        state = status.get("state")
        tasks = {t["name"]: t for t in status.get("tasks") or []}
        if state not in FINISHED_RUN:
            problems.append(f"run {name} is stuck in {state!r} (tasks {_states(tasks)})")
            continue
        dag_leaves = leaves[run["spec"]["dagName"]]
        expected = "failed" if any(tasks[t]["state"] in BAD_LEAF for t in dag_leaves) else "success"
        if state != expected:
            problems.append(f"run {name} is {state} but its leaves say {expected}")
        for task, record in sorted(tasks.items()):
            problems += _task_problems(name, task, record, tries[(name, task)], by_try, verdicts)
    return problems


def _task_problems(
    run: str,
    task: str,
    record: Mapping[str, Any],
    pods: int,
    by_try: Mapping[tuple[str, str, int], PodCreation],
    verdicts: Mapping[str, str],
) -> list[str]:
    state = record["state"]
    if state not in FINISHED_TASK:
        return [f"task {run}/{task} is stuck in {state}"]
    recorded = int(record.get("try") or 0)
    if state in ("upstream_failed", "skipped") and pods == 0:
        return []
    if recorded != pods:
        return [f"task {run}/{task} is at try {recorded} but had {pods} pods"]
    last = by_try.get((run, task, recorded))
    verdict = verdicts.get(last.uid) if last else None
    want = {"Succeeded": ("success",), "Failed": ("failed",), "Deleted": ("failed",)}
    if verdict is None:
        return [f"task {run}/{task} try {recorded} ended {state} with no verdict on its pod"]
    if state not in want[verdict]:
        return [f"task {run}/{task} is {state} but its last pod was {verdict}"]
    return []


def one_run_per_date(runs: Iterable[Mapping[str, Any]]) -> list[str]:
    """No DAG has two runs for one logical date."""
    dates = Counter(
        (run["spec"]["dagName"], (run.get("status") or {}).get("logicalDate")) for run in runs
    )
    return [
        f"DAG {dag} has {n} runs for {date}" for (dag, date), n in sorted(dates.items()) if n > 1
    ]


def one_id_per_notification(received: Iterable[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Each notified event (event, run, task, try) arrived under one id, and each id was
    one event: a redelivery repeats the id, a second id would be a second notification."""
    ids: dict[tuple[Any, ...], set[str]] = defaultdict(set)
    events: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    for key, body in received:
        event = (body.get("event"), body.get("run"), body.get("task"), body.get("try"))
        ids[event].add(key)
        events[key].add(event)
    problems = [
        f"{event} was delivered under {len(found)} ids"
        for event, found in ids.items()
        if len(found) > 1
    ]
    problems += [
        f"id {key} was used for {len(found)} events"
        for key, found in events.items()
        if len(found) > 1
    ]
    return problems


def notifications_delivered(runs: Iterable[Mapping[str, Any]], received_ids: set[str]) -> list[str]:
    """Every notification a run recorded was delivered, and the receiver has it."""
    problems = []
    for run in runs:
        for entry in (run.get("status") or {}).get("notifications") or []:
            where = f"run {run['metadata']['name']} notification {entry.get('event')}"
            if "delivered" not in entry:
                problems.append(f"{where} {entry['id']} not delivered")
            elif entry["id"] not in received_ids:
                problems.append(f"{where} {entry['id']} recorded delivered but never received")
    return problems


def _states(tasks: Mapping[str, Mapping[str, Any]]) -> str:
    return ", ".join(f"{name}={record['state']}" for name, record in sorted(tasks.items()))
