"""Stage 02: what a model is asked and what it should answer.

definitions (EPCO definitions: packaged en/zh or the authors' file), prompts (targeted / comprehensive
templates and builders, paper or shared-prefix layout), chat (chat-template rendering, prefix split),
gold_answers (the answer a case's gold implies), sft_data (prompt + answer rows, the authors' prompt files).
Reads RUN_DIR/params.json and cohort.jsonl; writes targeted_prompts.json or comprehensive_prompts.json and
sft_targets.json, a view: 03 and 04 build the same prompts with these builders.
May import: core.
"""
