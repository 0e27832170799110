"""A Slurm job-array script for a batch: one array task per (params, seed), with a wall-time estimate."""

from __future__ import annotations

import shlex

from ..core.params import load_params

# Training hours of 10 epochs in the authors' logs (results/evaluation_dataframes/*_log.jsonl; README's table),
# keyed by the model folder / hub name in lower case.
AUTHORS_TRAIN_HOURS = {"qwen3-4b": 12.5, "qwen3-8b": 16.3, "qwen3-14b": 12.9, "qwen3-32b": 29.3, "qwq-32b": 3.5}


def slurm_hours(p: dict) -> int:
    """Wall time to ask for one (params, seed) task: the authors' training hours scaled to num_epochs,
    x1.5 (another GPU, QLoRA on one GPU instead of bf16 on several) plus 4 h for inference and tables;
    2 h for the built-in CPU models, 48 h for a model with no estimate."""
    import math

    from ..llm.models import BUILTINS

    name = str(p["model_name_or_path"]).rstrip("/").rsplit("/", 1)[-1].lower()
    if p["model_name_or_path"] in BUILTINS:
        return 2
    if name not in AUTHORS_TRAIN_HOURS:
        return 48
    return math.ceil(AUTHORS_TRAIN_HOURS[name] * float(p["num_epochs"]) / 10 * 1.5 + 4)


def slurm_script(
    params: list[str], seeds: list[int], stages: list[str], runs_dir: str, extra: str = "", hours: int | None = None
) -> str:
    """A job-array script: one array task per (params, seed); each task runs this same batch command,
    offline, with the longest task's time estimate (slurm_hours) unless `hours` is given."""
    pairs = [(p, s) for p in params for s in seeds]
    hours = hours or max(slurm_hours(load_params(p)) for p in params)
    lines = [
        "#!/usr/bin/env bash",
        "#SBATCH --job-name=pericomp",
        f"#SBATCH --array=0-{len(pairs) - 1}",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=64G",
        f"#SBATCH --time={hours // 24}-{hours % 24:02d}:00:00",
        "#SBATCH --output=slurm-%A_%a.out",
        "set -euo pipefail",
        (
            "export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false  # models come from the "
            "local cache"
        ),
        "PAIRS=(" + " ".join(shlex.quote(f"{p}:{s}") for p, s in pairs) + ")",
        "PAIR=${PAIRS[$SLURM_ARRAY_TASK_ID]}",
        "PARAMS=${PAIR%:*}; SEED=${PAIR##*:}",
        'python -m pericomp_lib batch --params "$PARAMS" --seeds "$SEED" '
        + (f"--stages {' '.join(stages)} " if stages else "")
        + f"--runs-dir {shlex.quote(runs_dir)} {extra}".rstrip(),
    ]
    return "\n".join(lines) + "\n"
