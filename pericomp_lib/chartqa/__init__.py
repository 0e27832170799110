"""Stage 02b-05b: the second study, chart-grounded clinical Q&A on MIMIC-IV subjects.

context (a subject's "Patient context:" block and facts), topics (the topic bundles a chart fires), answers (the
one answer structure of training and ideal answers, with must-have facts), pairs (seeded instruction pairs, split
by subject), questions (the guidance set of the trials), scoring (must-have and chart-fact recall, ROUGE-L,
section adherence, disease naming); pair_set, pair_training, qa, trials, report (the lead's model side).
Reads subjects.jsonl, qa_selection.json, data/chartqa_*.{csv,json,txt}; writes qa_pairs.jsonl,
qa_pairs_report.json, qa_raw.jsonl, validation.csv.
May import: core, llm, prompting, cohort, training, inference, evaluation.
"""
