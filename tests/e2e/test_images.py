"""The kubedag images as task-images/build.py builds them from the Dockerfiles (buildah): their
configs as the kubelet reads them. Cached archives are reused; the cluster fixture installs the
host packages (buildah, mmdebstrap) and skips without root."""

from __future__ import annotations

import json
import tarfile
from typing import Any

import pytest

from devcluster.images import build
from tests.unit.test_images import BUILD

pytestmark = pytest.mark.usefixtures("local_cluster")

TITLE = "org.opencontainers.image.title"


def _archive(name: str) -> tuple[list[str], dict[str, Any]]:
    """(RepoTags, image config) of a built image's docker-archive."""
    with tarfile.open(build(BUILD.IMAGES[name])) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
        config = json.load(archive.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
    return manifest[0]["RepoTags"], config


def test_controller_image_runs_the_operator_as_a_non_root_user() -> None:
    tags, image = _archive("controller")
    assert tags == ["docker.io/kubedag/controller:0.1.0"]
    config = image["config"]
    assert config["Entrypoint"] == ["python3", "-m", "kubedag.cli"]
    assert config["Cmd"] == ["run"]
    assert config["User"] == "65532:65532"
    assert config["WorkingDir"] == "/home/kubedag"
    assert "PYTHONPATH=/opt/kubedag/site-packages" in config["Env"]
    assert config["Labels"][TITLE] == "kubedag/controller"
    assert config["Labels"]["org.opencontainers.image.version"] == "0.1.0"


def test_python_task_image_leaves_the_command_to_the_task() -> None:
    tags, image = _archive("python-task")
    assert tags == ["docker.io/kubedag/python-task:0.1.0"]
    config = image["config"]
    assert "Entrypoint" not in config
    assert config["Cmd"] == ["python3"]
    assert config["User"] == "65532:65532"
    assert config["Labels"][TITLE] == "kubedag/python-task"


def test_both_images_share_the_base_and_python_layers() -> None:
    task_layers = _archive("python-task")[1]["rootfs"]["diff_ids"]
    controller_layers = _archive("controller")[1]["rootfs"]["diff_ids"]
    assert len(task_layers) == 3  # the base, python3, the toolkit
    assert controller_layers[:2] == task_layers[:2]
