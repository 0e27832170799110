"""Notebooks reach git without outputs (patient text must never be committed) and stay thin."""
import json

import pytest

from conftest import NOTEBOOKS

NBS = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_there_are_notebooks():
    assert NBS, "no notebooks found"


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_committed_without_outputs(nb):
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    dirty = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
    assert not dirty, f"{nb.name}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("nb", NBS, ids=lambda p: p.name)
def test_thin_with_parameters_cell(nb):
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code and "parameters" in code[0].get("metadata", {}).get("tags", []), f"{nb.name}: first code cell must be tagged 'parameters'"
    for c in code:
        src = "".join(c["source"])
        assert "\ndef " not in "\n" + src and "\nclass " not in "\n" + src, f"{nb.name}: define functions in pericomp_lib, not in cells"
