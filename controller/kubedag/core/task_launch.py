"""A task try the run engine decided to start, with its templates rendered: everything its
pod needs that depends on the run. `manifests.render.task_pod` turns it into the pod."""

from dataclasses import dataclass
from typing import Any

from kubedag.core.dates import rfc3339
from kubedag.core.naming import pod_name
from kubedag.core.snapshot import ResolvedTask
from kubedag.core.templating import RunContext, TemplateError, render


@dataclass(frozen=True)
class TaskLaunch:
    task: ResolvedTask
    context: RunContext
    command: list[str] | None
    args: list[str] | None
    env: list[dict[str, Any]]

    @property
    def pod_name(self) -> str:
        return pod_name(self.context.run_id, self.context.task_name, self.context.try_number)


def _render_list(items: list[str] | None, variables: dict[str, Any], where: str) -> list[str]:
    rendered = []
    for i, item in enumerate(items or []):
        try:
            rendered.append(render(item, variables))
        except TemplateError as error:
            raise TemplateError(f"{where}[{i}]: {error}") from None
    return rendered


def _env(task: ResolvedTask, ctx: RunContext, variables: dict[str, Any]) -> list[dict[str, Any]]:
    builtin = {
        "KUBEDAG_DAG": ctx.dag_name,
        "KUBEDAG_RUN_ID": ctx.run_id,
        "KUBEDAG_TASK": ctx.task_name,
        "KUBEDAG_TRY_NUMBER": str(ctx.try_number),
        "KUBEDAG_LOGICAL_DATE": rfc3339(ctx.logical_date),
        "KUBEDAG_DATA_INTERVAL_START": rfc3339(ctx.data_interval_start),
        "KUBEDAG_DATA_INTERVAL_END": rfc3339(ctx.data_interval_end),
    }
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in builtin.items()]
    for var in task.env or []:
        item = var.to_wire()
        if var.value is not None:
            try:
                item["value"] = render(var.value, variables)
            except TemplateError as error:
                raise TemplateError(f"env {var.name}: {error}") from None
        env.append(item)
    return env


def prepare_launch(task: ResolvedTask, ctx: RunContext) -> TaskLaunch:
    """Try ctx.try_number of `task`, rendered; raises TemplateError naming the field."""
    variables = ctx.variables()
    return TaskLaunch(
        task=task,
        context=ctx,
        command=_render_list(task.command, variables, "command") if task.command else None,
        args=_render_list(task.args, variables, "args") if task.args else None,
        env=_env(task, ctx, variables),
    )
