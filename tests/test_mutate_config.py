"""The mutation runner's configuration (tools/mutate.py) points at real code and tests.

Mutation runs are not part of this suite (``./dev mutate``, docs/testing.md): this only
checks that each target's module, functions and tests exist and that the equivalents list
names mutants of those targets, so the runner does not rot while nobody runs it.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from fnmatch import fnmatch
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutate_runner", ROOT / "tools" / "mutate.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


mutate = _load_runner()


def _source_file(module: str) -> Path:
    """The repository file of a dotted module, through setuptools' package-dir."""
    package, _, name = module.rpartition(".")
    folder: Path = mutate.package_dirs()[package]
    return folder / f"{name}.py"


def _mutmut_names(path: Path) -> set[str]:
    """The names mutmut gives the functions of ``path``: ``x_f`` and ``xǁClassǁm``."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names.add(f"x_{node.name}")
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    names.add(f"xǁ{node.name}ǁ{item.name}")
    return names


@pytest.mark.parametrize("name", sorted(mutate.TARGETS))
def test_each_target_names_an_existing_module_functions_and_tests(name):
    target = mutate.TARGETS[name]
    source = _source_file(target.module)
    assert source.is_file(), f"{name}: no {source}"
    functions = _mutmut_names(source)
    for pattern in target.functions:
        assert any(fnmatch(f, pattern) for f in functions), f"{name}: {pattern} matches nothing"
    for test in target.tests:
        assert (ROOT / test).is_file(), f"{name}: no test file {test}"


def test_the_equivalents_list_names_mutants_of_the_targets_with_a_reason():
    equivalents = mutate.read_equivalents()
    assert equivalents, "the list is read"
    patterns = [p for target in mutate.TARGETS.values() for p in target.patterns()]
    for mutant, reason in equivalents.items():
        assert any(fnmatch(mutant, p) for p in patterns), f"{mutant} is in no target"
        assert len(reason) > 20, f"{mutant}: say why it is equivalent"


def test_a_line_without_a_reason_is_refused(tmp_path):
    bad = tmp_path / "equivalent.txt"
    bad.write_text("# comment\nsteps_s3_copy.worker.verify.x_verify__mutmut_1\n")
    with pytest.raises(ValueError, match=r"equivalent.txt:2"):
        mutate.read_equivalents(bad)


def test_a_listed_equivalent_that_a_test_kills_is_reported_stale():
    target = mutate.TARGETS["verify"]
    prefix = f"{target.module}.x_verify__mutmut_"
    codes = {f"{prefix}1": 1, f"{prefix}2": 0, f"{prefix}3": 0, f"{prefix}4": 36}
    score = mutate.classify("verify", target, codes, {f"{prefix}1": "r", f"{prefix}3": "r"})
    assert score.killed == [f"{prefix}1"]
    assert score.stale_equivalent == [f"{prefix}1"]
    assert score.survived == [f"{prefix}2"]
    assert score.equivalent == [f"{prefix}3"]
    assert score.timeout == [f"{prefix}4"]
    assert score.total == 4
