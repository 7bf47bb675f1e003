"""The outcome of every try kept in the run's status: before a task's record is reused for
its next try (a retry, or a clear), its current try is archived in `record.tries`, so the
outcome stays when the pod (and its log) is gone."""

from kubedag.core.pod_observation import SKIP_EXIT_CODE
from kubedag.models.dagrun import TaskRecord, TaskState, TryRecord

# Earlier tries kept per task: enough for the usual retries, while a 2,000-task run whose
# tasks all retry stays far below etcd's object size limit.
MAX_EARLIER_TRIES = 10


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


def archive_try(record: TaskRecord, state: TaskState | None = None) -> None:
    """Append the record's current try to `record.tries` (once; nothing before a first try).
    `state`: how the try ended, when the caller knows better than the record (a clear of a
    running task). The list is replaced, never changed in place: records are copied
    shallowly."""
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
    record.tries = [*earlier, entry][-MAX_EARLIER_TRIES:]
