"""Resuming an interrupted training run (03) without ever changing what it learns.

A run's checkpoints live in out_dir/checkpoints/ with the key of the run that wrote them
(checkpoints/resume_key.json). A checkpoint is resumed only when the key matches (same examples and
training settings) and it lies within max_steps; otherwise the folder is cleared, so the train log of
a resumed run always equals an uninterrupted run's. Light on imports: the resume decision is made
before any model loads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

from ..core.io import write_json

log = logging.getLogger(__name__)

# Settings a checkpoint must share with the current run to be resumed (max_steps may grow: a longer run
# continues; the examples enter through data_sha256). Inference-only keys never discard a checkpoint.
RESUME_KEYS = (
    "model_name_or_path",
    "adapter",
    "quantization",
    "dtype",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "target_modules",
    "learning_rate",
    "num_epochs",
    "batch_size",
    "grad_accum",
    "max_seq_len",
    "packing",
    "seed",
    "enable_thinking",
)
# Optimiser and schedule keys that came later: they enter the key only when set away from their default,
# so checkpoints written before they existed still resume.
RESUME_KEYS_IF_SET = (
    "lr_scheduler_type",
    "warmup_steps",
    "weight_decay",
    "max_grad_norm",
    "positive_weight",
    "decision_weight",
    "trap_weight",
    "quote_weight",
    "lora_layers",  # other layers get adapters: a checkpoint of another set cannot resume (optimizer groups differ)
    "frozen_record",
)


def data_sha256(examples: Sequence[dict]) -> str:
    """Digest of the training examples (what a checkpoint and an adapter were trained on)."""
    h = hashlib.sha256()
    for ex in examples:
        h.update(
            json.dumps(
                {k: ex.get(k) for k in ("case_id", "complication", "prompt", "completion")},
                ensure_ascii=False,
                sort_keys=True,
            ).encode("utf-8")
        )
    return h.hexdigest()


def resume_key(params: dict, examples: Sequence[dict]) -> str:
    from ..core.params import DEFAULTS

    keyed = {k: params.get(k) for k in RESUME_KEYS}
    keyed.update({k: params[k] for k in RESUME_KEYS_IF_SET if k in params and params[k] != DEFAULTS.get(k)})
    blob = json.dumps({"params": keyed, "data": data_sha256(examples)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def checkpoint_step(path: str | None) -> int:
    """The step of a checkpoint-<step> folder (0 for none)."""
    return int(path.rsplit("-", 1)[1]) if path else 0


def resumable_checkpoint(ckpt_dir: Path, key: str, max_steps: int) -> str | None:
    """The last checkpoint of ckpt_dir when it belongs to this run (same resume_key) and lies within
    max_steps; otherwise the folder is cleared so training starts fresh and its log equals an
    uninterrupted run's. The key is recorded in ckpt_dir/resume_key.json."""
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(ckpt_dir)) if ckpt_dir.is_dir() else None
    key_file = ckpt_dir / "resume_key.json"
    why = None
    if last is not None:
        step = checkpoint_step(last)
        recorded = json.loads(key_file.read_text()).get("key") if key_file.exists() else None
        if recorded != key:
            why = "it was trained with other data or settings"
        elif max_steps > 0 and step > max_steps:
            why = f"it is at step {step}, past max_steps {max_steps}"
    if why:
        log.info("not resuming from %s: %s; training from step 0", last, why)
        shutil.rmtree(ckpt_dir, ignore_errors=True)
        last = None
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    write_json(key_file, {"key": key})
    return last


def read_log(path: Path, upto_step: int) -> list[dict]:
    """The train log rows up to a resumed checkpoint's step: the resumed run appends to them."""
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r.get("step", 0) <= upto_step]
