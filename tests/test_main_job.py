"""The main job's layout on tiny-random: three arms, constrained answers, P(True), operating points, summary.json."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import ROOT
from pericomp_lib.pipeline import batch
from pericomp_lib.pipeline.stages import STUDY_STAGES

SUMMARY_KEYS = {
    "wall_s",
    "stage_seconds",
    "n_eval_cases",
    "n_eval_questions",
    "parsed_base",
    "parsed_adapter",
    "parsed_comprehensive",
    "backoffs_base",
    "backoffs_adapter",
    "f1_comprehensive",
    "f1_base",
    "f1_adapter",
    "f1_baseline",
    "f1_most_frequent",
    "f1_strict_comprehensive",
    "f1_strict_base",
    "f1_strict_adapter",
    "f1_strict_baseline",
    "f1_strict_most_frequent",
    "f1_delta",
    "f1_delta_ci_low",
    "f1_delta_ci_high",
    "auroc_base",
    "auroc_adapter",
    "f1_vs_baseline",
    "f1_vs_baseline_ci_low",
    "f1_vs_baseline_ci_high",
    "fpr_clean_adapter",
    "fpr_clean_baseline",
    "n_clean",
}


def _cpu_profile_switches(tmp_path: Path) -> Path:
    """tiny-random with every switch of the CPU default profile (params/smollm2-135m.yaml) that shapes 01-05."""
    cpu = yaml.safe_load((ROOT / "params" / "smollm2-135m.yaml").read_text())
    p = yaml.safe_load((ROOT / "params" / "tiny-random.yaml").read_text())
    for key in (
        "answer_layout",
        "negative_quote",
        "grounded_think",
        "quote_backoff",
        "question_style",
        "constrained",
        "comprehensive_arm",
        "comprehensive_think",
        "negative_ratio",
        "positive_weight",
        "decision_weight",
        "quote_weight",
        "complications",
        "lora_layers",
        "frozen_record",
        "target_modules",
        "record_length",
    ):
        p[key] = cpu.get(key)  # a key the profile leaves out has its default
    p.update(
        run_name="mainjob",
        n_cases=30,
        max_eval_cases=6,
        calibration_cases=5,
        think_max_chars=8,
        max_new_tokens=120,
        max_steps=2,
        lora_layers=1,
    )
    path = tmp_path / "mainjob.yaml"
    path.write_text(yaml.safe_dump(p))
    return path


def summary_ids(run: Path) -> list[str]:
    return json.loads((run / "scope.json").read_text())["case_ids"]


@pytest.mark.notebook
def test_main_job_layout_on_tiny_random(tmp_path, capsys):
    runs = tmp_path / "runs"
    code = batch.cli(["--params", str(_cpu_profile_switches(tmp_path)), "--seeds", "3", "--runs-dir", str(runs)])
    assert code == 0, capsys.readouterr().out
    run = runs / "mainjob" / "seed-3"
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary) >= SUMMARY_KEYS, SUMMARY_KEYS - set(summary)
    assert set(summary["stage_seconds"]) == set(STUDY_STAGES["complications"]) and summary["wall_s"] > 0
    assert summary["n_eval_cases"] == 6 and summary["n_eval_questions"] == 24
    # constrained decoding: every answer of every arm parses, even from a random model
    assert summary["parsed_base"] == summary["parsed_adapter"] == summary["parsed_comprehensive"] == 1.0
    assert summary["f1_delta_ci_low"] <= summary["f1_delta"] <= summary["f1_delta_ci_high"]
    # the three arms of Figure 6b and the two baselines, scored on the same cases
    table = pd.read_csv(run / "tables" / "run_metrics.csv")
    assert {"comprehensive", "base", "adapter", "baseline", "most_frequent"} <= set(table.Models)
    assert table.n_cases.nunique() == 1
    # the strata: every asked (case, complication) of every arm in exactly one of them
    strata = pd.read_csv(run / "tables" / "strata.csv")
    pairs = strata[strata.metric != "grade_acc"].groupby("arm").n.sum()
    assert set(pairs.index) >= {"comprehensive", "base", "adapter", "baseline", "most_frequent"}
    assert (pairs == summary["n_eval_questions"]).all(), pairs
    # P(True) for every targeted decision: in raw.jsonl, side_by_side.csv and decisions.csv
    raw = [json.loads(line) for line in (run / "raw.jsonl").read_text().splitlines()]
    targeted = [r for r in raw if r["item"] != "comprehensive"]
    assert targeted and all(0.0 <= r["p_true"] <= 1.0 for r in targeted)
    eval_rows = [r for r in targeted if r["model"] == "adapter" and r["case_id"] in set(summary_ids(run))]
    assert summary["backoffs_adapter"] == sum(r["backoff"] is not None for r in eval_rows) <= len(eval_rows) == 24
    sbs = pd.read_csv(run / "side_by_side.csv")
    assert sbs["adapter_p_true"].between(0, 1).all() and sbs["base_p_true"].between(0, 1).all()
    decisions = pd.read_csv(run / "decisions.csv")
    train_ids, eval_ids = (
        set(decisions[decisions.split == "train"].case_id),
        set(decisions[decisions.split == "eval"].case_id),
    )
    assert len(train_ids) == 5 and len(eval_ids) == 6 and not train_ids & eval_ids
    cohort = [json.loads(line) for line in (run / "cohort.jsonl").read_text().splitlines()]
    assert all(c["split"] == "train" for c in cohort if c["case_id"] in train_ids)
    # the operating points were chosen on those held-out training cases and applied to the evaluation ones
    points = pd.read_csv(run / "tables" / "operating_points.csv")
    assert set(points.model) == {"base", "adapter"} and "best F1 on train" in set(points.chosen_by)
    ranking = pd.read_csv(run / "tables" / "ranking.csv")
    assert {"all", "paralytic_ileus"} <= set(ranking.complication)
    # held-out calibration cases never reach training
    trained = json.loads((run / "adapter" / "training_params.json").read_text())
    assert trained["n_examples"] <= 4 * (len([c for c in cohort if c["split"] == "train"]) - 5)
    # 06: the precision-recall figure of the targeted decisions and Figure 6b with every arm
    import matplotlib.pyplot as plt

    from pericomp_lib.figures import run_figures

    fig, points = run_figures.runs_pr_figure(runs, tmp_path / "figs")
    plt.close(fig)
    assert (tmp_path / "figs" / "runs_pr_curves.png").stat().st_size > 10_000 and set(points.model) == {
        "base",
        "adapter",
    }
    fig, frame = run_figures.runs_figure6b(runs, tmp_path / "figs")
    plt.close(fig)
    assert {"comprehensive", "targeted", "targeted_sft", "baseline", "most_frequent"} <= set(frame.strategy)
