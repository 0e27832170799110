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
params_path = "../params/smollm2-135m.yaml"
cohort_path = "../runs/smollm2-135m/seed-1/cohort.jsonl"
adapter_dir = "../runs/smollm2-135m/seed-1/adapter"  # from 03_finetune, or a hub id; None: base model only
out_dir = "../runs/smollm2-135m/seed-1"
split = "eval"  # validation cases (test when the cohort has no validation split), or train/test/all
definitions = None  # None: the params file's definitions (packaged English when unset)
complications = None  # None: all 22 (targeted); or a list of ids
max_cases = None  # None: the params file's max_eval_cases (None there: every case of the split)
seed = 1
# overrides of the params file (None keeps the file's value)
strategy = None
prompt_layout = None
max_new_tokens = None
inference_batch_size = None
enable_thinking = None
device = None
dtype = None

# %%
import pandas as pd
from IPython.display import display
from transformers import set_seed

from pericomp_lib import exports, inference, records, runstore
from pericomp_lib.params import load_params

set_seed(seed)
params = load_params(params_path, seed=seed, complications=complications, strategy=strategy,
                     prompt_layout=prompt_layout, max_new_tokens=max_new_tokens,
                     inference_batch_size=inference_batch_size, enable_thinking=enable_thinking,
                     device=device, dtype=dtype)
cases = records.split_cases(records.load_cohort(cohort_path, check_evidence=False), split)[:max_cases or params["max_eval_cases"]]
print(f"{len(cases)} {split} cases; model {params['model_name_or_path']}; adapter {adapter_dir}; "
      f"{params['strategy']} / {params['prompt_layout']}; max_new_tokens {params['max_new_tokens']}")

# %% [markdown]
# ## Generate (resumable)
# The progress bar counts cases per model; `raw.jsonl` holds one line per answer with its text, token count
# and seconds.

# %%
answers, summary = inference.infer(params, cases, out_dir, adapter=adapter_dir, definitions=definitions)
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
table = exports.export(out_dir, cases, answers, params["strategy"], complications=params["complications"])
print(f"side_by_side.csv: {len(table)} rows")

# %% [markdown]
# ## How good are the answers?
# Micro: P/R/F1 over all (case, label) pairs. Macro: per case, then averaged. Lenient: names only; strict:
# name and grade.

# %%
display(exports.metrics_table(out_dir, cases).round(3))

# %% [markdown]
# ## A few disagreements to read
# Rows where base and adapter differ in being right (with the base model alone: where it is wrong).

# %%
with pd.option_context("display.max_colwidth", 120):
    display(exports.disagreements(table, n=8))
