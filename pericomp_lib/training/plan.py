"""Plan a GPU run before queueing it: parameters, memory and time of a params file, computed on the CPU.

`python -m pericomp_lib plan params/qwen3-*.yaml [--gpu-memory 80] [--cohort cohort.jsonl] [--tokens-per-s N]`,
or `print(plan_text("params/qwen3-4b.yaml", gpu_memory=80))` (plan_run + format_plan) from a notebook.

How each number is made (nothing is downloaded, no weights are read):
- The model is built on the meta device (shapes, no memory) from its published config.json values, shipped in
  pericomp_lib/data/model_configs/ (or a local model folder's config.json), and the params' LoRA is attached
  by the same `lora.attach_lora` training uses (r, alpha, target modules, lora_layers). Parameter counts are
  therefore exact; tests/test_plan.py checks them against the authors' ms-swift logs.
- Static memory is counted from those tensors: weights in the params' dtype (bf16), or NF4 with double
  quantization for `quantization: 4bit` (4-bit codes, one 8-bit absmax per 64 weights, one fp32 absmax per 256
  blocks; `nf4_bytes`, checked against bitsandbytes on the CPU) with every other weight in fp32 as
  peft.prepare_model_for_kbit_training leaves it; LoRA weights, their gradients and AdamW's two moments in
  the adapter's dtype (fp32: peft upcasts adapters).
- Activation memory is *counted on the meta device*: one real forward + backward of the model (our
  answer-only loss, dropout, checkpointing, the packed block mask) runs under a dispatch mode that adds up
  the bytes of every tensor the step creates and subtracts them when they are freed (`LiveBytes`). Stood in
  for, because meta tensors cannot run them: the GPU's fused attention kernel (`_flash_model`: O(L) saved
  state, as flash / memory-efficient sdpa), bf16 autocast (`_mixed_precision`) and bitsandbytes' 4-bit
  matmul (`_fake_4bit`). The peak of 2- and 3-layer models gives the per-layer slope (the stack is uniform),
  so a 64-layer model costs the same seconds as a 2-layer one. tests/test_plan.py checks the estimate
  against the peak the CPU allocator reports (torch.profiler) for one real step of small Qwen3-shaped models
  at several lengths: fp32, bf16 autocast, packed, and QLoRA on real bitsandbytes NF4 layers (`cpu_check`).
- Not counted: the CUDA context, the caching allocator's slack (what `max_memory_reserved` adds over
  `max_memory_allocated`), the optimizer step's temporaries (after backward, below the peak).
- Time comes only from a tokens/s figure that is given (`--tokens-per-s`) or measured by
  benchmarks/paper_scale.py (`--benchmark results.json`); otherwise the table says which one to give.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import re
import sys
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GIB = 2**30
CONFIGS = Path(__file__).resolve().parents[1] / "data" / "model_configs"
# params model_name_or_path -> packaged config (the published config.json values; see CONFIGS/README.md)
PACKAGED = {
    "qwen/qwen3-4b": "Qwen3-4B",
    "qwen/qwen3-8b": "Qwen3-8B",
    "qwen/qwen3-14b": "Qwen3-14B",
    "qwen/qwen3-32b": "Qwen3-32B",
    "qwen/qwq-32b": "QwQ-32B",
    "huggingfacetb/smollm2-135m-instruct": "SmolLM2-135M-Instruct",
    "smollm2-135m": "SmolLM2-135M-Instruct",
}
# The authors' training sets, as their ms-swift logs state them ("train_dataset": mean±std, min, max, size):
# the fallback lengths when no cohort is given. Targeted: the Qwen3 logs (the 8B log counts 11 tokens more per
# example); comprehensive: the QwQ-32B log (99 cases, one prompt each).
AUTHORS_LENGTHS = {"mean": 4628.466818, "max": 12594, "min": 1862, "n": 2200}
AUTHORS_COMPREHENSIVE_LENGTHS = {"mean": 7899.070707, "max": 16053, "min": 5052, "n": 99}
# Tokens of one targeted answer when no cohort gives them: benchmarks/paper_scale.py's shape (answer 100)
ASSUMED_ANSWER_TOKENS = 100
# Characters per token when the model's tokenizer is not available offline. zh: the authors' one published
# case (prompt/targeted_prompts.json: 8,594 characters per targeted prompt on average) against the mean of
# their logged examples (4,628 tokens): 1.86. en: 4.0, the usual figure for BPE vocabularies of 100k+
# tokens on English prose (Qwen's vocabulary extends cl100k's); clinical text with many numbers runs lower,
# so English counts from this ratio are likely low. Give --cohort with a cached tokenizer for exact counts.
CHARS_PER_TOKEN = {"zh": 1.86, "en": 4.0}


class PlanError(ValueError):
    """A model the planner cannot build offline, or inputs it cannot use."""


# ------------------------------------------------------------------------------------------------ configs
def model_config(name_or_path: str):
    """The transformers config of a params model: a packaged published config, a local folder's config.json,
    or a hub id already in the local cache; never a download."""
    from transformers import AutoConfig

    key = str(name_or_path).strip().rstrip("/").lower()
    if key in PACKAGED:
        return config_from_file(CONFIGS / f"{PACKAGED[key]}.json")
    from ..llm.models import ModelNotFoundError, resolve_model

    try:
        folder = resolve_model(str(name_or_path))
        return AutoConfig.from_pretrained(folder)
    except (ModelNotFoundError, OSError, ValueError) as e:
        raise PlanError(
            f"{name_or_path}: no packaged config (packaged: {', '.join(sorted(set(PACKAGED.values())))}) and "
            f"none found offline ({str(e).splitlines()[0]}); point model_name_or_path at a folder with its config.json"
        ) from None


def config_from_file(path: str | os.PathLike):
    from transformers import AutoConfig

    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    model_type = raw.pop("model_type")
    raw.pop("architectures", None)
    raw.pop("torch_dtype", None)
    return AutoConfig.for_model(model_type, **raw)


def _with_layers(config, n: int):
    cfg = copy.deepcopy(config)
    cfg.num_hidden_layers = n
    if getattr(cfg, "layer_types", None):
        cfg.layer_types = list(cfg.layer_types)[:n]
    if getattr(cfg, "max_window_layers", None):
        cfg.max_window_layers = min(cfg.max_window_layers, n)
    return cfg


def build_meta(config, dtype=None, device: str = "meta"):
    """The causal LM of `config` with no memory behind its weights (device meta), sdpa attention."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype or torch.bfloat16, attn_implementation="sdpa")
    model.config.use_cache = False
    return model


# ------------------------------------------------------------------------------------------------ NF4
def nf4_bytes(n: int, blocksize: int = 64, double_quant: bool = True) -> int:
    """Bytes bitsandbytes keeps for an NF4 weight of n values: packed 4-bit codes and their 16-value table, the
    absmax of every block (fp32, or 8-bit plus one fp32 absmax per 256 blocks, a 256-entry code table and an
    offset with double quant). tests/test_plan.py checks it against bitsandbytes.functional.quantize_4bit."""
    blocks = math.ceil(n / blocksize)
    codes = math.ceil(n / 2) + 4 * 16  # the packed codes and the 16-value NF4 code table
    if not double_quant:
        return codes + 4 * blocks
    return codes + blocks + 4 * math.ceil(blocks / 256) + 4 * 256 + 4  # + the nested code table and offset


def _is_quantized_linear(name: str, module) -> bool:
    import torch

    return isinstance(module, torch.nn.Linear) and ".layers." in f".{name}." and "lora_" not in name


# ------------------------------------------------------------------------------------------------ LoRA
def lora_settings(params: dict) -> dict:
    """The LoRA keys of params that attach_lora reads (with the defaults of core.params)."""
    from ..core.params import DEFAULTS

    keys = ("lora_r", "lora_alpha", "lora_dropout", "target_modules", "lora_layers", "gradient_checkpointing")
    return {k: params.get(k, DEFAULTS[k]) for k in keys}


def attach(model, params: dict, quantized: bool = False):
    """lora.attach_lora, as training calls it; on a meta model the adapters are made on meta too (peft would
    otherwise allocate and initialise them on the CPU first: half a GiB and seconds for a 32B model)."""
    import torch

    from .lora import attach_lora

    on_meta = next(model.parameters()).device.type == "meta"
    with _quiet(), torch.device("meta") if on_meta else contextlib.nullcontext():
        return attach_lora(model, lora_settings(params), quantized)


@contextlib.contextmanager
def _quiet():
    import logging
    import warnings

    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    old = logging.getLogger("peft").level
    logging.getLogger("peft").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(level)
        logging.getLogger("peft").setLevel(old)


def count_parameters(config, params: dict) -> dict[str, int]:
    """{'base', 'total', 'trainable', 'lora_bytes'}: the counts peft prints (and ms-swift logs) after the
    params' LoRA is attached to the full model."""
    model = build_meta(config)
    base = sum(p.numel() for p in model.parameters())
    model = attach(model, params)
    trainable = [p for p in model.parameters() if p.requires_grad]
    return {
        "base": base,
        "total": sum(p.numel() for p in model.parameters()),
        "trainable": sum(p.numel() for p in trainable),
        "lora_bytes": sum(p.numel() * p.element_size() for p in trainable),
    }


def weight_bytes(config, quantization: str = "none", dtype: str = "bfloat16") -> dict[str, int]:
    """Bytes of the base weights: all in `dtype`, or NF4 (double quant) for the decoder's linear layers with
    every other weight in fp32 (prepare_model_for_kbit_training), or int8 with a fp32 scale per row."""
    import torch

    model = build_meta(config, getattr(torch, dtype))
    out = {"quantized": 0, "other": 0}
    seen = set()
    for name, module in model.named_modules():
        if quantization != "none" and _is_quantized_linear(name, module):
            w = module.weight
            seen.add(id(w))
            n = w.numel()
            out["quantized"] += nf4_bytes(n) if quantization == "4bit" else n + 4 * w.shape[0]
    for p in model.parameters():
        if id(p) not in seen:
            out["other"] += p.numel() * (4 if quantization != "none" else p.element_size())
    out["total"] = out["quantized"] + out["other"]
    return out


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
            if not _is_quantized_linear(full, child):
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
    with _quiet():  # the deprecated names work on every transformers version we accept
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
    cfg = _with_layers(config, n_layers)
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


def cpu_check(
    lengths: Sequence[int] = (256, 512, 1024),
    packed: bool = False,
    checkpointing: bool = True,
    mixed: bool = False,
    quantized: bool = False,
    answer_tokens: int | None = 32,
) -> list[dict]:
    """The activation estimate (meta device, modelled attention) beside the peak the CPU allocator reports for
    the same step run for real (torch.profiler, profile_memory), on a small Qwen3-shaped model with random
    weights: fp32 as CPU runs train, or (`mixed`) bf16 weights under bf16 autocast as GPU runs train, where
    the estimate's autocast is the meta-device stand-in (_mixed_precision) and the measurement torch.autocast;
    `quantized`: QLoRA, the estimate's 4-bit layers (_fake_4bit) against real bitsandbytes NF4 layers.
    Returns one row per length: estimated and measured MiB and their ratio."""
    import torch
    from transformers import Qwen3Config

    config = Qwen3Config(
        hidden_size=256,
        intermediate_size=768,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=64,
        vocab_size=4096,
        tie_word_embeddings=True,
    )
    params = {**AUTHORS_SETTING, "gradient_checkpointing": checkpointing}
    dtype = torch.bfloat16 if mixed or quantized else torch.float32
    quant = "4bit" if quantized else "none"
    rows = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        real = _real_qlora(config, params, dtype) if quantized else step_model(config, params, quant, 3, "cpu", dtype)
        meta = step_model(config, params, quant, 3, dtype=dtype)
        for n in lengths:
            step = Step(n, answer_tokens, packed, checkpointing, autocast=mixed or quantized)
            peak, end = step_bytes(meta, step, "meta", dtype)
            est = peak - end
            measured = _profiled_cpu_bytes(real, step, dtype)
            rows.append({"tokens": n, "estimated_mib": est / 2**20, "measured_mib": measured / 2**20})
            rows[-1]["ratio"] = rows[-1]["estimated_mib"] / rows[-1]["measured_mib"]
    finally:
        torch.set_num_threads(threads)
    return rows


def _real_qlora(config, params: dict, dtype):
    """The model of `config` on the CPU with random weights, its decoder's linear layers quantized to NF4 by
    bitsandbytes (as from_pretrained with QLoRA makes them), and the params' QLoRA attached."""
    import bitsandbytes as bnb
    import torch

    torch.manual_seed(0)
    model = build_meta(config, dtype, "cpu")
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if not _is_quantized_linear(f"{name}.{child_name}" if name else child_name, child):
                continue
            q = bnb.nn.Linear4bit(
                child.in_features,
                child.out_features,
                bias=False,
                compute_dtype=dtype,
                quant_type="nf4",
                compress_statistics=True,
                device="meta",
            )
            q.weight = bnb.nn.Params4bit(
                child.weight.data, requires_grad=False, quant_type="nf4", compress_statistics=True
            ).to("cpu")
            setattr(module, child_name, q)
    model.is_loaded_in_4bit = True
    model = attach(model, params, quantized=True)
    model.train()
    return model


@contextlib.contextmanager
def _no_fd2():
    """The profiler's C++ layer prints "profiler_start/stop" to file descriptor 2 on every use: silenced."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _profiled_cpu_bytes(model, step: Step, dtype) -> int:
    """Peak minus final 'Total Allocated' of the CPU allocator during one real step, as torch.profiler
    records it (its [memory] events; only allocations made while profiling are counted)."""
    import tempfile

    from torch.profiler import ProfilerActivity, profile

    model.zero_grad(set_to_none=True)
    with _no_fd2(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step_bytes(model, step, "cpu", dtype)
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.json"
        prof.export_chrome_trace(str(trace))
        events = json.loads(trace.read_text())["traceEvents"]
    mem = sorted((e for e in events if e.get("name") == "[memory]"), key=lambda e: e["ts"])
    totals = [int(e["args"]["Total Allocated"]) for e in mem]
    return max(totals) - totals[-1]


# ------------------------------------------------------------------------------------------------ lengths
@dataclass
class Lengths:
    """Token lengths of the training rows and of the inference prompts one params file gives."""

    source: str
    unpacked: dict[str, tuple[int, int | None]]  # label (p50 / p95 / max or mean / max) -> (tokens, answer tokens)
    packed: dict[str, tuple[int, int | None]]
    tokens_per_epoch: dict[str, int | None]  # 'unpacked' / 'packed' -> tokens of one epoch, None: unknown
    head: int  # longest shared prefix (inference)
    tail: int  # longest question tail (inference)
    notes: list[str] = field(default_factory=list)


class _RatioTokenizer:
    """Counts ceil(characters / ratio) tokens: the stand-in when the model's tokenizer is not available."""

    chat_template = None
    eos_token = "<|im_end|>"

    def __init__(self, ratio: float):
        self.ratio = ratio

    def __call__(self, text: str, add_special_tokens: bool = False, **kw) -> dict:
        return {"input_ids": [0] * math.ceil(len(text) / self.ratio)}


def _points(rows: list[tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """p50, p95, max by nearest rank over the rows' lengths (each with its own answer tokens)."""
    rows = sorted(rows)
    pick = lambda q: rows[min(len(rows) - 1, max(0, math.ceil(q * len(rows)) - 1))]  # noqa: E731
    return {"p50": pick(0.50), "p95": pick(0.95), "max": rows[-1]}


def cohort_lengths(params: dict, cohort: str | os.PathLike) -> Lengths:
    """The training rows of `params` on the cohort's train split, built as 03 builds them (sft_examples,
    keep_negatives, tokenize_examples, build_rows), tokenized by the model's tokenizer when it loads offline,
    else counted at CHARS_PER_TOKEN."""
    from ..core.records import calibration_split, load_cohort, split_cases
    from ..prompting.definitions import load_definitions
    from ..prompting.sft_data import sft_examples
    from .train_inputs import build_rows, keep_negatives, tokenize_examples

    cases, _ = calibration_split(split_cases(load_cohort(cohort), "train"), int(params.get("calibration_cases", 0)))
    if not cases:
        raise PlanError(f"{cohort}: no cases with split 'train'")
    layout = params["prompt_layout"]
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
    )
    examples = keep_negatives(examples, params.get("negative_ratio"), int(params["seed"]))
    tok, how = _tokenizer(params)
    tokenized = tokenize_examples(tok, examples, bool(params.get("enable_thinking")))
    big = 10**9  # lengths only: nothing is skipped here, rows past max_seq_len are reported below
    unpacked, _ = build_rows(tokenized, big, False)
    packed, _ = build_rows(tokenized, int(params["max_seq_len"]), True) if examples[0].get("prefix") else ([], [])

    def summary(rows):
        return [(len(r["input_ids"]), sum(1 for x in r["labels"] if x != -100)) for r in rows]

    u, p = summary(unpacked), summary(packed)
    notes = []
    too_long = sum(1 for n, _ in u if n > int(params["max_seq_len"]))
    if too_long:
        notes.append(f"{too_long} example(s) longer than max_seq_len={params['max_seq_len']}: training skips them")
    heads = [len(ex.head) for ex in tokenized]
    tails = [len(ex.tail) for ex in tokenized]
    return Lengths(
        source=f"{cohort} ({len(cases)} train cases, {len(u)} examples; {how})",
        unpacked=_points(u),
        packed=_points(p) if p else {},
        tokens_per_epoch={"unpacked": sum(n for n, _ in u), "packed": sum(n for n, _ in p) if p else None},
        head=max(heads),
        tail=max(tails),
        notes=notes,
    )


def _tokenizer(params: dict):
    from ..llm.models import load_tokenizer

    try:
        with _quiet():
            return load_tokenizer(params["model_name_or_path"]), f"{params['model_name_or_path']} tokenizer"
    except Exception:  # noqa: BLE001 - not in the local cache: count characters instead
        ratio = CHARS_PER_TOKEN.get(params.get("language", "en"), 4.0)
        return _RatioTokenizer(ratio), (
            f"{params['model_name_or_path']} tokenizer not available offline: {ratio} characters per token"
        )


def authors_lengths(params: dict) -> Lengths:
    """No cohort: the authors' logged example lengths (targeted: mean 4,628, max 12,594, 2,200 examples;
    comprehensive: mean 7,899, max 16,053, 99 examples) for unpacked rows; packed rows (targeted,
    shared_prefix) are bounded by max_seq_len, as their logs have none."""
    a = ASSUMED_ANSWER_TOKENS
    targeted = params.get("strategy", "targeted") == "targeted"
    log = AUTHORS_LENGTHS if targeted else AUTHORS_COMPREHENSIVE_LENGTHS
    max_len = int(params["max_seq_len"])
    packs = targeted and params.get("prompt_layout") == "shared_prefix"
    which = "targeted (their Qwen3 logs)" if targeted else "comprehensive (their QwQ-32B log)"
    return Lengths(
        source=(
            f"the authors' {which} examples: mean {log['mean']:,.0f}, max {log['max']:,} tokens, {log['n']:,} "
            f"examples (give --cohort for your data); answers assumed {a} tokens"
            + ("; packed rows bounded by max_seq_len" if packs else "")
        ),
        unpacked={"mean": (round(log["mean"]), a), "max": (log["max"], a)},
        packed={"max_seq_len": (max_len, min(22 * a, max_len - 1))} if packs else {},
        tokens_per_epoch={"unpacked": round(log["mean"] * log["n"]), "packed": None},
        head=log["max"],
        tail=0,
    )


# ------------------------------------------------------------------------------------------------ KV cache
def kv_bytes_per_token(config, dtype_bytes: int = 2) -> int:
    """K and V of every layer for one token."""
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return 2 * int(config.num_hidden_layers) * int(heads) * int(head_dim) * dtype_bytes


def kv_cache(config, head: int, tail: int, rows: int, new_tokens: int, dtype_bytes: int = 2) -> dict[str, int]:
    """Bytes of shared-prefix inference: the head's cache kept once for all rows (cascade attention) plus
    each row's tail and answer, and the same with the head copied into every row (decoding.generate_shared)."""
    per = kv_bytes_per_token(config, dtype_bytes)
    own = rows * (tail + new_tokens) * per
    return {
        "per_token": per,
        "cascade": head * per + own,
        "copied": (1 + rows) * head * per + own,
        "separate": rows * head * per + own,  # no shared prefix (comprehensive prompts): each row its own prompt
    }


# ------------------------------------------------------------------------------------------------ the plan
@dataclass
class Plan:
    """What `plan_run` computed for one params file; format_plan prints it."""

    name: str
    model: str
    config_source: str
    method: str
    lora: str
    counts: dict[str, int]
    weights: dict[str, int]
    static: dict[str, int]  # weights, lora, gradients, optimizer
    lengths: Lengths
    activations: dict[tuple[str, str, bool], tuple[int, int]]  # (layout, label, checkpointing) -> (tokens, bytes)
    kv: dict[str, int]
    rows: int
    new_tokens: int
    peak: dict[str, Any]
    time: dict[str, Any]
    gpu_memory: float | None
    notes: list[str] = field(default_factory=list)


def _method(params: dict) -> str:
    if params["quantization"] == "4bit":
        return "QLoRA (NF4, double quant; other weights fp32)"
    if params["quantization"] == "8bit":
        return "LoRA on int8 weights"
    return f"LoRA ({params['dtype'] if params['dtype'] != 'auto' else 'bfloat16'} weights)"


def plan_run(
    params: dict,
    gpu_memory: float | None = None,
    cohort: str | os.PathLike | None = None,
    tokens_per_s: float | None = None,
    benchmark: str | os.PathLike | None = None,
    seeds: int = 1,
    name: str | None = None,
) -> Plan:
    """The plan of one resolved params dict (core.params.load_params): counts, memory, fit, time."""
    import torch

    dtype = params["dtype"] if params["dtype"] != "auto" else "bfloat16"  # auto: bf16 on the GPUs we plan for
    mixed = dtype in ("bfloat16", "float16")  # the trainer's mixed precision (sft_config: bf16 / fp16)
    config = model_config(params["model_name_or_path"])
    key = str(params["model_name_or_path"]).strip().rstrip("/").lower()
    source = f"packaged {PACKAGED[key]}.json" if key in PACKAGED else "local config.json"
    quant = params["quantization"]
    counts = count_parameters(config, params)
    weights = weight_bytes(config, quant, dtype)
    lora = counts["lora_bytes"]
    static = {"weights": weights["total"], "lora": lora, "gradients": lora, "optimizer": 2 * lora}
    lengths = cohort_lengths(params, cohort) if cohort else authors_lengths(params)
    ckpt = bool(params["gradient_checkpointing"])
    activations = {}
    layouts = [("unpacked", lengths.unpacked)]
    if lengths.packed:
        layouts.append(("packed", lengths.packed))
    for layout, points in layouts:
        for label, (tokens, answers) in points.items():
            for on in (True, False):
                step = Step(tokens, answers, layout == "packed", on, mixed)
                act = activation_bytes(config, params, quant, step, getattr(torch, dtype))
                activations[(layout, label, on)] = (tokens, act)
    rows = int(params.get("inference_batch_size", 8))
    new_tokens = int(params.get("max_new_tokens", 256))
    kv = kv_cache(config, lengths.head, lengths.tail, rows, new_tokens, torch.finfo(getattr(torch, dtype)).bits // 8)
    layout = "packed" if params.get("packing") and lengths.packed else "unpacked"
    label = "max" if "max" in activations_labels(activations, layout) else "max_seq_len"
    tokens, act = activations[(layout, label, ckpt)]
    total = sum(static.values()) + act
    peak = {"layout": layout, "label": label, "tokens": tokens, "checkpointing": ckpt, "bytes": total, "act": act}
    shared = params.get("strategy") == "targeted" and params.get("prompt_layout") == "shared_prefix"
    peak["kv"] = "cascade" if shared else "separate"
    peak["inference"] = weights["total"] + kv[peak["kv"]]
    time = _time(params, lengths, layout, tokens_per_s, benchmark, seeds)
    return Plan(
        name=name or params["run_name"],
        model=params["model_name_or_path"],
        config_source=source,
        method=_method(params),
        lora=_lora_text(params, config),
        counts=counts,
        weights=weights,
        static=static,
        lengths=lengths,
        activations=activations,
        kv=kv,
        rows=rows,
        new_tokens=new_tokens,
        peak=peak,
        time=time,
        gpu_memory=gpu_memory,
        notes=list(lengths.notes),
    )


def plan_text(params: str | os.PathLike | dict, **kw: Any) -> str:
    """The planner's table for a params file or a resolved params dict (a notebook: `print(plan_text(params))`);
    keyword arguments go to plan_run (gpu_memory, cohort, tokens_per_s, benchmark, seeds)."""
    from ..core.params import load_params

    if not isinstance(params, dict):
        kw.setdefault("name", str(params))
        params = load_params(params)
    return format_plan(plan_run(params, **kw))


def activations_labels(activations: dict, layout: str) -> set[str]:
    return {label for (lay, label, _) in activations if lay == layout}


def _lora_text(params: dict, config) -> str:
    n = int(config.num_hidden_layers)
    top = params.get("lora_layers")
    layers = f"top {top} of {n} layers" if top else f"all {n} layers"
    mods = ", ".join(params["target_modules"])
    return f"r {params['lora_r']}, alpha {params['lora_alpha']}, dropout {params['lora_dropout']} on {mods}; {layers}"


def _time(params, lengths: Lengths, layout: str, tokens_per_s, benchmark, seeds: int) -> dict:
    per_epoch_tokens = lengths.tokens_per_epoch.get(layout)
    out: dict[str, Any] = {"tokens_per_epoch": per_epoch_tokens, "tokens_per_s": None, "source": None}
    if tokens_per_s:
        out.update(tokens_per_s=float(tokens_per_s), source="--tokens-per-s")
    elif benchmark:
        hit = benchmark_tokens_per_s(benchmark, params, layout)
        if hit:
            out.update(tokens_per_s=hit[0], source=hit[1])
    if out["tokens_per_s"] and per_epoch_tokens:
        epoch_s = per_epoch_tokens / out["tokens_per_s"]
        epochs = None if int(params["max_steps"]) > 0 else float(params["num_epochs"])  # max_steps: stops early
        out.update(epoch_s=epoch_s, epochs=epochs, seeds=seeds)
        if epochs is not None:
            out["run_s"] = epoch_s * epochs
            out["study_s"] = out["run_s"] * seeds
    return out


def benchmark_tokens_per_s(path: str | os.PathLike, params: dict, layout: str) -> tuple[float, str] | None:
    """tokens/s that benchmarks/paper_scale.py --json measured for this model, method and layout."""
    results = json.loads(Path(path).read_text(encoding="utf-8"))
    want = Path(str(params["model_name_or_path"])).name.lower()
    method = "QLoRA" if params["quantization"] == "4bit" else "LoRA"
    for r in results:
        if r.get("model", "").lower() == want and r.get("method", "").startswith(method):
            m = (r.get("train") or {}).get(layout) or {}
            if m.get("tokens_per_s"):
                return float(m["tokens_per_s"]), f"{path}: {r['model']} {r['method']} {layout}"
    return None


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


# ------------------------------------------------------------------------------------------------ output
def _gib(n: float) -> str:
    return f"{n / GIB:8.2f}"


def _hms(s: float) -> str:
    h, rest = divmod(int(round(s)), 3600)
    return f"{h}h {rest // 60:02d}m" if h else f"{rest // 60}m {rest % 60:02d}s"


def format_plan(p: Plan) -> str:
    c, s = p.counts, p.static
    lines = [
        f"== {p.name}: {p.model} ({p.config_source}); {p.method}",
        f"   LoRA {p.lora}",
        f"   parameters: total {c['total']:,} ({c['total'] / 1e6:.4f}M), trainable {c['trainable']:,} "
        f"({c['trainable'] / 1e6:.4f}M, {100 * c['trainable'] / c['total']:.4f}%)",
        "   memory (GiB)",
        f"     weights                          {_gib(s['weights'])}"
        + (
            f"   ({_gib(p.weights['quantized']).strip()} NF4 + {_gib(p.weights['other']).strip()} fp32)"
            if p.weights["quantized"]
            else ""
        ),
        f"     LoRA weights (fp32)              {_gib(s['lora'])}",
        f"     gradients (fp32)                 {_gib(s['gradients'])}",
        f"     optimizer (AdamW, 2 fp32 moments){_gib(s['optimizer'])}",
        f"   activations of one training row (GiB), lengths from {p.lengths.source}",
        f"     {'row':22s} {'tokens':>7s} {'checkpointing on':>17s} {'off':>8s}",
    ]
    for layout in ("unpacked", "packed"):
        for label in sorted(
            activations_labels(p.activations, layout), key=["p50", "mean", "p95", "max", "max_seq_len"].index
        ):
            tokens, on = p.activations[(layout, label, True)]
            _, off = p.activations[(layout, label, False)]
            lines.append(f"     {layout + ' ' + label:22s} {tokens:7,d} {_gib(on):>17s} {_gib(off):>8s}")
    pk = p.peak
    if pk["kv"] == "cascade":
        lines.append(
            f"   KV cache, shared-prefix inference ({p.lengths.head:,}-token prefix, {p.rows} rows x "
            f"({p.lengths.tail:,} tail + {p.new_tokens:,} new)): {_gib(p.kv['cascade']).strip()} GiB with the "
            f"prefix kept once (cascade), {_gib(p.kv['copied']).strip()} GiB copied into every row; "
            f"{p.kv['per_token'] / 2**10:.0f} KiB per token"
        )
    else:
        lines.append(
            f"   KV cache, inference ({p.rows} prompts of {p.lengths.head:,} tokens + {p.new_tokens:,} new, no shared "
            f"prefix): {_gib(p.kv['separate']).strip()} GiB; {p.kv['per_token'] / 2**10:.0f} KiB per token"
        )
    verdict = ""
    if p.gpu_memory:
        free = p.gpu_memory * GIB - pk["bytes"]
        verdict = (
            f" -> fits {p.gpu_memory:g} GiB ({free / GIB:.1f} GiB left for the CUDA context and allocator slack)"
            if free > 0
            else f" -> does NOT fit {p.gpu_memory:g} GiB ({-free / GIB:.1f} GiB short)"
        )
    lines.append(
        f"   predicted training peak: {_gib(pk['bytes']).strip()} GiB (static {_gib(sum(s.values())).strip()} + "
        f"activations of the {pk['layout']} {pk['label']} row, {pk['tokens']:,} tokens, checkpointing "
        f"{'on' if pk['checkpointing'] else 'off'}){verdict}"
    )
    lines.append(f"   predicted inference: {_gib(pk['inference']).strip()} GiB (weights + KV cache above)")
    t = p.time
    if t.get("epoch_s"):
        more = ""
        if t.get("run_s"):
            more = f", a run ({t['epochs']:g} epochs) {_hms(t['run_s'])}, {t['seeds']} seed(s) {_hms(t['study_s'])}"
        lines.append(
            f"   time at {t['tokens_per_s']:,.0f} tokens/s ({t['source']}): an epoch ({t['tokens_per_epoch']:,} "
            f"tokens) {_hms(t['epoch_s'])}{more}"
        )
    elif t.get("tokens_per_epoch") is None:
        lines.append("   time: give --cohort (tokens per epoch of packed rows) and --tokens-per-s")
    else:
        lines.append(
            f"   time: {t['tokens_per_epoch']:,} tokens per epoch; give --tokens-per-s (measured: "
            "benchmarks/paper_scale.py --json out.json, then --benchmark out.json)"
        )
    lines += [f"   note: {n}" for n in p.notes]
    return "\n".join(lines)


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


CPU_CHECKS = {  # label -> cpu_check settings (tests/test_plan.py runs the same)
    "fp32 (CPU runs), checkpointing": {},
    "bf16 autocast (GPU runs), checkpointing": {"mixed": True},
    "bf16 autocast, no checkpointing": {"mixed": True, "checkpointing": False},
    "bf16 autocast, packed (block mask)": {"mixed": True, "packed": True},
    "QLoRA (bitsandbytes NF4), checkpointing": {"quantized": True},
}


def format_cpu_check(lengths: Sequence[int] = (256, 512, 1024)) -> str:
    lines = [
        "== Activation estimate (meta device) against the peak the CPU allocator reports (torch.profiler), one",
        "   training step of a 3-layer Qwen3-shaped model (hidden 256, 4 heads, 2 KV heads, LoRA r 16 on all linear)",
        f"   {'setting':42s} {'tokens':>6s} {'estimated MiB':>14s} {'measured MiB':>13s} {'ratio':>6s}",
    ]
    for label, kw in CPU_CHECKS.items():
        for r in cpu_check(lengths, **kw):
            est, got = r["estimated_mib"], r["measured_mib"]
            lines.append(f"   {label:42s} {r['tokens']:6d} {est:14.2f} {got:13.2f} {r['ratio']:6.3f}")
    return "\n".join(lines)


def cli(argv: list[str] | None = None) -> int:
    from ..core.params import load_params

    ap = argparse.ArgumentParser(
        prog="python -m pericomp_lib plan",
        description="Parameters, memory and time of params files, computed on the CPU (pericomp_lib/training/plan.py)",
    )
    ap.add_argument("params", nargs="*", help="params YAML files (params/qwen3-*.yaml)")
    ap.add_argument("--gpu-memory", type=float, default=None, metavar="GiB", help="say whether each run fits")
    ap.add_argument("--cohort", default=None, help="cohort.jsonl: token lengths of your training rows")
    ap.add_argument("--tokens-per-s", type=float, default=None, help="training throughput, for the time lines")
    ap.add_argument("--benchmark", default=None, help="benchmarks/paper_scale.py --json output: measured tokens/s")
    ap.add_argument("--seeds", type=int, default=1, help="runs per study (the batch's --seeds count)")
    ap.add_argument("--pericomp-dir", default=None, help="the authors' files: compare with their train logs")
    ap.add_argument("--cpu-check", action="store_true", help="the activation estimate against the CPU's peak")
    args = ap.parse_args(argv)
    if not args.params and not args.cpu_check:
        ap.error("give params files, or --cpu-check")
    if args.cpu_check:
        print(format_cpu_check(), flush=True)
    for path in args.params:
        params = load_params(path)
        plan = plan_run(params, args.gpu_memory, args.cohort, args.tokens_per_s, args.benchmark, args.seeds, path)
        print(format_plan(plan) + "\n", flush=True)
    pericomp = args.pericomp_dir or os.environ.get("PERICOMP_DIR")
    if pericomp and (Path(pericomp) / "results" / "evaluation_dataframes").is_dir():
        print(format_authors(authors_comparison(pericomp)))
    return 0


if __name__ == "__main__":
    sys.exit(cli())
