"""`kubedag outputs RUN [--task T] [-o json]`: the outputs a run's tasks wrote, from the
run's status, or from the run's outputs ConfigMaps for those the DagRun had no room for."""

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping
from typing import Any

from kubedag.commands.common import CliError, add_connection_flags, connect, read_run
from kubedag.commands.output import add_output_flag, dump
from kubedag.kube.client import core_path
from kubedag.models.dagrun import DagRun, TaskRecord


def chosen_records(run: DagRun, task: str | None) -> list[TaskRecord]:
    """The tasks to show: the one asked for (which must have an output), else every task
    with one, in the run's task order."""
    records = {r.name: r for r in run.status.tasks}
    if task is None:
        return [r for r in records.values() if r.outputs is not None or r.outputs_in]
    if task not in records:
        known = ", ".join(records) or "none"
        raise CliError(f"run {run.name} has no task {task!r} (tasks: {known})")
    record = records[task]
    if record.outputs is None and not record.outputs_in:
        raise CliError(f"task {task} of run {run.name} has no output (state {record.state})")
    return [record]


def config_maps_to_read(records: list[TaskRecord]) -> list[str]:
    return sorted({r.outputs_in for r in records if r.outputs_in})


def collect_outputs(
    records: list[TaskRecord], config_maps: Mapping[str, Mapping[str, str] | None]
) -> tuple[dict[str, Any], list[str]]:
    """Each task's output, and a note for each that could not be read (its ConfigMap, or
    its entry there, is gone). `config_maps`: ConfigMap name -> its data (None: gone)."""
    found: dict[str, Any] = {}
    notes: list[str] = []
    for record in records:
        if record.outputs is not None:
            found[record.name] = record.outputs
            continue
        assert record.outputs_in
        data = config_maps.get(record.outputs_in)
        if data is None or record.name not in data:
            notes.append(
                f"the output of task {record.name} was kept in ConfigMap "
                f"{record.outputs_in}, which no longer holds it"
            )
            continue
        found[record.name] = json.loads(data[record.name])
    return found, notes


def format_outputs(outputs: Mapping[str, Any], task: str | None, as_json: bool) -> str:
    """`-o json`: the task's object (with --task), or task -> object; else one line per
    task: its name and its output as compact JSON."""
    if as_json:
        value = outputs[task] if task is not None and task in outputs else dict(outputs)
        return json.dumps(value, indent=2, ensure_ascii=False)
    if not outputs:
        return ""
    width = max(len(name) for name in outputs)
    return "\n".join(
        f"{name:<{width}}  {json.dumps(output, ensure_ascii=False)}"
        for name, output in outputs.items()
    )


def add_parser(sub: Any) -> None:
    p = sub.add_parser("outputs", help="print the outputs a run's tasks wrote")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--task", help="one task's output (default: every task's that has one)")
    add_output_flag(p)
    add_connection_flags(p)
    p.set_defaults(func=lambda args: asyncio.run(_outputs(args)))


async def _outputs(args: argparse.Namespace) -> int:
    kube, namespace = await connect(args)
    try:
        records = chosen_records(await read_run(kube, namespace, args.run), args.task)
        config_maps: dict[str, Mapping[str, str] | None] = {}
        for name in config_maps_to_read(records):
            stored = await kube.get(core_path("configmaps", namespace, name))
            config_maps[name] = (stored.get("data") or {}) if stored is not None else None
        found, notes = collect_outputs(records, config_maps)
        if args.output:
            chosen = found[args.task] if args.task is not None and args.task in found else found
            print(dump(dict(chosen) if args.task is None else chosen, args.output), end="")
        elif text := format_outputs(found, args.task, as_json=False):
            print(text)
        for note in notes:
            print(note, file=sys.stderr)
        return 1 if notes and not found else 0
    finally:
        await kube.close()
