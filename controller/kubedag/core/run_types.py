"""What each type of run takes part in besides running its tasks, one rule a function, so
every place that asks reads the same answer.

A test run (`kubedag test`, Airflow's `dags test` and `tasks test`) is a throwaway: it runs
its tasks on the cluster and takes part in nothing else. It is never another run's previous
run (dependsOnPast, the prev_*_success template variables) and reads no previous run
itself; it records no dataset updates and sends no notifications (nor deadline misses); it
is not the schedule's position, takes no slot of the DAG's maxActiveRuns and waits for none
(so catchup and scheduled runs go on as if it did not exist), runs while the DAG is paused
(it is asked for by hand, as a backfill is); it is not a DAG's last successful or failed
run, counts in no history limit, is invisible to backfills and to other DAGs' sensors, and
history cleanup deletes it TEST_RUN_TTL after it ended when `kubedag test` could not.
Its templates see run_type `manual`, as Airflow's `dags test` run is a manual one (with
triggered_by `test`).
"""

from datetime import timedelta

from kubedag.models.dagrun import RunType

TEST_RUN_TTL = timedelta(minutes=10)
"""How long a finished test run stays when `kubedag test` did not delete it (the command was
killed, or lost the API server)."""

_HAND_MADE = frozenset({RunType.BACKFILL, RunType.TEST})


def is_schedule_position(run_type: RunType) -> bool:
    """Whether the run's interval is where the DAG's schedule (and catchup) goes on from."""
    return run_type is RunType.SCHEDULED


def takes_dag_slot(run_type: RunType) -> bool:
    """Whether the run counts under its DAG's maxActiveRuns and waits for a slot in it: a
    backfill's runs count under their Backfill's own limit instead (rule 8), test runs under
    none."""
    return run_type not in _HAND_MADE


def runs_while_paused(run_type: RunType) -> bool:
    """Whether the run starts and goes on while its DAG is paused (it was asked for by hand)."""
    return run_type in _HAND_MADE


def can_be_previous(run_type: RunType) -> bool:
    """Whether the run may be a later run's previous run (dependsOnPast, rule 22) or its
    latest earlier success (prev_*_success)."""
    return run_type is not RunType.TEST


def reads_the_past(run_type: RunType) -> bool:
    """Whether the run's dependsOnPast tasks wait for the previous run, and its templates see
    earlier runs."""
    return run_type is not RunType.TEST


def records_dataset_updates(run_type: RunType) -> bool:
    """Whether the run's successful outlets and outputs update their datasets."""
    return run_type is not RunType.TEST


def notifies(run_type: RunType) -> bool:
    """Whether the run's transitions and missed deadlines send notifications."""
    return run_type is not RunType.TEST


def counts_in_dag_outcomes(run_type: RunType) -> bool:
    """Whether the run may be its DAG's lastSuccessfulRun or lastFailedRun."""
    return run_type is not RunType.TEST


def counts_in_history(run_type: RunType) -> bool:
    """Whether the run counts in its DAG's history limits (a test run has TEST_RUN_TTL)."""
    return run_type is not RunType.TEST


def seen_by_other_runs(run_type: RunType) -> bool:
    """Whether backfills (deciding a date's existing run) and other DAGs' externalTaskSensor
    and triggerDagRun tasks see the run."""
    return run_type is not RunType.TEST


def template_run_type(run_type: RunType) -> RunType:
    """The run type templates see (`run_type`, `dag_run.run_type`, `external_trigger`)."""
    return RunType.MANUAL if run_type is RunType.TEST else run_type
