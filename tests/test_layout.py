"""The one import namespace: top-level folders mapped into ``steps_s3_copy`` without links.

pyproject.toml maps ``worker/``, ``handlers/`` and ``infra/`` to ``steps_s3_copy.worker``,
``.handlers`` and ``.infra``. These tests check that the mapping lists every package
folder, that nothing in the repository is a symlink, that each module is loaded once
under its one name, and that a clone made without symlink support installs and imports.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
MAPPED = {name: ROOT / folder for name, folder in CONFIG["package-dir"].items()}
#: the folders setuptools maps, as top-level names: never imported under these names
TOP_LEVEL_FOLDERS = ("worker", "handlers", "infra")


def _package_folders() -> set[str]:
    """Dotted names of every folder with an __init__.py under the mapped folders."""
    names: set[str] = set()
    for name, folder in MAPPED.items():
        for init in folder.rglob("__init__.py"):
            relative = init.parent.relative_to(folder)
            if (
                relative.parts
                and relative.parts[0] in TOP_LEVEL_FOLDERS
                and name == "steps_s3_copy"
            ):
                continue
            names.add(".".join([name, *relative.parts]))
    return names


def all_modules() -> list[str]:
    """Every module of the package, by the mapping (an editable install's finder maps the
    sub-packages, which ``pkgutil`` cannot list from ``steps_s3_copy.__path__``)."""
    found: set[str] = set()
    for package in _package_folders():
        found.add(package)
        module = importlib.import_module(package)
        for info in pkgutil.iter_modules(module.__path__, package + "."):
            found.add(info.name)
    return sorted(found)


def test_every_package_folder_is_listed_in_pyproject() -> None:
    assert _package_folders() == set(CONFIG["packages"])


def test_nothing_in_the_repository_is_a_symlink() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-s"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    links = [line.split("\t", 1)[1] for line in listed.splitlines() if line.startswith("120000")]
    assert links == []


def test_each_module_loads_once_from_its_mapped_folder() -> None:
    modules = all_modules()
    assert "steps_s3_copy.worker.engine" in modules
    assert "steps_s3_copy.handlers.prepare" in modules
    for name in modules:
        if name.startswith("steps_s3_copy.infra") or name.endswith("__main__"):
            continue  # the CDK app needs node; __main__ runs a program
        importlib.import_module(name)
    for name, folder in MAPPED.items():
        module = sys.modules[name]
        assert Path(module.__file__ or "").resolve().parent == folder.resolve(), name
    # the mapped folders are never modules of their own (an `except worker.errors.X`
    # would silently miss steps_s3_copy.worker.errors.X)
    assert not [n for n in sys.modules if n.split(".")[0] in TOP_LEVEL_FOLDERS]


@pytest.mark.slow
def test_a_clone_without_symlinks_installs_and_imports(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    clone = tmp_path / "clone"
    subprocess.run(
        [
            "git",
            "-c",
            "core.symlinks=false",
            "clone",
            "--quiet",
            "--no-hardlinks",
            str(ROOT),
            str(clone),
        ],
        check=True,
        timeout=120,
    )
    # the working tree as it stands (uncommitted changes included) over the clone
    for folder in MAPPED.values():
        target = clone / os.path.relpath(folder, ROOT)
        shutil.rmtree(target)
        shutil.copytree(folder, target, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "pyproject.toml", clone / "pyproject.toml")
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(site),
            str(clone),
        ],
        check=True,
        timeout=300,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert not [p for p in site.rglob("*") if p.is_symlink()]
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import importlib, pkgutil, pathlib, steps_s3_copy\n"
        "walk = pkgutil.walk_packages(steps_s3_copy.__path__, 'steps_s3_copy.')\n"
        "names = [i.name for i in walk]\n"
        "for n in names:\n"
        "    if not n.endswith('__main__'):\n"
        "        importlib.import_module(n)\n"
        "import steps_s3_copy.worker.engine as e\n"
        "print(pathlib.Path(e.__file__).resolve())\n"
        "print(len(names) + 1)\n"
    )
    # from outside both trees: the installed copy, not the checkout, answers the imports
    done = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(site)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    engine_file, count = done.stdout.split()
    assert Path(engine_file) == (site / "steps_s3_copy" / "worker" / "engine.py").resolve()
    assert int(count) == len(all_modules())
