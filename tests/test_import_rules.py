"""The folders are the stages: every folder imports only the floors below it, and no folder holds a cycle.

The rules are import-linter contracts in pyproject.toml (`make quality` runs them); these tests run the
same check on a copy of the package with one import planted, so a rule that could not fail would show.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(package_parent: Path) -> subprocess.CompletedProcess:
    """lint-imports with the repository's contracts, on the package found first on PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(LINT), "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")],
        cwd=package_parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    if not LINT.exists():
        pytest.fail(f"{LINT} not found: `make env` installs import-linter (the dev extra)")
    shutil.copytree(ROOT / "pericomp_lib", tmp_path / "pericomp_lib", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _plant(module: Path, line: str) -> None:
    module.write_text(module.read_text(encoding="utf-8") + f"\n{line}  # planted by the test\n", encoding="utf-8")


def test_the_package_keeps_its_rules(package_copy):
    r = _lint(package_copy)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 kept, 0 broken" in r.stdout


def test_an_upward_import_breaks_the_layers(package_copy):
    _plant(package_copy / "pericomp_lib/core/io.py", "from ..evaluation import metrics")
    r = _lint(package_copy)
    assert r.returncode == 1, r.stdout
    assert "stages import only the floors below them BROKEN" in r.stdout
    assert "pericomp_lib.core.io -> pericomp_lib.evaluation.metrics" in r.stdout


def test_siblings_on_one_floor_stay_apart(package_copy):
    _plant(package_copy / "pericomp_lib/inference/jobs.py", "from ..training import packing")
    r = _lint(package_copy)
    assert r.returncode == 1 and "pericomp_lib.inference.jobs -> pericomp_lib.training.packing" in r.stdout, r.stdout


def test_a_cycle_inside_a_folder_breaks_the_acyclic_rule(package_copy):
    # records already imports taxonomy; taxonomy importing records closes a loop inside core/
    _plant(package_copy / "pericomp_lib/core/taxonomy.py", "from . import records")
    r = _lint(package_copy)
    assert r.returncode == 1, r.stdout
    assert "no import cycles between the modules of a folder BROKEN" in r.stdout


def test_a_new_folder_must_be_given_a_floor(package_copy):
    (package_copy / "pericomp_lib/extras").mkdir()
    (package_copy / "pericomp_lib/extras/__init__.py").write_text('"""A folder nobody placed."""\n')
    r = _lint(package_copy)
    assert r.returncode == 1 and "pericomp_lib.extras" in r.stdout, r.stdout


def test_no_module_at_the_package_root_but_init_and_main():
    assert sorted(p.name for p in (ROOT / "pericomp_lib").glob("*.py")) == ["__init__.py", "__main__.py"]


def test_every_folder_says_what_its_stage_reads_writes_and_may_import():
    for init in sorted((ROOT / "pericomp_lib").glob("*/__init__.py")):
        doc = init.read_text(encoding="utf-8")
        assert doc.startswith('"""') and "May import:" in doc, f"{init}: docstring lacks its import rule"
