"""Mutation testing of the code that decides SKIPPED / COPIED / FAILED, and of the input
validation (issue 8, "tests that guard the guards"; docs/testing.md has the score).

    ./dev mutate [TARGET...] [--keep] [--jobs N]     (python tools/mutate.py ...)

TARGETs are the names in ``TARGETS`` below (default: all of them). For each target,
mutmut (https://mutmut.readthedocs.io) rewrites the named functions of one module into
many small variants ("mutants": ``<`` for ``<=``, ``and`` for ``or``, ``None`` for a
value, a string changed...) and runs the target's tests against each one; a mutant that
no test fails "survives": the tests do not guard that part of the code.

Why a staging tree: setuptools maps ``worker/`` to ``steps_s3_copy.worker``, but mutmut
names each mutant by its file's path (``worker/verify.py`` -> ``worker.verify``) and
activates it only where the running module has that name, so over the repository itself
no mutant would ever be exercised. This script builds ``build/mutate/`` with the package
laid out as Python imports it (``steps_s3_copy/worker/verify.py``, copies of the mapped
folders, as tools/typecheck.py does for mypy) and the tests beside it, adds the mutmut
settings to that tree's copy of pyproject.toml, and runs ``mutmut run`` there. mutmut
puts its mutated copy first on ``sys.path``, so the tests import the mutants, not the
editable install. Nothing under ``build/`` is in git.

The score printed is per target: killed / total, then each survivor with its diff.
Survivors judged equivalent (no test can tell them apart from the original, for the
reason given in ``EQUIVALENT``) are listed as such and do not fail the run; any other
survivor, or a mutant no test reaches, makes the exit status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT / "build" / "mutate"
SKIP = {"__pycache__", ".mypy_cache", ".pytest_cache", ".hypothesis"}

# The tests of the copy engine's decisions (moto on 127.0.0.1, the fault proxy).
ENGINE_TESTS = (
    "tests/worker/test_evidence.py",
    "tests/worker/test_engine.py",
    "tests/worker/test_source_integrity.py",
    "tests/worker/test_skip_listing.py",
    "tests/worker/test_receipt.py",
    "tests/worker/test_batch.py",
    "tests/worker/test_guards.py",
)
# The tests of the one validation (CSV, JSON Lines, sidecar; Prepare and validate alike).
VALIDATION_TESTS = (
    "tests/core/test_one_validation.py",
    "tests/core/test_bad_inputs.py",
    "tests/core/test_manifest.py",
    "tests/core/test_manifest_jsonl.py",
    "tests/core/test_prepare.py",
    "tests/test_models.py",
    "tests/core/test_validation_guards.py",
)


@dataclass(frozen=True)
class Target:
    """One module's functions to mutate and the tests that must catch the mutants."""

    #: the module as Python imports it
    module: str
    #: mutmut's names of the functions mutated (``x_name``; ``xǁClassǁname`` for methods)
    functions: tuple[str, ...]
    tests: tuple[str, ...]

    @property
    def path(self) -> str:
        return self.module.replace(".", "/") + ".py"

    def patterns(self) -> list[str]:
        return [f"{self.module}.{name}__mutmut_*" for name in self.functions]


W = "steps_s3_copy.worker"
TARGETS: dict[str, Target] = {
    "evidence": Target(f"{W}.evidence", ("x_*",), ENGINE_TESTS),
    "skip": Target(
        f"{W}.skip",
        ("x_skip_check", "x_same_content", "x_list_destinations", "x_list_run", "x_key_before",
         "x_common_prefix"),
        ENGINE_TESTS,
    ),
    "verify": Target(f"{W}.verify", ("x_*",), ENGINE_TESTS),
    # the source's contract: the conditional HeadObject, a 412, the destination's state
    "context": Target(
        f"{W}.context",
        ("x_is_precondition_failed", "x_failed", "xǁCopyContextǁhead_source",
         "xǁCopyContextǁwith_head", "xǁCopyContextǁhead_destination"),
        ENGINE_TESTS,
    ),
    "single_copy": Target(f"{W}.single_copy", ("x_*",), ENGINE_TESTS),
    "multipart_copy": Target(
        f"{W}.multipart_copy",
        ("x_copy_multipart", "x_part_layout", "x_source_part_sizes", "x_copy_parts", "x__only"),
        ENGINE_TESTS,
    ),
    "engine": Target(
        f"{W}.engine",
        ("xǁCopyEngineǁcopy", "xǁCopyEngineǁcopy_one", "xǁCopyEngineǁ_copy_one",
         "xǁCopyEngineǁ_source", "xǁCopyEngineǁ_multipart", "x__result"),
        ENGINE_TESTS,
    ),
    "validation": Target("steps_s3_copy.validation", ("x_*", "xǁJobCheckerǁ*"), VALIDATION_TESTS),
    "manifest": Target("steps_s3_copy.manifest", ("x_*", "xǁ*"), VALIDATION_TESTS),
    "sidecar": Target("steps_s3_copy.sidecar", ("x_*",), VALIDATION_TESTS),
}


def package_dirs() -> dict[str, Path]:
    """Dotted package name -> its folder in the repository, from pyproject.toml."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return {name: ROOT / folder for name, folder in config["package-dir"].items()}


def _copy_tree(source: Path, target: Path) -> None:
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if SKIP & set(relative.parts) or path.is_dir():
            continue
        destination = target / relative
        if not destination.exists():
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)


def mutmut_settings(targets: Iterable[Target], jobs: int) -> str:
    """The ``[tool.mutmut]`` section of the staging tree's pyproject.toml."""
    chosen = list(targets)
    tests = sorted({test for target in chosen for test in target.tests})
    settings = {
        "source_paths": ["steps_s3_copy"],
        "only_mutate": [target.path for target in chosen],
        "pytest_add_cli_args_test_selection": tests,
        # a mutant that makes a copy wait forever fails its test within a minute; the
        # engine's decisions do not depend on the S3 client, so each engine test runs
        # against the lean client only (the boto3-backed one doubles the time)
        "pytest_add_cli_args": ["--timeout=60", "-p", "no:cacheprovider", "-k", "not boto3"],
        "also_copy": ["tests/"],
    }
    del jobs
    return "\n[tool.mutmut]\n" + "".join(
        f"{name} = {json.dumps(value)}\n" for name, value in settings.items()
    )


def build_stage(targets: Iterable[Target], jobs: int) -> None:
    """(Re)build ``build/mutate/``: the package as Python imports it, the tests, and a
    pyproject.toml with the mutmut settings."""
    shutil.rmtree(STAGE, ignore_errors=True)
    for name, folder in sorted(package_dirs().items()):
        _copy_tree(folder, STAGE.joinpath(*name.split(".")))
    _copy_tree(ROOT / "tests", STAGE / "tests")
    text = (ROOT / "pyproject.toml").read_text()
    (STAGE / "pyproject.toml").write_text(text + mutmut_settings(targets, jobs))


@dataclass
class Score:
    target: str
    killed: int = 0
    total: int = 0
    survivors: list[str] = field(default_factory=list)
    other: dict[str, str] = field(default_factory=dict)


STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", None: "not run"}


def read_scores(names: list[str]) -> list[Score]:
    scores = []
    for name in names:
        target = TARGETS[name]
        meta = json.loads((STAGE / "mutants" / (target.path + ".meta")).read_text())
        score = Score(name)
        patterns = target.patterns()
        for mutant, code in sorted(meta["exit_code_by_key"].items()):
            if not any(fnmatch(mutant, p) for p in patterns):
                continue
            score.total += 1
            status = STATUS.get(code, "timeout" if code in (24, -24, 152, 255, 36) else str(code))
            if status == "killed":
                score.killed += 1
            elif status == "survived":
                score.survivors.append(mutant)
            else:
                score.other[mutant] = status
        scores.append(score)
    return scores


def diff_of(mutant: str) -> str:
    done = subprocess.run(  # noqa: S603 - this interpreter's mutmut, with our own arguments
        [sys.executable, "-m", "mutmut", "show", mutant],
        cwd=STAGE,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout


def survivors_of_last_run(names: list[str]) -> list[str]:
    """The mutants of ``names`` that survived (or timed out) in the staged run."""
    return [
        mutant
        for score in read_scores(names)
        for mutant in [*score.survivors, *score.other]
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="./dev mutate", description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", metavar="TARGET", help=", ".join(TARGETS))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="re-test only the last run's survivors, against the tests as they are now",
    )
    args = parser.parse_args(argv)
    names = args.targets or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)} (one of {', '.join(TARGETS)})")
    chosen = [TARGETS[n] for n in names]
    if args.survivors:
        patterns = survivors_of_last_run(names)
        if not patterns:
            print("no survivors to re-test")
            return 0
        shutil.rmtree(STAGE / "tests")
        _copy_tree(ROOT / "tests", STAGE / "tests")
    else:
        build_stage(chosen, args.jobs)
        patterns = [p for target in chosen for p in target.patterns()]
    started = time.monotonic()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run(  # noqa: S603 - this interpreter's mutmut, with our own arguments
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.jobs), *patterns],
        cwd=STAGE,
        env=env,
        check=False,
    )
    seconds = time.monotonic() - started
    if run.returncode != 0:
        print(f"mutmut run failed (exit {run.returncode})", file=sys.stderr)
        return run.returncode
    scores = read_scores(names)
    (STAGE / "score.json").write_text(
        json.dumps({"seconds": round(seconds), "scores": [vars(s) for s in scores]}, indent=1)
    )
    for s in scores:
        for mutant in s.survivors:
            print(f"\nSURVIVED {mutant}\n{diff_of(mutant)}")
        for mutant, status in s.other.items():
            print(f"\n{status.upper()} {mutant}\n{diff_of(mutant)}")
    print(f"\nmutation score ({seconds / 60:.1f} min, {args.jobs} workers)")
    for s in scores:
        print(f"  {s.target:<15} {s.killed:>4} / {s.total:<4} killed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
