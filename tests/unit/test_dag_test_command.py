"""`kubedag test` (commands/dag_test.py) without a cluster: which tries' logs it reads, when
the test is over and how it ended, what it shows; the manifest of its run (manifests/
render.py); and the progress line of long commands (commands/progress.py)."""

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from kubedag.commands import dag_test
from kubedag.commands.dag_test import TryLog, ended, new_logs, passed, progress_line
from kubedag.commands.progress import Progress
from kubedag.kube.client import ApiError
from kubedag.manifests import render
from kubedag.models.dagrun import DagRun, DagRunStatus, TaskState

T = TaskState


def status(*tasks: dict[str, Any], state: str | None = "running") -> DagRunStatus:
    return DagRunStatus.model_validate({"state": state, "tasks": list(tasks)})


def rec(name: str, state: TaskState, try_number: int = 1, **fields: Any) -> dict[str, Any]:
    pod = f"p-{name}-{try_number}" if try_number else None
    return {"name": name, "state": state.value, "try": try_number, "pod": pod, **fields}


@pytest.mark.parametrize(
    ("tasks", "seen", "expected"),
    [
        ([rec("a", T.NONE, 0)], set(), []),
        ([rec("a", T.QUEUED)], set(), []),  # the container has not started: no log yet
        ([rec("a", T.RUNNING)], set(), [TryLog("a", 1, "p-a-1", True)]),
        ([rec("a", T.SUCCESS)], set(), [TryLog("a", 1, "p-a-1", False)]),
        ([rec("a", T.RUNNING)], {("a", 1)}, []),
        (
            # try 1 failed and try 2 began between two looks: both logs are read
            [rec("a", T.RUNNING, 2, tries=[{"try": 1, "state": "failed", "pod": "p-a-1"}])],
            set(),
            [TryLog("a", 1, "p-a-1", False), TryLog("a", 2, "p-a-2", True)],
        ),
        ([rec("a", T.UP_FOR_RETRY)], set(), [TryLog("a", 1, "p-a-1", False)]),
        # the record names no pod: the one its name gives
        ([rec("a", T.SUCCESS, pod=None)], set(), [TryLog("a", 1, "r-a-1", False)]),
    ],
)
def test_new_logs(
    tasks: list[dict[str, Any]], seen: set[tuple[str, int]], expected: list[TryLog]
) -> None:
    assert new_logs("r", status(*tasks), seen) == expected


@pytest.mark.parametrize(
    ("run", "only", "is_over", "is_passed"),
    [
        (status(rec("a", T.RUNNING)), None, False, False),
        (status(rec("a", T.SUCCESS), state="success"), None, True, True),
        (status(rec("a", T.FAILED), state="failed"), None, True, False),
        # --task: the task's own outcome, whatever the run's
        (status(rec("a", T.SUCCESS), rec("b", T.RUNNING)), "a", True, True),
        (status(rec("a", T.UP_FOR_RETRY)), "a", False, False),
        (status(rec("a", T.FAILED)), "a", True, False),
        (status(rec("a", T.SKIPPED)), "a", True, True),
    ],
)
def test_when_the_test_is_over_and_how_it_ended(
    run: DagRunStatus, only: str | None, is_over: bool, is_passed: bool
) -> None:
    assert ended(run, only) is is_over
    assert passed(run, only) is is_passed


def dagrun(run_status: DagRunStatus) -> DagRun:
    return DagRun.model_validate(
        {
            "metadata": {"name": "etl-test-20260101-0000", "namespace": "ns"},
            "spec": {"dagName": "etl", "runType": "test"},
            "status": run_status.model_dump(by_alias=True, mode="json"),
        }
    )


def test_progress_line_and_summary() -> None:
    run = dagrun(
        status(rec("a", T.RUNNING), rec("b", T.UP_FOR_RETRY), rec("c", T.NONE, 0)).model_copy(
            update={"progress": "0/3"}
        )
    )
    assert (
        progress_line(run, None) == "etl-test-20260101-0000: running 0/3  running: a  retrying: b"
    )
    assert progress_line(run, "b") == "etl-test-20260101-0000: task b up_for_retry"
    done = dagrun(
        status(
            rec(
                "a",
                T.FAILED,
                started=datetime(2026, 1, 1, tzinfo=UTC),
                finished=datetime(2026, 1, 1, 0, 1, 5, tzinfo=UTC),
                exitCode=3,
                message="exit code 3\nmore",
            ),
            state="failed",
        )
    )
    lines = dag_test.summary_lines(done, None)
    assert lines[0] == "test run of DAG etl: failed"
    assert lines[1].split() == ["TASK", "STATE", "TRY", "DURATION", "EXIT", "MESSAGE"]
    assert lines[2].split() == ["a", "failed", "1", "1m5s", "3", "exit", "code", "3"]
    assert dag_test.summary_lines(done, "a")[0] == "task a of DAG etl: failed"


def test_the_test_run_manifest() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    whole = render.throwaway_dagrun(
        namespace="ns", dag_name="etl", dag_uid="u", logical_date=when, conf={"x": 1}
    )
    assert whole["metadata"]["name"] == "etl-test-20260101-0000"
    assert whole["spec"] == {
        "dagName": "etl",
        "runType": "test",
        "logicalDate": "2026-01-01T00:00:00Z",
        "conf": {"x": 1},
    }
    one = render.throwaway_dagrun(
        namespace="ns",
        dag_name="etl",
        dag_uid="u",
        logical_date=when,
        conf=None,
        only_task="b",
        tasks=["a", "b", "c"],
    )
    assert one["spec"]["request"] == {
        "id": "test-only-b",
        "action": "markSuccess",
        "tasks": ["a", "c"],
    }
    alone = render.throwaway_dagrun(
        namespace="ns",
        dag_name="etl",
        dag_uid="u",
        logical_date=when,
        conf=None,
        only_task="a",
        tasks=["a"],
    )
    assert "request" not in alone["spec"]  # an empty task list would mean every task


class FakeLogs:
    def __init__(self, chunks: list[bytes], error: ApiError | None = None) -> None:
        self.chunks, self.error = chunks, error

    async def pod_log(self, namespace: str, name: str, **_: Any) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.error is not None:
            raise self.error


def test_log_lines_carry_their_task_and_try() -> None:
    out = io.StringIO()
    kube: Any = FakeLogs([b"one\ntw", b"o\nthree"])
    asyncio.run(dag_test._read_log(kube, "ns", TryLog("a", 2, "p", True), Progress(out, tty=False)))
    assert out.getvalue() == "[a #2] one\n[a #2] two\n[a #2] three\n"
    out = io.StringIO()
    kube = FakeLogs([], ApiError(404, "NotFound", "gone"))
    gone = TryLog("a", 1, "p", False)
    asyncio.run(dag_test._read_log(kube, "ns", gone, Progress(out, tty=False)))
    assert out.getvalue() == "[a #1] (no log: pod p: gone)\n"
    out = io.StringIO()
    asyncio.run(dag_test._read_log(FakeLogs([]), "ns", gone, Progress(out, tty=False)))
    assert out.getvalue() == "[a #1] (empty log)\n"


def test_progress_is_one_updating_line_on_a_terminal_and_plain_lines_otherwise() -> None:
    plain = io.StringIO()
    progress = Progress(plain, tty=False)
    for line in ("1/3", "1/3", "2/3"):
        progress.update(line)
    progress.note("a log line")
    progress.finish()
    assert plain.getvalue() == "1/3\n2/3\na log line\n"

    terminal = io.StringIO()
    progress = Progress(terminal, tty=True)
    progress.update("1/3")
    progress.note("a log line")
    progress.update("2/3")
    progress.finish()
    assert terminal.getvalue() == ("\r\033[K1/3" + "\r\033[Ka log line\n1/3" + "\r\033[K2/3" + "\n")
    assert "\r" not in plain.getvalue()
