# %% [markdown]
# # 01b · MIMIC-IV → perioperative cases with silver labels (a cohort source, instead of 01)
#
# This stage turns the MIMIC-IV relational tables (`hosp/`, plus `note/` when you have MIMIC-IV-Note) into
# the project's case contract (`cohort.jsonl`), so every later notebook (prompts, fine-tuning, inference,
# evaluation) can run on an English, US cohort. It takes the place of 01_cohort: it writes `RUN_DIR/cohort.jsonl`
# and `RUN_DIR/params.json` (with `cohort_source: mimic`), then run 02-05 with `-p run_dir` the same folder
# (default `runs/mimic/seed-1`). The batch runner does the same with `cohort_source: mimic` in 01.
#
# **Read this first.** MIMIC-IV is credentialed data (PhysioNet): never commit it, its derived files or this
# notebook's executed copy. With `mimic_dir = None` the notebook generates a **FAKE** MIMIC-shaped fixture so
# you can see every step; point `mimic_dir` at your MIMIC-IV v3.1 folder for real results.
#
# **The labels are SILVER, not gold.** They come from billed ICD diagnosis codes mapped to the 22 EPCO
# complications (`pericomp_lib/data/mimic_icd_map.csv`), not from chart review. Codes carry no EPCO grade, so
# every label has grade `none` (Null): strict (graded) metrics are not meaningful on MIMIC, only lenient ones.

# %% tags=["parameters"]
mimic_dir = None  # folder holding hosp/ (and note/); None -> FAKE demo fixture under RUN_DIR/fixture
run_dir = None  # None: runs/mimic/seed-<seed>/ in the repository; 02-05 then take -p run_dir runs/mimic/seed-1
params_path = None  # a params file for the later stages (model, LoRA...); None: the CPU default profile
top_k_labs = 20  # lab items kept in each record, ranked by permutation importance
memory_limit = "2GB"  # DuckDB memory cap; larger tables spill to disk under RUN_DIR
include_diagnoses = True  # list billed diagnoses in the record (needed for quotable evidence; see docs/mimic.md)
qa_subject = None  # subject_id to inspect; None -> the first subject with a case

# %%
import pandas as pd

from pericomp_lib import show_logs
from pericomp_lib.cohort import mimic
from pericomp_lib.pipeline.runfolder import mimic_setup

pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 20)
show_logs()  # the library's messages (INFO and up) in this notebook's output
params, run_dir, source = mimic_setup(globals())
seed = params["seed"]

# %% [markdown]
# ## 1 · Ingestion: tables → `subjects.jsonl`
# DuckDB loads each `csv.gz` with explicit MIMIC-IV v3.1 column types into a work database on disk (sorted by
# subject, spilling past `memory_limit`), then aggregates chunks of subjects straight to JSON: one line per
# patient with demographics, admissions (diagnoses and procedures with their ICD titles, discharge notes) and
# the lab timeline.

# %%
ingested = mimic.ingest(source, run_dir, memory_limit=memory_limit)
pd.Series(ingested.as_dict()).drop("tables")

# %% [markdown]
# ## 2 · Cases, silver labels and lab ranking
# One case per admission with a surgical procedure (ICD-10-PCS Medical-and-Surgical operations by open or
# endoscopic approach, caesarean section, ICD-9-CM operation chapters 01–86 minus bedside codes; see
# docs/mimic.md). Labels skip the principal diagnosis (the reason for admission). Splits are by subject,
# so no patient appears in two splits.

# %%
built = mimic.build_cohort(
    ingested.subjects_path, run_dir, top_k_labs=top_k_labs, seed=seed, include_diagnoses=include_diagnoses
)
mimic.overview(built.admissions)

# %%
mimic.label_frequencies(built.admissions)

# %%
mimic.record_lengths(built.admissions)

# %% [markdown]
# ## 3 · Which labs matter? (feature selection)
# A gradient-boosted classifier per frequent silver label (and for "any complication") on post-operative lab
# summaries (min / max / last per item); permutation importance on held-out subjects ranks the items. The
# records keep the `top_k_labs` best. On the fake fixture the signal is planted (creatinine ↔ AKI, white
# cells ↔ infections, haemoglobin ↔ bleeding); on real data, read the ranking critically.

# %%
built.ranking.head(top_k_labs)

# %% [markdown]
# ## 4 · QA by subject
# One subject's consolidated record next to the case(s) built from it: check that only surgical admissions
# became cases, that each label traces to a code, and what the model will read.

# %%
_ = mimic.show_subject(built.subjects_path, built.cohort_path, qa_subject)

# %% [markdown]
# ## 5 · The cohort validates against the case contract
# `cohort.jsonl` loads with the same validator as every other source (evidence strings must occur verbatim).

# %%
from pericomp_lib.core.records import load_cohort

cases = load_cohort(built.cohort_path)
print(f"{len(cases)} cases in {built.cohort_path}; problems: {len(built.problems)}")
pd.Series([c.split for c in cases]).value_counts()
