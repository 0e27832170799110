"""The model a params file trains, for the planner: built on the meta device (shapes, no memory) from its
published config, the params' LoRA attached as training attaches it, and the bytes of its weights (bf16, NF4
or int8) counted from those tensors. Nothing is downloaded and no weight is read.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
from pathlib import Path

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


def with_layers(config, n: int):
    """`config` cut to its first n layers: small models of the same shape, for activation_memory."""
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


def is_quantized_linear(name: str, module) -> bool:
    """A decoder linear layer that QLoRA stores in NF4 (not LoRA's own, not the vocabulary projection)."""
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
    with quiet(), torch.device("meta") if on_meta else contextlib.nullcontext():
        return attach_lora(model, lora_settings(params), quantized)


@contextlib.contextmanager
def quiet():
    """transformers' and peft's warnings and info lines silenced: they would fill the planner's table."""
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
        if quantization != "none" and is_quantized_linear(name, module):
            w = module.weight
            seen.add(id(w))
            n = w.numel()
            out["quantized"] += nf4_bytes(n) if quantization == "4bit" else n + 4 * w.shape[0]
    for p in model.parameters():
        if id(p) not in seen:
            out["other"] += p.numel() * (4 if quantization != "none" else p.element_size())
    out["total"] = out["quantized"] + out["other"]
    return out
