# %% [markdown]
# # 05b · Chart Q&A: what the adapter changed, with paired confidence intervals
#
# Per score, the mean over the validation trials for the base model and the adapter, and the paired 95%
# bootstrap interval of the difference (trials resampled, both answers of a trial kept together). The scores
# (`chartqa/scoring.py`): **must-have recall** (share of the must-have facts an answer states: the structure's
# sections, the topic's urgent warning signs, the chart facts it must use), **warning-sign recall** (the topic's
# urgent signs alone), **chart-fact recall** (the chart facts alone), **ROUGE-L** against the ideal answer,
# **section adherence** (the three headings in order and the disclaimer) and **names a disease** (the ideal
# answers never do). Writes `tables/qa_summary.csv`, the `qa_*` keys
# of `summary.json` and the figure `qa_trials.png|pdf`.

# %% tags=["parameters"]
params_path = None  # None: the run's params.json
run_dir = None  # the run folder holding validation.csv (from 04b)
figures_dir = None  # None: the run folder; e.g. "figures" for the repository's figures/

# %%
import pandas as pd
from IPython.display import display

from pericomp_lib import show_logs
from pericomp_lib.chartqa import report
from pericomp_lib.core.params import repo_path
from pericomp_lib.figures import qa_figures
from pericomp_lib.pipeline.notebook_params import from_notebook

show_logs()  # the library's messages (INFO and up) in this notebook's output
params, run_dir = from_notebook(globals(), "05b")
table, summary = report.write_summary(run_dir, seed=params["seed"])
display(table.round(3))

# %%
validation = pd.read_csv(run_dir / "validation.csv")
fig = qa_figures.qa_trials_figure(validation, repo_path(figures_dir) if figures_dir else run_dir)
