# %% [markdown]
# # 03b · Chart Q&A: QLoRA on the instruction pairs
#
# The study fine-tunes an 8B instruct model with **QLoRA**: the frozen base in 4-bit NF4 with double
# quantization and bf16 compute (bitsandbytes), LoRA adapters trained on top (`params/llama3.1-8b-qlora.yaml`).
# The CPU profile does the same on the embedded SmolLM2-135M (bitsandbytes' 4-bit also runs on the CPU).
#
# Training goes through the project's TRL path (`training.finetune`, the same as 03): each pair's turns before
# the answer are rendered with the model's chat template, and the loss covers the assistant turn only.
# Writes `RUN_DIR/adapter/`, `train_log.jsonl` and the loss curve; re-running resumes from the last checkpoint.

# %% tags=["parameters"]
params_path = None  # None: the run's params.json; or a params file that overrides it
run_dir = None  # the run folder holding qa_pairs.jsonl (from 02b)

# %%
import pandas as pd
from IPython.display import display

from pericomp_lib import show_logs
from pericomp_lib.chartqa import pair_training
from pericomp_lib.figures import figure_style, paper_figures
from pericomp_lib.pipeline.notebook_params import from_notebook
from pericomp_lib.training import train_logs

show_logs()  # the library's messages (INFO and up) in this notebook's output
params, run_dir = from_notebook(globals(), "03b")
summary = pair_training.train_pairs(params, run_dir)
pd.Series(summary).to_frame("value")

# %% [markdown]
# ## Training loss

# %%
frame = train_logs.loss_frame({params["run_name"]: run_dir / "train_log.jsonl"}, weight=0.6)
fig = paper_figures.plot_loss_curves(frame, x="step", title_prefix="", ncols=1)
figure_style.save_figure(fig, run_dir, "loss")
display(pd.read_json(run_dir / "train_log.jsonl", lines=True).tail())
