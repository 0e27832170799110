"""The activation estimate checked against the CPU: the same training step of a small Qwen3-shaped model run
for real, and the peak the CPU allocator reports for it (torch.profiler), beside the meta-device count.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .activation_memory import Step, step_bytes, step_model
from .authors_runs import AUTHORS_SETTING
from .meta_model import attach, build_meta, is_quantized_linear


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
            if not is_quantized_linear(f"{name}.{child_name}" if name else child_name, child):
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
