# %% [markdown]
# # 06 · Figures
#
# This notebook redraws three figures of the PeriComp paper, from the authors' **published predictions**
# (`pericomp_dir`), from **our own runs** (`runs_dir`), or both:
#
# * **Figure 6A**: the LoRA training loss of each model.
# * **Figure 6b**: F1, recall and precision per model size under three set-ups (comprehensive prompt,
#   targeted prompts, targeted prompts + LoRA), over repeated runs (published: five inference runs; ours: seeds).
# * **Figure 7**: *strict* scoring. A label counts only when both the complication **and** its grade are right.
#
# Every number is recomputed here from the prediction files or from our runs' `run_metrics.csv` (05_evaluate).
# Nothing is copied from the paper's tables. Each figure is saved as PNG (300 dpi) and PDF in `figures_dir`:
# `figure*` for the published results, `runs_*` for our runs, so neither overwrites the other.

# %% tags=["parameters"]
# mode "runs": figures of our runs; "paper": the published figures (needs pericomp_dir); "both"
mode = None  # None: paper when only pericomp_dir is given, both when runs_dir is given too, else runs
runs_dir = None  # our runs (runs/<run>/seed-<n>/, scored by 05); None: runs/ in the repository
pericomp_dir = None  # a clone of github.com/gscfwid/PeriComp, for the published figures
figures_dir = None  # where PNG + PDF files go; None: figures/ in the repository
smoothing = 0.9  # EMA weight for the smoothed loss curves: 0 draws the raw loss, closer to 1 is smoother

# %%

import pandas as pd
from IPython.display import display

from pericomp_lib import show_logs
from pericomp_lib.figures import paper_figures, run_figures
from pericomp_lib.pipeline.runfolder import figures_setup

pd.set_option("display.width", 160)
show_logs()  # the library's messages (INFO and up) in this notebook's output
mode, runs_dir, pericomp_dir, figures_dir = figures_setup(mode, runs_dir, pericomp_dir, figures_dir)
published = mode in ("paper", "both")  # which parts this notebook draws
print("published results:", pericomp_dir if published else "not drawn (mode runs)")
print("our runs:         ", runs_dir if runs_dir is not None else "not drawn (mode paper)")
print("figures go to:    ", figures_dir)
kinds = run_figures.run_kinds(runs_dir) if runs_dir is not None else {"complications": False, "chart_qa": False}
complication_runs = kinds["complications"]

# %% [markdown]
# ## Figure 6b: prompting strategy × model size
#
# Each box holds five points, one per repeated inference run of the same model on the same cases. The spread
# shows how much a score varies from run to run. Center 1 is scored on its **validation** cases only, because
# the LoRA adapters were trained on the other center-1 cases. Center 2 is an external hospital the models never
# saw. Scores are **micro-averaged**: true and false positives are summed over all (case, complication) pairs,
# and "no postoperative complication" counts as a label. The dashed line is the human annotator's score on the
# same cases.
#
# File naming in the published folders is irregular. The next cell prints what was used and what was set aside.

# %%
if published:
    fig6b, runs_frame, human = paper_figures.figure6b(pericomp_dir, figures_dir)
    print(
        f"{len(runs_frame)} rows: {runs_frame.groupby(['center', 'strategy', 'size']).ngroups} boxes "
        "x 5 runs x 3 metrics"
    )
    print("\n".join(runs_frame.attrs["notes"]))
    display(paper_figures.summary_table(runs_frame, ["center", "strategy", "size"])["f1"])
    display(human.pivot(index="center", columns="metric", values="value").round(3))

# %% [markdown]
# ## Figure 7: strict evaluation (complication type + grade)
#
# In strict scoring, "pneumonia, moderate" and "pneumonia, severe" are different labels. The figure compares
# the PeriComp LoRA models (first run of each), the commercial models and the human annotator. Bars are sorted
# within each panel. The paper reports a center-2 strict F1 of 0.715 for Gemini 2.5 Flash and 0.687 for the
# human annotator. The values printed on the bars should match these.

# %%
if published:
    fig7, strict = paper_figures.figure7(pericomp_dir, figures_dir)
    display(strict.pivot_table(index=["center", "group", "label"], columns="metric", values="value").round(3))

# %% [markdown]
# ## Figure 6A: LoRA training loss
#
# The thin, pale line is the loss the trainer logged at each step. The thick line is an exponential moving
# average of it. The steps in the curve fall at epoch boundaries: each new epoch shows the model the same
# examples again, so the loss drops. A loss near zero after ten epochs means the model has memorised its
# training set. Figure 6b shows whether it still generalises to new cases.

# %%
if published:
    fig6a, loss = paper_figures.figure6a(pericomp_dir, figures_dir, weight=smoothing)
    display(
        loss.groupby("label", sort=False)
        .agg(
            steps=("step", "max"),
            epochs=("epoch", "max"),
            first_loss=("loss", "first"),
            final_smoothed=("smoothed", "last"),
        )
        .round(4)
    )

# %% [markdown]
# ## Our own runs: Figure 6b layout
#
# The batch runner writes one folder per (params file, seed), and 05_evaluate scores each one into
# `tables/run_metrics.csv`. Each box here holds one point per **seed**. The seed sets the synthetic cohort, the
# train/evaluation split and the adapter's training, so the spread covers data and training, not only sampling.
# The x axis is the model, read from the run folder (`adapter/training_params.json`, else the executed
# notebooks' parameters). The colour is the set-up:
#
# * **Comprehensive** / **Targeted**: the base model, prompted with one prompt for all 22 complications, or
#   with one prompt per complication.
# * **+ LoRA**: the run's fine-tuned adapter, prompted the same way.
# * **Classical baseline**: TF-IDF + logistic regression trained on the same run's train split and scored on
#   the same evaluation cases. A model that cannot beat it has not learnt much from the records.

# %%
if complication_runs:
    fig6b_runs, runs_metrics = run_figures.runs_figure6b(runs_dir, figures_dir)
    print("where each run's model and strategy came from:")
    for name, info in runs_metrics.attrs["run_info"].items():
        print(f"  {name}: {info['model_label']} / {info['strategy']}  ({info['source']})")
    display(paper_figures.summary_table(runs_metrics, ["x", "strategy"])["f1"])

# %% [markdown]
# ## Our own runs: Figure 7 layout (strict)
#
# Each bar is a mean over seeds, and the whisker is one standard deviation. With two or three seeds the
# standard deviation is itself rough: treat bars whose whiskers overlap as not yet told apart.

# %%
if complication_runs:
    fig7_runs, runs_bars = run_figures.runs_figure7(runs_dir, figures_dir)
    display(runs_bars.pivot_table(index=["group", "label"], columns="metric", values=["value", "spread"]).round(3))

# %% [markdown]
# ## Our own runs: training loss
#
# One panel per run, one colour per seed (thin: the logged loss; thick: its moving average). Seeds whose curves
# differ a lot point to an unstable learning rate or too few steps.

# %%
if complication_runs:
    fig_runs_loss, runs_loss = run_figures.runs_loss_figure(runs_dir, figures_dir, weight=smoothing)
    display(
        runs_loss.groupby(["run", "seed"])
        .agg(steps=("step", "max"), first_loss=("loss", "first"), final_smoothed=("smoothed", "last"))
        .round(4)
    )

# %% [markdown]
# ## Our own runs: precision-recall of the targeted decisions
#
# Every targeted answer carries P(True), the model's probability of "True" at its decision. Sweeping a threshold
# over it traces the curve; the dot is the greedy answer the F1 above scores. A curve above another ranks the
# questions better at every sensitivity, whatever threshold a screening user picks (05's operating points).

# %%
if complication_runs:
    fig_pr, pr_points = run_figures.runs_pr_figure(runs_dir, figures_dir)
    print("no run recorded P(True)" if fig_pr is None else f"{pr_points.groupby(['run', 'seed']).ngroups} run(s) drawn")

# %% [markdown]
# ## Our own runs: does a model read the criteria or spot a name?
#
# Every asked (case, complication) falls in one stratum (05 writes `tables/strata.csv`): a positive the record
# **names** ("Impression: paralytic ileus") or shows by its **criteria** only (days without flatus, a troponin above
# the 99th percentile), a negative with a **trap** laid for it (look-alike facts that the definition rules out) or a
# **clean** one. A bag of words finds named positives and falls for traps; a model that applies the definitions
# keeps its recall on criteria-only positives and its false positives low on traps. Bars: mean over seeds; points:
# seeds. Cohorts without these fields (the authors' records) draw only the recall of "unknown" positives.

# %%
if complication_runs:
    fig_strata, strata_frame = run_figures.runs_strata_figure(runs_dir, figures_dir)
    if fig_strata is None:
        print("no run wrote tables/strata.csv (05_evaluate writes it)")
    else:
        mean_rates = strata_frame.pivot_table(index=["run", "metric"], columns="arm", values="rate", aggfunc="mean")
        display(mean_rates.round(3))

# %%
print("written:", *sorted(p.name for p in figures_dir.glob("*.png")), sep="\n  ")

# %% [markdown]
# ## The second study: chart Q&A validation trials of our runs
# Every run of `study: chart_qa` (runs/<run>/seed-<n>/validation.csv): base and adapter per trial, means, and the
# paired 95% bootstrap interval of adapter - base per run and seed (05b computes the same for one run).

# %%
if kinds["chart_qa"]:
    fig_qa, qa_table = run_figures.runs_qa_figure(runs_dir, figures_dir)
    display(qa_table.round(3))
