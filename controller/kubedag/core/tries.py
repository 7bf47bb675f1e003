"""The outcome of every try kept in the run's status: before a task's record is reused for
its next try (a retry, or a clear), its current try is archived in `record.tries`, so the
outcome stays when the pod (and its log) is gone."""

from kubedag.core.pod_observation import SKIP_EXIT_CODE
from kubedag.models.dagrun import TaskRecord, TaskState, TryRecord

# Earlier tries kept per task (the newest), and per run: enough for the usual retries, while
# a 2,000-task run whose tasks all retry stays below etcd's object size limit (1.5 MiB; a
# try takes about 155 bytes, the 2,000 records without them about 390 KB).
MAX_EARLIER_TRIES = 10
EARLIER_TRIES_PER_RUN = 4000


def earlier_tries_limit(task_count: int) -> int:
    """Earlier tries kept per task in a run of `task_count` tasks."""
    return max(1, min(MAX_EARLIER_TRIES, EARLIER_TRIES_PER_RUN // max(task_count, 1)))


def _outcome(record: TaskRecord) -> TaskState:
    if record.state.finished:
        return record.state
    # A try being replaced while scheduled or up for retry failed (or was cleared): its
    # exit code tells which.
    if record.exit_code == 0:
        return TaskState.SUCCESS
    if record.exit_code == SKIP_EXIT_CODE:
        return TaskState.SKIPPED
    return TaskState.FAILED


def archive_try(
    record: TaskRecord, state: TaskState | None = None, *, keep: int = MAX_EARLIER_TRIES
) -> None:
    """Append the record's current try to `record.tries` (once; nothing before a first try).
    `state`: how the try ended, when the caller knows better than the record (a clear of a
    running task). The list is replaced, never changed in place: records are copied
    shallowly. `keep`: the newest earlier tries kept (`earlier_tries_limit`)."""
    if record.try_number <= 0:
        return
    earlier = record.tries or []
    if earlier and earlier[-1].try_number >= record.try_number:
        return
    entry = TryRecord(
        try_number=record.try_number,
        state=state or _outcome(record),
        exit_code=record.exit_code,
        started=record.started,
        finished=record.finished,
        pod=record.pod,
    )
    record.tries = [*earlier, entry][-keep:]
