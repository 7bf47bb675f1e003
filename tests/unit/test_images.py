"""task-images/build.py without root, network or Docker: the image config and archive it writes,
its reproducible layer tars, its cache keys and error messages, and the Dockerfiles (for people
with Docker) agreeing with what it declares."""

import ast
import hashlib
import importlib.util
import json
import os
import shlex
import socket
import sys
import tarfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGES_DIR = REPO / "task-images"


def _load_build_module() -> ModuleType:
    # task-images is not a package (the hyphen): load build.py from its path.
    spec = importlib.util.spec_from_file_location(
        "kubedag_task_images_build", IMAGES_DIR / "build.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


build = _load_build_module()
KEYS = sorted(build.IMAGES)


# --------------------------------------------------------------------------------------------
# A small Dockerfile reader: enough for the instructions these Dockerfiles use.


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, instruction: str) -> list[str]:
        return [args for name, args in self.instructions if name == instruction]

    def last(self, instruction: str) -> str | None:
        found = self.all(instruction)
        return found[-1] if found else None

    def pairs(self, instruction: str) -> dict[str, str]:
        """ENV / LABEL key=value pairs, in order, later ones winning."""
        result: dict[str, str] = {}
        for args in self.all(instruction):
            for token in shlex.split(args):
                key, sep, value = token.partition("=")
                assert sep, f"{instruction} {args!r}: use the key=value form"
                result[key] = value
        return result

    def exec_form(self, instruction: str) -> list[str] | None:
        args = self.last(instruction)
        if args is None:
            return None
        value = json.loads(args)  # the JSON (exec) form, as build.py's config has it
        assert isinstance(value, list) and all(isinstance(v, str) for v in value)
        return value


def parse_dockerfile(text: str) -> list[Stage]:
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):  # comments end no instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "Dockerfile ends in a line continuation"
    stages: list[Stage] = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        args = " ".join(args.split())
        if instruction == "FROM":
            words = args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        else:
            assert stages, f"{instruction} before FROM"
            stages[-1].instructions.append((instruction, args))
    return stages


def dockerfile(key: str) -> Path:
    return IMAGES_DIR / key / "Dockerfile"


def final_stage(key: str) -> Stage:
    return parse_dockerfile(dockerfile(key).read_text())[-1]


def test_parse_dockerfile_reads_continuations_stages_and_pairs() -> None:
    stages = parse_dockerfile(
        "# comment\nFROM a:1 AS build\nRUN x \\\n  # inside\n && y\nFROM b\n"
        'ENV A=1 \\\n    B="two words"\nCMD ["c", "d"]\n'
    )
    assert [(s.base, s.name) for s in stages] == [("a:1", "build"), ("b", None)]
    assert stages[0].all("RUN") == ["x && y"]
    assert stages[1].pairs("ENV") == {"A": "1", "B": "two words"}
    assert stages[1].exec_form("CMD") == ["c", "d"]
    assert stages[1].exec_form("ENTRYPOINT") is None


# --------------------------------------------------------------------------------------------
# The Dockerfiles agree with build.py's declarations.


def test_every_image_has_a_dockerfile() -> None:
    assert KEYS == ["controller", "python-task"]
    for key in KEYS:
        assert dockerfile(key).is_file(), f"missing {dockerfile(key)}"
        assert build.IMAGES[key].key == key


@pytest.mark.parametrize("key", KEYS)
def test_dockerfile_runtime_config_matches_build_py(key: str) -> None:
    spec = build.IMAGES[key]
    stage = final_stage(key)
    assert stage.base == f"debian:{build.BASE.suite}-slim"
    assert list(stage.pairs("ENV").items()) == list(spec.env)
    assert stage.last("USER") == spec.user
    assert stage.last("WORKDIR") == spec.workdir
    assert stage.exec_form("ENTRYPOINT") == (list(spec.entrypoint) if spec.entrypoint else None)
    assert stage.exec_form("CMD") == (list(spec.cmd) if spec.cmd else None)
    assert stage.pairs("LABEL") == spec.labels_dict


@pytest.mark.parametrize("key", KEYS)
def test_dockerfile_builds_the_same_base_and_user(key: str) -> None:
    stage = final_stage(key)
    run = " ".join(stage.all("RUN"))
    install = run.split("apt-get install", 1)[1].split("&&", 1)[0].split()
    assert set(build.BASE.packages) <= set(install)
    assert f"groupadd --gid {build.GID} {build.USER_NAME}" in run
    useradd = (
        f"useradd --uid {build.UID} --gid {build.GID} --home-dir {build.HOME} --create-home "
        f"--shell {build.LOGIN_SHELL} {build.USER_NAME}"
    )
    assert useradd in run
    assert build.IMAGES[key].user == f"{build.UID}:{build.GID}"
    assert build.IMAGES[key].env_dict["HOME"] == build.HOME


def test_controller_dockerfile_installs_with_the_lock_into_site_packages() -> None:
    spec = build.IMAGES["controller"]
    stages = parse_dockerfile(dockerfile("controller").read_text())
    builder = " ".join(stages[0].all("RUN"))
    assert "-c requirements.lock" in builder
    assert f"--target {build.SITE_PACKAGES}" in builder
    assert f"mv {build.SITE_PACKAGES}/bin {build.OPT}/bin" in builder
    assert "--invalidation-mode unchecked-hash" in builder
    assert stages[-1].all("COPY") == [f"--from={stages[0].name} {build.OPT} {build.OPT}"]
    assert spec.env_dict["PYTHONPATH"] == build.SITE_PACKAGES
    assert spec.env_dict["PATH"].startswith(f"{build.OPT}/bin:")
    assert spec.layers == ("base", "controller")
    assert build.IMAGES["python-task"].layers == ("base",)


@pytest.mark.parametrize("key", KEYS)
def test_docs_name_the_declared_tags(key: str) -> None:
    spec = build.IMAGES[key]
    assert f"docker build -t {spec.ref}" in dockerfile(key).read_text()
    readme = (IMAGES_DIR / "README.md").read_text()
    assert f"docker build -t {spec.ref}" in readme
    assert f"kind load docker-image {spec.ref}" in readme
    assert f"task-images/{key}" in readme


def test_images_carry_the_project_version() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == build.VERSION
    for spec in build.IMAGES.values():
        assert spec.tag == build.VERSION
        assert spec.labels_dict["org.opencontainers.image.version"] == build.VERSION
        assert spec.labels_dict["org.opencontainers.image.title"] == spec.name
        assert spec.archive_name == f"{spec.name.replace('/', '-')}-{spec.tag}.tar"


def test_passwd_entries_describe_the_image_user() -> None:
    entries = build.passwd_entries()
    assert entries["etc/passwd"] == "kubedag:x:65532:65532::/home/kubedag:/usr/sbin/nologin"
    assert entries["etc/group"] == "kubedag:x:65532:"
    assert entries["etc/shadow"].startswith("kubedag:!:")


# --------------------------------------------------------------------------------------------
# Image config and docker-archive.


def fake_layer(tmp_path: Path, name: str, content: bytes) -> Any:
    path = tmp_path / f"{name}.tar"
    path.write_bytes(content)
    return build.Layer(
        path=path,
        digest="sha256:" + hashlib.sha256(content).hexdigest(),
        size=len(content),
        created_by=f"make {name}",
        comment=name,
    )


def test_image_config_of_the_controller(tmp_path: Path) -> None:
    layers = [fake_layer(tmp_path, "base", b"a"), fake_layer(tmp_path, "controller", b"b")]
    config = build.image_config(build.IMAGES["controller"], layers, 0)
    assert config["architecture"] == "amd64"
    assert config["os"] == "linux"
    assert config["created"] == "1970-01-01T00:00:00Z"
    assert config["rootfs"] == {"type": "layers", "diff_ids": [x.digest for x in layers]}
    assert [h["created_by"] for h in config["history"]] == ["make base", "make controller"]
    runtime = config["config"]
    assert runtime["User"] == "65532:65532"
    assert runtime["WorkingDir"] == "/home/kubedag"
    assert runtime["Entrypoint"] == ["python3", "-m", "kubedag.cli"]
    assert runtime["Cmd"] == ["run"]
    assert "PYTHONPATH=/opt/kubedag/site-packages" in runtime["Env"]
    assert {"PYTHONUNBUFFERED=1", "LANG=C.UTF-8"} <= set(runtime["Env"])
    assert any(e.startswith("PATH=") for e in runtime["Env"])


def test_image_config_of_the_python_task_has_no_entrypoint(tmp_path: Path) -> None:
    config = build.image_config(
        build.IMAGES["python-task"], [fake_layer(tmp_path, "b", b"")], 86400
    )
    assert "Entrypoint" not in config["config"]
    assert config["config"]["Cmd"] == ["python3"]
    assert config["created"] == "1970-01-02T00:00:00Z"
    assert len(config["rootfs"]["diff_ids"]) == 1


def test_docker_manifest() -> None:
    assert build.docker_manifest("sha256:c0", ["sha256:l1", "sha256:l2"], ["a/b:1"]) == [
        {
            "Config": "blobs/sha256/c0",
            "RepoTags": ["a/b:1"],
            "Layers": ["blobs/sha256/l1", "blobs/sha256/l2"],
        }
    ]


def read_archive(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def test_image_archive_is_a_loadable_docker_archive(tmp_path: Path) -> None:
    spec = build.IMAGES["controller"]
    layers = [fake_layer(tmp_path, "base", b"base" * 1000), fake_layer(tmp_path, "ctl", b"x")]
    out = tmp_path / "image.tar"
    image_id, config_bytes = build.write_image_archive(out, spec, layers, 0)

    files = read_archive(out)
    (manifest,) = json.loads(files["manifest.json"])
    assert manifest["RepoTags"] == ["kubedag/controller:0.1.0"]
    assert manifest["Config"] == "blobs/sha256/" + image_id.split(":")[1]
    assert files[manifest["Config"]] == config_bytes
    assert image_id == "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    config = json.loads(config_bytes)
    assert config["rootfs"]["diff_ids"] == [x.digest for x in layers]
    for layer, name in zip(layers, manifest["Layers"], strict=True):
        assert "sha256:" + hashlib.sha256(files[name]).hexdigest() == layer.digest
    assert not any(name.startswith(("oci-layout", "index.json")) for name in files)

    again = tmp_path / "again.tar"
    build.write_image_archive(again, spec, layers, 0)
    assert again.read_bytes() == out.read_bytes()


def test_shared_layers_are_stored_once(tmp_path: Path) -> None:
    layer = fake_layer(tmp_path, "base", b"same")
    out = tmp_path / "image.tar"
    build.write_image_archive(out, build.IMAGES["python-task"], [layer, layer], 0)
    (manifest,) = json.loads(read_archive(out)["manifest.json"])
    assert len(manifest["Layers"]) == 2
    with tarfile.open(out) as tar:
        assert [m.name for m in tar.getmembers()].count(manifest["Layers"][0]) == 1


# --------------------------------------------------------------------------------------------
# Reproducible layer tars.


TREE = [
    ("dir", "etc"),
    ("file", "etc/b.conf"),
    ("file", "etc/a.conf"),
    ("dir", "usr/bin"),
    ("file", "usr/bin/tool"),
    ("dir", "dev"),
    ("file", "dev/null-ish"),
    ("dir", "opt/app/lib"),
    ("file", "opt/app/lib/m.py"),
]


def make_tree(root: Path, *, reverse: bool, mtime: int) -> None:
    """The same small tree, created in either order and at different times."""
    for kind, rel in reversed(TREE) if reverse else TREE:
        path = root / rel
        if kind == "dir":
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(rel)
    (root / "usr/bin/tool").chmod(0o755)
    (root / "bin").symlink_to("usr/bin")
    os.link(root / "usr/bin/tool", root / "usr/bin/tool2")
    for path in [root, *root.rglob("*")]:
        os.utime(path, (mtime, mtime), follow_symlinks=False)


def test_layer_tar_is_reproducible(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    make_tree(one, reverse=False, mtime=1_000_000)
    make_tree(two, reverse=True, mtime=2_000_000)
    digest_one = build.write_layer_tar(one, tmp_path / "one.tar", mtime=0)
    digest_two = build.write_layer_tar(two, tmp_path / "two.tar", mtime=0)
    assert digest_one == digest_two
    assert (tmp_path / "one.tar").read_bytes() == (tmp_path / "two.tar").read_bytes()
    assert digest_one == hashlib.sha256((tmp_path / "one.tar").read_bytes()).hexdigest()


def test_layer_tar_entries_are_sorted_fixed_and_numeric(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    make_tree(root, reverse=False, mtime=1_234_567)
    out = tmp_path / "layer.tar"
    build.write_layer_tar(root, out, mtime=42, exclude_contents=["dev"])
    with tarfile.open(out) as tar:
        members = tar.getmembers()
        assert tar.pax_headers == {}
    names = [m.name for m in members]
    assert names == [
        "bin",
        "dev",
        "etc",
        "etc/a.conf",
        "etc/b.conf",
        "opt",
        "opt/app",
        "opt/app/lib",
        "opt/app/lib/m.py",
        "usr",
        "usr/bin",
        "usr/bin/tool",
        "usr/bin/tool2",
    ]
    by_name = {m.name: m for m in members}
    assert all(m.mtime == 42 for m in members)
    assert all(m.uname == "" and m.gname == "" for m in members)
    assert all((m.uid, m.gid) == (os.getuid(), os.getgid()) for m in members)
    assert by_name["bin"].issym() and by_name["bin"].linkname == "usr/bin"
    assert by_name["dev"].isdir()  # kept, but empty
    assert by_name["usr/bin/tool"].isreg() and by_name["usr/bin/tool"].mode & 0o111
    assert by_name["usr/bin/tool2"].islnk()
    assert by_name["usr/bin/tool2"].linkname == "usr/bin/tool"


def test_layer_tar_of_a_subtree_has_its_parents(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    make_tree(root, reverse=False, mtime=0)
    out = tmp_path / "layer.tar"
    build.write_layer_tar(root, out, mtime=0, paths=["/opt/app"])
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert names == ["opt", "opt/app", "opt/app/lib", "opt/app/lib/m.py"]


def test_layer_tar_keeps_file_content(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d/f").write_bytes(b"\x00payload\xff")
    out = tmp_path / "layer.tar"
    build.write_layer_tar(root, out, mtime=0)
    assert read_archive(out)["d/f"] == b"\x00payload\xff"


# --------------------------------------------------------------------------------------------
# Cache keys, wheel platforms, sources.


def test_base_cache_key_follows_the_debootstrap_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    base = build.BaseSpec()
    assert base.cache_key() == build.BaseSpec().cache_key()
    others = [
        build.BaseSpec(suite="trixie"),
        build.BaseSpec(variant="buildd"),
        build.BaseSpec(packages=("python3",)),
        build.BaseSpec(recipe_version="x"),
    ]
    keys = {base.cache_key(), *(o.cache_key() for o in others)}
    assert len(keys) == 1 + len(others)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert base.cache_key() not in keys


def test_debootstrap_command() -> None:
    command = build.BASE.debootstrap_command(Path("/x/rootfs"), "http://deb.debian.org/debian")
    assert command == [
        "debootstrap",
        "--variant=minbase",
        "--arch=amd64",
        "--include=python3,ca-certificates",
        "bookworm",
        "/x/rootfs",
        "http://deb.debian.org/debian",
    ]


def test_manylinux_platforms_stop_at_the_base_glibc() -> None:
    tags = build.manylinux_platforms((2, 36))
    assert tags[0] == "manylinux_2_36_x86_64"
    assert "manylinux_2_17_x86_64" in tags
    assert "manylinux2014_x86_64" in tags
    assert "manylinux_2_37_x86_64" not in tags
    assert "manylinux_2_16_x86_64" not in tags


def test_controller_sources_skip_bytecode_and_egg_info(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "controller/kubedag/__pycache__").mkdir(parents=True)
    (repo / "controller/kubedag.egg-info").mkdir()
    for name in ("pyproject.toml", "requirements.lock", "README.md"):
        (repo / name).write_text(name)
    (repo / "controller/kubedag/__init__.py").write_text("")
    (repo / "controller/kubedag/__pycache__/__init__.cpython-311.pyc").write_bytes(b"")
    (repo / "controller/kubedag.egg-info/PKG-INFO").write_text("")
    files = build.controller_source_files(repo)
    rel = sorted(p.relative_to(repo).as_posix() for p in files)
    assert rel == [
        "README.md",
        "controller/kubedag/__init__.py",
        "pyproject.toml",
        "requirements.lock",
    ]
    before = build.tree_digest(repo, files)
    (repo / "controller/kubedag/__pycache__/__init__.cpython-311.pyc").write_bytes(b"new")
    assert build.tree_digest(repo, build.controller_source_files(repo)) == before
    (repo / "requirements.lock").write_text("kopf==2")
    assert build.tree_digest(repo, build.controller_source_files(repo)) != before
    key = build.controller_layer_key("sha256:base", repo)
    assert key != build.controller_layer_key("sha256:other", repo)


def test_cache_root_follows_the_binary_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEDAG_CACHE_DIR", "/c")
    assert build.cache_root() == Path("/c/images")
    monkeypatch.delenv("KUBEDAG_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "/x")
    assert build.cache_root() == Path("/x/kubedag/images")


def test_prune_leaves_other_tools_files(tmp_path: Path) -> None:
    cache = build.Cache(tmp_path)
    for i in range(5):
        for name in (f"python-task-0.1.0-{i:016x}.tar", f"kubedag_pause-3.10-{i:016x}.tar"):
            (tmp_path / name).write_bytes(b"")
            os.utime(tmp_path / name, (i, i))
    build.prune(cache, keep_newest=2)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert [n for n in left if n.startswith("python-task")] == [
        f"python-task-0.1.0-{i:016x}.tar" for i in (3, 4)
    ]
    assert len([n for n in left if n.startswith("kubedag_pause")]) == 5


# --------------------------------------------------------------------------------------------
# Prerequisites and the command line.


def test_not_root_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build.os, "geteuid", lambda: 1000)
    with pytest.raises(build.PrerequisiteError, match="needs root"):
        build.require_root("building the base layer")


def test_missing_debootstrap_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build.shutil, "which", lambda *_a, **_k: None)
    with pytest.raises(build.PrerequisiteError, match="apt-get install -y debootstrap"):
        build.require_tool("debootstrap", "debootstrap")


def test_unreachable_mirror_is_a_clear_error() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(build.PrerequisiteError, match="cannot reach the Debian mirror"):
        build.require_mirror(f"http://127.0.0.1:{port}/debian", "bookworm", timeout=5)


def test_main_without_root_and_cache_fails_cleanly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBEDAG_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(build.os, "geteuid", lambda: 1000)
    assert build.main(["python-task"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines()[-1].startswith("error: ")
    assert list((tmp_path / "images").glob("*.tar")) == []


def test_command_line_image_names() -> None:
    assert build.parse_args([]).images == ["python-task", "controller"]
    assert build.parse_args(["all"]).images == ["python-task", "controller"]
    args = build.parse_args(["controller", "controller", "--out", "d", "--import"])
    assert args.images == ["controller"]
    assert args.out == Path("d")
    assert args.import_
    with pytest.raises(SystemExit):
        build.parse_args(["nope"])


def test_import_falls_back_to_ctr(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "devcluster.node", None)  # as if not written yet
    sock = tmp_path / "containerd.sock"
    sock.touch()
    monkeypatch.setattr(build, "CONTAINERD_ADDRESS", str(sock))
    monkeypatch.setattr(build, "require_tool", lambda name, package: f"/usr/bin/{name}")
    calls: list[list[str]] = []

    def fake_run(argv: list[str], **_kw: object) -> str:
        calls.append(list(argv))
        return ""

    monkeypatch.setattr(build, "run", fake_run)
    build.import_image(Path("/x/image.tar"))
    assert calls == [
        ["/usr/bin/ctr", "--address", str(sock), "-n", "k8s.io", "images", "import", "/x/image.tar"]
    ]


def test_import_uses_the_cluster_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    imported: list[Path] = []
    node = ModuleType("devcluster.node")
    node.import_image = imported.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "devcluster.node", node)
    build.import_image(Path("/x/image.tar"))
    assert imported == [Path("/x/image.tar")]


def test_build_script_is_stdlib_only() -> None:
    tree = ast.parse((IMAGES_DIR / "build.py").read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    # devcluster.node: the cluster's import helper, when there (see import_image)
    assert imported <= set(sys.stdlib_module_names) | {"devcluster"}, imported


def test_drop_direct_urls_keeps_the_record_consistent(tmp_path: Path) -> None:
    dist_info = tmp_path / "kubedag-0.1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "direct_url.json").write_text('{"url": "file:///tmp/xyz/kubedag.whl"}')
    (dist_info / "RECORD").write_text(
        "kubedag/__init__.py,sha256=abc,10\n"
        "kubedag-0.1.0.dist-info/direct_url.json,sha256=def,40\n"
        "kubedag-0.1.0.dist-info/RECORD,,\n"
    )
    build.drop_direct_urls(tmp_path)
    assert not (dist_info / "direct_url.json").exists()
    assert (dist_info / "RECORD").read_text() == (
        "kubedag/__init__.py,sha256=abc,10\nkubedag-0.1.0.dist-info/RECORD,,\n"
    )
