# %% [markdown]
# # 06 · Figures
#
# This notebook redraws three figures of the PeriComp paper from the authors' **published predictions**:
#
# * **Figure 6A**: the LoRA training loss of each Qwen3 size.
# * **Figure 6b**: F1, recall and precision of the four Qwen3 sizes under three set-ups (comprehensive prompt,
#   targeted prompts, targeted prompts + LoRA), five inference runs each.
# * **Figure 7**: *strict* scoring. A label counts only when both the complication **and** its grade are right.
#
# Every number is recomputed here from the prediction files. Nothing is copied from the paper's tables.
# Each figure is saved as PNG (300 dpi) and PDF in `figures_dir`.

# %% tags=["parameters"]
pericomp_dir = "../../shared/pericomp-public"  # a clone of github.com/gscfwid/PeriComp (results/, data_source/)
figures_dir = "../figures"  # where PNG + PDF files go
runs_dir = None  # our own runs (runs/<params>_<seed>/); None = draw the authors' published results
smoothing = 0.9  # EMA weight for the smoothed loss curve (0 = raw, closer to 1 = smoother)

# %%
from pathlib import Path

import pandas as pd
from IPython.display import display

from pericomp_lib import figures

pd.set_option("display.width", 160)
figures_dir = Path(figures_dir).resolve()
print("PeriComp files:", Path(pericomp_dir).resolve())
print("figures go to: ", figures_dir)

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
fig6b, runs_frame, human = figures.figure6b(pericomp_dir, figures_dir)
print(f"{len(runs_frame)} rows: {runs_frame.groupby(['center', 'strategy', 'size']).ngroups} boxes x 5 runs x 3 metrics")
print("\n".join(runs_frame.attrs["notes"]))
display(figures.summary_table(runs_frame, ["center", "strategy", "size"])["f1"])
display(human.pivot(index="center", columns="metric", values="value").round(3))

# %% [markdown]
# ## Figure 7: strict evaluation (complication type + grade)
#
# In strict scoring, "pneumonia, moderate" and "pneumonia, severe" are different labels. The figure compares
# the PeriComp LoRA models (first run of each), the commercial models and the human annotator. Bars are sorted
# within each panel. The paper reports a center-2 strict F1 of 0.715 for Gemini 2.5 Flash and 0.687 for the
# human annotator. The values printed on the bars should match these.

# %%
fig7, strict = figures.figure7(pericomp_dir, figures_dir)
display(strict.pivot_table(index=["center", "group", "label"], columns="metric", values="value").round(3))

# %% [markdown]
# ## Figure 6A: LoRA training loss
#
# The thin, pale line is the loss the trainer logged at each step. The thick line is an exponential moving
# average of it. The steps in the curve fall at epoch boundaries: each new epoch shows the model the same
# examples again, so the loss drops. A loss near zero after ten epochs means the model has memorised its
# training set. Figure 6b shows whether it still generalises to new cases.

# %%
fig6a, loss = figures.figure6a(pericomp_dir, figures_dir, weight=smoothing)
display(loss.groupby("label", sort=False).agg(steps=("step", "max"), epochs=("epoch", "max"),
                                              first_loss=("loss", "first"), final_smoothed=("smoothed", "last")).round(4))

# %% [markdown]
# ## Our own runs
#
# If `runs_dir` is set, the training logs of our own fine-tuning runs (`train_log.jsonl`, written by
# 03_finetune) are drawn in the Figure 6A style. Box plots and strict bars from our runs come with the batch
# runner, which records each run's scores. Until then, those figures are drawn from the published files only.

# %%
if runs_dir is not None:
    print(f"runs_dir={runs_dir}: drawing loss curves of our runs. Box plots / strict bars from runs are not "
          "available yet (they arrive with the batch runner); the figures above come from the published files.")
    fig_runs, runs_loss = figures.runs_loss_figure(runs_dir, figures_dir, weight=smoothing)
else:
    print("runs_dir not set: only the published results were drawn.")

# %%
print("written:", *sorted(p.name for p in figures_dir.glob("figure*")), sep="\n  ")
