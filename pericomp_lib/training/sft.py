"""The TRL layer of 03: `trl.SFTTrainer` with our answer-only loss, and the per-step train log.

finetune.py builds the rows and the `trl.SFTConfig`; this module is imported only when a run starts
(importing TRL's trainer takes seconds). Rows arrive tokenized, prompt labels -100 (TRL's completion-only
format), so TRL's own preparation is skipped: its truncation would cut prompts, and packing.py already
builds one row per case for shared_prefix packing. What the subclass changes is the loss only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import trl
from transformers import TrainerCallback

from ..core.io import write_jsonl
from .packing import answer_loss

LOG_KEYS = ("loss", "learning_rate", "grad_norm")
log = logging.getLogger(__name__)


class AnswerLossSFTTrainer(trl.SFTTrainer):
    """trl.SFTTrainer with the loss on answer tokens only and logits only where they are needed
    (packing.answer_loss: ~2% of an 8k-token row), so packed rows with their 4D block mask train
    exactly like one example per row. Normalised over the whole accumulated (and, under DDP, global)
    batch like the stock trainers. Also counts the real tokens each process feeds the model."""

    tokens_seen = 0
    loss_is_scaled_for_ga = True
    frozen_record = None  # a FrozenRecord (frozen_record) or FrozenLayers (cache_frozen_layers): loss goes there

    def __init__(self, model, *args, **kwargs):
        # TRL casts a quantized model's trainable (LoRA) weights to bf16; ours stay as peft made them
        # (fp32), which keeps QLoRA runs numerically what they were before TRL, and CPUs fast
        before = {n: p.data for n, p in model.named_parameters() if p.requires_grad}
        super().__init__(model, *args, **kwargs)
        for n, p in self.model.named_parameters():
            if n in before and p.data.dtype != before[n].dtype:
                p.data = before[n]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        self.tokens_seen += int(inputs.pop("n_tokens").sum())
        inputs.pop("labels", None)
        rows = inputs.pop("rows", None)
        if self.frozen_record is not None:
            loss, n_local, outputs = self.frozen_record.answer_loss(model, inputs, rows)
        else:
            loss, n_local, outputs = answer_loss(model, inputs)
        if num_items_in_batch is None:
            loss = loss / max(n_local, 1) / self.current_gradient_accumulation_steps
        else:
            loss = loss / num_items_in_batch
            if self.args.average_tokens_across_devices and self.args.world_size > 1:
                loss = loss * self.accelerator.num_processes  # DDP averages gradients over processes
        return (loss, outputs) if return_outputs else loss


class TrainLog(TrainerCallback):
    """One JSON line per logging step (out_dir/train_log.jsonl), with tokens/s and peak memory; the
    whole file is rewritten atomically each time. `keep`: the rows of a resumed run's first steps."""

    def __init__(self, path: Path, trainer: AnswerLossSFTTrainer, keep: list[dict], memory_mb: Callable[[], float]):
        self.path, self.trainer, self.memory_mb = path, trainer, memory_mb
        self.rows = list(keep)
        self.t0 = self.tokens0 = None

    def on_train_begin(self, args, state, control, **kw):
        self.t0, self.tokens0 = time.perf_counter(), self.trainer.tokens_seen

    def on_log(self, args, state, control, logs=None, **kw):
        logs = logs or {}
        if "loss" not in logs or not state.is_world_process_zero:
            return
        now, seen = time.perf_counter(), self.trainer.tokens_seen
        tokens = (seen - self.tokens0) * max(1, args.world_size)
        row = {"step": state.global_step, "epoch": round(float(state.epoch or 0), 4)}
        row.update({k: float(logs[k]) for k in LOG_KEYS if logs.get(k) is not None})
        row["tokens_per_s"] = round(tokens / max(now - self.t0, 1e-9), 2)
        row["peak_memory_mb"] = round(self.memory_mb(), 1)
        self.rows.append(row)
        self.t0, self.tokens0 = now, seen
        write_jsonl(self.path, self.rows)


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}h {rest // 60:02d}m" if h else f"{rest // 60}m {rest % 60:02d}s"


class Progress(TrainerCallback):
    """A log line with step, loss and time left, at most every `every` seconds (and at the first and last
    step): inside a notebook kernel transformers draws its progress bar as an HTML widget, which the batch
    runner cannot stream, so without these lines a long stage 03 would print nothing for its whole length."""

    def __init__(self, every: float = 15.0, clock: Callable[[], float] = time.monotonic):
        self.every, self.clock = every, clock
        self.t0 = self.last = None
        self.first_step = 0

    def on_train_begin(self, args, state, control, **kw):
        self.t0, self.last, self.first_step = self.clock(), None, state.global_step

    def on_log(self, args, state, control, logs=None, **kw):
        logs = logs or {}
        if "loss" not in logs or not state.is_world_process_zero:
            return
        now, step, total = self.clock(), state.global_step, state.max_steps or 0
        if self.last is not None and now - self.last < self.every and step < total:
            return
        self.last = now
        elapsed = now - (self.t0 if self.t0 is not None else now)
        done = max(step - self.first_step, 1)
        left = f", ~{_hms(elapsed / done * max(total - step, 0))} left" if total else ""  # a resume past the end: 0
        share = f" ({100 * step / total:.0f}%)" if total else ""
        loss, spent = logs["loss"], _hms(elapsed)
        log.info("training: step %d/%d%s, loss %.4f, %s elapsed%s", step, total, share, loss, spent, left)
