"""Stage 05: scores, ours and the paper's.

metrics (the authors' set-based P/R/F1, micro and per-sample macro), run_scores (one run folder, every run for
figures), paper_tables (the ten published tables), published_scores, decisions (AUROC, AP, operating points
from decisions.csv), baseline (TF-IDF and most-frequent), summary (summary.json), provenance (what a run was),
cli (`python -m pericomp_lib evaluate`).
Reads cohort.jsonl, predictions*/, decisions.csv (or a PeriComp clone); writes predictions*/{baseline,
most_frequent}.json, tables/*.csv, summary.json, tables/paper/.
May import: core, llm, prompting, cohort, training, inference.
"""
