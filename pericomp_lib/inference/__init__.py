"""Stage 04: the arms answer (comprehensive and targeted, base and adapter), free or schema-constrained.

runner (the stage: resumption, batches, arms sharing a prefill), jobs (what one answer is: prompt, schema,
settings hash), decoding (the greedy engine) with cascade (shared-prefix attention) and constrained
(llguidance masks), runstore (raw.jsonl), parsing / answer_json / labels (model text -> the paper's labels),
result_files (`format-results`, the authors' step), run_outputs (predictions, side-by-side, scope) and
decision_rows (decisions.csv, P(True) per question).
Reads RUN_DIR/params.json, cohort.jsonl, adapter/; writes raw.jsonl, predictions{,_strict}/, parse_report.json,
side_by_side.csv, decisions.csv, scope.json, inference_report.json.
May import: core, llm, prompting.
"""
