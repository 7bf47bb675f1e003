"""`kubedag import-airflow`: simple Airflow DAG files into DAG manifests, read statically
from their syntax tree (Airflow is never imported and the file never runs), with a report of
what could not be converted."""

import ast
import re
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from pydantic import ValidationError

from kubedag.core.validation import describe_validation_error, validate_dag
from kubedag.models.dag import DagSpec
from kubedag.sdk.airflow_operators import convert_operator, is_operator
from kubedag.sdk.airflow_values import dag_fields
from kubedag.sdk.static_eval import Evaluator, Unknown, dotted_name


@dataclass(frozen=True)
class Note:
    """Something of the file that was not converted, or not as written."""

    line: int
    message: str


@dataclass(frozen=True)
class TaskRef:
    dag: "ImportedDag"
    name: str


@dataclass(frozen=True)
class Passthrough:
    """Airflow's `Label("...")` between two tasks: the edge goes through it."""

    sources: tuple[TaskRef, ...] = ()


@dataclass
class ImportedDag:
    airflow_id: str
    name: str
    line: int
    spec: dict[str, Any]
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    upstream: dict[str, list[str]] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)

    def add_edge(self, up: str, down: str) -> None:
        names = self.upstream.setdefault(down, [])
        if up not in names:
            names.append(up)

    def manifest(self) -> dict[str, Any]:
        tasks = []
        for name, body in self.tasks.items():
            task = {"name": name, **_renamed_references(body, self.renamed)}
            if self.upstream.get(name):
                task["dependsOn"] = list(self.upstream[name])
            tasks.append(task)
        spec = {**self.spec, "tasks": tasks}
        return {
            "apiVersion": "kubedag.io/v1alpha1",
            "kind": "DAG",
            "metadata": {"name": self.name},
            "spec": spec,
        }


# `ti.xcom_pull(task_ids='load_day')`, `task_ids=["a_b", ...]`: the first id of a list only.
_TASK_IDS = re.compile(r"""(task_ids\s*=\s*\[?\s*)(['"])([^'"]+)\2""")


def _renamed_references(value: Any, renamed: dict[str, str]) -> Any:
    """Templates name upstream tasks by their Airflow ids: given the tasks' new names, so a
    reference still resolves."""
    if isinstance(value, str) and renamed:
        return _TASK_IDS.sub(lambda m: f"{m[1]}{m[2]}{renamed.get(m[3], m[3])}{m[2]}", value)
    if isinstance(value, list):
        return [_renamed_references(item, renamed) for item in value]
    if isinstance(value, dict):
        return {key: _renamed_references(item, renamed) for key, item in value.items()}
    return value


def kube_name(airflow_id: str, limit: int) -> str:
    """example_bash_operator -> example-bash-operator: Kubernetes names have no '_'."""
    return re.sub(r"[^a-z0-9-]+", "-", airflow_id.lower()).strip("-")[:limit].rstrip("-") or "x"


def _edges(left: Any, right: Any) -> list[tuple[TaskRef, TaskRef]]:
    lefts = left.sources if isinstance(left, Passthrough) else _refs(left)
    return [(up, down) for up in lefts for down in _refs(right)]


def _refs(value: Any) -> list[TaskRef]:
    if isinstance(value, TaskRef):
        return [value]
    if isinstance(value, list) and all(isinstance(v, TaskRef) for v in value):
        return list(value)
    return []


class Importer:
    """Walks a DAG file's statements in order, unrolling loops over known values."""

    def __init__(self, source: str, filename: str) -> None:
        self.tree = ast.parse(source, filename)
        self.scope: dict[str, Any] = {}
        self.evaluator = Evaluator(self.scope)
        self.dags: list[ImportedDag] = []
        self.notes: list[Note] = []
        self.active: list[ImportedDag] = []
        self.literals: dict[str, ast.Dict] = {}  # names bound to a dict literal

    def run(self) -> None:
        self.block(self.tree.body)

    def note(self, node: ast.AST, message: str) -> None:
        self.notes.append(Note(getattr(node, "lineno", 0), message))

    def block(self, statements: list[ast.stmt]) -> None:
        for statement in statements:
            self.statement(statement)

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom | ast.Pass):
            return
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            return  # a docstring
        if isinstance(node, ast.With):
            self.with_block(node)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            self.assign(node)
        elif isinstance(node, ast.Expr):
            self.expression(node.value)
        elif isinstance(node, ast.For):
            self.loop(node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            self.function(node)
        elif isinstance(node, ast.If) and "__name__" in ast.unparse(node.test):
            return  # `if __name__ == "__main__": dag.test()`
        else:
            self.note(node, f"not converted: {ast.unparse(node).splitlines()[0]}")

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        decorators = [
            dotted_name(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list
        ]
        if any(d and (d == "task" or d.startswith("task.")) for d in decorators):
            self.note(
                node,
                f"not converted: TaskFlow function {node.name!r} (@task): its Python runs in"
                " Airflow's worker; rewrite it with kubedag.sdk's @task or as a container",
            )
        elif any(d == "dag" for d in decorators):
            self.note(node, f"not converted: @dag function {node.name!r}: use `with DAG(...)`")
        self.scope[node.name] = Unknown(node, f"the Python function {node.name}")

    def loop(self, node: ast.For) -> None:
        try:
            items = self.evaluator.value(node.iter)
        except Unknown as why:
            self.note(node, f"not converted: a loop over {ast.unparse(node.iter)} ({why})")
            return
        if not isinstance(node.target, ast.Name) or not isinstance(items, list | str | dict):
            self.note(node, f"not converted: for {ast.unparse(node.target)} in ...")
            return
        for item in items:
            self.scope[node.target.id] = item
            self.block(node.body)

    def with_block(self, node: ast.With) -> None:
        item = node.items[0]
        dag = self.maybe_dag(item.context_expr)
        if dag is None:
            self.note(node, f"not converted: with {ast.unparse(item.context_expr)}")
            return
        if isinstance(item.optional_vars, ast.Name):
            self.scope[item.optional_vars.id] = dag
        self.active.append(dag)
        self.block(node.body)
        self.active.pop()

    def maybe_dag(self, node: ast.expr) -> ImportedDag | None:
        if not isinstance(node, ast.Call) or (dotted_name(node.func) or "").split(".")[-1] != "DAG":
            return None
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        id_node = node.args[0] if node.args else keywords.pop("dag_id", None)
        keywords.pop("dag_id", None)
        args_node = keywords.get("default_args")
        if isinstance(args_node, ast.Name) and args_node.id in self.literals:
            keywords["default_args"] = self.literals[args_node.id]  # notes point into it
        try:
            airflow_id = str(self.evaluator.value(id_node)) if id_node else ""
        except Unknown:
            airflow_id = ""
        if not airflow_id:
            self.note(node, "not converted: a DAG whose dag_id is not a constant")
            return None
        name = kube_name(airflow_id, 253)
        spec, notes = dag_fields(keywords, self.evaluator)
        self.notes += [Note(line, text) for line, text in notes]
        dag = ImportedDag(airflow_id, name, node.lineno, spec)
        if name != airflow_id:
            self.note(node, f"DAG {airflow_id!r} is named {name!r} (a Kubernetes name)")
        self.dags.append(dag)
        return dag

    def assign(self, node: ast.Assign | ast.AnnAssign) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if node.value is None:
            return
        if any(not isinstance(t, ast.Name) for t in targets):
            if not all(isinstance(t, ast.Attribute) and t.attr.startswith("doc") for t in targets):
                self.note(node, f"not converted: {ast.unparse(node).splitlines()[0]}")
            return
        value = self.maybe_dag(node.value) or self.expression(node.value)
        for target in targets:
            assert isinstance(target, ast.Name)
            self.scope[target.id] = value
            if isinstance(node.value, ast.Dict):
                self.literals[target.id] = node.value

    def expression(self, node: ast.expr) -> Any:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.RShift | ast.LShift):
            left, right = self.expression(node.left), self.expression(node.right)
            up, down = (left, right) if isinstance(node.op, ast.RShift) else (right, left)
            for a, b in _edges(up, down):
                a.dag.add_edge(a.name, b.name)
            if isinstance(node.op, ast.RShift) and isinstance(right, Passthrough):
                return Passthrough(tuple(_refs(left)) or left.sources)
            return right
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.List | ast.Tuple):
            return [self.expression(item) for item in node.elts]
        try:
            return self.evaluator.value(node)
        except Unknown as why:
            if isinstance(node, ast.Name) and isinstance(
                self.scope.get(node.id), TaskRef | ImportedDag | list
            ):
                return self.scope[node.id]
            return why

    def call(self, node: ast.Call) -> Any:
        name = dotted_name(node.func) or ""
        if name.split(".")[-1] in ("set_downstream", "set_upstream") and isinstance(
            node.func, ast.Attribute
        ):
            this = self.expression(node.func.value)
            other = self.expression(node.args[0]) if node.args else None
            pairs = _edges(this, other) if name.endswith("set_downstream") else _edges(other, this)
            for a, b in pairs:
                a.dag.add_edge(a.name, b.name)
            return None
        if name.split(".")[-1] == "chain":
            steps = [self.expression(a) for a in node.args]
            for left, right in pairwise(steps):
                if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
                    pairs = [p for a, b in zip(left, right, strict=True) for p in _edges(a, b)]
                else:
                    pairs = _edges(left, right)
                for a, b in pairs:
                    a.dag.add_edge(a.name, b.name)
            return None
        if name.split(".")[-1] == "Label":
            return Passthrough()
        if is_operator(name):
            return self.operator(node, name.split(".")[-1])
        try:
            return self.evaluator.value(node)
        except Unknown as why:
            self.note(node, f"not converted: {ast.unparse(node).splitlines()[0]} ({why})")
            return why

    def operator(self, node: ast.Call, kind: str) -> TaskRef | None:
        keywords = {k.arg: k.value for k in node.keywords if k.arg}
        dag_node = keywords.pop("dag", None)
        dag = self.scope.get(dag_node.id) if isinstance(dag_node, ast.Name) else None
        dag = dag if isinstance(dag, ImportedDag) else (self.active[-1] if self.active else None)
        try:
            task_id = str(self.evaluator.value(keywords.pop("task_id")))
        except (KeyError, Unknown):
            self.note(node, f"not converted: a {kind} whose task_id is not a constant")
            return None
        if dag is None:
            self.note(node, f"not converted: task {task_id!r} belongs to no DAG")
            return None
        name = kube_name(task_id, 63)
        if name != task_id:
            dag.renamed[task_id] = name
        if name in dag.tasks:
            self.note(node, f"not converted: a second task {task_id!r} in DAG {dag.airflow_id!r}")
            return TaskRef(dag, name)
        body, notes = convert_operator(kind, task_id, keywords, self.evaluator, node.lineno)
        self.notes += [Note(line, text) for line, text in notes]
        dag.tasks[name] = body
        return TaskRef(dag, name)


@dataclass(frozen=True)
class ImportResult:
    manifests: list[dict[str, Any]]
    notes: list[Note]


def _problems(dag: ImportedDag, manifest: dict[str, Any]) -> list[Note]:
    """What `kubedag validate` would refuse: templates using what kubedag lacks, mostly."""
    try:
        spec = DagSpec.model_validate(manifest["spec"])
    except ValidationError as error:
        return [
            Note(dag.line, f"invalid: {message}") for message in describe_validation_error(error)
        ]
    return [Note(dag.line, f"invalid: {p.message}") for p in validate_dag(dag.name, spec)]


def import_airflow(source: str, filename: str = "<dag file>") -> ImportResult:
    """Every DAG the file declares, as a manifest, and the notes of what was not converted
    (a manifest with an `invalid:` note does not pass `kubedag validate` as it stands)."""
    importer = Importer(source, filename)
    importer.run()
    manifests = []
    for dag in importer.dags:
        manifest = dag.manifest()
        manifests.append(manifest)
        if dag.renamed:
            renames = ", ".join(f"{old} -> {new}" for old, new in dag.renamed.items())
            importer.note(ast.Pass(lineno=dag.line), f"task ids as DNS labels: {renames}")
        importer.notes += _problems(dag, manifest)
    return ImportResult(manifests, sorted(importer.notes, key=lambda n: n.line))
