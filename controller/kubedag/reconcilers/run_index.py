"""One DAG's run summaries, indexed for the passes that read them, so that a pass costs the
DAG's unfinished runs and not its history (a DAG keeps every run unless its history limits
say otherwise; docs/performance.md, "A DAG's history, off the passes' path"):

- the scheduler's view (`core.dag_scheduler.scheduler_view`): the unfinished runs, and the
  finished marks, kept as runs come and go and recomputed only when a mark itself changes
  or goes;
- the runs by logical date: all of them, those that can be a previous run under catchup
  (no manual runs: Airflow's `get_previous_scheduled_dagrun`) for rule 22, and the
  successful ones for the templates' previous success, each found by bisection;
- how many runs reference each DAG snapshot, for the snapshots' cleanup;
- the test runs, which history cleanup deletes whatever the DAG's limits.

`RunCache` (caches.py) holds one per DAG and decides which summary is newest; this only
indexes what it is given."""

import bisect
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Literal

from kubedag.core.dag_scheduler import FinishedMarks, RunSummary, finished_marks, is_unfinished
from kubedag.core.past import counts_as_previous, counts_as_previous_success
from kubedag.models.dagrun import RunType

Dated = list[tuple[datetime, str]]
Among = Literal["all", "previous_under_catchup", "successes"]


class DagRunIndex:
    def __init__(self) -> None:
        self.summaries: dict[str, tuple[int | None, RunSummary]] = {}
        self._unfinished: dict[str, RunSummary] = {}
        self._marks: FinishedMarks | None = FinishedMarks()  # None: to recompute
        self._by_date: dict[Among, Dated] = {
            "all": [],
            "previous_under_catchup": [],  # those that count as previous under catchup
            "successes": [],  # those that count as a previous success
        }
        self._snapshots: Counter[str] = Counter()
        self._test_runs: set[str] = set()

    def __len__(self) -> int:
        return len(self.summaries)

    def put(self, summary: RunSummary, version: int | None) -> None:
        known = self.summaries.get(summary.name)
        if known is not None:
            self._unindex(known[1])
        self.summaries[summary.name] = (version, summary)
        self._index(summary)
        self._redate(known[1] if known is not None else None, summary)
        if self._marks is None:
            return
        if known is not None and summary.name in self._marks.names():
            self._marks = self._marks.refreshed(summary)
        elif not is_unfinished(summary):
            self._marks = self._marks.with_run(summary)

    def remove(self, name: str) -> None:
        known = self.summaries.pop(name, None)
        if known is None:
            return
        self._unindex(known[1])
        self._redate(known[1], None)
        if self._marks is not None and name in self._marks.names():
            self._marks = None  # another run takes its place: found at the next view

    def _index(self, run: RunSummary) -> None:
        if is_unfinished(run):
            self._unfinished[run.name] = run
        if run.snapshot:
            self._snapshots[run.snapshot] += 1
        if run.run_type is RunType.TEST:
            self._test_runs.add(run.name)

    def _unindex(self, run: RunSummary) -> None:
        self._unfinished.pop(run.name, None)
        if run.snapshot:
            self._snapshots[run.snapshot] -= 1
            if not self._snapshots[run.snapshot]:
                del self._snapshots[run.snapshot]
        self._test_runs.discard(run.name)

    def _redate(self, before: RunSummary | None, after: RunSummary | None) -> None:
        """Move the run in the date lists: an update that keeps its date and its lists (most
        status writes) moves nothing."""
        old = _date_lists(before) if before is not None else set()
        new = _date_lists(after) if after is not None else set()
        if before is not None and after is not None and before.logical_date == after.logical_date:
            old, new = old - new, new - old
        for among in old:
            assert before is not None and before.logical_date is not None
            _discard(self._by_date[among], (before.logical_date, before.name))
        for among in new:
            assert after is not None and after.logical_date is not None
            bisect.insort(self._by_date[among], (after.logical_date, after.name))

    def scheduler_view(self) -> list[RunSummary]:
        """`scheduler_view` of every run, without a walk of every run."""
        if self._marks is None:
            self._marks = finished_marks(summary for _, summary in self.summaries.values())
        return [*self._unfinished.values(), *self._marks.runs()]

    def unfinished(self) -> list[RunSummary]:
        return list(self._unfinished.values())

    def newest_before(self, date: datetime, among: Among = "all") -> Iterator[RunSummary]:
        """The runs with a logical date before `date`, newest first (by logical date, then
        name): all, those that can be a previous run with the DAG's catchup on, or those
        that can be a previous success."""
        dated = self._by_date[among]
        for index in range(bisect.bisect_left(dated, (date,)) - 1, -1, -1):
            yield self.summaries[dated[index][1]][1]

    def snapshots(self) -> set[str]:
        """The snapshots the runs reference."""
        return set(self._snapshots)

    def has_test_runs(self) -> bool:
        return bool(self._test_runs)

    def index_sizes(self) -> int:
        """Entries beside the summaries (for the informer's size metric)."""
        return sum(map(len, self._by_date.values())) + len(self._snapshots)


def _date_lists(run: RunSummary) -> set[Among]:
    """The date lists the run belongs in."""
    if run.logical_date is None:
        return set()
    lists: set[Among] = {"all"}
    if counts_as_previous(run, catchup=True):
        lists.add("previous_under_catchup")
    if counts_as_previous_success(run):
        lists.add("successes")
    return lists


def _discard(dated: Dated, entry: tuple[datetime, str]) -> None:
    index = bisect.bisect_left(dated, entry)
    if index < len(dated) and dated[index] == entry:
        del dated[index]
