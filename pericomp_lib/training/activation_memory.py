"""The activation memory of one training step, counted on the meta device: the real forward + backward runs
under a dispatch mode that adds up every tensor it creates (LiveBytes), with stand-ins for what meta tensors
cannot run (the GPU's fused attention, bf16 autocast, bitsandbytes' 4-bit matmul); 2- and 3-layer models give
the full depth.
"""

from __future__ import annotations

import contextlib
import math
import weakref
from dataclasses import dataclass

from .meta_model import attach, build_meta, is_quantized_linear, quiet, with_layers


# ------------------------------------------------------------------------------------------------ tracker
class LiveBytes:
    """Adds up the storage bytes of every tensor an operation creates and subtracts them when the tensor is
    freed: `peak` is the most that was alive at once, `live` what is alive now. Works on meta tensors (no
    memory behind them) as on real ones; tensors made before it started (the weights) are not counted."""

    def __init__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        tracker = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                tracker._seen(out)
                return out

        self.mode = _Mode()
        self.live = 0
        self.peak = 0
        self._sizes: dict[int, int] = {}

    def _seen(self, out) -> None:
        import torch
        from torch.utils._pytree import tree_flatten

        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor):
                continue
            st = t.untyped_storage()
            key = id(st)
            if key in self._sizes:
                continue
            n = st.nbytes()
            self._sizes[key] = n
            self.live += n
            self.peak = max(self.peak, self.live)
            weakref.finalize(st, self._freed, key)

    def _freed(self, key: int) -> None:
        self.live -= self._sizes.pop(key, 0)

    def __enter__(self):
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        return self.mode.__exit__(*exc)


def _flash_model(dtype=None):
    """scaled_dot_product_attention as the GPU's flash / memory-efficient kernels use memory: the output and a
    fp32 log-sum-exp per query saved for backward; backward makes dq, dk, dv, a fp32 dq accumulator and, for
    grouped KV heads, full-head dk / dv buffers. Values are never computed (meta tensors)."""
    import torch

    class FlashModel(torch.autograd.Function):
        @staticmethod
        def forward(ctx, q, k, v):
            b, h, n, _ = q.shape
            out = q.new_empty(b, h, n, v.shape[-1])
            lse = q.new_empty(b, h, n, dtype=torch.float32)
            ctx.save_for_backward(q, k, v, out, lse)
            return out

        @staticmethod
        def backward(ctx, grad):
            q, k, v, out, lse = ctx.saved_tensors
            b, h, n, d = q.shape
            work = [q.new_empty(b, h, n, d, dtype=torch.float32), lse.new_empty(lse.shape)]  # dq_accum, softmax_d
            if k.shape[1] != h:  # GQA: dk / dv over every query head, then summed per KV head
                work += [k.new_empty(b, h, k.shape[2], k.shape[3]), v.new_empty(b, h, v.shape[2], v.shape[3])]
            dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
            del work
            return dq, dk, dv

    def sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
        if dtype is not None:
            query, key, value = (t.to(dtype) for t in (query, key, value))
        return FlashModel.apply(query, key, value)

    return sdpa


@contextlib.contextmanager
def _patched_sdpa(enabled):
    """sdpa replaced by _flash_model while the block runs; `enabled` True, or a dtype (autocast's: q, k, v are
    cast to it first), or False (the real sdpa)."""
    import torch

    if enabled is False:
        yield
        return
    real = torch.nn.functional.scaled_dot_product_attention
    torch.nn.functional.scaled_dot_product_attention = _flash_model(None if enabled is True else enabled)
    try:
        yield
    finally:
        torch.nn.functional.scaled_dot_product_attention = real


@contextlib.contextmanager
def _meta_masks(enabled: bool):
    """transformers looks at position ids for packed sequences (a data-dependent test meta tensors cannot
    answer); our rows are never packed that way (packed rows bring their own 4D mask), so it finds none."""
    if not enabled:
        yield
        return
    from transformers import masking_utils

    real = masking_utils.find_packed_sequence_indices
    masking_utils.find_packed_sequence_indices = lambda *args, **kwargs: None
    try:
        yield
    finally:
        masking_utils.find_packed_sequence_indices = real


def _mixed_precision(model, dtype) -> None:
    """What `torch.autocast` does to memory on the GPU (the trainer's bf16=True), on meta tensors, where autocast
    itself does not apply: every linear layer (the base weights, LoRA's A and B, the vocabulary projection) casts
    its input and weight to `dtype`, so backward saves the low-precision copies, in the forward pass and in
    checkpointing's recompute alike. None turns it off (fp32 CPU runs). Norms, rotary embeddings and the loss
    choose their own precision in the model code and our loss."""
    import torch
    import torch.nn.functional as F

    def forward(self, x):
        to = getattr(self, "_plan_autocast", None)
        if to is None:
            return F.linear(x, self.weight, self.bias)
        bias = None if self.bias is None else self.bias.to(to)
        return F.linear(x.to(to), self.weight.to(to), bias)

    for module in model.modules():
        if type(module) is torch.nn.Linear:
            if "forward" not in module.__dict__:
                module.forward = forward.__get__(module)
            module._plan_autocast = dtype


def _fake_4bit(model, dtype) -> None:
    """Replace the decoder's linear layers by bitsandbytes Linear4bit modules on the meta device whose forward
    keeps the memory of bnb's 4-bit matmul (a dequantized weight while it runs, nothing saved but the codes),
    so peft attaches its QLoRA layers and prepare_model_for_kbit_training casts the rest to fp32, as in training."""
    import bitsandbytes as bnb
    import torch

    class Matmul4bit(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, weight, out_features: int):
            w = x.new_empty(out_features, x.shape[-1])  # dequantized for this matmul only
            ctx.shape = (out_features, x.shape[-1])
            ctx.save_for_backward(weight)
            out = x.new_empty(*x.shape[:-1], out_features)
            del w
            return out

        @staticmethod
        def backward(ctx, grad):
            w = grad.new_empty(ctx.shape)
            gx = grad.new_empty(*grad.shape[:-1], ctx.shape[1])
            del w
            return gx, None, None

    def forward(self, x, *args, **kwargs):
        inp = x.dtype
        return Matmul4bit.apply(x.to(self.compute_dtype), self.weight, self.out_features).to(inp)

    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if not is_quantized_linear(full, child):
                continue
            q = bnb.nn.Linear4bit(
                child.in_features,
                child.out_features,
                bias=child.bias is not None,
                compute_dtype=dtype,
                quant_type="nf4",
                compress_statistics=True,
                device="meta",
            )
            q.weight = bnb.nn.Params4bit(
                torch.empty(math.ceil(child.weight.numel() / 2), 1, dtype=torch.uint8, device="meta"),
                requires_grad=False,
                quant_type="nf4",
                compress_statistics=True,
            )
            if child.bias is not None:
                q.bias = child.bias
            q.forward = forward.__get__(q)
            setattr(module, child_name, q)
    model.is_loaded_in_4bit = True


def _checkpointing(model, on: bool) -> None:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    with quiet():  # the deprecated names work on every transformers version we accept
        if on:
            base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        elif getattr(base, "is_gradient_checkpointing", False):
            base.gradient_checkpointing_disable()


@dataclass(frozen=True)
class Step:
    """One training row: its tokens, answer tokens (logits are computed there only, as our trainer does;
    None: at every position, as ms-swift does), packed (block mask) or not, checkpointing on or off."""

    length: int
    answer_tokens: int | None
    packed: bool = False
    checkpointing: bool = True
    autocast: bool = True  # the trainer's bf16 mixed precision (GPU); False: plain fp32 (CPU runs)


def step_model(config, params: dict, quantization: str, n_layers: int, device: str = "meta", dtype=None):
    """A model of `n_layers` layers with the params' LoRA attached for training, on `device`."""
    import torch

    dtype = dtype or torch.bfloat16
    cfg = with_layers(config, n_layers)
    if device == "meta":
        model = build_meta(cfg, dtype)
    else:
        torch.manual_seed(0)
        model = build_meta(cfg, dtype, device)
    settings = dict(params)
    if settings.get("lora_layers") and int(settings["lora_layers"]) > n_layers:
        settings["lora_layers"] = n_layers
    if quantization == "4bit":
        _fake_4bit(model, dtype)
        model = attach(model, settings, quantized=True)
    else:
        model = attach(model, settings)
    model.train()
    return model


def step_bytes(model, step: Step, device: str = "meta", dtype=None) -> tuple[int, int]:
    """(peak, end): bytes alive at the peak of one forward + backward of `step` on `model`, and after it (the
    LoRA gradients), counted by LiveBytes. On meta the GPU's fused attention is modelled (_flash_model)."""
    import torch
    import torch.nn.functional as F

    dtype = dtype or torch.bfloat16
    _checkpointing(model, step.checkpointing)
    vocab = model.config.vocab_size
    tracker = LiveBytes()
    mixed = torch.bfloat16 if step.autocast else None
    if device == "meta":
        _mixed_precision(model, mixed)
    autocast = torch.autocast(device, dtype=mixed) if device != "meta" and mixed else contextlib.nullcontext()
    with _patched_sdpa(mixed if device == "meta" else False), _meta_masks(device == "meta"), tracker, autocast:
        ids = torch.zeros(1, step.length, dtype=torch.long, device=device)
        positions = torch.arange(step.length, device=device)[None]
        # packed: the collator's additive block mask, in the compute dtype (packing.block_mask); transformers
        # takes a 4D mask as it is. Unpacked: no mask, causal sdpa.
        mask = torch.zeros(1, 1, step.length, step.length, dtype=dtype, device=device) if step.packed else None
        kw = {"input_ids": ids, "attention_mask": mask, "position_ids": positions}
        if step.answer_tokens is not None:
            n = max(1, min(step.answer_tokens, step.length - 1))
            kw["logits_to_keep"] = torch.arange(step.length - 1 - n, step.length - 1, device=device)
        targets = torch.zeros(1, n if step.answer_tokens is not None else step.length, dtype=torch.long, device=device)
        out = model(**kw)
        logits = out.logits.float()  # our answer_loss and the transformers loss both upcast
        loss = F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1), reduction="sum")
        del out, logits
        loss.backward()
        del loss, kw, ids, positions, mask, targets
    end = tracker.live
    model.zero_grad(set_to_none=True)
    return tracker.peak, end


def activation_bytes(config, params: dict, quantization: str, step: Step, dtype=None) -> int:
    """Memory one training step adds on top of the static weights, LoRA, gradients and optimizer state, for
    the full depth of `config`: from 2- and 3-layer models (peak = a + b x layers, exact for a uniform stack)
    or, with lora_layers (backward stops below the top layers), from the full model."""
    n = int(config.num_hidden_layers)
    top = params.get("lora_layers")
    if top and int(top) < n:
        peak, end = step_bytes(step_model(config, params, quantization, n, dtype=dtype), step, dtype=dtype)
        return peak - end
    (p2, e2), (p3, e3) = (
        step_bytes(step_model(config, params, quantization, k, dtype=dtype), step, dtype=dtype) for k in (2, 3)
    )
    a2, a3 = p2 - e2, p3 - e3
    return int(a2 + (a3 - a2) * (n - 2))
