"""DAG-version snapshots: built once per DAG generation, stored as immutable ConfigMaps
(created when the DAG's pass first sees that version valid, or by the first run pinned to it
if that comes first), and read back for the runs pinned to them.

Entries are kept per DAG: the current version's build, and decoded snapshots that the DAG's
unfinished runs use (`keep_only`); `forget` drops all of a deleted DAG's."""

from collections.abc import Callable

from kubedag.core.naming import snapshot_name
from kubedag.core.snapshot import SNAPSHOT_KEY, Snapshot, build_snapshot
from kubedag.kube.client import Kube, core_path
from kubedag.manifests import render
from kubedag.models.dag import Dag
from kubedag.reconcilers.caches import NamespacedName


class SnapshotStore:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._built: dict[NamespacedName, tuple[tuple[str, int], Snapshot]] = {}
        self._stored: dict[NamespacedName, dict[str, Snapshot]] = {}  # DAG -> name -> snapshot

    def current(self, dag: Dag) -> Snapshot:
        """The snapshot of the DAG's current generation."""
        key = (dag.namespace, dag.name)
        version = (str(dag.metadata.get("uid")), dag.generation)
        built = self._built.get(key)
        if built is None or built[0] != version:
            built = self._built[key] = (version, build_snapshot(dag.spec))
        return built[1]

    def current_name(self, dag: Dag) -> str:
        return snapshot_name(dag.name, self.current(dag).digest())

    async def ensure_stored(self, dag: Dag, snapshot: Snapshot) -> str:
        """The snapshot's ConfigMap name, creating it on first use (AlreadyExists is fine:
        the name is its content's hash)."""
        name = snapshot_name(dag.name, snapshot.digest())
        stored = self._stored.setdefault((dag.namespace, dag.name), {})
        if name not in stored:
            manifest = render.snapshot_config_map(
                namespace=dag.namespace,
                dag_name=dag.name,
                dag_uid=dag.metadata["uid"],
                generation=dag.generation,
                snapshot=snapshot,
            )
            await self.kube.create(core_path("configmaps", dag.namespace), manifest)
            stored[name] = snapshot
        return name

    async def store_current(self, dag: Dag, referenced: Callable[[], set[str]]) -> None:
        """Store the current version's snapshot as soon as the DAG is applied, so that its
        first run's pin, on the path of the run's start, finds it made. One that a run of
        the DAG already references (``referenced()``, asked only when this store has not
        stored it) is stored: the controller may have restarted since."""
        name = self.current_name(dag)
        stored = self._stored.setdefault((dag.namespace, dag.name), {})
        if name in stored:
            return
        if name in referenced():
            stored[name] = self.current(dag)
            return
        await self.ensure_stored(dag, self.current(dag))

    async def load(self, dag: NamespacedName, name: str) -> Snapshot | None:
        """A pinned snapshot; None if its ConfigMap is gone."""
        stored = self._stored.setdefault(dag, {})
        if name not in stored:
            body = await self.kube.get(core_path("configmaps", dag[0], name))
            if body is None:
                return None
            stored[name] = Snapshot.decode(body["binaryData"][SNAPSHOT_KEY])
        return stored[name]

    def keep_only(self, dag: NamespacedName, names: set[str]) -> None:
        """Drop the decoded snapshots of this DAG that no unfinished run uses any more."""
        stored = self._stored.get(dag)
        if stored is None:
            return
        for name in [n for n in stored if n not in names]:
            del stored[name]
        if not stored:
            del self._stored[dag]

    def forget(self, dag: NamespacedName) -> None:
        self._built.pop(dag, None)
        self._stored.pop(dag, None)

    def sizes(self) -> dict[str, int]:
        return {
            "built_snapshots": len(self._built),
            "snapshots": sum(len(s) for s in self._stored.values()),
        }
