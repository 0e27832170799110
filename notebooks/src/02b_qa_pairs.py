# %% [markdown]
# # 02b · Chart Q&A: which columns inform, and instruction pairs from each subject's chart
#
# The second study (QLoRA validation on MIMIC-IV) after its ingestion (`01b_mimic`, which wrote
# `RUN_DIR/subjects.jsonl`: one line per subject with admissions, diagnoses, procedures, prescriptions,
# pharmacy, ICU stays and labs).
#
# 1. **Column selection.** Per subject, summary features of every `table.column` (diagnosis tables left out:
#    they are the labels); one gradient-boosted classifier per frequent diagnosis group; permutation importance
#    summed per `table.column`. Columns below `qa_column_drop_below` of the total leave the context builder's
#    input (the columns the question topics read are protected). Writes `column_importance.csv`,
#    `top_tables.csv`, `least_tables.csv` and `qa_selection.json`.
# 2. **Instruction pairs.** Up to `qa_pairs_per_subject` chat pairs per subject, `{"messages": [system, user,
#    assistant]}`: the user turn is the subject's *Patient context* and a symptom question chosen from the chart
#    (bleeding for an anticoagulated patient, glycaemia for insulin, ...); the answer follows the fixed structure
#    of the study's ideal answers (what you can try now / when to seek urgent care / what to track or share, no
#    disease names, a closing disclaimer) and records its must-have facts, so every answer can be scored without
#    a person. Split by subject. Writes `qa_pairs.jsonl`.

# %% tags=["parameters"]
params_path = None  # None: the run's params.json (written by 01b); or a params file that overrides it
run_dir = None  # the run folder holding subjects.jsonl (from 01b)

# %%
import json

import pandas as pd
from IPython.display import display

from pericomp_lib import show_logs
from pericomp_lib.chartqa import context, pair_set, pairs, qa
from pericomp_lib.pipeline.notebook_params import from_notebook

show_logs()  # the library's messages (INFO and up) in this notebook's output
params, run_dir = from_notebook(globals(), "02b")
report = pair_set.make_pair_set(params, run_dir)
pd.Series(report).to_frame("value")

# %% [markdown]
# ## Which tables and columns carry signal
# Importance is the mean drop in AUROC when a column's features are shuffled, summed over its features and over
# the diagnosis groups. The least informative columns are dropped from the context below.

# %%
display(pd.read_csv(run_dir / "top_tables.csv"))
display(pd.read_csv(run_dir / "column_importance.csv").head(15))
print("dropped from the context:", ", ".join(report["dropped_columns"]) or "nothing")

# %% [markdown]
# ## One subject's context and one pair
# The context is what the model reads before the question, in training and in the trials alike.

# %%
made = pairs.read_pairs(run_dir / pair_set.PAIRS)
first = made[0]
subjects = qa.load_subjects(run_dir / "subjects.jsonl")
print(context.patient_context(subjects[first["subject_id"]], drop=qa.dropped_columns(run_dir)).text)
print()
for m in first["messages"][1:]:
    print(f"--- {m['role']}\n{m['content']}")
print("\nmust-have facts:", json.dumps(first["must_have"], ensure_ascii=False, indent=1))
