"""Run parameters: defaults in one place, one flat YAML per model/profile overrides them.

Notebooks take these as papermill parameters; the batch runner reads the same files. Unknown keys
and bad values fail here, before any model loads, with the key and what is allowed.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

DEFAULTS: dict[str, Any] = {
    "run_name": "default",
    "seed": 1,
    # model
    "model_name_or_path": "smollm2-135m",
    "adapter": None,  # a trained adapter folder or a published one (hub id / local path)
    "quantization": "none",
    "dtype": "auto",
    "device": "auto",
    # LoRA, the paper's settings
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "learning_rate": 1e-4,
    "num_epochs": 1.0,
    "max_steps": -1,
    "batch_size": 1,
    "grad_accum": 8,
    "max_seq_len": 4096,
    "gradient_checkpointing": True,
    "packing": False,
    # prompts and inference
    "strategy": "targeted",
    "prompt_layout": "paper",
    "comprehensive_think": True,
    "language": "en",
    "definitions": None,  # None: the packaged definitions for `language`
    "complications": None,  # None: all 22; a list of ids restricts targeted runs
    "max_new_tokens": 256,
    "enable_thinking": False,
    "inference_batch_size": 8,
    # cohort
    "cohort_source": "synthetic",
    "n_cases": 300,
    "n_external": 0,
    "cohort_path": None,  # cohort_source jsonl/csv: the user's file
    "difficulty": 0.5,
    "record_length": "full",  # synthetic records: full (~2k tokens) or compact (~0.5k, for CPU runs)
    "max_eval_cases": None,  # None: the whole evaluation split
}

ALLOWED: dict[str, tuple] = {
    "quantization": ("none", "4bit", "8bit"),
    "dtype": ("auto", "float32", "bfloat16", "float16"),
    "strategy": ("targeted", "comprehensive"),
    "prompt_layout": ("paper", "shared_prefix"),
    "language": ("en", "zh"),
    "cohort_source": ("synthetic", "pericomp_repo", "jsonl", "csv", "mimic"),
    "record_length": ("full", "compact"),
}

POSITIVE = ("lora_r", "lora_alpha", "learning_rate", "batch_size", "grad_accum", "max_seq_len", "max_new_tokens",
            "inference_batch_size", "n_cases")


class ParamsError(ValueError):
    pass


def validate(params: dict[str, Any], where: str = "params") -> dict[str, Any]:
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ParamsError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed keys: {', '.join(sorted(DEFAULTS))}")
    merged = {**DEFAULTS, **params}
    for key, allowed in ALLOWED.items():
        if merged[key] not in allowed:
            raise ParamsError(f"{where}: {key}={merged[key]!r} is not allowed; use one of {', '.join(map(str, allowed))}")
    for key in POSITIVE:
        v = merged[key]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
            raise ParamsError(f"{where}: {key}={v!r} must be a positive number")
    if not isinstance(merged["seed"], int) or isinstance(merged["seed"], bool):
        raise ParamsError(f"{where}: seed={merged['seed']!r} must be an integer")
    if not 0.0 <= float(merged["lora_dropout"]) < 1.0:
        raise ParamsError(f"{where}: lora_dropout={merged['lora_dropout']!r} must be in [0, 1)")
    if not 0.0 <= float(merged["difficulty"]) <= 1.0:
        raise ParamsError(f"{where}: difficulty={merged['difficulty']!r} must be in [0, 1]")
    tm = merged["target_modules"]
    if not (isinstance(tm, list) and tm and all(isinstance(m, str) for m in tm)):
        raise ParamsError(f"{where}: target_modules must be a non-empty list of module names, e.g. [q_proj, v_proj]")
    if not isinstance(merged["model_name_or_path"], str) or not merged["model_name_or_path"]:
        raise ParamsError(f"{where}: model_name_or_path must be a hub id, a local folder or a built-in name")
    if merged["complications"] is not None:
        from . import taxonomy

        bad = [c for c in merged["complications"] if c not in taxonomy.IDS]
        if bad:
            raise ParamsError(f"{where}: complications has unknown id(s) {bad}; valid ids: {', '.join(taxonomy.IDS)}")
    return merged


def load_params(path: str | os.PathLike | None = None, **overrides: Any) -> dict[str, Any]:
    """Defaults < params file < overrides (None overrides are ignored, so notebooks can pass their cells)."""
    raw: dict[str, Any] = {}
    where = "params"
    if path:
        path = Path(path)
        where = str(path)
        if not path.exists():
            raise ParamsError(f"{path}: params file not found (see params/*.yaml)")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise ParamsError(f"{path}: not valid YAML ({e})") from None
        if not isinstance(raw, dict):
            raise ParamsError(f"{path}: must be a flat mapping of key: value lines")
        for key in ("run_name", "model_name_or_path"):
            if key not in raw:
                raise ParamsError(f"{path}: missing required key {key!r}")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    return validate(raw, where)
