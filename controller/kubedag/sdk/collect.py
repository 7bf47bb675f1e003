"""Run one Python DAG file and collect the manifest of every DAG it made, or the error with
the file and line it came from. `kubedag build` calls this in a process per file."""

import runpy
import sys
import traceback
from pathlib import Path
from typing import Any

from kubedag.sdk.dag import collect_dags
from kubedag.sdk.values import SdkError


def error_place(error: BaseException, file: Path) -> str:
    """'dags/etl.py:12' for the deepest line of the file in the traceback."""
    if isinstance(error, SdkError) and error.location is not None:
        return str(error.location)
    if isinstance(error, SyntaxError) and error.lineno is not None:
        return f"{error.filename or file}:{error.lineno}"
    frames = traceback.extract_tb(error.__traceback__)
    resolved = str(file.resolve())
    own = [f for f in frames if str(Path(f.filename).resolve()) == resolved]
    chosen = own or list(frames)
    return f"{chosen[-1].filename}:{chosen[-1].lineno}" if chosen else str(file)


def error_text(error: BaseException, file: Path) -> str:
    detail = error.detail if isinstance(error, SdkError) else str(error)
    if isinstance(error, SyntaxError):
        detail = error.msg
    return f"{error_place(error, file)}: {type(error).__name__}: {detail}"


def collect(file: Path, root: Path) -> dict[str, Any]:
    """{"dags": [{"name", "location", "manifest"}]} or {"error": "file:line: Type: message"}."""
    sys.path[:0] = [str(file.parent), str(root)]  # sibling helper modules import, as in Airflow
    created = collect_dags()
    try:
        runpy.run_path(str(file), run_name=f"kubedag_build_{file.stem}")
        dags = [
            {"name": dag.dag_id, "location": str(dag.location), "manifest": dag.to_manifest()}
            for dag in created
        ]
    except BaseException as error:  # a DAG file may raise anything, SystemExit too
        return {"error": error_text(error, file)}
    return {"dags": dags}
