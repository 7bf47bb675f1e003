"""A run's outputs ConfigMaps (task outputs its DagRun has no room for, see core/outputs.py):
written before the status that points at them, and read back for the templates of the
tasks downstream. What was read or written is kept per run until the run finishes or is
deleted."""

from kubedag.core.outputs import NO_STORED_OUTPUTS, StoredOutputs
from kubedag.kube.client import MERGE_PATCH, Kube, core_path
from kubedag.manifests import render
from kubedag.models.dagrun import DagRun
from kubedag.reconcilers.caches import NamespacedName


class OutputStore:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        # run -> ConfigMap -> task -> output (JSON); a ConfigMap is here only whole.
        self._runs: dict[NamespacedName, dict[str, dict[str, str]]] = {}

    async def store(self, run: DagRun, moved: dict[str, dict[str, str]]) -> None:
        """Write outputs to their ConfigMaps: created, or patched when it exists (a repeated
        write of the same outputs changes nothing)."""
        if not moved:
            return
        cached = self._runs.setdefault(run.key, {})
        collection = core_path("configmaps", run.namespace)
        for name, outputs in moved.items():
            manifest = render.outputs_config_map(
                namespace=run.namespace,
                name=name,
                dag_name=run.spec.dag_name,
                run_name=run.name,
                run_uid=str(run.metadata.get("uid", "")),
                outputs=outputs,
            )
            if await self.kube.create(collection, manifest) is not None:
                cached[name] = dict(outputs)
                continue
            await self.kube.request(
                "PATCH",
                core_path("configmaps", run.namespace, name),
                render.outputs_patch(outputs),
                content_type=MERGE_PATCH,
            )
            if name in cached:
                cached[name].update(outputs)

    async def load(self, run: DagRun) -> StoredOutputs:
        """The outputs the run's records say are in its ConfigMaps, by task (one missing
        from its ConfigMap, e.g. deleted by hand, is absent)."""
        wanted = {r.name: r.outputs_in for r in run.status.tasks if r.outputs_in}
        if not wanted:
            return NO_STORED_OUTPUTS
        cached = self._runs.setdefault(run.key, {})
        for name in set(wanted.values()) - cached.keys():
            body = await self.kube.get(core_path("configmaps", run.namespace, name))
            if body is not None:
                cached[name] = dict(body.get("data") or {})
        return StoredOutputs(
            {
                task: cached[name][task]
                for task, name in wanted.items()
                if task in cached.get(name, {})
            }
        )

    def forget(self, run: NamespacedName) -> None:
        self._runs.pop(run, None)

    def __len__(self) -> int:
        """Runs with outputs kept."""
        return len(self._runs)
