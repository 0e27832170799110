# %% [markdown]
# # 03 · Fine-tuning (LoRA / QLoRA)
#
# The paper fine-tunes open models with **LoRA** (r 16, alpha 32, learning rate 1e-4, adapters on the
# attention projections q/k/v/o) on the *training* cases, teaching each model to answer the targeted
# question "did the patient develop complication X, and how severe was it?" exactly as the gold standard
# does. Only the small adapter matrices are trained; the base model stays frozen. With
# `quantization: 4bit` the frozen base is stored in 4-bit NF4 (**QLoRA**), which lets a 32B model train on
# one 80 GB GPU.
#
# What this notebook does:
# 1. reads a params file (`params/*.yaml`) and the cohort made by 01_cohort;
# 2. builds one (prompt, gold answer) pair per training case × complication (`prompts.sft_examples`);
# 3. trains, with the loss on the answer tokens only, and writes `out_dir/adapter/` (used by 04_inference)
#    and `out_dir/train_log.jsonl`;
# 4. plots the training loss, like Figure 6A of the paper.
#
# Re-running with the same `out_dir` resumes from the last checkpoint instead of starting over.

# %% tags=["parameters"]
params_path = "../params/smollm2-135m.yaml"
cohort_path = "../runs/smollm2-135m/seed-1/cohort.jsonl"
out_dir = "../runs/smollm2-135m/seed-1"  # adapter/ and train_log.jsonl go here
quantization = None  # None: the params file's; "none", "4bit" (QLoRA) or "8bit"
# overrides of the params file (None keeps the file's value)
max_steps = None
num_epochs = None
learning_rate = None
packing = None
seed = None

# %%
import json
from pathlib import Path

import pandas as pd
from IPython.display import display

from pericomp_lib import figures, training
from pericomp_lib.params import load_params

params = load_params(params_path, max_steps=max_steps, num_epochs=num_epochs, learning_rate=learning_rate,
                     packing=packing, seed=seed)
out_dir = Path(out_dir).resolve()
print(json.dumps({k: params[k] for k in ("run_name", "model_name_or_path", "quantization", "lora_r", "lora_alpha",
                                         "learning_rate", "num_epochs", "max_steps", "batch_size", "grad_accum",
                                         "strategy", "prompt_layout", "packing", "max_seq_len")}, indent=1))

# %% [markdown]
# ## Training
#
# `packing: true` (with `prompt_layout: shared_prefix`) trains the 22 questions of a case as one sequence: the
# record is read once and each answer sees only the record and its own question, so losses and gradients are
# the same as training them one by one, at a fraction of the tokens (see `benchmarks/README.md`).

# %%
summary = training.train(params, cohort_path, out_dir, quantization=quantization)
pd.Series(summary).to_frame("value")

# %% [markdown]
# ## Training loss (Figure 6A style)
#
# The thin line is the loss at each optimiser step, the thick line an exponential moving average. On the
# tiny CPU profiles the curve is short; the paper's runs took 1,370 steps (10 epochs).

# %%
frame = figures.loss_frame({params["run_name"]: out_dir / "train_log.jsonl"}, weight=0.6)
fig = figures.plot_loss_curves(frame, x="step", title_prefix="", ncols=1)
figures.save_figure(fig, out_dir, "loss")
display(pd.read_json(out_dir / "train_log.jsonl", lines=True).tail())
