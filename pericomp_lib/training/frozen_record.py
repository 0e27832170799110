"""`frozen_record`: LoRA adapts the question and answer tokens; the record is read through the base model.

Why (the CPU profile): a packed training row is a record of ~550 tokens and four question-and-answer blocks of
~60, and every step ran all ~800 tokens through the 30 layers, although only the answers carry loss. When the
record's keys and values come from the frozen base model, they are the same at every step, and so are the
blocks' hidden states below the LoRA layers (`lora_layers`: those layers are frozen too). Both are computed
once per row, on its first step; later steps run only the top layers, on the blocks only (2-core CPU: ~0.75 s
a step instead of ~3.1 s, plus ~1.3 s once per row). The adapter then reads a record exactly as the base model
does, so at inference one prefill of the record serves base and adapter answers (inference/runner.py).

What it gives up: LoRA cannot change how the record itself is encoded, only how the question and the answer
read it (their queries, and everything computed from what they read). The paper trains LoRA on every token:
`frozen_record: false`. At LoRA's start (B = 0) both ways give the same loss (tests/test_frozen_record.py).
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Any

from .packing import token_loss
from .train_inputs import TrainingError


def check(params: dict, world_size: int = 1) -> None:
    """Settings frozen_record cannot train with, before any model loads."""
    if not params.get("frozen_record"):
        return
    if not params.get("packing"):
        raise TrainingError(
            "frozen_record: true needs packing: true (strategy targeted, prompt_layout shared_prefix): the record "
            "must be the head the row's question blocks share"
        )
    check_one_row("frozen_record", params, world_size)


def check_one_row(key: str, params: dict, world_size: int) -> None:
    """A per-row cache (frozen_record, cache_frozen_layers) trains one row per forward pass, in one process."""
    if int(params.get("batch_size", 1)) != 1:
        raise TrainingError(
            f"{key}: true trains one row per forward pass with its caches; set batch_size: 1 (got "
            f"{params['batch_size']}) and grad_accum for a larger batch"
        )
    if world_size > 1:
        raise TrainingError(f"{key}: true keeps its per-row caches in one process; run it without DDP/FSDP")


def _decoder(model):
    """The decoder stack under a (peft) causal LM: an object with .layers, .norm and .embed_tokens."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    inner = getattr(base, "model", None)
    if inner is None or not all(hasattr(inner, a) for a in ("layers", "norm", "embed_tokens")):
        raise TrainingError(
            f"frozen_record: {type(base).__name__} has no model.layers / model.norm decoder stack (Llama, Qwen, "
            "Mistral have one); set frozen_record: false"
        )
    return inner


@contextmanager
def layers_only(model, start: int, stop: int, norm: bool = True):
    """Run the decoder on its blocks start..stop-1 only (norm=False: hand back their output un-normalised)."""
    import torch.nn as nn

    inner = _decoder(model)
    full, final = inner.layers, inner.norm
    inner.layers = nn.ModuleList(list(full)[start:stop])
    if not norm:
        inner.norm = nn.Identity()
    try:
        yield
    finally:
        inner.layers, inner.norm = full, final


def _cache(n_layers: int, filled: dict[int, tuple[Any, Any]]):
    """A fresh cache whose layers `filled` hold the record's keys and values (a step appends its own to them)."""
    from transformers import Cache
    from transformers.cache_utils import DynamicLayer

    layers = [DynamicLayer() for _ in range(n_layers)]
    for i, (keys, values) in filled.items():
        layers[i].update(keys, values)
    return Cache(layers=layers)


class FrozenRecord:
    """The per-row caches of frozen_record training and the loss of one step. `rows`: the packed rows (segment
    0 is the record head); `top`: the LoRA layers (the top `lora_layers`, or all)."""

    def __init__(self, model, rows: list[dict], top: int | None):
        self.n_layers = len(_decoder(model).layers)
        self.top = min(int(top or self.n_layers), self.n_layers)
        self.segments = [r["segments"] for r in rows]
        self.heads = [s.index(1) if 1 in s else len(s) for s in self.segments]
        self.store: dict[int, tuple[dict, Any]] = {}

    def _mask(self, model, batch: dict, row: int):
        """The row's 4D block mask (the collator gives a row of one block a 2D one)."""
        import torch

        from .packing import block_mask

        mask = batch["attention_mask"]
        if mask.dim() == 4:
            return mask
        dtype = next(p.dtype for p in model.parameters() if p.is_floating_point())
        return block_mask(torch.tensor([self.segments[row]], device=mask.device), dtype)

    def _prepare(self, model, batch: dict, row: int) -> tuple[dict, Any]:
        """Once per row: the record's keys and values in the LoRA layers (base model), and the blocks' hidden
        states where the LoRA layers begin."""
        import torch

        h, first = self.heads[row], self.n_layers - self.top
        ids, pos, mask = batch["input_ids"], batch["position_ids"], self._mask(model, batch, row)
        base = model.disable_adapter() if hasattr(model, "disable_adapter") else nullcontext()
        with torch.no_grad(), base:
            record = _cache(self.n_layers, {})
            head = {"input_ids": ids[:, :h], "position_ids": pos[:, :h]}
            model(**head, past_key_values=record, use_cache=True, logits_to_keep=1)
            kv = [(layer.keys, layer.values) for layer in record.layers]
            below = _cache(self.n_layers, dict(enumerate(kv[:first])))
            with layers_only(model, 0, first, norm=False):
                hidden = _decoder(model)(
                    input_ids=ids[:, h:],
                    attention_mask=mask[:, :, h:, :],
                    position_ids=pos[:, h:],
                    past_key_values=below,
                    use_cache=True,
                ).last_hidden_state
        return {i: kv[i] for i in range(first, self.n_layers)}, hidden

    def _stored(self, model, batch: dict, rows) -> int:
        """The batch's row id, its cache filled (`_prepare`) on its first visit."""
        if rows is None or len(rows) != 1:
            raise TrainingError("each batch must be one row with its row id (batch_size 1) for a per-row cache")
        row = int(rows[0])
        if row not in self.store:
            self.store[row] = self._prepare(model, batch, row)
        return row

    def answer_loss(self, model, batch: dict, rows) -> tuple[Any, int, Any]:
        """packing.answer_loss for one packed row, through the cached record and the top layers only."""
        row = self._stored(model, batch, rows)
        record, hidden = self.store[row]
        h = self.heads[row]
        keep = batch["logits_to_keep"] - h
        if len(keep) and int(keep.min()) < 0:
            raise TrainingError(f"frozen_record: row {row} has an answer token inside its record head")
        with layers_only(model, self.n_layers - self.top, self.n_layers):
            out = model(
                inputs_embeds=hidden,
                attention_mask=self._mask(model, batch, row)[:, :, h:, :],
                position_ids=batch["position_ids"][:, h:],
                past_key_values=_cache(self.n_layers, record),
                use_cache=True,
                logits_to_keep=keep,
            )
        loss, n = token_loss(out.logits, batch)
        return loss, n, out
