"""Hypothesis strategies for DAG and DagRun manifests, valid and invalid, each invalid one
with what its refusal must name.

A `Case` is a whole manifest (a dict, as `kubectl apply` sends it) and, for an invalid one,
the `Refusal` expected of it: text naming the field, the bad value, and (where the input
has a closed set of values) what is allowed. `layer` says who refuses it: "schema" (the
CRD's schema or CEL rules refuse it at apply, and `kubedag validate` too), "controller"
(the API server stores it; `kubedag validate` and the controller's Ready condition refuse
it) or "either" (cron texts, where which layer catches which mistake is not the point).
"""

import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from hypothesis import strategies as st

from kubedag.core.schedule import ScheduleError, parse_timetable
from kubedag.models.dag import TriggerRule

GROUP_VERSION = "kubedag.io/v1alpha1"
Layer = Literal["schema", "controller", "either"]


@dataclass(frozen=True)
class Refusal:
    mutation: str
    field: tuple[str, ...]
    """Each of these appears in one message (together: the field, as the message spells it)."""
    value: str
    """The bad value, as the message quotes it ("" when the refusal is of an absence)."""
    allowed: str | None = None
    layer: Layer = "schema"


@dataclass
class Case:
    body: dict[str, Any]
    refusal: Refusal | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])


# -- valid pieces ---------------------------------------------------------------------------

_LOWER = string.ascii_lowercase
_LABEL_CHARS = _LOWER + string.digits + "-"


def names(
    max_middle: int, first: str = _LOWER, middle: str = _LABEL_CHARS
) -> st.SearchStrategy[str]:
    """`first` + up to `max_middle` of `middle` + a closing letter or digit (a DNS label
    for the defaults; from_regex is much slower)."""
    return st.builds(
        lambda a, b, c: a + b + c,
        st.sampled_from(first),
        st.text(alphabet=middle, max_size=max_middle),
        st.sampled_from(_LOWER + string.digits),
    )


dns_labels = names(14)

SCHEDULES = [
    None,
    "@daily",
    "@hourly",
    "@once",
    "*/5 * * * *",
    "0 3 * * 1-5",
    "30 2 1 * *",
    "0 0 1 1 *",
    "15,45 */2 * jan-jun MON",
]
TIMEZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
START_DATES = ["2026-01-01", "2025-06-30T12:00:00Z", "2024-02-29T00:00:00+05:30"]

# Template pieces that render in validation's sample run (params `p` always exists).
GOOD_EXPRESSIONS = [
    "ds",
    "ds_nodash",
    "ts",
    "logical_date.year",
    "data_interval_end.strftime('%Y')",
    "macros.ds_add(ds, -7)",
    "params.p",
    "params.p | string | upper",
    "run_id",
    "dag.dag_id ~ '-' ~ task.task_id",
    "try_number + 1",
    "'é✓' ~ ds",
    "[1, 2, 3] | sum",
    "range(10) | list | length",
]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def good_templates(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        literal = draw(st.text(alphabet=string.ascii_letters + " -_=./é中", max_size=8))
        parts.append(literal)
        parts.append("{{ " + draw(st.sampled_from(GOOD_EXPRESSIONS)) + " }}")
    depth = draw(st.integers(0, 20))
    if depth:
        parts.append("{{ " + "(" * depth + "1" + ")" * depth + " }}")
    return "".join(parts) or "echo"


@st.composite
def valid_tasks(draw: st.DrawFn, max_tasks: int = 8) -> list[dict[str, Any]]:
    names = draw(st.lists(dns_labels, min_size=1, max_size=max_tasks, unique=True))
    tasks = []
    for index, name in enumerate(names):
        task: dict[str, Any] = {"name": name, "image": "busybox"}
        if index and draw(st.booleans()):
            task["dependsOn"] = draw(
                st.lists(st.sampled_from(names[:index]), max_size=3, unique=True)
            )
        if draw(st.booleans()):
            task["args"] = draw(st.lists(good_templates(), min_size=1, max_size=3))
        if draw(st.integers(0, 3)) == 0:
            task["triggerRule"] = draw(st.sampled_from([r.value for r in TriggerRule]))
        if draw(st.integers(0, 3)) == 0:
            task["retries"] = draw(st.integers(0, 100))
        tasks.append(task)
    return tasks


@st.composite
def valid_dags(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(names(40))
    spec: dict[str, Any] = {"tasks": draw(valid_tasks())}
    schedule = draw(st.sampled_from(SCHEDULES))
    if schedule is not None:
        spec["schedule"] = schedule
        spec["startDate"] = draw(st.sampled_from(START_DATES))
        spec["catchup"] = False
    spec["timezone"] = draw(st.sampled_from(TIMEZONES))
    spec["params"] = {
        "p": draw(json_scalars),
        **draw(st.dictionaries(dns_labels, json_values, max_size=3)),
    }
    if draw(st.booleans()):
        spec["maxActiveRuns"] = draw(st.integers(1, 10000))
    if draw(st.booleans()):
        spec["paused"] = draw(st.booleans())
    if draw(st.booleans()):
        spec["description"] = draw(st.text(max_size=40))
    return {"apiVersion": GROUP_VERSION, "kind": "DAG", "metadata": {"name": name}, "spec": spec}


# -- mutations: each makes a valid DAG invalid in one way and says how it must be refused ---

Mutation = Callable[[st.DrawFn, dict[str, Any]], Refusal]


def _task(draw: st.DrawFn, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    tasks = body["spec"]["tasks"]
    index = draw(st.integers(0, len(tasks) - 1))
    return index, tasks[index]


def wrong_type(draw: st.DrawFn, body: dict[str, Any]) -> Refusal:
    """A value of the wrong JSON type where kubectl's strict decoding refuses it."""
    index, task = _task(draw, body)
    choices: list[tuple[dict[str, Any], str, Any, str]] = [
        (body["spec"], "maxActiveRuns", "many", "spec.maxActiveRuns"),
        (body["spec"], "maxActiveRuns", "16", "spec.maxActiveRuns"),
        (body["spec"], "paused", "yes", "spec.paused"),
        (body["spec"], "paused", 1, "spec.paused"),
        (body["spec"], "catchup", "true", "spec.catchup"),
        (body["spec"], "params", [1, 2], "spec.params"),
        (body["spec"], "params", "p=1", "spec.params"),
        (body["spec"], "timezone", 5, "spec.timezone"),
        (task, "retries", "three", f"spec.tasks[{index}].retries"),
        (task, "retries", "3", f"spec.tasks[{index}].retries"),
        (task, "retries", 2.5, f"spec.tasks[{index}].retries"),
        (task, "retries", True, f"spec.tasks[{index}].retries"),
        (task, "args", "echo hi", f"spec.tasks[{index}].args"),
        (task, "args", 1, f"spec.tasks[{index}].args"),
        (task, "image", ["busybox"], f"spec.tasks[{index}].image"),
        (task, "name", 7, f"spec.tasks[{index}].name"),
    ]
    target, key, value, where = draw(st.sampled_from(choices))
    target[key] = value
    return Refusal("wrong type", (where,), _quoted(value))


BAD_CRONS = st.one_of(
    st.sampled_from(
        [
            "61 * * * *",
            "* 24 * * *",
            "* * 32 * *",
            "* * * 13 *",
            "* * * * 8",
            "* * *",
            "* * * * * *",
            "@fortnightly",
            "@continuous",
            "*/0 * * * *",
            "every day",
            "",
            " ",
            "0 0 * * MON-FOO",
        ]
    ),
    # Random text, but none the scheduler takes ("5-1 * * * *" is one: croniter, and so
    # Airflow, reads a reversed range as wrapping round).
    st.text(alphabet="*/,-0123456789 @abcXYZ", min_size=1, max_size=20).filter(
        lambda text: not _schedules(text)
    ),
)


def _schedules(text: str) -> bool:
    try:
        parse_timetable(text, "UTC")
    except ScheduleError:
        return False
    return True


def bad_cron(draw: st.DrawFn, body: dict[str, Any]) -> Refusal:
    schedule = draw(BAD_CRONS)
    body["spec"]["schedule"] = schedule
    body["spec"].setdefault("startDate", "2026-01-01")
    return Refusal("bad cron", ("spec.schedule",), schedule.strip(), layer="either")


def cycle(draw: st.DrawFn, body: dict[str, Any]) -> Refusal:
    tasks = body["spec"]["tasks"]
    if len(tasks) < 2:
        tasks.append({"name": _fresh(tasks, "second"), "image": "busybox"})
    first, last = tasks[0], tasks[-1]
    first["dependsOn"] = [*first.get("dependsOn", []), last["name"]]
    if first["name"] not in last.get("dependsOn", []):
        last["dependsOn"] = [*last.get("dependsOn", []), first["name"]]
    return Refusal("cycle", ("dependency cycle",), repr(first["name"]), layer="controller")


def unknown_dependency(draw: st.DrawFn, body: dict[str, Any]) -> Refusal:
    _, task = _task(draw, body)
    ghost = _fresh(body["spec"]["tasks"], draw(dns_labels))
    task["dependsOn"] = [*task.get("dependsOn", []), ghost]
    return Refusal(
        "unknown dependency",
        (f"task {task['name']!r}", "depends on"),
        repr(ghost),
        layer="controller",
    )


def repeated_dependency(draw: st.DrawFn, body: dict[str, Any]) -> Refusal:
    index, task = _task(draw, body)
    tasks = body["spec"]["tasks"]
    if index == 0:
        tasks.insert(0, {"name": _fresh(tasks, "upstream"), "image": "busybox"})
        index = 1
    upstream = tasks[draw(st.integers(0, index - 1))]["name"]
    task["dependsOn"] = [*task.get("dependsOn", []), upstream, upstream]
    return Refusal("repeated dependency", (f"spec.tasks[{index}].dependsOn",), repr(upstream))


def bad_trigger_rule(draw: st.DrawFn, body: dict[str, Any]) -> Refusal:
    index, task = _task(draw, body)
    rule = draw(st.text(min_size=1, max_size=20).filter(lambda r: r not in set(TriggerRule)))
    task["triggerRule"] = rule
    return Refusal(
        "bad trigger rule", (f"spec.tasks[{index}].triggerRule",), repr(rule), "all_success"
    )


def bad_task_name(draw: st.DrawFn, body: dict[str, Any]) -> Refusal:
    index, task = _task(draw, body)
    name = draw(
        st.one_of(
            st.integers(64, 80).map(lambda n: "t" * n),  # longer than a DNS label
            st.builds(lambda a, b: a + b + a, dns_labels, st.sampled_from("A_.Z")),
            dns_labels.map(lambda n: "-" + n),
            st.text(min_size=1, max_size=10).filter(lambda n: not n.isascii()),  # unicode
        )
    )
    for other in body["spec"]["tasks"]:  # keep the graph whole: only the name is wrong
        other["dependsOn"] = [name if d == task["name"] else d for d in other.get("dependsOn", [])]
    task["name"] = name
    return Refusal("bad task name", (f"spec.tasks[{index}].name",), _quoted(name))


def bad_dag_name(draw: st.DrawFn, body: dict[str, Any]) -> Refusal:
    name = draw(
        st.one_of(
            st.integers(254, 260).map(lambda n: "d" * n),
            st.builds(lambda a, b: a + b + a, dns_labels, st.sampled_from("A_Z")),
            st.text(min_size=1, max_size=10).filter(lambda n: not n.isascii()),
        )
    )
    body["metadata"]["name"] = name
    return Refusal("bad DAG name", ("metadata.name",), _quoted(name))


def duplicate_task(draw: st.DrawFn, body: dict[str, Any]) -> Refusal:
    _, task = _task(draw, body)
    body["spec"]["tasks"].append({"name": task["name"], "image": "busybox"})
    return Refusal("duplicate task", (f"task {task['name']!r}",), "more than once")


BAD_TEMPLATES = [
    ("{{ nosuchvariable }}", "nosuchvariable"),
    ("{{ ds ", "syntax error"),
    ("{% for %}", "syntax error"),
    ("{{ ''.__class__ }}", "__class__"),
    ("{{ lipsum.__globals__ }}", "__globals__"),
    ("{{ 'x' * 100000000 }}", "at most"),
    ("{{ " + "(" * 400 + "1" + ")" * 400 + " }}", "nest"),
    ("{% if true %}" * 300 + "{% endif %}" * 300, "nest"),
    ("{{ 1" + " + 1" * 5000 + " }}", "nest"),
    ("{{ params.nosuchparam.x }}", "nosuchparam"),
    ("{{ macros.ds_add(ds, 'x') }}", "TypeError"),
    ("{{ 1 / 0 }}", "ZeroDivisionError"),
    ("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}", "steps"),
]


def bad_template(draw: st.DrawFn, body: dict[str, Any]) -> Refusal:
    _, task = _task(draw, body)
    text, reason = draw(st.sampled_from(BAD_TEMPLATES))
    args = list(task.get("args", []))
    position = draw(st.integers(0, len(args)))
    args.insert(position, text)
    task["args"] = args
    return Refusal(
        "bad template", (f"task {task['name']!r} args[{position}]",), reason, layer="controller"
    )


def bad_timezone(draw: st.DrawFn, body: dict[str, Any]) -> Refusal:
    zone = draw(
        st.sampled_from(["Mars/Olympus", "UTC+25", "Europe/Pariss", "", "../../etc/passwd"])
    )
    body["spec"]["timezone"] = zone
    return Refusal("bad timezone", ("spec.timezone",), repr(zone), layer="controller")


def schedule_without_start(draw: st.DrawFn, body: dict[str, Any]) -> Refusal:
    body["spec"]["schedule"] = draw(st.sampled_from(["@daily", "0 * * * *"]))
    body["spec"].pop("startDate", None)
    return Refusal("schedule without startDate", ("startDate",), "")


def out_of_range(draw: st.DrawFn, body: dict[str, Any]) -> Refusal:
    index, task = _task(draw, body)
    choices: list[tuple[dict[str, Any], str, int, str, str]] = [
        (task, "retries", -1, f"spec.tasks[{index}].retries", "0"),
        (task, "retries", 101, f"spec.tasks[{index}].retries", "100"),
        (body["spec"], "maxActiveRuns", 0, "spec.maxActiveRuns", "1"),
        (body["spec"], "maxActiveTasks", 10001, "spec.maxActiveTasks", "10000"),
        (task, "poolSlots", 0, f"spec.tasks[{index}].poolSlots", "1"),
    ]
    target, key, value, where, allowed = draw(st.sampled_from(choices))
    target[key] = value
    return Refusal("out of range", (where,), str(value), allowed)


def bad_duration(draw: st.DrawFn, body: dict[str, Any]) -> Refusal:
    index, task = _task(draw, body)
    value = draw(st.sampled_from(["5 minutes", "1d", "-5m", "m", "1.5"]))
    task["retryDelay"] = value
    return Refusal("bad duration", (f"spec.tasks[{index}].retryDelay",), repr(value))


def unknown_field(draw: st.DrawFn, body: dict[str, Any]) -> Refusal:
    index, task = _task(draw, body)
    key = draw(st.sampled_from(["retrys", "dependOn", "triggerrule", "imagePullPolicyy"]))
    task[key] = "x"
    return Refusal("unknown field", (f"spec.tasks[{index}].{key}",), "")


def bad_start_date(draw: st.DrawFn, body: dict[str, Any]) -> Refusal:
    value = draw(st.sampled_from(["yesterday", "2026-13-01", "2026-02-30", "01/02/2026"]))
    body["spec"]["schedule"] = "@daily"
    body["spec"]["startDate"] = value
    return Refusal("bad start date", ("spec.startDate",), repr(value), layer="either")


MUTATIONS: list[Mutation] = [
    wrong_type,
    bad_cron,
    cycle,
    unknown_dependency,
    repeated_dependency,
    bad_trigger_rule,
    bad_task_name,
    bad_dag_name,
    duplicate_task,
    bad_template,
    bad_timezone,
    schedule_without_start,
    out_of_range,
    bad_duration,
    unknown_field,
    bad_start_date,
]


# The mutations the API server lets through: only the controller refuses them.
CONTROLLER_MUTATIONS: list[Mutation] = [cycle, unknown_dependency, bad_template, bad_timezone]


@st.composite
def dag_cases(
    draw: st.DrawFn, invalid_share: int = 3, mutations: list[Mutation] = MUTATIONS
) -> Case:
    """A DAG manifest: valid one time in `invalid_share + 1`, else broken by one mutation."""
    body = draw(valid_dags())
    if draw(st.integers(0, invalid_share)) == invalid_share:
        return Case(body)
    mutation = draw(st.sampled_from(mutations))
    return Case(body, mutation(draw, body))


# -- DagRuns --------------------------------------------------------------------------------


@st.composite
def run_cases(draw: st.DrawFn, dag_name: str) -> Case:
    """A DagRun of `dag_name` (valid) or broken in one way."""
    spec: dict[str, Any] = {"dagName": dag_name}
    if draw(st.booleans()):
        spec["conf"] = draw(st.dictionaries(st.text(max_size=10), json_values, max_size=6))
    body = {
        "apiVersion": GROUP_VERSION,
        "kind": "DagRun",
        "metadata": {"name": draw(names(10))},
        "spec": spec,
    }
    kind = draw(
        st.sampled_from(
            [
                "valid",
                "missing dag",
                "bad dag name",
                "bad date",
                "half interval",
                "bad run type",
                "conf not an object",
                "bad request",
            ]
        )
    )
    refusal: Refusal | None = None
    if kind == "missing dag":
        spec["dagName"] = "no-such-dag"
        refusal = Refusal(kind, ("DAG 'no-such-dag'",), "not found", layer="controller")
    elif kind == "bad dag name":
        spec["dagName"] = ""
        refusal = Refusal(kind, ("spec.dagName",), "")
    elif kind == "bad date":
        value = draw(st.sampled_from(["tomorrow", "2026-02-30T00:00:00Z", "2026-01-01 00:00"]))
        spec["logicalDate"] = value
        refusal = Refusal(kind, ("spec.logicalDate",), value)
    elif kind == "half interval":
        spec["dataIntervalStart"] = "2026-01-01T00:00:00Z"
        refusal = Refusal(kind, ("dataIntervalEnd",), "")
    elif kind == "bad run type":
        value = draw(st.sampled_from(["Manual", "cron", "adhoc"]))
        spec["runType"] = value
        refusal = Refusal(kind, ("spec.runType",), value, "manual")
    elif kind == "conf not an object":
        spec["conf"] = draw(st.sampled_from([[1, 2], "a=b", 3]))
        refusal = Refusal(kind, ("spec.conf",), "")
    elif kind == "bad request":
        spec["request"] = {"id": "r1", "action": draw(st.sampled_from(["rerun", "Clear"]))}
        refusal = Refusal(kind, ("spec.request.action",), spec["request"]["action"], "clear")
    return Case(body, refusal)


# -- helpers --------------------------------------------------------------------------------


def _fresh(tasks: list[dict[str, Any]], stem: str) -> str:
    names = {t["name"] for t in tasks}
    candidate = stem
    while candidate in names:
        candidate += "x"
    return candidate


def _quoted(value: Any) -> str:
    """The part of a value a refusal must quote: a string's first 40 characters (a message
    may shorten a long value), else its Python text."""
    return repr(value)[1:-1][:40] if isinstance(value, str) else str(value)
