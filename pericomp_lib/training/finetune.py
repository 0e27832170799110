"""LoRA / QLoRA supervised fine-tuning on gold-label answers (the paper's SFT stage), through TRL.

Examples come from `sft_data.sft_examples` and become prompt/completion rows (train_inputs.py) whose loss
covers only the answer tokens; `trl.SFTTrainer` (sft.py: our answer-only loss on top) trains them with a
`trl.SFTConfig` built from the params (SFT_CONFIG_KEYS). Writes out_dir/adapter/ (peft adapter +
training_params.json, lora.py) and out_dir/train_log.jsonl, and resumes from out_dir/checkpoints/ when a
run was interrupted (checkpoints.py). With `packing: true` (shared_prefix layout) a case's 22 targeted
examples train as one row (see packing.py).

    python -m pericomp_lib.training.finetune --params params/tiny-random.yaml \
        --cohort runs/x/cohort.jsonl --out runs/x/train
    accelerate launch --num_processes 2 --cpu -m pericomp_lib.training.finetune ...   (DDP, see docs/scale_out.md)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..core.io import write_json
from . import frozen_layers, frozen_record
from .checkpoints import (
    checkpoint_step,
    data_sha256,
    read_log,  # noqa: F401 (RESUME_KEYS: callers)
    resumable_checkpoint,
    resume_key,
)
from .lora import attach_lora, save_adapter
from .packing import Collator
from .train_inputs import TrainingError, build_rows, check_launch_config, keep_negatives, tokenize_examples

# params key -> trl.SFTConfig field: every training setting a params file controls, in one place. The
# params defaults equal the values hard-coded before TRL, so no profile trains differently.
SFT_CONFIG_KEYS = {
    "batch_size": "per_device_train_batch_size",
    "grad_accum": "gradient_accumulation_steps",
    "learning_rate": "learning_rate",
    "num_epochs": "num_train_epochs",
    "max_steps": "max_steps",
    "lr_scheduler_type": "lr_scheduler_type",
    "warmup_steps": "warmup_steps",
    "weight_decay": "weight_decay",
    "max_grad_norm": "max_grad_norm",
    "save_steps": "save_steps",
    "save_total_limit": "save_total_limit",
    "seed": "seed",
    "max_seq_len": "max_length",
}
# params key -> SFTConfig field for what a run reports, not what it trains: none of them is in a checkpoint's
# resume key or a batch fingerprint. report_to: "none" (default), "tensorboard" (offline: event files in
# out_dir/checkpoints/runs/), "mlflow" or "wandb" (their packages and configuration are the user's).
SFT_REPORT_KEYS = {"report_to": "report_to"}
# The same for every run: one log row per step (train_log.jsonl; a resumed log must equal an uninterrupted
# one), and rows that arrive tokenized with their own collator (TRL's preparation would truncate prompts and
# knows no shared-prefix packing).
SFT_FIXED = {
    "logging_steps": 1,
    "save_strategy": "steps",
    "remove_unused_columns": False,
    "dataloader_num_workers": 0,
    "ddp_find_unused_parameters": False,
    "disable_tqdm": False,
    "packing": False,
    "dataset_kwargs": {"skip_prepare_dataset": True},
}


# ----------------------------------------------------------------------------------------- logging
def _peak_memory_mb() -> float:
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 2**20
    try:  # `resource` is Unix-only: imported here so training still runs on Windows
        import resource
    except ImportError:
        import psutil

        info = psutil.Process().memory_info()
        return getattr(info, "peak_wset", info.rss) / 2**20  # Windows keeps the peak working set
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # macOS: bytes, Linux: KiB


def train_examples(
    params: dict,
    examples: Sequence[dict],
    out_dir: str | os.PathLike,
    quantization: str | None = None,
    save_steps: int | None = None,
) -> dict[str, Any]:
    """Fine-tune a LoRA adapter on prompt/completion examples; returns a summary (also written to
    out_dir/train_summary.json)."""
    return fit(params, examples, out_dir, quantization, save_steps)[0]


def sft_config(params: dict, out_dir: Path, device: str, dtype: str, save_steps: int | None = None):
    """The trl.SFTConfig of a run: SFT_CONFIG_KEYS from the params, SFT_FIXED, and what the device and
    dtype decide (mixed precision; QLoRA's checkpointing is set up by peft instead, see lora.attach_lora)."""
    import dataclasses

    from trl import SFTConfig

    kw = {field: params[key] for key, field in SFT_CONFIG_KEYS.items()}
    kw.update({field: params.get(key, "none") for key, field in SFT_REPORT_KEYS.items()})
    if save_steps:  # callers that never want a checkpoint (benchmarks) pass a huge value
        kw["save_steps"] = save_steps
    # transformers 5.x renamed gradient_ to activation_checkpointing (SFTConfig turns the old name on by default)
    names = {f.name for f in dataclasses.fields(SFTConfig)}
    ckpt = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    on = bool(params["gradient_checkpointing"]) and params["quantization"] == "none"
    kw.update({ckpt: on, f"{ckpt}_kwargs": {"use_reentrant": False}})
    return SFTConfig(
        output_dir=str(out_dir / "checkpoints"),
        data_seed=params["seed"],
        use_cpu=device == "cpu",
        bf16=dtype == "bfloat16" and device != "cpu",
        fp16=dtype == "float16",
        **SFT_FIXED,
        **kw,
    )


def _run_params(params: dict, examples: Sequence[dict], quantization: str | None) -> dict:
    """A copy of params fit for training, after the checks that need no model."""
    params = dict(params)
    if quantization is not None:
        params["quantization"] = quantization
    if params.get("adapter"):  # a published adapter is for inference: never train a second LoRA on top of it
        # a warning, not a log line: the user must act: the adapter key does not apply to training
        warnings.warn(
            f"params adapter={params['adapter']!r} is not used for training: a fresh LoRA is trained on "
            f"the base model {params['model_name_or_path']!r} (the paper's setting); the adapter key "
            "applies to inference (04)",
            stacklevel=4,
        )
        params["adapter"] = None
    check_launch_config(params)
    frozen_record.check(params)
    frozen_layers.check(params)
    if not examples:
        raise TrainingError("no training examples (is the train split empty?)")
    if params.get("packing") and not all(ex.get("prefix") is not None for ex in examples):
        raise TrainingError(
            "packing: true needs strategy: targeted with prompt_layout: shared_prefix "
            "(the paper layout puts the record last, so its prompts share no prefix)"
        )
    return params


def _rows(params: dict, tok, examples: Sequence[dict]) -> tuple[list[dict], list[str]]:
    tokenized = tokenize_examples(
        tok,
        examples,
        bool(params.get("enable_thinking")),
        params.get("positive_weight"),
        params.get("decision_weight"),
        params.get("trap_weight"),
        params.get("quote_weight"),
    )
    rows, skipped = build_rows(tokenized, int(params["max_seq_len"]), bool(params.get("packing")))
    for i, row in enumerate(rows):
        row["row"] = i  # frozen_record keeps what it computed once per row under this id
    if skipped:
        # a warning, not a log line: the user must act: training data left out
        warnings.warn(
            f"{len(skipped)} example(s) longer than max_seq_len={params['max_seq_len']} skipped: "
            f"{'; '.join(skipped[:5])}; raise max_seq_len to keep them",
            stacklevel=4,
        )
    if not rows:
        raise TrainingError(f"every example is longer than max_seq_len={params['max_seq_len']}")
    return rows, skipped


def _trainer(model, tok, args, rows: list[dict], dtype: str, log_path: Path, keep: list[dict], params: dict):
    """The trl.SFTTrainer subclass on the rows, with the train log attached."""
    import torch
    from datasets import Dataset

    from .sft import AnswerLossSFTTrainer, Progress, TrainLog

    collator = Collator(tok.pad_token_id, mask_dtype=getattr(torch, dtype))  # the attention's compute dtype
    trainer = AnswerLossSFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(rows), data_collator=collator, processing_class=tok
    )
    if params.get("frozen_record"):
        frozen_record.check(params, trainer.args.world_size)
        trainer.frozen_record = frozen_record.FrozenRecord(model, rows, params.get("lora_layers"))
    elif params.get("cache_frozen_layers"):
        frozen_layers.check(params, trainer.args.world_size)
        trainer.frozen_record = frozen_layers.FrozenLayers(model, rows, params["lora_layers"])
    log = TrainLog(log_path, trainer, keep, _peak_memory_mb)
    trainer.add_callback(log)
    trainer.add_callback(Progress())  # step, loss, time left in the batch output (a kernel's bar is a widget)
    return trainer, log


def fit(
    params: dict,
    examples: Sequence[dict],
    out_dir: str | os.PathLike,
    quantization: str | None = None,
    save_steps: int | None = None,
) -> tuple[dict[str, Any], Any]:
    """train_examples that also hands back the trained PeftModel (tests compare it with the saved one)."""
    import torch
    from transformers import set_seed

    from ..llm.models import _sharded_launch, load_model, pick_device, pick_dtype

    params = _run_params(params, examples, quantization)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    set_seed(int(params["seed"]))
    device = pick_device(params.get("device", "auto"))
    dtype = str(pick_dtype(params.get("dtype", "auto"), device)).replace("torch.", "")
    args = sft_config(params, out_dir, device, dtype, save_steps)  # before the model: ZeRO-3 then loads by shard
    # custom 4D masks need an attention kernel that takes them (sdpa or eager, not flash-attention)
    model, tok = load_model(params, adapter=None, for_training=True, attn_implementation="sdpa")
    model.config.use_cache = False
    model = attach_lora(model, params, params["quantization"] != "none", _sharded_launch())
    rows, skipped = _rows(params, tok, examples)
    last = resumable_checkpoint(Path(args.output_dir), resume_key(params, examples), int(params["max_steps"] or 0))
    log_path = out_dir / "train_log.jsonl"
    trainer, log = _trainer(
        model, tok, args, rows, dtype, log_path, read_log(log_path, checkpoint_step(last)) if last else [], params
    )
    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=last)
    summary = _summary(params, examples, rows, skipped, trainer, log, result, time.perf_counter() - t0, last, out_dir)
    meta = {
        "params": params,
        "data_sha256": summary["data_sha256"],
        "n_examples": len(examples),
        "summary": summary,
        "torch": torch.__version__,
    }
    save_adapter(trainer, out_dir / "adapter", meta)  # every rank: gathering shards is collective
    if trainer.is_world_process_zero():
        write_json(out_dir / "train_summary.json", summary)
    return summary, trainer.model


def _summary(params, examples, rows, skipped, trainer, log, result, wall: float, last, out_dir: Path) -> dict:
    from ..llm.models import resolve_model

    world = max(1, trainer.args.world_size)
    losses = [r["loss"] for r in log.rows if "loss" in r]
    return {
        "run_name": params["run_name"],
        "model": params["model_name_or_path"],
        "model_path": resolve_model(params["model_name_or_path"]),
        "quantization": params["quantization"],
        "packing": bool(params.get("packing")),
        "n_examples": len(examples),
        "n_trained_examples": sum(r["n_examples"] for r in rows),
        "n_skipped_too_long": len(skipped),
        "n_rows": len(rows),
        "tokens_per_epoch": sum(len(r["input_ids"]) for r in rows),
        "steps": trainer.state.global_step,
        "epochs": round(float(trainer.state.epoch or 0), 4),
        "train_loss": float(result.training_loss),
        "wall_s": round(wall, 2),
        "tokens_seen": trainer.tokens_seen * world,
        "tokens_per_s": round(trainer.tokens_seen * world / max(wall, 1e-9), 2),
        "resumed_from": last,
        "data_sha256": data_sha256(examples),
        "world_size": trainer.args.world_size,
        "adapter_dir": str(out_dir / "adapter"),
        "train_log": str(out_dir / "train_log.jsonl"),
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
    }


def training_examples(params: dict, cohort_path: str | os.PathLike) -> list[dict]:
    """The examples 03 trains on: the cohort's train split (less the calibration cases 04 scores) as prompts of
    `params` (strategy, layout, definitions), negatives kept as `negative_ratio` says. The planner counts these."""
    from ..core.records import calibration_split, load_cohort, split_cases
    from ..prompting.definitions import load_definitions
    from ..prompting.sft_data import sft_examples

    cases, _held_out = calibration_split(
        split_cases(load_cohort(cohort_path), "train"), int(params.get("calibration_cases", 0))
    )  # 04 scores those
    if not cases:
        raise TrainingError(f"{cohort_path}: no cases with split 'train'; make a split with notebooks/01_cohort")
    layout = params["prompt_layout"]
    if params.get("packing") and (params["strategy"] != "targeted" or layout != "shared_prefix"):
        raise TrainingError("packing: true needs strategy: targeted and prompt_layout: shared_prefix")
    definitions = load_definitions(params.get("definitions"), params.get("language", "en"))
    examples = sft_examples(
        cases,
        params["strategy"],
        definitions,
        layout,
        params.get("complications"),
        think=bool(params.get("comprehensive_think", True)),
        answer_layout=params.get("answer_layout", "paper"),
        question_style=params.get("question_style", "criteria"),
        negative_quote=params.get("negative_quote", "trap"),
    )
    return keep_negatives(examples, params.get("negative_ratio"), int(params["seed"]))


def train(
    params: dict, cohort_path: str | os.PathLike, out_dir: str | os.PathLike, quantization: str | None = None
) -> dict[str, Any]:
    """Train on the cohort's train split with the prompts of `params` (strategy, layout, definitions)."""
    return train_examples(params, training_examples(params, cohort_path), out_dir, quantization)


# --------------------------------------------------------------------------------------------- cli
def cli(argv: list[str] | None = None) -> int:
    from ..core.logs import show_logs
    from ..core.params import load_params

    show_logs()

    ap = argparse.ArgumentParser(prog="python -m pericomp_lib.training.finetune", description="LoRA/QLoRA fine-tuning")
    ap.add_argument("--params", required=True, help="params YAML (params/*.yaml)")
    ap.add_argument("--cohort", required=True, help="cohort.jsonl with a train split")
    ap.add_argument("--out", required=True, help="output folder (adapter/, train_log.jsonl)")
    ap.add_argument("--quantization", choices=("none", "4bit", "8bit"), default=None)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--packing", action="store_true", default=None)
    args = ap.parse_args(argv)
    params = load_params(args.params, max_steps=args.max_steps, packing=args.packing)
    summary = train(params, args.cohort, args.out, args.quantization)
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
