# %% [markdown]
# # 04 · Inference: base model vs fine-tuned adapter
#
# Every evaluation case is answered twice by **one** loaded model: once with the LoRA adapter switched
# off (the base model) and once with it on. No second copy of the weights is needed.
#
# - **targeted** strategy: 22 questions per case, one per complication, each answered with
#   `{"think": ..., "bool": ..., "grading": ...}`. With the **shared_prefix** layout the record comes
#   first: its key/value cache is computed once and reused for the 22 questions (same greedy answers,
#   several times faster; see `benchmarks/README.md`).
# - Decoding is greedy and stops as soon as the JSON answer object is closed.
# - Every answer is appended to `raw.jsonl` the moment it exists. Re-running this notebook skips what
#   is already there, so a run killed at any point simply continues.

# %% tags=["parameters"]
params_path = None  # None: the run's params.json (written by 01); or a params file that overrides it
run_dir = None  # None: runs/<run_name>/seed-<seed>/ of the CPU default profile; reads cohort.jsonl and adapter/
split = "eval"  # validation cases (test when the cohort has no validation split), or train/test/all
base_only = False  # True: the base model only, even when RUN_DIR/adapter (from 03) exists

# %%
import pandas as pd
from IPython.display import display
from transformers import set_seed

from pericomp_lib import show_logs
from pericomp_lib.core import records
from pericomp_lib.evaluation import run_scores
from pericomp_lib.inference import run_outputs, runner, runstore
from pericomp_lib.pipeline.notebook_params import from_notebook
from pericomp_lib.pipeline.runfolder import adapter_for

show_logs()  # the library's messages (INFO and up) in this notebook's output
params, run_dir = from_notebook(globals(), "04")
set_seed(params["seed"])
out_dir, definitions = run_dir, params["definitions"]
adapter_dir = adapter_for(params, run_dir, base_only)  # the params' adapter, else RUN_DIR/adapter from 03
cases = records.split_cases(records.load_cohort(run_dir / "cohort.jsonl", check_evidence=False), split)[
    : params["max_eval_cases"]
]
print(
    f"{len(cases)} {split} cases; model {params['model_name_or_path']}; adapter {adapter_dir}; "
    f"{params['strategy']} / {params['prompt_layout']}; max_new_tokens {params['max_new_tokens']}"
)

# %% [markdown]
# ## Generate (resumable)
# The progress bar counts cases per model; `raw.jsonl` holds one line per answer with its text, token count,
# seconds and, for targeted answers, **P(True)**: the model's probability of "True" at the token where it decides.
#
# - `constrained: true` makes every answer follow its JSON schema (llguidance masks the tokens the schema does not
#   allow, and forces keys and quotes without a decode step); `false` is the paper's free generation.
# - `comprehensive_arm: true` also asks the base model the one-prompt-for-all question (Figure 6b's
#   *comprehensive* arm), so one run holds comprehensive, targeted and targeted + LoRA.
# - `calibration_cases` training cases, held out of 03's fine-tuning, get their decisions scored too: 05 picks
#   operating points on them, never on the evaluation cases.

# %%
train_split = records.split_cases(records.load_cohort(run_dir / "cohort.jsonl", check_evidence=False), "train")
_, calibration = records.calibration_split(train_split, params["calibration_cases"])  # held out of 03's training
answers, summary = runner.infer(
    params, cases, out_dir, adapter=adapter_dir, definitions=definitions, calibration=calibration
)
# every case x model must have all its answers: inference_report.json says which are owed (the batch runner
# marks this stage done only when none is); re-running this notebook retries the failed ones
report = runstore.write_inference_report(out_dir, cases, answers, summary)

# %% [markdown]
# ## Parse and export
# `predictions/{base,adapter}.json` (lenient: complication names) and `predictions_strict/...` (name and grade)
# use the authors' result-file format, so 05_evaluate scores them like the published models. Answers that cannot
# be parsed are counted in `parse_report.json` and count as "absent". `side_by_side.csv` lines up, for each case
# and complication, the gold answer with each model's text and decision.

# %%
table = run_outputs.export(
    out_dir,
    cases,
    answers,
    params["strategy"],
    complications=params["complications"],
    p_true=summary.p_true,
    calibration_cases=calibration,
    calibration=summary.calibration,
)
print(f"side_by_side.csv: {len(table)} rows")

# %% [markdown]
# ## How good are the answers?
# Micro: P/R/F1 over all (case, label) pairs. Macro: per case, then averaged. Lenient: names only; strict:
# name and grade.

# %%
display(run_scores.metrics_table(out_dir, cases).round(3))

# %% [markdown]
# ## A few disagreements to read
# Rows where base and adapter differ in being right (with the base model alone: where it is wrong).

# %%
with pd.option_context("display.max_colwidth", 120):
    display(run_outputs.disagreements(table, n=8))
