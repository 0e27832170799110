"""The LoRA adapter of a training run: attached to the base model (QLoRA preparation, the layers it covers)
and saved from a trainer (shards gathered on every rank, tensors checked, swapped in whole).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..core.io import write_json
from .train_inputs import TrainingError


def attach_lora(model, params: dict, quantized: bool, sharded: bool = False):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    # QLoRA: norms in fp32, input grads on, checkpointing set up for k-bit weights. Not under FSDP / ZeRO-3:
    # the fp32 upcast would give FSDP mixed dtypes to flatten (there the launcher's checkpointing applies)
    if quantized and not sharded:
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=bool(params["gradient_checkpointing"]),
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    layers = None
    top = params.get("lora_layers")
    if top:  # adapters on the top `lora_layers` blocks only: backward stops there (CPU profile)
        n = int(model.config.num_hidden_layers)
        if int(top) > n:
            raise TrainingError(f"lora_layers={top} but the model has {n} layers; use at most {n} (or null for all)")
        layers = list(range(n - int(top), n))
    config = LoraConfig(
        r=int(params["lora_r"]),
        lora_alpha=int(params["lora_alpha"]),
        lora_dropout=float(params["lora_dropout"]),
        target_modules=list(params["target_modules"]),
        layers_to_transform=layers,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def check_adapter_weights(folder: Path, n_expected: int | None = None) -> None:
    """A saved adapter must hold every trained LoRA tensor with data: under FSDP / ZeRO-3 an ungathered
    save writes empty or missing tensors, which would otherwise only show up as a useless adapter."""
    from safetensors import safe_open

    path = folder / "adapter_model.safetensors"
    if not path.exists():
        raise TrainingError(
            f"{path}: no adapter weights were written. Under FSDP set fsdp_state_dict_type: FULL_STATE_DICT, "
            "under DeepSpeed ZeRO-3 set zero3_save_16bit_model: true (params/accelerate/*.yaml)"
        )
    with safe_open(str(path), "pt") as f:
        keys = list(f.keys())
        empty = [k for k in keys if f.get_slice(k).get_shape() in ([], [0]) or 0 in f.get_slice(k).get_shape()]
    if empty or not keys or (n_expected is not None and len(keys) != n_expected):
        raise TrainingError(
            f"{path}: {len(keys)} tensor(s) saved, {n_expected} expected, {len(empty)} empty (e.g. {empty[:2]}): "
            "the sharded LoRA weights were not gathered before saving; save through Trainer.save_model on every "
            "rank (lora.save_adapter does) with a FULL_STATE_DICT / 16-bit-gathering launcher config"
        )


def save_adapter(trainer, dest: Path, meta: dict) -> None:
    """Called on every rank: Trainer.save_model gathers FSDP / ZeRO-3 shards (a collective all ranks
    must join) and only the main process writes. It writes into a temp folder that is checked and
    then swapped in, so readers never see half an adapter."""
    tmp = dest.parent / f".{dest.name}.tmp"
    main = trainer.is_world_process_zero()
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
    n_trained = sum(1 for _, p in trainer.model.named_parameters() if p.requires_grad)
    trainer.save_model(str(tmp))
    if main:
        (tmp / "training_args.bin").unlink(missing_ok=True)
        check_adapter_weights(tmp, n_trained)
        write_json(tmp / "training_params.json", meta)
        old = dest.parent / f".{dest.name}.old"
        if dest.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.rename(dest, old)
        os.rename(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
