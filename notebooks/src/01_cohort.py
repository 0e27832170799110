# %% [markdown]
# # 01 · Cohort: the cases every later stage works on
#
# The paper fine-tunes and evaluates on 146 surgical records from center 1 (100 train / 46 validation)
# and 52 from center 2 (external test), each with expert gold labels: which of the 22 EPCO complications
# occurred and how severe (轻 / 中 / 重, or Null where no grading applies). Those records are not public, so by
# default this stage **simulates** a cohort: a patient course is simulated first (surgery, baseline values,
# events), the gold labels are then derived from the simulated facts with the rules of the authors'
# definitions (KDIGO creatinine ratios, TnT ≥ 0.03 ng/mL, PaO2/FiO2 bands, SSI depth...), and only then is
# the course written out as a record in English or Chinese.
#
# `record_length = "compact"` writes the same simulated courses (same gold labels and evidence) as shorter
# records: only days with events plus the first and discharge notes, event-driven lab values only, no
# signatures. Use it for CPU runs, where every targeted prompt repeats the whole record. `"notes"` (the CPU
# default) is the compact record without its laboratory table: every value in it is also stated in that day's note.
#
# `twins` (`[]` in every profile, the paper's way; `[tnt_renal, tnt_near]` was measured and not adopted) adds to the
# training split a counterfactual twin of each case laid with those troponin traps: the same course without the
# chronic kidney disease, or with the troponin just past 0.03 ng/mL, so its gold gains myocardial injury. The label
# tables below leave the twins out; `split_counts` counts them.
#
# Other sources: `pericomp_repo` (the authors' layout), `jsonl` (a `cohort.jsonl` you made), `csv`, `mimic`
# (or `01b_mimic` to see the MIMIC-IV steps one by one).
#
# **Parameters.** Every setting (`n_cases`, `language`, `record_length`, ...) comes from one params profile,
# `params/*.yaml`: the CPU default `params/smollm2-135m.yaml` unless you name another with `params_path`, or
# pass one with papermill's `-f params/<profile>.yaml`; `-p key value` overrides any key. The keys, their
# defaults and what they mean are in `pericomp_lib/core/params.py`. This stage writes `RUN_DIR/params.json` (the
# resolved values) and `RUN_DIR/cohort.jsonl`: one case per line, the contract all later notebooks read.

# %% tags=["parameters"]
params_path = None  # a params file, e.g. "params/tiny-random.yaml" (from the repository root); None: the CPU default
run_dir = None  # the run folder 02-05 read; None: runs/<run_name>/seed-<seed>/ in the repository
pericomp_dir = None  # a PeriComp clone: needed by cohort_source pericomp_repo; also gives live published frequencies

# %%
import pandas as pd

from pericomp_lib import show_logs
from pericomp_lib.cohort import build
from pericomp_lib.core.params import repo_path
from pericomp_lib.pipeline.notebook_params import from_notebook

pd.set_option("display.width", 160)
show_logs()  # the library's messages (INFO and up) in this notebook's output
params, run_dir = from_notebook(globals(), "01")
pericomp_dir = repo_path(pericomp_dir)
cases = build.make_cohort(
    params["cohort_source"],
    params["n_cases"],
    params["language"],
    params["seed"],
    pericomp_dir,
    params["cohort_path"],
    run_dir,
    params["difficulty"],
    params["n_external"],
    record_length=params["record_length"],
    twins=params["twins"],
)
build.split_counts(cases)

# %% [markdown]
# ## Which complications, how often
# `share` is the fraction of our cases with each label; `published_share` the same in the authors' center-1
# gold standard (read from `pericomp_dir` when given, else the embedded measurement). A synthetic cohort
# should resemble it: ileus, organ/space infection and "infection, source uncertain" common, cardiac
# arrest or stroke rare. The rank correlation summarises the match.

# %%
build.label_frequencies(cases, pericomp_dir)

# %%
print(
    f"Spearman rank correlation with the published center-1 label frequencies: "
    f"{build.rank_correlation(cases, pericomp_dir):.2f}"
)
build.labels_per_case(cases, pericomp_dir)

# %% [markdown]
# ## Grades
# The strict evaluation also checks the grade. Most graded labels are 中 (treatment needed); postoperative
# bleeding is only 中 or 重 by definition; delirium, cardiac arrest and myocardial injury carry no grade.

# %%
build.grade_mix(cases, pericomp_dir)

# %% [markdown]
# ## How long the records are
# Token counts decide the context length for fine-tuning (`max_seq_len`). Without a tokenizer we count one
# token per Chinese character, word, number or punctuation mark (`tokens.count_tokens`, the count 02 uses
# for prompts), a rough stand-in: the SmolLM2 tokenizer splits every digit, so real counts run about 1.5x
# (English) to 2x (Chinese) higher.

# %%
build.record_lengths(cases)

# %% [markdown]
# ## Read one record
# Read it as a clinician would: the gold labels below quote their evidence verbatim from the record.
# Synthetic records carry `meta.traps`: look-alikes the definitions reject (transfusion for intra-operative
# loss rather than bleeding, a high creatinine that was already high before surgery, TnT 0.015 ng/mL...).

# %%
with_labels = [c for c in cases if c.gold] or cases
print(build.show_record(with_labels, index=0))
