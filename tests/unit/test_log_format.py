"""JSON log lines and the scope the reconcilers give them (reconcilers/log_format.py)."""

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from kubedag.reconcilers import log_format
from kubedag.reconcilers.log_format import SCOPE, JsonFormatter, LogScope, scoped


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("kubedag.test-log-format")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_line_outside_any_pass_has_only_the_basic_fields(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = lines
    logger.info("starting %s", "up")
    [line] = parsed(stream)
    assert set(line) == {"time", "level", "logger", "message"}
    assert line["message"] == "starting up" and line["level"] == "info"
    assert line["time"].endswith("Z") and len(line["time"]) == len("2026-01-01T00:00:00.000Z")


def test_a_line_in_a_scope_names_its_dag_run_and_task(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = lines
    with scoped(namespace="etl", dag="daily", run="daily-1"):
        logger.info("run is running")
        with scoped(task="extract"):
            logger.warning("pod refused")
        logger.info("task done", extra={"task": "load"})
    logger.info("after")
    first, second, third, after = parsed(stream)
    assert {k: first[k] for k in ("namespace", "dag", "run")} == {
        "namespace": "etl", "dag": "daily", "run": "daily-1"
    }  # fmt: skip
    assert "task" not in first
    assert second["task"] == "extract" and second["run"] == "daily-1"
    assert third["task"] == "load"
    assert "run" not in after and SCOPE.get() == LogScope()


def test_a_traceback_goes_in_its_own_field(lines: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = lines
    try:
        raise ValueError("bad value")
    except ValueError:
        logger.exception("pass failed")
    [line] = parsed(stream)
    assert line["message"] == "pass failed"
    assert "ValueError: bad value" in line["exception"]


def test_kopfs_object_reference_fills_the_same_fields(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, stream = lines
    reference = {"kind": "DagRun", "name": "daily-1", "namespace": "etl", "uid": "u"}
    logger.info("Handler succeeded", extra={"k8s_ref": reference, "k8s_skip": False})
    [line] = parsed(stream)
    assert line["run"] == "daily-1" and line["namespace"] == "etl"


def test_tasks_a_pass_starts_keep_its_scope_and_do_not_leak_theirs() -> None:
    async def scenario() -> list[LogScope]:
        seen: list[LogScope] = []

        async def child() -> None:
            with scoped(task="t"):
                await asyncio.sleep(0)
                seen.append(SCOPE.get())

        token = SCOPE.set(LogScope("ns", "d", run="r"))
        await asyncio.gather(child(), child())
        seen.append(SCOPE.get())
        SCOPE.reset(token)
        return seen

    first, second, parent = asyncio.run(scenario())
    assert first == second == LogScope("ns", "d", run="r", task="t")
    assert parent == LogScope("ns", "d", run="r")


def test_configure_installs_one_handler_in_the_chosen_format() -> None:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    try:
        log_format.configure("warning", "json")
        assert len(root.handlers) == 1 and root.level == logging.WARNING
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
        log_format.configure("info", "text")
        assert not isinstance(root.handlers[0].formatter, JsonFormatter)
        with pytest.raises(ValueError, match="use one of text, json"):
            log_format.configure("info", "yaml")
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
