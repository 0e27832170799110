"""Notebooks reach git without outputs (patient text must never be committed), stay thin, and agree with their
percent-format scripts in notebooks/src/ (jupytext pairing, notebooks/jupytext.toml)."""

from __future__ import annotations

import difflib
import json
import shutil
from pathlib import Path

import jupytext
import nbformat
import pytest

from conftest import NOTEBOOKS

NBS = sorted(NOTEBOOKS.glob("*.ipynb"))
SCRIPTS = NOTEBOOKS / "src"
SYNC_FIX = "run `make sync` (jupytext --sync notebooks/*.ipynb: the newer file of each pair wins)"
# metadata jupytext writes only to keep a script's blank lines; not part of what a cell says
LAYOUT_KEYS = {"lines_to_next_cell", "lines_to_end_of_cell_marker"}


def test_there_are_notebooks():
    assert NBS, "no notebooks found"


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_committed_without_outputs(nb):
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    dirty = [
        i for i, c in enumerate(cells) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))
    ]
    assert not dirty, f"{nb.name}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_thin_with_parameters_cell(nb):
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and "parameters" in code[0].get("metadata", {}).get("tags", []), (
        f"{nb.name}: first code cell must be tagged 'parameters'"
    )
    for c in code:
        src = "".join(c["source"])
        assert "\ndef " not in "\n" + src and "\nclass " not in "\n" + src, (
            f"{nb.name}: define functions in pericomp_lib, not in cells"
        )


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str, dict]]:
    return [(c.cell_type, c.source, {k: v for k, v in c.metadata.items() if k not in LAYOUT_KEYS}) for c in nb.cells]


def pair_mismatch(ipynb: Path, script: Path) -> str | None:
    """None when the notebook and its script hold the same cells (type, source, metadata such as tags);
    otherwise a message naming the notebook, the first cell that differs, and the fix."""
    name = ipynb.name
    if not script.exists():
        return f"{name}: no paired script {script.name} in {script.parent.name}/; {SYNC_FIX}"
    # the notebook as its script would hold it: jupytext's own cell-metadata filter drops Jupyter's UI metadata
    nb = jupytext.reads(jupytext.writes(jupytext.read(ipynb), fmt="py:percent"), fmt="py:percent")
    a, b = _cells(nb), _cells(jupytext.read(script, fmt="py:percent"))
    for i, (x, y) in enumerate(zip(a, b)):
        if x == y:
            continue
        what = [k for k, u, v in zip(("type", "source", "metadata"), x, y) if u != v]
        diff = "\n".join(
            difflib.unified_diff(x[1].splitlines(), y[1].splitlines(), name, f"src/{script.name}", lineterm="")
        )
        meta = f"\n  metadata: {x[2]} vs {y[2]}" if "metadata" in what else ""
        return f"{name} and src/{script.name} disagree at cell {i} ({', '.join(what)}); {SYNC_FIX}{meta}\n{diff}"
    if len(a) != len(b):
        return f"{name} has {len(a)} cells, src/{script.name} has {len(b)}; {SYNC_FIX}"
    return None


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_notebook_matches_its_script(nb):
    problem = pair_mismatch(nb, SCRIPTS / f"{nb.stem}.py")
    assert problem is None, problem


def test_every_script_has_its_notebook():
    orphans = [p.name for p in sorted(SCRIPTS.glob("*.py")) if not (NOTEBOOKS / f"{p.stem}.ipynb").exists()]
    assert not orphans, (
        f"scripts without a notebook: {orphans}; {SYNC_FIX.replace('notebooks/*.ipynb', 'notebooks/src/*.py')}"
    )


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_notebook_names_its_kernel(nb):
    """The scripts carry no metadata (notebooks/jupytext.toml), so the kernel papermill starts is named here only."""
    kernel = json.loads(nb.read_text(encoding="utf-8"))["metadata"].get("kernelspec", {}).get("name")
    assert kernel == "python3", (
        f"{nb.name}: kernelspec {kernel!r}; run jupytext --set-kernel python3 notebooks/{nb.name}"
    )


def test_sync_check_catches_an_edited_cell(tmp_path):
    """The check above can fail: a copy of a pair with one cell changed on either side is reported."""
    nb, script = NBS[0], SCRIPTS / f"{NBS[0].stem}.py"
    (tmp_path / "src").mkdir()
    ipynb_copy, script_copy = tmp_path / nb.name, tmp_path / "src" / script.name
    shutil.copy(nb, ipynb_copy)
    shutil.copy(script, script_copy)
    assert pair_mismatch(ipynb_copy, script_copy) is None

    edited = nbformat.read(ipynb_copy, as_version=4)
    last = len(edited.cells) - 1
    edited.cells[last].source += "\nprint('edited in Jupyter only')"
    nbformat.write(edited, ipynb_copy)
    problem = pair_mismatch(ipynb_copy, script_copy)
    assert problem and nb.name in problem and f"cell {last} (source)" in problem and "make sync" in problem, problem

    shutil.copy(nb, ipynb_copy)  # now the script loses the papermill tag
    text = script_copy.read_text(encoding="utf-8")
    script_copy.write_text(text.replace('# %% tags=["parameters"]', "# %%", 1), encoding="utf-8")
    problem = pair_mismatch(ipynb_copy, script_copy)
    assert problem and nb.name in problem and "(metadata)" in problem and "parameters" in problem, problem
