"""The one runtime image: stage its Docker build context at synth time.

The Lambda functions and the Fargate task run the same image, built from
``worker/Dockerfile``. Its build context is a staged directory::

    Dockerfile               (from the package's worker/)
    requirements.txt         (from the package's worker/requirements.txt)
    steps_s3_copy/           the runtime packages, without infra/, tests and caches

Each package's folder is found from the package itself (``module.__path__``), so the same
code works from a checkout, where setuptools maps the top-level ``worker/`` and
``handlers/`` folders to ``steps_s3_copy.worker`` and ``steps_s3_copy.handlers``, and
from an installed wheel, where they are sub-folders of ``steps_s3_copy/``. The staged
directory's name is a hash of its contents, so synthesizing twice gives the same
directory and the same asset hash; a synth never needs Docker, it only records the asset.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

#: the packages the image runs, in the order their files are staged
RUNTIME_PACKAGES = ("steps_s3_copy", "steps_s3_copy.worker", "steps_s3_copy.handlers")
#: folders and files of the packages that never go into the image
EXCLUDED_NAMES = frozenset({"infra", "tests", "__pycache__", ".mypy_cache", ".pytest_cache"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")


class AssetStagingError(RuntimeError):
    """The package tree lacks something the image needs (the Dockerfile, requirements)."""


def package_roots() -> dict[str, Path]:
    """The folder of each runtime package, as the import system finds it."""
    roots: dict[str, Path] = {}
    for name in RUNTIME_PACKAGES:
        module = importlib.import_module(name)
        roots[name] = Path(next(iter(module.__path__))).resolve()
    return roots


def _included(name: str) -> bool:
    return (
        name not in EXCLUDED_NAMES
        and not name.startswith(".")
        and not name.endswith(EXCLUDED_SUFFIXES)
        and not name.endswith(".egg-info")
    )


def _package_files(directory: Path, relative: str) -> Iterator[tuple[str, Path]]:
    """(relative posix path, file) for every file under ``directory``, in sorted order."""
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if not _included(entry.name):
            continue
        path = Path(entry.path)
        rel = f"{relative}/{entry.name}"
        if entry.is_dir():
            yield from _package_files(path, rel)
        elif entry.is_file():
            yield rel, path


def build_context_files(roots: Mapping[str, Path] | None = None) -> list[tuple[str, Path]]:
    """Every file of the build context as (path inside the context, source file).

    ``roots`` maps each runtime package's dotted name to its folder (default: where the
    import system finds them). A file reachable twice (a wheel's ``steps_s3_copy/worker``
    is both a sub-folder of ``steps_s3_copy`` and the root of ``steps_s3_copy.worker``)
    is staged once.
    """
    roots = dict(roots or package_roots())
    worker = roots.get("steps_s3_copy.worker")
    if worker is None:
        raise AssetStagingError("the runtime image needs the steps_s3_copy.worker package")
    dockerfile = worker / "Dockerfile"
    requirements = worker / "requirements.txt"
    for needed in (dockerfile, requirements):
        if not needed.is_file():
            raise AssetStagingError(f"the runtime image needs {needed}, which does not exist")
    files: dict[str, Path] = {"Dockerfile": dockerfile, "requirements.txt": requirements}
    for name, root in roots.items():
        for rel, path in _package_files(root, name.replace(".", "/")):
            files.setdefault(rel, path)
    return sorted(files.items())


def _digest(files: list[tuple[str, Path]]) -> str:
    digest = hashlib.sha256()
    for rel, path in files:
        digest.update(rel.encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def stage_image_context(
    base_dir: Path | None = None, roots: Mapping[str, Path] | None = None
) -> Path:
    """Stage the image's build context and return its directory.

    ``base_dir`` defaults to ``<tmp>/steps-s3-copy-image``. The directory is named after
    the hash of its contents and written atomically, so concurrent synths agree.
    """
    files = build_context_files(roots)
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
