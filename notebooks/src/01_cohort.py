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
# signatures. Use it for CPU runs, where every targeted prompt repeats the whole record.
#
# Other sources: `pericomp_repo` (the authors' layout), `jsonl` (a `cohort.jsonl` you made), `csv`.
# The output is `out_dir/cohort.jsonl`: one case per line, the contract all later notebooks read.

# %% tags=["parameters"]
cohort_source = "synthetic"
n_cases = 36  # the CPU default profile (params/smollm2-135m.yaml); the paper had 146 + 52
language = "en"
seed = 1
pericomp_dir = None
cohort_path = None
out_dir = "../runs/smollm2-135m/seed-1"  # the run folder 02-05 read by default
difficulty = 0.5
n_external = 0
record_length = "compact"  # synthetic only: "full" (~3k tokens) or "compact" (~0.6k, same facts and gold)

# %%
import pandas as pd

from pericomp_lib import cohort

pd.set_option("display.width", 160)
cases = cohort.make_cohort(cohort_source, n_cases, language, seed, pericomp_dir, cohort_path, out_dir,
                           difficulty, n_external, record_length=record_length)
cohort.split_counts(cases)

# %% [markdown]
# ## Which complications, how often
# `share` is the fraction of our cases with each label; `published_share` the same in the authors' center-1
# gold standard (read from `pericomp_dir` when given, else the embedded measurement). A synthetic cohort
# should resemble it: ileus, organ/space infection and "infection, source uncertain" common, cardiac
# arrest or stroke rare. The rank correlation summarises the match.

# %%
cohort.label_frequencies(cases, pericomp_dir)

# %%
print(f"Spearman rank correlation with the published center-1 label frequencies: "
      f"{cohort.rank_correlation(cases, pericomp_dir):.2f}")
cohort.labels_per_case(cases, pericomp_dir)

# %% [markdown]
# ## Grades
# The strict evaluation also checks the grade. Most graded labels are 中 (treatment needed); postoperative
# bleeding is only 中 or 重 by definition; delirium, cardiac arrest and myocardial injury carry no grade.

# %%
cohort.grade_mix(cases, pericomp_dir)

# %% [markdown]
# ## How long the records are
# Token counts decide the context length for fine-tuning (`max_seq_len`). Without a tokenizer we count one
# token per Chinese character, word, number or punctuation mark, a rough stand-in: the SmolLM2 tokenizer
# splits every digit, so real counts run about 1.5x (English) to 2x (Chinese) higher.

# %%
cohort.record_lengths(cases)

# %% [markdown]
# ## Read one record
# Read it as a clinician would: the gold labels below quote their evidence verbatim from the record.
# Synthetic records carry `meta.traps`: look-alikes the definitions reject (transfusion for intra-operative
# loss rather than bleeding, a high creatinine that was already high before surgery, TnT 0.015 ng/mL...).

# %%
with_labels = [c for c in cases if c.gold] or cases
print(cohort.show_record(with_labels, index=0))
