"""Writing DAGs in Python: `DAG`, `Task`, `BashTask`, `@task`, `chain`, emitted as the
manifests `kubectl apply` takes (`dag.to_yaml()`, `kubedag build`)."""

from kubedag.models.dag import TriggerRule, WeightRule
from kubedag.sdk.dag import DAG
from kubedag.sdk.python_task import output, task
from kubedag.sdk.tasks import BashTask, Task, chain
from kubedag.sdk.values import SdkError

__all__ = [
    "DAG",
    "BashTask",
    "SdkError",
    "Task",
    "TriggerRule",
    "WeightRule",
    "chain",
    "output",
    "task",
]
