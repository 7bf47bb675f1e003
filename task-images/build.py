#!/usr/bin/env python3
"""Build kubedag's images from their Dockerfiles with buildah, without a Docker daemon.

    python3 task-images/build.py [--import] [--out DIR] [IMAGE ...]  # IMAGE: see --help

Prints the docker-archive path of each image on stdout (progress goes to stderr); ``--import``
loads them into the local cluster's containerd. The Dockerfiles are the only description of the
images; devcluster/images.py builds them (see task-images/README.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from devcluster.images import DockerfileImage, ImageBuildError, build  # noqa: E402
from devcluster.node import NodeError, import_image  # noqa: E402
from devcluster.versions import pinned_versions  # noqa: E402

VERSION = "0.1.0"  # the kubedag package version (pyproject.toml)

IMAGES: dict[str, DockerfileImage] = {
    "python-task": DockerfileImage(
        reference=f"kubedag/python-task:{VERSION}",
        dockerfile=REPO / "task-images/python-task/Dockerfile",
        context=REPO,
    ),
    "controller": DockerfileImage(
        reference=f"kubedag/controller:{VERSION}",
        dockerfile=REPO / "task-images/controller/Dockerfile",
        context=REPO,
    ),
}
KUBEDAG_IMAGES = tuple(IMAGES)
"""What ``all`` builds: the images of kubedag itself."""

POSTGRESQL_VERSION = pinned_versions()["POSTGRESQL_VERSION"]
IMAGES["warehouse-postgres"] = DockerfileImage(
    # A tag may not hold Debian's "+": 15.18-0+deb12u1 is tagged 15.18-0-deb12u1.
    reference=f"kubedag/warehouse-postgres:{POSTGRESQL_VERSION.replace('+', '-')}",
    dockerfile=REPO / "examples/warehouse/postgres/Dockerfile",
    context=REPO / "examples/warehouse/postgres",
    build_args=(
        ("POSTGRESQL_VERSION", POSTGRESQL_VERSION),
        ("POSTGRESQL_MAJOR", pinned_versions()["POSTGRESQL_MAJOR"]),
    ),
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="task-images/build.py", description=__doc__)
    parser.add_argument(
        "images",
        nargs="*",
        metavar="IMAGE",
        help=f"{' | '.join(IMAGES)} | all (= {', '.join(KUBEDAG_IMAGES)})",
    )
    parser.add_argument("--out", type=Path, help="also copy the archives here as NAME-TAG.tar")
    parser.add_argument(
        "--import", dest="import_", action="store_true", help="import into the local cluster"
    )
    args = parser.parse_args(argv)
    wanted = args.images or ["all"]
    unknown = sorted(set(wanted) - {*IMAGES, "all"})
    if unknown:
        parser.error(f"unknown image {', '.join(unknown)}: choose from {', '.join(IMAGES)}, all")
    expanded = [name for w in wanted for name in (KUBEDAG_IMAGES if w == "all" else (w,))]
    args.images = list(dict.fromkeys(expanded))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    paths = []
    try:
        for name in args.images:
            image = IMAGES[name]
            path = build(image)
            if args.out:
                args.out.mkdir(parents=True, exist_ok=True)
                copy = args.out / f"{image.reference.replace('/', '-').replace(':', '-')}.tar"
                shutil.copyfile(path, copy)
                path = copy
            if args.import_:
                import_image(path)
            paths.append(path)
    except (ImageBuildError, NodeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(*paths, sep=os.linesep)
    print(f"[images] done in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
