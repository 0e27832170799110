"""Stage 06: figures as products of code.

figure_style (names, colours, saving PNG + PDF), paper_figures (Figures 6A, 6b, 7 from published predictions),
run_figures (runs_*: every arm, strict, loss, precision-recall, from our runs).
Reads runs/*/seed-*/tables, decisions.csv, train_log.jsonl, params.json (or a PeriComp clone); writes figures/.
May import: every folder below (core up to evaluation).
"""
