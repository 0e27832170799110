# %% [markdown]
# # 05 · Evaluate
#
# This notebook scores every prediction file against the gold labels and writes the paper's evaluation tables.
#
# * **Lenient** scoring: a label is the complication name (`肺炎`). **Strict** scoring: name and grade
#   (`肺炎_中`). "No postoperative complication" (`无术后并发症`) counts as a label of its own.
# * **Micro** average: true positives, false positives and false negatives are summed over all
#   (case, label) pairs, then P = TP/(TP+FP), R = TP/(TP+FN), F1 = 2PR/(P+R).
# * **Macro** (per-sample) average: each case gets its own P, R and F1, then each is averaged over cases.
#   Cases with few labels then weigh as much as cases with many.
# * **val_center1** keeps the center-1 validation cases only, which the LoRA adapters never saw in training.
#   Center 2 is an external hospital.
#
# The ten `evaluation_{micro,macro}_*.csv` files have the same names, rows and columns as the authors' published
# tables. Their values match to the last digit. `per_complication_*.csv` adds one row per (model, complication).

# %% tags=["parameters"]
# mode "run": one run folder; "runs": every run under runs_dir; "paper": the authors' published predictions
mode = None  # None: paper when pericomp_dir is given, runs when runs_dir is, else run (what 01-04 made)
run_dir = None  # run mode: runs/<run>/seed-<n> (from the repository root); None: the default profile's run (01-04)
runs_dir = None  # runs mode: a folder of runs (runs/); collects every run's scores into runs_metrics.csv
pericomp_dir = None  # paper mode: a clone of github.com/gscfwid/PeriComp (results/, data_source/)
output_dir = None  # None: RUN_DIR/tables (run), RUNS_DIR/tables (runs), tables/paper (paper)
params_path = None  # run mode: a params file naming the run (its run_name and seed) when run_dir is None
missing = "skip"  # prediction files lacking gold cases: "skip" (as the authors), "empty" (count as none), "error"
key_models = [  # models shown with bootstrap confidence intervals (center 2, strict)
    "gemini_2_5_flash_comprehensive_strict",
    "human_strict",
    "qwen3_32B_targeted_sft_1_strict",
    "qwen3_4B_targeted_sft_1_strict",
]
n_boot = 1000  # bootstrap resamples of the cases for the confidence intervals

# %%
from pathlib import Path

import pandas as pd
from IPython.display import display

from pericomp_lib import show_logs
from pericomp_lib.core import records
from pericomp_lib.evaluation import baseline, paper_tables, run_scores, summary
from pericomp_lib.pipeline.runfolder import evaluate_setup

pd.set_option("display.width", 160)

show_logs()  # the library's messages (INFO and up) in this notebook's output
mode, run_dir, runs_dir, pericomp_dir, output_dir = evaluate_setup(globals())
published = mode == "paper"  # which mode this notebook runs in
print(
    "mode:",
    {"paper": "published predictions", "run": f"one run ({run_dir})", "runs": f"all runs under {runs_dir}"}[mode],
)
print("tables go to:  ", output_dir)

# %% [markdown]
# ## Our own runs
#
# With `run_dir`, the classical TF-IDF baseline is trained on the run's train split first. Then base model,
# LoRA adapter and baseline are scored on the same evaluation cases, micro and per-sample macro, lenient and
# strict. With `runs_dir`, the scores of every run are collected into `runs_metrics.csv`, which 06_figures
# draws from.

# %%
if run_dir is not None:
    cases = records.load_cohort(Path(run_dir) / "cohort.jsonl", check_evidence=False)
    display(baseline.run(cases, run_dir))
    run_table = run_scores.evaluate_run(run_dir, output_dir)
    display(run_table.round(4))

# %% [markdown]
# ## Ranking and operating points (targeted runs)
#
# Greedy answers give one F1 per model, the paper's headline. With P(True) recorded at every decision, the
# same answers also rank the questions: **AUROC** (how often a positive question gets a higher P(True) than a
# negative one) and **average precision**, overall and per complication. A screening user picks a sensitivity:
# each threshold below was chosen on **training** cases (04's calibration cases) and then applied unchanged to
# the evaluation cases, so no evaluation case informed its own threshold.
#
# The strata split every asked (case, complication): recall on positives a note **names** and on those only the
# **criteria** show, false-positive rate on **trap** negatives (look-alike facts) and **clean** ones, and the grade
# accuracy of the true positives, per arm, the baselines included (`tables/strata.csv`, 95% bootstrap over cases).

# %%
if run_dir is not None:
    ranking = run_scores.read_table(output_dir, "ranking")
    points = run_scores.read_table(output_dir, "operating_points")
    if ranking is not None:
        display(ranking.round(3))
    if points is not None:
        display(points.round(3))
    strata_table = run_scores.read_table(output_dir, "strata")  # named / criteria-only / trap / clean
    if strata_table is not None:
        display(strata_table.round(3))
    display(pd.Series(summary.write(run_dir), name="summary.json").to_frame())
if runs_dir is not None:
    all_runs = run_scores.write_runs_metrics(runs_dir, output_dir)
    display(
        all_runs[(all_runs.averaging == "micro")]
        .pivot_table(index=["run", "Models"], columns="mode", values="F1_score", aggfunc=["mean", "std", "count"])
        .round(4)
    )

# %% [markdown]
# ## The ten tables
#
# Every `*.json` in a results folder is one model, named by its file stem. A file that lacks some gold cases is
# left out and listed below. The authors' code dropped such files without a message.

# %%
if published:
    report = paper_tables.paper_tables(pericomp_dir, output_dir, missing=missing)
    print(pd.Series(report["n_models"], name="models per table").to_string())
    print("skipped files:", report["skipped"] or "none")
    print("cases filled as no complication:", report["filled"] or "none")

# %% [markdown]
# ## Best models, lenient, center 2 (micro)

# %%
if published:
    micro_c2 = pd.read_csv(output_dir / "evaluation_micro_center2.csv")
    display(micro_c2.sort_values("F1_score", ascending=False).head(10).round(4))

# %% [markdown]
# ## Strict scoring, center 2 (micro and per-sample macro)
#
# The paper's Figure 7 reports a center-2 strict F1 of 0.715 for Gemini 2.5 Flash and 0.687 for the human annotator.

# %%
if published:
    strict_c2 = pd.read_csv(output_dir / "evaluation_micro_center2_strict.csv").merge(
        pd.read_csv(output_dir / "evaluation_macro_center2_strict.csv"),
        on="Models",
        how="outer",
        suffixes=("_micro", "_macro"),
    )
    display(strict_c2.sort_values("F1_score_micro", ascending=False).round(4))

# %% [markdown]
# ## How certain are these numbers?
#
# Center 2 has only 52 cases. The bootstrap draws 52 cases with replacement, rescores, repeats `n_boot`
# times, and reports the 2.5th and 97.5th percentiles. Overlapping intervals mean the data cannot tell the
# two models apart.

# %%
if published:
    strict_table = paper_tables.load_table(pericomp_dir, "center2_strict", missing=missing)
    chosen = {m: strict_table.predictions[m] for m in key_models if m in strict_table.predictions}
    print("not found:", sorted(set(key_models) - set(chosen)) or "none")
    cis = paper_tables.ci_table(strict_table.gold, chosen, "micro", n_boot=n_boot)
    display(cis.sort_values("F1_score", ascending=False).round(3))

# %% [markdown]
# ## Per complication
#
# One-vs-rest scores per complication for the first key model (center 2, strict). `support` is the number of gold
# cases with the label. `predicted` is the number of cases where the model answered it. Rare complications rest on
# one or two cases.

# %%
if published:
    per_label = pd.read_csv(output_dir / "per_complication_center2_strict.csv")
    first = next(iter(chosen), per_label.Models.iloc[0])
    display(per_label[per_label.Models == first].drop(columns="Models").round(3))
