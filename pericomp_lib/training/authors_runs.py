"""The authors' training runs beside the planner: their setting, their ms-swift logs' counts and peaks, and the
planner's numbers for the same setting (a check on references it did not write).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from .activation_memory import Step, activation_bytes
from .meta_model import GIB, PlanError, count_parameters, model_config, weight_bytes

# ------------------------------------------------------------------------------------------------ the authors
# The authors' setting, from their logs and ms-swift's defaults (swift/llm/argument/train_args.py and the
# trainer callback that logs memory): bf16 LoRA r 16 on all linear layers, gradient checkpointing on, batch 1,
# sdpa attention, the loss on full-vocabulary logits at every position (no logits_to_keep), AdamW; the
# longest example of their set (12,594 tokens). Their memory(GiB) is torch.cuda.max_memory_reserved summed
# over the visible GPUs (ms-swift's get_max_cuda_memory): the caching allocator's reservation, never below
# what tensors needed, and with device_map over several GPUs the sum of all of them.
AUTHORS_SETTING = {
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "lora_layers": None,
    "gradient_checkpointing": True,
}
AUTHORS_LOGS = {  # log file -> model (packaged config)
    "qwen4B_train_log.jsonl": "Qwen/Qwen3-4B",
    "qwen8B_train_log.jsonl": "Qwen/Qwen3-8B",
    "qwen14B_train_log.jsonl": "Qwen/Qwen3-14B",
    "qwen32B_train_log.jsonl": "Qwen/Qwen3-32B",
    "qwq_log.jsonl": "Qwen/QwQ-32B",
}
_INFO = re.compile(r"([\d.]+)M Params \(([\d.]+)M Trainable")
_DATASET = re.compile(r"([\d.]+)±([\d.]+), min=([\d.]+), max=([\d.]+), size=(\d+)")


def read_authors_log(path: str | os.PathLike) -> dict[str, Any]:
    """The summary line of an ms-swift log: parameter counts (millions, 4 decimals), the training set's
    token lengths, peak memory (GiB), steps and runtime."""
    last = None
    with Path(path).open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip().startswith("{") and "model_parameter_info" in line:
                last = json.loads(line)
    if last is None:
        raise PlanError(f"{path}: no ms-swift summary line (model_parameter_info)")
    m = _INFO.search(last["model_parameter_info"])
    d = _DATASET.search(last.get("train_dataset", ""))
    history = last.get("log_history", [])
    end = next((h for h in reversed(history) if "train_runtime" in h), {})
    return {
        "total_m": m[1],
        "trainable_m": m[2],
        "memory_gib": float(last["memory"]),
        "mean_tokens": float(d[1]) if d else None,
        "max_tokens": int(float(d[4])) if d else None,
        "n_examples": int(d[5]) if d else None,
        "steps": last.get("global_step"),
        "runtime_s": end.get("train_runtime"),
        "epochs": end.get("epoch"),
    }


def authors_comparison(pericomp_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Per authors' log: their logged counts and peak beside ours for their setting (AUTHORS_SETTING at their
    longest example), the ratio logged / predicted, and the throughput their runtime implies."""
    folder = Path(pericomp_dir) / "results" / "evaluation_dataframes"
    out = []
    for file, model in AUTHORS_LOGS.items():
        path = folder / file
        if not path.exists():
            continue
        log = read_authors_log(path)
        config = model_config(model)
        counts = count_parameters(config, AUTHORS_SETTING)
        weights = weight_bytes(config, "none", "bfloat16")
        lora = counts["lora_bytes"]
        step = Step(log["max_tokens"], None, False, True)
        act = activation_bytes(config, AUTHORS_SETTING, "none", step)
        predicted = weights["total"] + 4 * lora + act
        tokens = (log["epochs"] or 0) * (log["n_examples"] or 0) * (log["mean_tokens"] or 0)
        out.append(
            {
                "log": file,
                "model": model,
                "logged_total_m": log["total_m"],
                "logged_trainable_m": log["trainable_m"],
                "total_m": f"{counts['total'] / 1e6:.4f}",
                "trainable_m": f"{counts['trainable'] / 1e6:.4f}",
                "counts_equal": (f"{counts['total'] / 1e6:.4f}", f"{counts['trainable'] / 1e6:.4f}")
                == (log["total_m"], log["trainable_m"]),
                "max_tokens": log["max_tokens"],
                "logged_gib": log["memory_gib"],
                "predicted_gib": predicted / GIB,
                "ratio": log["memory_gib"] / (predicted / GIB),
                "tokens_per_s": tokens / log["runtime_s"] if log["runtime_s"] else None,
            }
        )
    return out


def format_authors(rows: list[dict]) -> str:
    if not rows:
        return ""
    lines = [
        "== The authors' runs (their ms-swift logs) beside the planner for their setting: bf16 LoRA r 16 on all",
        "   linear layers, checkpointing on, full-vocabulary loss at every position, their longest example",
        f"   {'model':15s} {'params (M) logged':>19s} {'planner':>10s} {'trainable logged':>17s} {'planner':>9s} "
        f"{'tokens':>7s} {'peak GiB logged':>16s} {'predicted':>10s} {'ratio':>6s} {'tokens/s':>9s}",
    ]
    for r in rows:
        tps = f"{r['tokens_per_s']:9,.0f}" if r["tokens_per_s"] else f"{'-':>9s}"
        lines.append(
            f"   {Path(r['model']).name:15s} {r['logged_total_m']:>19s} {r['total_m']:>10s} "
            f"{r['logged_trainable_m']:>17s} {r['trainable_m']:>9s} {r['max_tokens']:7,d} {r['logged_gib']:16.2f} "
            f"{r['predicted_gib']:10.2f} {r['ratio']:6.2f} {tps}"
        )
    lines.append(
        "   logged peak = torch.cuda.max_memory_reserved summed over the visible GPUs (ms-swift); predicted =\n"
        "   tensors alive at once on one device. tokens/s = epochs x examples x mean length / train_runtime."
    )
    return "\n".join(lines)
