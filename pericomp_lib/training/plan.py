"""Plan a GPU run before queueing it: parameters, memory and time of a params file, computed on the CPU.

`python -m pericomp_lib plan params/qwen3-*.yaml [--gpu-memory 80] [--cohort cohort.jsonl] [--tokens-per-s N]`,
or `print(plan_text("params/qwen3-4b.yaml", gpu_memory=80))` (plan_run + format_plan) from a notebook.

How each number is made (nothing is downloaded, no weights are read), and the module that makes it:
- meta_model: the model is built on the meta device (shapes, no memory) from its published config.json
  values, shipped in pericomp_lib/data/model_configs/ (or a local model folder's config.json), and the params'
  LoRA is attached by the same `lora.attach_lora` training uses (r, alpha, target modules, lora_layers).
  Parameter counts are therefore exact; tests/test_plan.py checks them against the authors' ms-swift logs.
- meta_model: static memory is counted from those tensors: weights in the params' dtype (bf16), or NF4 with
  double quantization for `quantization: 4bit` (4-bit codes, one 8-bit absmax per 64 weights, one fp32 absmax
  per 256 blocks; `nf4_bytes`, checked against bitsandbytes on the CPU) with every other weight in fp32 as
  peft.prepare_model_for_kbit_training leaves it; LoRA weights, their gradients and AdamW's two moments in
  the adapter's dtype (fp32: peft upcasts adapters).
- activation_memory: activation memory is *counted on the meta device*: one real forward + backward of the
  model (our answer-only loss, dropout, checkpointing, the packed block mask) runs under a dispatch mode that
  adds up the bytes of every tensor the step creates and subtracts them when they are freed (`LiveBytes`).
  Stood in for, because meta tensors cannot run them: the GPU's fused attention kernel (`_flash_model`: O(L)
  saved state, as flash / memory-efficient sdpa), bf16 autocast (`_mixed_precision`) and bitsandbytes' 4-bit
  matmul (`_fake_4bit`). The peak of 2- and 3-layer models gives the per-layer slope (the stack is uniform),
  so a 64-layer model costs the same seconds as a 2-layer one.
- activation_check (and tests/test_plan.py): the estimate against the peak the CPU allocator reports
  (torch.profiler) for one real step of small Qwen3-shaped models at several lengths: fp32, bf16 autocast,
  packed, and QLoRA on real bitsandbytes NF4 layers (`cpu_check`).
- Not counted: the CUDA context, the caching allocator's slack (what `max_memory_reserved` adds over
  `max_memory_allocated`), the optimizer step's temporaries (after backward, below the peak).
- token_lengths: the rows' lengths, from a cohort or the authors' logs; authors_runs: the planner beside the
  authors' logged counts and peaks (`--pericomp-dir`).
- Time comes only from a tokens/s figure that is given (`--tokens-per-s`) or measured by
  benchmarks/paper_scale.py (`--benchmark results.json`); otherwise the table says which one to give.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .activation_check import format_cpu_check
from .activation_memory import Step, activation_bytes
from .authors_runs import authors_comparison, format_authors
from .meta_model import GIB, PACKAGED, count_parameters, model_config, weight_bytes
from .token_lengths import Lengths, authors_lengths, cohort_lengths


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
        notes=list(lengths.notes) + (_FROZEN_NOTE if params.get("frozen_record") else []),
    )


_FROZEN_NOTE = [  # the planner counts the paper's step; frozen_record's is smaller (training/frozen_record.py)
    "frozen_record: true: the memory and time above are for LoRA on every token; a frozen_record step runs the "
    "question and answer blocks through the LoRA layers only (plus the row's record, once), and holds the "
    "records' keys and values of the LoRA layers for every row"
]


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
