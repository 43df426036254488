"""Mutation testing of the code that decides SKIPPED / COPIED / FAILED, and of the input
validation (issue 8, "tests that guard the guards"; docs/testing.md has the score).

    ./dev mutate [TARGET...] [--jobs N]   mutate the targets, run their tests on each mutant
    ./dev mutate --survivors [TARGET...]  the last run's survivors with their diffs
    ./dev mutate --retest [TARGET...]     re-test only those, against the tests as they are

TARGETs are the names in ``TARGETS`` below (default: all of them). For each target,
mutmut (https://mutmut.readthedocs.io) rewrites the named functions of one module into
many small variants ("mutants": ``<`` for ``<=``, ``and`` for ``or``, ``None`` for a
value, a string changed...) and runs the target's tests against each one (only the tests
that call the mutated function, stopping at the first failure); a mutant that no test
fails "survives": the tests do not guard that part of the code.

Why a staging tree: setuptools maps ``worker/`` to ``steps_s3_copy.worker``, but mutmut
names each mutant by its file's path (``worker/verify.py`` -> ``worker.verify``) and
activates it only where the running module has that name, so over the repository itself
no mutant would ever be exercised. This script builds ``build/mutate/<target>/`` with the
package laid out as Python imports it (``steps_s3_copy/worker/verify.py``, copies of the
mapped folders, as tools/typecheck.py does for mypy) and the tests beside it, adds the
mutmut settings to that tree's copy of pyproject.toml, and runs ``mutmut run`` there.
mutmut puts its mutated copy first on ``sys.path``, so the tests import the mutants, not
the editable install. One tree per target: a target can be run again alone. Nothing
under ``build/`` is in git.

The score is per target: killed / total, then each survivor with its diff, and a JSON
summary (``build/mutate-summary.json``: killed, survived, timeout, equivalent per
target). Survivors judged equivalent (no test can tell them apart from the original, for
the reason given in ``tools/mutate-equivalent.txt``) are counted as such and do not fail
the run; any other survivor, a mutant no test reaches, or a listed equivalent that a test
kills makes the exit status 1.
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
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES = ROOT / "build" / "mutate"
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
    # what proves two objects hold the same bytes (ETag, checksums of a type)
    "evidence": Target(
        f"{W}.evidence",
        (
            "x_norm_etag",
            "x_parts_in_etag",
            "x_checksum_evidence",
            "x_checksum_type",
            "x_evidence_of",
            "x_is_kms",
            "x_multipart_checksum_type",
        ),
        ENGINE_TESTS,
    ),
    # SKIPPED: the destination already holds the source's content
    "skip": Target(f"{W}.skip", ("x_skip_check", "x_same_content"), ENGINE_TESTS),
    # COPIED or FAILED after the copy: size, checksum, ETag, the manifest's checksum
    "verify": Target(f"{W}.verify", ("x_*",), ENGINE_TESTS),
    # the plan's ETag contract: the conditional HeadObject, a 412, the destination's state
    "context": Target(
        f"{W}.context",
        (
            "x_is_precondition_failed",
            "xǁCopyContextǁhead_source",
            "xǁCopyContextǁwith_head",
            "xǁCopyContextǁhead_destination",
        ),
        ENGINE_TESTS,
    ),
    # the one input validation (Prepare and `s3copy validate`)
    "validation": Target("steps_s3_copy.validation", ("x_*", "xǁJobCheckerǁ*"), VALIDATION_TESTS),
    # the job's sidecar model, its fields and the direct input of `s3copy run`
    "sidecar": Target(
        "steps_s3_copy.sidecar", ("x_*", "xǁSidecarǁ*", "xǁDirectInputǁ*"), VALIDATION_TESTS
    ),
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


def stage_of(name: str) -> Path:
    """The staging tree of one target."""
    return STAGES / name


def mutmut_settings(target: Target) -> str:
    """The ``[tool.mutmut]`` section of a staging tree's pyproject.toml."""
    settings = {
        "source_paths": ["steps_s3_copy"],
        "only_mutate": [target.path],
        "pytest_add_cli_args_test_selection": list(target.tests),
        # a mutant that makes a copy wait forever fails its test within a minute; the
        # engine's decisions do not depend on the S3 client, so each engine test runs
        # against the lean client only (the boto3-backed one doubles the time)
        "pytest_add_cli_args": ["--timeout=60", "-p", "no:cacheprovider", "-k", "not boto3"],
        "also_copy": ["tests/"],
    }
    return "\n[tool.mutmut]\n" + "".join(
        f"{name} = {json.dumps(value)}\n" for name, value in settings.items()
    )


def build_stage(name: str) -> Path:
    """(Re)build ``build/mutate/<name>/``: the package as Python imports it, the tests,
    and a pyproject.toml with the mutmut settings."""
    stage = stage_of(name)
    shutil.rmtree(stage, ignore_errors=True)
    for package, folder in sorted(package_dirs().items()):
        _copy_tree(folder, stage.joinpath(*package.split(".")))
    _copy_tree(ROOT / "tests", stage / "tests")
    text = (ROOT / "pyproject.toml").read_text()
    (stage / "pyproject.toml").write_text(text + mutmut_settings(TARGETS[name]))
    return stage


EQUIVALENT_FILE = ROOT / "tools" / "mutate-equivalent.txt"
SUMMARY = ROOT / "build" / "mutate-summary.json"


def read_equivalents(path: Path = EQUIVALENT_FILE) -> dict[str, str]:
    """Mutant name -> why no test can tell it from the original.

    One ``<mutant name>: <reason>`` a line; ``#`` starts a comment line. The names are
    mutmut's, which follow the source: a change to a mutated function renumbers its
    mutants, and this file is then checked again by the next run (a listed mutant that a
    test kills, or that no longer exists, is reported).
    """
    equivalents: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, sep, reason = text.partition(":")
        if not sep or not reason.strip() or "__mutmut_" not in name:
            raise ValueError(f"{path.name}:{number}: expected '<mutant>: <reason>', got {text!r}")
        equivalents[name.strip()] = reason.strip()
    return equivalents


@dataclass
class Score:
    """One target's mutants by outcome."""

    target: str
    module: str
    killed: list[str] = field(default_factory=list)
    survived: list[str] = field(default_factory=list)
    equivalent: list[str] = field(default_factory=list)
    timeout: list[str] = field(default_factory=list)
    #: not reached by a test, not run, or anything else mutmut reports
    other: dict[str, str] = field(default_factory=dict)
    #: listed as equivalent, yet a test kills it (the list is out of date)
    stale_equivalent: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return (
            len(self.killed)
            + len(self.survived)
            + len(self.equivalent)
            + len(self.timeout)
            + len(self.other)
        )

    def summary(self) -> dict[str, object]:
        return {
            "module": self.module,
            "total": self.total,
            "killed": len(self.killed),
            "survived": len(self.survived),
            "timeout": len(self.timeout),
            "equivalent": len(self.equivalent),
            "other": len(self.other),
            "survivors": self.survived,
            "equivalents": self.equivalent,
            "timeouts": self.timeout,
            "others": self.other,
            "stale_equivalents": self.stale_equivalent,
        }


def classify(
    name: str, target: Target, exit_codes: dict[str, int | None], equivalents: dict[str, str]
) -> Score:
    """Sort one target's mutants by mutmut's exit code and the equivalents list."""
    from mutmut.stats import status_by_exit_code  # noqa: PLC0415 - a dev-only tool

    score = Score(name, target.module)
    patterns = target.patterns()
    for mutant, code in sorted(exit_codes.items()):
        if not any(fnmatch(mutant, p) for p in patterns):
            continue
        status = status_by_exit_code[code]
        if status == "killed":
            score.killed.append(mutant)
            if mutant in equivalents:
                score.stale_equivalent.append(mutant)
        elif status == "survived" and mutant in equivalents:
            score.equivalent.append(mutant)
        elif status == "survived":
            score.survived.append(mutant)
        elif status == "timeout":
            # a mutant that makes a copy wait forever: the tests notice it (timeout)
            score.timeout.append(mutant)
        else:
            score.other[mutant] = status
    return score


def read_scores(names: list[str], equivalents: dict[str, str]) -> list[Score]:
    scores = []
    for name in names:
        target = TARGETS[name]
        meta_path = stage_of(name) / "mutants" / (target.path + ".meta")
        if not meta_path.exists():
            raise SystemExit(f"no mutation run of {name!r} in {meta_path}: ./dev mutate {name}")
        meta = json.loads(meta_path.read_text())
        scores.append(classify(name, target, meta["exit_code_by_key"], equivalents))
    return scores


def write_summary(scores: list[Score], seconds: float | None, path: Path) -> dict[str, object]:
    """Merge this run's scores into the JSON summary (other targets' entries are kept)."""
    data: dict[str, object] = json.loads(path.read_text()) if path.exists() else {}
    modules = data.get("targets")
    merged: dict[str, object] = dict(modules) if isinstance(modules, dict) else {}
    for score in scores:
        entry = score.summary()
        last = merged.get(score.target)
        if seconds is not None:
            entry["seconds"] = round(seconds)
        elif isinstance(last, dict) and "seconds" in last:
            entry["seconds"] = last["seconds"]  # the time of the target's full run
        merged[score.target] = entry
    data["targets"] = merged
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return data


def diff_of(name: str, mutant: str) -> str:
    done = subprocess.run(  # noqa: S603 - this interpreter's mutmut, with our own arguments
        [sys.executable, "-m", "mutmut", "show", mutant],
        cwd=stage_of(name),
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout


def report(scores: list[Score], equivalents: dict[str, str], *, diffs: bool) -> int:
    """Print the survivors (with their diffs when asked) and the score; 1 if any survive."""
    bad = 0
    for s in scores:
        for mutant in [*s.survived, *s.other]:
            bad += 1
            status = s.other.get(mutant, "survived")
            print(f"\n{status.upper()} {mutant}")
            if diffs:
                print(diff_of(s.target, mutant))
        for mutant in s.stale_equivalent:
            bad += 1
            print(f"\nKILLED but listed as equivalent in {EQUIVALENT_FILE.name}: {mutant}")
    print(
        "\nmutation score (killed+timeout / total; equivalents named in "
        f"{EQUIVALENT_FILE.relative_to(ROOT)})"
    )
    for s in scores:
        print(
            f"  {s.target:<11} {len(s.killed) + len(s.timeout):>4} / {s.total:<4} killed"
            f"  ({len(s.timeout)} by timeout)  {len(s.survived):>3} survived"
            f"  {len(s.equivalent):>3} equivalent  {len(s.other):>3} other"
        )
    return 1 if bad else 0


def run_mutmut(name: str, patterns: list[str], jobs: int) -> tuple[int, float]:
    stage = stage_of(name)
    started = time.monotonic()
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    with (stage / "mutmut.log").open("w") as log:
        # mutmut's progress spinner goes to a log; the score is printed below
        run = subprocess.run(  # noqa: S603 - this interpreter's mutmut, with our own arguments
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs), *patterns],
            cwd=stage,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    return run.returncode, time.monotonic() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="./dev mutate", description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", metavar="TARGET", help=", ".join(TARGETS))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--survivors",
        action="store_true",
        help="list the last run's surviving mutants with their diffs (runs nothing)",
    )
    action.add_argument(
        "--retest",
        action="store_true",
        help="re-test only the last run's survivors, against the tests as they are now",
    )
    parser.add_argument(
        "--json", type=Path, default=SUMMARY, help=f"summary file (default {SUMMARY})"
    )
    args = parser.parse_args(argv)
    names = args.targets or list(TARGETS)
    unknown = [n for n in names if n not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)} (one of {', '.join(TARGETS)})")
    equivalents = read_equivalents()
    if args.survivors:
        scores = read_scores(names, equivalents)
        write_summary(scores, None, args.json)  # the equivalents list may have grown
        return report(scores, equivalents, diffs=True)
    scores = []
    for name in names:
        if args.retest:
            [last] = read_scores([name], equivalents)
            patterns = [*last.survived, *last.other, *last.stale_equivalent]
            if not patterns:
                print(f"{name}: no survivors to re-test")
                scores.append(last)
                continue
            shutil.rmtree(stage_of(name) / "tests")
            _copy_tree(ROOT / "tests", stage_of(name) / "tests")
        else:
            build_stage(name)
            patterns = TARGETS[name].patterns()
        code, seconds = run_mutmut(name, patterns, args.jobs)
        if code != 0:
            log = stage_of(name) / "mutmut.log"
            print(f"{name}: mutmut run failed (exit {code}): see {log}", file=sys.stderr)
            return code
        [score] = read_scores([name], equivalents)
        write_summary([score], None if args.retest else seconds, args.json)
        print(f"{name}: {len(patterns)} pattern(s) in {seconds / 60:.1f} min, {args.jobs} workers")
        scores.append(score)
    print(f"summary in {args.json}")
    return report(scores, equivalents, diffs=True)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
