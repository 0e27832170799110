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
# 1. reads the run's params (`RUN_DIR/params.json` from 01, or a profile `params/*.yaml`) and the cohort
#    made by 01_cohort (`RUN_DIR/cohort.jsonl`);
# 2. builds one (prompt, gold answer) pair per training case × complication (`sft_data.sft_examples`);
# 3. trains, with the loss on the answer tokens only, and writes `RUN_DIR/adapter/` (used by 04_inference)
#    and `RUN_DIR/train_log.jsonl`;
# 4. plots the training loss, like Figure 6A of the paper.
#
# Any params key can be overridden with papermill's `-p key value` (e.g. `-p max_steps 8 -p quantization 4bit`).
# Re-running with the same `run_dir` resumes from the last checkpoint instead of starting over.

# %% tags=["parameters"]
params_path = None  # None: the run's params.json (written by 01); or a params file that overrides it
run_dir = None  # None: runs/<run_name>/seed-<seed>/ of the CPU default profile; adapter/ and train_log.jsonl go here

# %%
import json

import pandas as pd
from IPython.display import display

from pericomp_lib import show_logs
from pericomp_lib.figures import figure_style, paper_figures
from pericomp_lib.pipeline.notebook_params import from_notebook
from pericomp_lib.training import finetune, train_logs

show_logs()  # the library's messages (INFO and up) in this notebook's output
params, run_dir = from_notebook(globals(), "03")
print(
    json.dumps(
        {
            k: params[k]
            for k in (
                "run_name",
                "model_name_or_path",
                "quantization",
                "lora_r",
                "lora_alpha",
                "learning_rate",
                "num_epochs",
                "max_steps",
                "batch_size",
                "grad_accum",
                "strategy",
                "prompt_layout",
                "packing",
                "max_seq_len",
            )
        },
        indent=1,
    )
)

# %% [markdown]
# ## Training
#
# `packing: true` (with `prompt_layout: shared_prefix`) trains the 22 questions of a case as one sequence: the
# record is read once and each answer sees only the record and its own question, so losses and gradients are
# the same as training them one by one, at a fraction of the tokens (see `benchmarks/README.md`).

# %%
summary = finetune.train(params, run_dir / "cohort.jsonl", run_dir)
pd.Series(summary).to_frame("value")

# %% [markdown]
# ## Training loss (Figure 6A style)
#
# The thin line is the loss at each optimiser step, the thick line an exponential moving average. On the
# tiny CPU profiles the curve is short; the paper's runs took 1,370 steps (10 epochs).

# %%
frame = train_logs.loss_frame({params["run_name"]: run_dir / "train_log.jsonl"}, weight=0.6)
fig = paper_figures.plot_loss_curves(frame, x="step", title_prefix="", ncols=1)
figure_style.save_figure(fig, run_dir, "loss")
display(pd.read_json(run_dir / "train_log.jsonl", lines=True).tail())
