"""What both reconcilers work with: the API, the informer, the snapshots, the settings and
the clock (injected, so unit tests run at a time of their choosing)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from kubedag.kube.client import Kube
from kubedag.reconcilers.informer import Informer
from kubedag.reconcilers.settings import ControllerSettings
from kubedag.reconcilers.snapshots import SnapshotStore


@dataclass(frozen=True)
class ReconcilerContext:
    kube: Kube
    informer: Informer
    snapshots: SnapshotStore
    settings: ControllerSettings
    now: Callable[[], datetime]


class Reconciler:
    """What the DAG and run reconcilers share: the context's parts, by name."""

    def __init__(self, context: ReconcilerContext) -> None:
        self.kube = context.kube
        self.informer = context.informer
        self.snapshots = context.snapshots
        self.settings = context.settings
        self.now = context.now
