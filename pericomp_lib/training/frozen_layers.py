"""`cache_frozen_layers`: the layers below the LoRA layers run once per training row, not once per step.

Why: with `lora_layers: k` only the top k decoder layers carry adapters, so the layers below them compute the
same hidden states for a row at every step (frozen weights, no dropout there). Keeping those states, a step
runs the top k layers only, over the whole row, record included: exactly the paper's LoRA on every token
(`frozen_record: false`), a repeated row's step in ~0.63 of the time (benchmarks/frozen_record.py). Unlike
`frozen_record`, the adapter does change how the record is encoded in its layers: on seed 30 (twins, renal
traps quoting their history) it then quoted "chronic kidney disease" for all 9 renal traps, where the frozen
record quoted their troponin for 8 of 9; on seed 38 it quoted the troponin too (docs/design.md). Inference is
the plain adapter's (the record is read through the adapter).
"""

from __future__ import annotations

from typing import Any

from .frozen_record import FrozenRecord, _decoder, check_one_row, layers_only
from .packing import token_loss
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
    check_one_row("cache_frozen_layers", params, world_size)


class FrozenLayers(FrozenRecord):
    """The per-row hidden states where the LoRA layers begin, and the loss of one step from them. `rows`: the
    training rows (their ids come with each batch); `top`: how many layers carry adapters. It shares
    FrozenRecord's row bookkeeping (depth, segments, masks, store), not its record cache."""

    def __init__(self, model, rows: list[dict], top: int):
        super().__init__(model, rows, top)
        self.first = self.n_layers - self.top

    def _prepare(self, model, batch: dict, row: int):
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
        row = self._stored(model, batch, rows)
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
