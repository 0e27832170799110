"""Shared fixtures: where the authors' public files are, and how to run a notebook with papermill."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def _pericomp_dir() -> Path:
    env = os.environ.get("PERICOMP_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "pericomp-public"


@pytest.fixture(scope="session")
def pericomp_dir() -> Path:
    """The authors' public files (never copied into this repo); skip when absent."""
    path = _pericomp_dir()
    if not (path / "results").is_dir():
        pytest.skip(f"authors' public files not found at {path}: set PERICOMP_DIR to a PeriComp clone")
    return path


@pytest.fixture
def run_notebook(tmp_path):
    """Execute notebooks/<name> with papermill into tmp_path; returns the executed path."""
    import papermill as pm

    def _run(name: str, **parameters) -> Path:
        out = tmp_path / f"executed_{name}"
        pm.execute_notebook(
            str(NOTEBOOKS / name),
            str(out),
            parameters=parameters,
            cwd=str(NOTEBOOKS),
            kernel_name="python3",
            progress_bar=False,
        )
        return out

    return _run
