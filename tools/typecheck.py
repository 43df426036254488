"""Type-check the project with mypy, through a view of the package as Python imports it.

setuptools maps the top-level ``worker/``, ``handlers/`` and ``infra/`` folders to
``steps_s3_copy.worker``, ``.handlers`` and ``.infra`` (pyproject.toml's
``[tool.setuptools] package-dir``). Python's import system follows that mapping (an
editable install adds a finder for it), but mypy does not run import hooks
(https://github.com/python/mypy/issues/12313, pypa/setuptools#3518): it would see
``worker/engine.py`` as a module named ``worker.engine``. So this script builds
``build/typecheck/steps_s3_copy/`` from the same mapping (links to the real files where the
platform allows them, copies elsewhere; nothing in the repository is a link), runs mypy
over it with the settings in pyproject.toml, and prints mypy's findings with the real
paths (``worker/engine.py:12``, not ``build/typecheck/...``).

    python tools/typecheck.py [mypy arguments]      (./dev lint runs it)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VIEW = ROOT / "build" / "typecheck"
SKIP = {"__pycache__", ".mypy_cache", ".pytest_cache"}


def package_dirs() -> dict[str, Path]:
    """Dotted package name -> its folder in the repository, from pyproject.toml."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return {name: ROOT / folder for name, folder in config["package-dir"].items()}


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        target.symlink_to(source)
    except OSError:  # no symlinks here (Windows without the privilege): a copy
        shutil.copy2(source, target)


def build_view() -> dict[Path, Path]:
    """(Re)build the view; return view folder -> real folder for every mapped package."""
    shutil.rmtree(VIEW, ignore_errors=True)
    folders: dict[Path, Path] = {}
    for name, folder in sorted(package_dirs().items()):
        target_dir = VIEW.joinpath(*name.split("."))
        folders[target_dir] = folder
        for path in sorted(folder.rglob("*.py*")):
            relative = path.relative_to(folder)
            if SKIP & set(relative.parts) or path.suffix not in (".py", ".pyi", ".typed"):
                continue
            target = target_dir / relative
            if not target.exists():
                _link(path, target)
    return folders


def main(argv: list[str]) -> int:
    folders = build_view()
    env = {**os.environ, "MYPYPATH": str(VIEW)}
    command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
    command += argv or [str(VIEW / "steps_s3_copy"), "tests", "benchmarks", "tools"]
    done = subprocess.run(  # noqa: S603 - this interpreter's mypy, with our own arguments
        command, cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    # the longest (most specific) mapped folder first: steps_s3_copy/worker before steps_s3_copy
    order = sorted(folders, key=lambda p: len(p.parts), reverse=True)
    patterns = [
        (re.compile(re.escape(os.path.relpath(view, ROOT)) + r"(?=[/\\])"), real)
        for view, real in ((v, folders[v]) for v in order)
    ]
    for line in (done.stdout + done.stderr).splitlines():
        shown = line
        for pattern, real in patterns:
            if pattern.match(line):
                shown = pattern.sub(os.path.relpath(real, ROOT), line, count=1)
                break
        print(shown)
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
