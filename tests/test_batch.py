"""The batch runner: two seeds on tiny-random, skip-if-complete, a failing run reported, Slurm script."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ROOT
from pericomp_lib.pipeline import batch
from pericomp_lib.pipeline.stages import STUDY_STAGES


def _params(tmp_path: Path, name: str, **over) -> Path:
    p = yaml.safe_load((ROOT / "params" / "tiny-random.yaml").read_text())
    p.update({"run_name": name, **over})
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(p))
    return path


@pytest.mark.slow
def test_failing_run_is_reported_and_others_go_on(tmp_path, capsys):
    good = _params(tmp_path, "good", n_cases=6)
    bad = _params(tmp_path, "bad", cohort_source="jsonl", cohort_path=str(tmp_path / "nowhere.jsonl"))
    runs = tmp_path / "runs"
    code = batch.cli(["--params", str(bad), str(good), "--seeds", "1", "--stages", "01", "--runs-dir", str(runs)])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED bad seed 1" in out and "nowhere.jsonl" in out
    assert (runs / "good" / "seed-1" / "cohort.jsonl").exists()
    summary = {r["run"]: r for r in json.loads((runs / "batch_summary.json").read_text())}
    assert summary["good"]["status"] == "ok" and summary["bad"]["status"] == "failed"
    assert (runs / "_errors" / "bad-seed-1.txt").exists()


def test_bad_params_fail_before_anything_runs(tmp_path, capsys):
    bad = tmp_path / "x.yaml"
    bad.write_text("run_name: x\nmodel_name_or_path: tiny-random\nstrategy: sometimes\n")
    assert batch.cli(["--params", str(bad), "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "strategy='sometimes' is not allowed" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_slurm_script_has_one_task_per_run(tmp_path):
    p1, p2 = _params(tmp_path, "a"), _params(tmp_path, "b")
    script = tmp_path / "job.sh"
    assert batch.cli(["--params", str(p1), str(p2), "--seeds", "1", "2", "3", "--emit-slurm", str(script)]) == 0
    text = script.read_text()
    assert "#SBATCH --array=0-5" in text and "python -m pericomp_lib batch" in text
    assert f"{p2}:3" in text


@pytest.mark.notebook
def test_two_seeds_end_to_end_then_skip(tmp_path, capsys):
    params = _params(tmp_path, "tiny")
    runs = tmp_path / "runs"
    argv = ["--params", str(params), "--seeds", "1", "2", "--runs-dir", str(runs)]
    assert batch.cli(argv) == 0, capsys.readouterr().out
    for seed in (1, 2):
        run = runs / "tiny" / f"seed-{seed}"
        table = pd.read_csv(run / "tables" / "run_metrics.csv")
        assert {"base", "adapter", "baseline", "most_frequent"} <= set(table.Models)
        assert (run / "notebooks" / "04_inference.ipynb").exists()
    out = capsys.readouterr().out
    assert "Batch summary" in out and "tiny" in out
    # a second call finds every stage complete and up to date
    assert batch.cli(argv) == 0
    summary = json.loads((runs / "batch_summary.json").read_text())
    assert all(r["skipped"] == list(STUDY_STAGES["complications"]) for r in summary)
    # changing the params re-runs from the first stage whose inputs changed
    cohort_before = (runs / "tiny" / "seed-1" / "cohort.jsonl").stat().st_mtime_ns
    changed = yaml.safe_load(params.read_text())
    changed["n_cases"] += 1
    params.write_text(yaml.safe_dump(changed))
    assert batch.cli(["--params", str(params), "--seeds", "1", "--stages", "01", "--runs-dir", str(runs)]) == 0
    assert (runs / "tiny" / "seed-1" / "cohort.jsonl").stat().st_mtime_ns != cohort_before


@pytest.mark.notebook
def test_mimic_cohort_runs_through_02_to_05(tmp_path):
    """A MIMIC-IV-shaped folder becomes a cohort in 01 and then runs like any other cohort."""
    from pericomp_lib.cohort.mimic import make_fixture

    make_fixture(tmp_path / "mimic", n_subjects=24, seed=0)
    params = _params(
        tmp_path, "mimic-tiny", cohort_source="mimic", cohort_path=str(tmp_path / "mimic"), max_eval_cases=3
    )
    runs = tmp_path / "runs"
    assert batch.cli(["--params", str(params), "--seeds", "1", "--runs-dir", str(runs)]) == 0
    run = runs / "mimic-tiny" / "seed-1"
    assert (run / "mimic" / "subjects.jsonl").exists()
    table = pd.read_csv(run / "tables" / "run_metrics.csv")
    assert {"base", "adapter"} <= set(table.Models)
    assert table.n_cases.nunique() == 1 and 1 <= table.n_cases.iloc[0] <= 3  # capped by max_eval_cases
