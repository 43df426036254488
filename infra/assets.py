"""The one runtime image: stage its Docker build context at synth time.

The Lambda functions and the Fargate task run the same image, built from
``worker/Dockerfile``. Its build context is a staged directory::

    Dockerfile               (from the package's worker/)
    requirements.txt         (from the package's worker/requirements.txt)
    steps_s3_copy/           the package tree, without infra/, tests and caches

The package is found through ``steps_s3_copy.__file__`` and its symlinks are followed, so
the same code works from a checkout (where ``steps_s3_copy/worker`` is a symlink) and from
an installed wheel (where it is a real folder). The staged directory's name is a hash of
its contents, so synthesizing twice gives the same directory and the same asset hash; a
synth never needs Docker, it only records the asset.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import steps_s3_copy

#: folders and files of the package that never go into the image
EXCLUDED_NAMES = frozenset({"infra", "tests", "__pycache__", ".mypy_cache", ".pytest_cache"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")


class AssetStagingError(RuntimeError):
    """The package tree lacks something the image needs (the Dockerfile, requirements)."""


def package_root() -> Path:
    """The directory of the ``steps_s3_copy`` package (symlinks resolved)."""
    return Path(steps_s3_copy.__file__).resolve().parent


def _included(name: str) -> bool:
    return (
        name not in EXCLUDED_NAMES
        and not name.startswith(".")
        and not name.endswith(EXCLUDED_SUFFIXES)
        and not name.endswith(".egg-info")
    )


def _package_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(relative posix path, real file) for every file the image gets, in sorted order."""

    def walk(directory: Path, relative: str) -> Iterator[tuple[str, Path]]:
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            if not _included(entry.name):
                continue
            path = Path(entry.path).resolve()  # follows the checkout's symlinks
            rel = f"{relative}/{entry.name}" if relative else entry.name
            if path.is_dir():
                yield from walk(path, rel)
            elif path.is_file():
                yield rel, path

    yield from walk(root, "")


def build_context_files(root: Path | None = None) -> list[tuple[str, Path]]:
    """Every file of the build context as (path inside the context, source file)."""
    root = root or package_root()
    worker = root / "worker"
    dockerfile = worker / "Dockerfile"
    requirements = worker / "requirements.txt"
    for needed in (dockerfile, requirements):
        if not needed.is_file():
            raise AssetStagingError(f"the runtime image needs {needed}, which does not exist")
    files = [("Dockerfile", dockerfile), ("requirements.txt", requirements)]
    files += [(f"steps_s3_copy/{rel}", path) for rel, path in _package_files(root)]
    return files


def _digest(files: list[tuple[str, Path]]) -> str:
    digest = hashlib.sha256()
    for rel, path in files:
        digest.update(rel.encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def stage_image_context(base_dir: Path | None = None, root: Path | None = None) -> Path:
    """Stage the image's build context and return its directory.

    ``base_dir`` defaults to ``<tmp>/steps-s3-copy-image``. The directory is named after
    the hash of its contents and written atomically, so concurrent synths agree.
    """
    files = build_context_files(root)
    base = base_dir or Path(tempfile.gettempdir()) / "steps-s3-copy-image"
    target = base / _digest(files)
    if target.is_dir():
        return target
    base.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".staging-", dir=base))
    try:
        for rel, path in files:
            destination = scratch / rel
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
        try:
            scratch.rename(target)
        except OSError:
            if not target.is_dir():  # not a concurrent synth that won the race
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
