"""Stage 01 (and 01b): where cases come from.

build (make_cohort: picks the source from the params), synthetic/ (the bilingual generator), pericomp_repo
(the authors' layout), user_files (your JSONL or CSV), mimic/ (MIMIC-IV tables -> subjects.jsonl -> cases with
silver labels; also the data pipeline of the second study).
Reads the params and a source folder; writes RUN_DIR/params.json and cohort.jsonl (mimic: subjects.jsonl).
May import: core, llm, prompting.
"""
