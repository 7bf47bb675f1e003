"""devcluster/images.py without root or buildah: what it hashes, which commands it runs, and that
a cached archive is reused. The built images themselves are checked in tests/e2e/test_images.py.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from devcluster import images
from devcluster.images import DockerfileImage
from devcluster.pause import PAUSE

REPO = Path(__file__).resolve().parents[2]


def _load_build_script() -> ModuleType:
    # task-images is not a package (the hyphen): load build.py from its path.
    spec = importlib.util.spec_from_file_location(
        "task_images_build", REPO / "task-images/build.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _load_build_script()
CONTROLLER: DockerfileImage = BUILD.IMAGES["controller"]
PYTHON_TASK: DockerfileImage = BUILD.IMAGES["python-task"]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KUBEDAG_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _image(tmp_path: Path, ignore: str | None = None) -> DockerfileImage:
    context = tmp_path / "context"
    (context / "src").mkdir(parents=True)
    (context / "src/app.py").write_text("print('hi')\n")
    (context / "notes.txt").write_text("not copied\n")
    dockerfile = context / "Dockerfile"
    dockerfile.write_text("FROM debian:bookworm-slim\nCOPY src /src\n")
    if ignore is not None:
        (context / "Dockerfile.dockerignore").write_text(ignore)
    return DockerfileImage("example/app:1", dockerfile, context)


def test_controller_context_is_what_its_ignore_file_lets_through() -> None:
    files = images.context_files(CONTROLLER)
    assert {"pyproject.toml", "README.md", "requirements.lock"} <= set(files)
    assert "controller/kubedag/cli.py" in files
    assert not [f for f in files if f.startswith((".venv/", ".git/", "tests/", "task-images/"))]
    assert not [f for f in files if "__pycache__" in f or ".egg-info/" in f]


def test_cache_key_follows_every_input(tmp_path: Path) -> None:
    image = _image(tmp_path, ignore="notes.txt\n")
    key = images.cache_key(image)
    assert images.cache_key(image) == key, "the key is stable"

    (image.context / "notes.txt").write_text("ignored, so no rebuild\n")
    assert images.cache_key(image) == key

    (image.context / "src/app.py").write_text("print('changed')\n")
    changed_source = images.cache_key(image)
    assert changed_source != key

    (image.context / "src/app.py").chmod(0o755)
    assert images.cache_key(image) != changed_source, "the executable bit is content too"

    image.dockerfile.write_text("FROM debian:bookworm-slim\nCOPY src /app\n")
    assert images.cache_key(image) not in {key, changed_source}


def test_build_arguments_are_passed_and_keyed(tmp_path: Path) -> None:
    plain = _image(tmp_path)
    pinned = dataclasses.replace(plain, build_args=(("POSTGRESQL_VERSION", "15.18-0+deb12u1"),))
    other = dataclasses.replace(plain, build_args=(("POSTGRESQL_VERSION", "15.20-0+deb12u1"),))
    assert len({images.cache_key(plain), images.cache_key(pinned), images.cache_key(other)}) == 3
    assert "--build-arg=POSTGRESQL_VERSION=15.18-0+deb12u1" in images.bud_command(pinned)
    assert not [arg for arg in images.bud_command(plain) if arg.startswith("--build-arg")]


def test_cache_key_follows_the_base_only_for_images_built_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_base = _image(tmp_path)
    scratch_context = tmp_path / "scratch"
    scratch_context.mkdir()
    (scratch_context / "Dockerfile").write_text("FROM scratch\nCOPY app /app\n")
    (scratch_context / "app").write_bytes(b"\x7fELF")
    scratch = DockerfileImage("example/static:1", scratch_context / "Dockerfile", scratch_context)
    before = images.cache_key(on_base), images.cache_key(scratch)

    monkeypatch.setattr(images, "MMDEBSTRAP_OPTIONS", (*images.MMDEBSTRAP_OPTIONS, "--x"))
    assert images.cache_key(on_base) != before[0]
    assert images.cache_key(scratch) == before[1]


def test_which_images_start_from_the_mmdebstrap_base() -> None:
    assert PYTHON_TASK.uses_base
    assert CONTROLLER.uses_base
    pause = DockerfileImage(PAUSE.reference, PAUSE.dockerfile, PAUSE.dockerfile.parent)
    assert not pause.uses_base


def test_bud_command_builds_the_dockerfile_offline_in_the_project_storage(cache: Path) -> None:
    argv = images.bud_command(CONTROLLER, ["/a:/b:ro"])
    assert argv[:7] == [
        "buildah",
        "--root",
        str(cache / "buildah/storage"),
        "--runroot",
        "/run/kubedag-buildah",
        "--storage-driver",
        "overlay",
    ]
    assert argv[7] == "bud"
    assert "--pull=never" in argv
    assert argv[argv.index("--isolation") + 1] == "chroot"
    assert argv[argv.index("--file") + 1] == str(REPO / "task-images/controller/Dockerfile")
    assert argv[argv.index("--tag") + 1] == "docker.io/kubedag/controller:0.1.0"
    ignore_file = REPO / "task-images/controller/Dockerfile.dockerignore"
    assert f"--ignorefile={ignore_file}" in argv
    assert "--volume=/a:/b:ro" in argv
    assert argv[-1] == str(REPO), "the controller is built from the repository root"
    task = images.bud_command(PYTHON_TASK)
    task_ignore = REPO / "task-images/python-task/Dockerfile.dockerignore"
    assert f"--ignorefile={task_ignore}" in task
    assert task[-1] == str(REPO), "python-task (with the toolkit) too"


def test_mmdebstrap_makes_a_minbase_bookworm_without_docs_or_apt_caches(tmp_path: Path) -> None:
    argv = images.mmdebstrap_command(tmp_path / "rootfs.tar")
    assert argv[0] == "mmdebstrap"
    assert argv[-3:] == ["bookworm", str(tmp_path / "rootfs.tar"), images.DEBIAN_MIRROR]
    assert "--variant=minbase" in argv
    assert "--dpkgopt=path-exclude=/usr/share/doc/*" in argv
    assert '--aptopt=Dir::Cache::pkgcache ""' in argv


@pytest.mark.parametrize(
    ("reference", "normalized"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("debian:bookworm-slim", "docker.io/library/debian:bookworm-slim"),
        ("kubedag/pause:3.10", "docker.io/kubedag/pause:3.10"),
        ("localhost/kubedag-base:abc", "localhost/kubedag-base:abc"),
        ("registry.example:5000/team/app:2", "registry.example:5000/team/app:2"),
    ],
)
def test_normalize_reference(reference: str, normalized: str) -> None:
    assert images.normalize_reference(reference) == normalized


def test_pip_in_a_build_trusts_what_the_host_pip_trusts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "ca.crt"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setenv("PIP_CERT", str(bundle))
    volumes = images.pip_trust_volumes(tmp_path)
    assert volumes == [
        f"{bundle}:/etc/kubedag-host-ca.crt:ro",
        f"{tmp_path / 'pip.conf'}:/etc/pip.conf:ro",
    ]
    assert (tmp_path / "pip.conf").read_text() == "[global]\ncert = /etc/kubedag-host-ca.crt\n"

    monkeypatch.delenv("PIP_CERT")
    assert images.pip_trust_volumes(tmp_path) == []


def test_an_archive_of_the_same_inputs_is_reused_without_buildah(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = _image(tmp_path)
    cached = cache / "images" / f"example_app-1-{images.cache_key(image)}.tar"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"archive")
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    assert images.build(image) == cached

    (image.context / "src/app.py").write_text("print('changed')\n")
    with pytest.raises(images.ImageBuildError, match="buildah is required"):
        images.build(image)


def test_old_archives_are_pruned_per_image(cache: Path) -> None:
    folder = cache / "images"
    folder.mkdir(parents=True)
    for i in range(5):
        for stem in ("kubedag_controller-0.1.0", "kubedag_pause-3.10"):
            (folder / f"{stem}-{i:016x}.tar").write_bytes(b"")
    images._prune("kubedag_controller-0.1.0")
    left = sorted(p.name for p in folder.iterdir())
    assert len([n for n in left if n.startswith("kubedag_controller")]) == 3
    assert len([n for n in left if n.startswith("kubedag_pause")]) == 5


def test_build_script_arguments() -> None:
    assert BUILD.parse_args([]).images == ["python-task", "controller"]
    assert BUILD.parse_args(["all"]).images == ["python-task", "controller"]
    assert BUILD.parse_args(["controller", "controller"]).images == ["controller"]
    assert BUILD.parse_args(["warehouse-postgres", "all"]).images == [
        "warehouse-postgres",
        "python-task",
        "controller",
    ]
    with pytest.raises(SystemExit):
        BUILD.parse_args(["nginx"])
