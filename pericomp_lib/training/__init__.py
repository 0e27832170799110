"""Stage 03: LoRA / QLoRA through peft and TRL on the targeted (or comprehensive) prompts.

finetune (SFT config, fit, train, the CLI), sft (TRL's trainer on packed rows), train_inputs (examples ->
token rows, weights, launch checks), packing (several questions of a case in one row, exact losses), lora
(attach, check, save the adapter), checkpoints (resume key, saved steps), train_logs (loss logs, ours and
the authors'), plan (parameters, GPU memory and time of a params file, computed on the CPU; the CLI and the
table) with its parts: meta_model (the model on the meta device, LoRA counts, weight bytes),
activation_memory (one step's activations counted on meta tensors), activation_check (that count against
the CPU's measured peak), token_lengths (row lengths from a cohort or the authors' logs), authors_runs (the
planner beside the authors' logs).
Reads RUN_DIR/params.json and cohort.jsonl; writes adapter/, train_log.jsonl, loss.png|pdf.
May import: core, llm, prompting.
"""
