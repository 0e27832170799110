"""`cache_frozen_layers`: the layers below the LoRA layers run once per training row, not once per step.

Why: with `lora_layers: k` only the top k decoder layers carry adapters, so the layers below them compute the
same hidden states for a row at every step (frozen weights, no dropout there). Keeping those states, a step
runs the top k layers only, over the whole row, record included: exactly the paper's LoRA on every token
(`frozen_record: false`), at a fraction of its cost. Unlike `frozen_record`, the adapter does change how the
record is encoded in its layers: on seed 30 (twins, renal traps quoting their history) that is what let it
quote "chronic kidney disease" for all 9 renal traps, where the frozen record quoted their troponin for 8 of
9 (docs/design.md). Inference is the plain adapter's (the record is read through the adapter).
"""

from __future__ import annotations

from typing import Any

from .frozen_record import _decoder, layers_only
from .packing import block_mask, token_loss
from .train_inputs import TrainingError


def check(params: dict, world_size: int = 1) -> None:
    """Settings cache_frozen_layers cannot train with, before any model loads."""
    if not params.get("cache_frozen_layers"):
        return
    if params.get("frozen_record"):
        raise TrainingError(
            "cache_frozen_layers: true is for frozen_record: false (frozen_record already keeps the record's and the "
            "blocks' states below the LoRA layers); set one of them"
        )
    if not params.get("lora_layers"):
        raise TrainingError(
            "cache_frozen_layers: true needs lora_layers (adapters on the top k layers only): with adapters in every "
            "layer there is nothing below them to keep"
        )
    if int(params.get("batch_size", 1)) != 1:
        raise TrainingError(
            f"cache_frozen_layers: true keeps one row's states per forward pass; set batch_size: 1 (got "
            f"{params['batch_size']}) and grad_accum for a larger batch"
        )
    if world_size > 1:
        raise TrainingError("cache_frozen_layers: true keeps its caches in one process; run it without DDP/FSDP")


class FrozenLayers:
    """The per-row hidden states where the LoRA layers begin, and the loss of one step from them. `rows`: the
    training rows (their ids come with each batch); `top`: how many layers carry adapters."""

    def __init__(self, model, rows: list[dict], top: int):
        self.n_layers = len(_decoder(model).layers)
        self.first = self.n_layers - min(int(top), self.n_layers)
        self.segments = [r["segments"] for r in rows]
        self.store: dict[int, Any] = {}

    def _mask(self, model, batch: dict, row: int):
        """The row's 4D block mask (the collator gives an unpacked row a 2D one)."""
        import torch

        mask = batch["attention_mask"]
        if mask.dim() == 4:
            return mask
        dtype = next(p.dtype for p in model.parameters() if p.is_floating_point())
        return block_mask(torch.tensor([self.segments[row]], device=mask.device), dtype)

    def _below(self, model, batch: dict, row: int):
        """Once per row: the hidden states of every token where the LoRA layers begin (no adapter below them)."""
        import torch

        with torch.no_grad(), layers_only(model, 0, self.first, norm=False):
            return _decoder(model)(
                input_ids=batch["input_ids"],
                attention_mask=self._mask(model, batch, row),
                position_ids=batch["position_ids"],
                use_cache=False,
            ).last_hidden_state

    def answer_loss(self, model, batch: dict, rows) -> tuple[Any, int, Any]:
        """packing.answer_loss for one row, from its kept states through the LoRA layers only."""
        if rows is None or len(rows) != 1:
            raise TrainingError("cache_frozen_layers: each batch must be one row with its row id (batch_size 1)")
        row = int(rows[0])
        if row not in self.store:
            self.store[row] = self._below(model, batch, row)
        with layers_only(model, self.first, self.n_layers):
            out = model(
                inputs_embeds=self.store[row],
                attention_mask=self._mask(model, batch, row),
                position_ids=batch["position_ids"],
                use_cache=False,
                logits_to_keep=batch["logits_to_keep"],
            )
        loss, n = token_loss(out.logits, batch)
        return loss, n, out
