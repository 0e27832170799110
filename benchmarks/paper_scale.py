"""Paper-scale memory and speed, side by side in one run: Qwen3-4B/8B/14B/32B-shaped models with random weights.

Speed and memory do not depend on the weights, so each model is built from its published configuration
(hidden size, layers, heads, KV heads, MLP size, vocabulary 151,936, RoPE theta 1e6) with `from_config`:
nothing is downloaded. Token ids are synthetic, at the paper's lengths: a targeted example is on average
~4.6k tokens (the authors' train logs: mean 4,628, max 12,594), i.e. a shared head (instructions + record)
of 4,200 tokens, a question tail of 300 and an answer of 100; a case has 22 questions.

It reports, per model:
- LoRA training (r 16, alpha 32 on every linear layer, as the GPU profiles and the authors' runs; activation
  checkpointing) through pericomp_lib's own code paths
  (lora.attach_lora, packing.unpacked_row / packed_rows, Collator, answer_loss): peak memory, tokens/s and
  answers/s, unpacked (one example per row, the paper) vs shared-prefix packed (one case per row), and
  the unpacked peak at the longest example; QLoRA NF4 (bitsandbytes) for 32B;
- inference seconds per case (22 answers of 100 new tokens, greedy): one prompt at a time
  (decoding.generate_full) vs the shared prefix (decoding.prefix_cache + generate_shared, 22 rows).

    python benchmarks/paper_scale.py                 # GPU: all four sizes (~80 GB GPU)
    python benchmarks/paper_scale.py --models 4b 32b
    python benchmarks/paper_scale.py --tiny          # CPU, scaled-down config and lengths (tests)
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Published config.json values of Qwen/Qwen3-{4B,8B,14B,32B} (head_dim 128 for all).
QWEN3 = {
    "4b": dict(
        hidden_size=2560,
        num_hidden_layers=36,
        num_attention_heads=32,
        num_key_value_heads=8,
        intermediate_size=9728,
        tie_word_embeddings=True,
    ),
    "8b": dict(
        hidden_size=4096,
        num_hidden_layers=36,
        num_attention_heads=32,
        num_key_value_heads=8,
        intermediate_size=12288,
        tie_word_embeddings=False,
    ),
    "14b": dict(
        hidden_size=5120,
        num_hidden_layers=40,
        num_attention_heads=40,
        num_key_value_heads=8,
        intermediate_size=17408,
        tie_word_embeddings=False,
    ),
    "32b": dict(
        hidden_size=5120,
        num_hidden_layers=64,
        num_attention_heads=64,
        num_key_value_heads=8,
        intermediate_size=25600,
        tie_word_embeddings=False,
    ),
}
COMMON = dict(
    vocab_size=151936,
    head_dim=128,
    rope_theta=1_000_000.0,
    max_position_embeddings=40960,
    rms_norm_eps=1e-6,
    hidden_act="silu",
    attention_bias=False,
)
TINY = dict(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    intermediate_size=128,
    tie_word_embeddings=True,
    vocab_size=2048,
    head_dim=16,
)


@dataclass
class Shape:
    """Token counts of one targeted case."""

    head: int = 4200
    tail: int = 300
    answer: int = 100
    questions: int = 22
    longest: int = 12600  # the authors' longest targeted example
    max_seq_len: int = 16384

    @property
    def example(self) -> int:
        return self.head + self.tail + self.answer


PAPER = Shape()
TINY_SHAPE = Shape(head=192, tail=24, answer=8, questions=4, longest=448, max_seq_len=1024)


def build_model(size: str, tiny: bool, device: str, dtype, quantized: bool):
    """Random-weight Qwen3 of the given shape; NF4 linears (as from_pretrained with QLoRA would make) when
    quantized, converted layer by layer so the bf16 copy of a layer is freed at once."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen3Config

    cfg = Qwen3Config(**{**COMMON, **(TINY if tiny else QWEN3[size])})
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype, attn_implementation="sdpa")
    model.generation_config.eos_token_id = None  # random weights: every answer runs to max_new_tokens
    if quantized:
        import bitsandbytes as bnb

        for layer in model.model.layers:
            for parent in list(layer.modules()):
                for name, child in list(parent.named_children()):
                    if isinstance(child, torch.nn.Linear):
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
                        ).to(device)
                        setattr(parent, name, q)
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
        model.is_loaded_in_4bit = True
    return model


def _reset_peak(device: str) -> None:
    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device: str) -> float:
    import torch

    from pericomp_lib.training.finetune import _peak_memory_mb

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30
    return _peak_memory_mb() / 1024  # CPU: the process's peak RSS (monotonic)


def _case(shape: Shape, vocab: int, seed: int):
    """One synthetic case as pericomp_lib.training.packing.TokenizedExample objects (22 questions, one shared head)."""
    import random

    from pericomp_lib.training.packing import TokenizedExample

    rng = random.Random(seed)
    ids = lambda n: [rng.randrange(10, vocab) for _ in range(n)]  # noqa: E731
    head = ids(shape.head)
    return [
        TokenizedExample(f"case{seed}", f"q{i}", head, ids(shape.tail), ids(shape.answer))
        for i in range(shape.questions)
    ]


def train_rows(shape: Shape, vocab: int) -> dict[str, list[dict]]:
    """Rows of one case for each training mode, built by the library's own row builders."""
    from pericomp_lib.training.packing import TokenizedExample, packed_rows, unpacked_row

    case = _case(shape, vocab, 1)
    n_long = shape.longest - shape.answer
    longest = TokenizedExample("long", "q", case[0].head[:1] * n_long, [], case[0].answer)
    return {
        "unpacked": [unpacked_row(ex) for ex in case],
        "packed": packed_rows(case, shape.max_seq_len),
        "unpacked, longest example": [unpacked_row(longest)],
    }


def measure_training(model, rows: list[dict], device: str, dtype, micro_steps: int) -> dict:
    """Forward + backward + AdamW step per row (batch 1, as the profiles), after one warm-up row."""
    import torch

    from pericomp_lib.training.packing import Collator, answer_loss

    collate = Collator(pad_id=0, mask_dtype=dtype)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    _reset_peak(device)
    todo = [rows[0]] + [rows[i % len(rows)] for i in range(micro_steps)]
    tokens = answers = 0
    t0 = None
    for i, row in enumerate(todo):
        if i == 1:
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        batch = collate([row])
        n_tok = int(batch.pop("n_tokens").sum())
        batch.pop("labels")
        batch = {k: v.to(device) for k, v in batch.items()}
        loss, n_ans, _ = answer_loss(model, batch)
        (loss / max(n_ans, 1)).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= 1:
            tokens, answers = tokens + n_tok, answers + row["n_examples"]
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    del opt
    return {
        "tokens_per_row": len(rows[0]["input_ids"]),
        "peak_gib": _peak_gib(device),
        "tokens_per_s": tokens / wall,
        "answers_per_s": answers / wall,
    }


def measure_inference(model, shape: Shape, vocab: int, device: str) -> dict:
    """Seconds per case: 22 full prompts one at a time vs one head prefill + 22 tails batched."""
    import torch

    from pericomp_lib.inference import decoding as dec

    case = _case(shape, vocab, 2)
    head, tails = case[0].head, [ex.tail for ex in case]
    tok = SimpleNamespace(pad_token_id=0, eos_token_id=None)
    n_new = shape.answer

    def timed(fn) -> float:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    dec.generate_full(model, tok, [head[:64] + tails[0]], 2, json_stop=False)  # warm-up
    one = timed(lambda: [dec.generate_full(model, tok, [head + t], n_new, json_stop=False) for t in tails])
    shared = timed(lambda: dec.generate_shared(model, tok, head, tails, n_new, json_stop=False))
    return {"one_at_a_time_s": one, "shared_prefix_s": shared, "speedup": one / shared}


def run_model(size: str, tiny: bool, device: str, quantized: bool, micro_steps: int, log) -> dict:
    import torch

    from pericomp_lib.training.lora import attach_lora

    shape = TINY_SHAPE if tiny else PAPER
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    method = "QLoRA NF4" if quantized else "LoRA bf16" if dtype == torch.bfloat16 else "LoRA fp32"
    name = f"Qwen3-{size.upper()}" + (" (tiny)" if tiny else "")
    out = {"model": name, "method": method, "train": {}, "inference": None}
    model = build_model(size, tiny, device, dtype, quantized)
    vocab = model.config.vocab_size
    model.config.use_cache = False
    params = {
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.05,
        "gradient_checkpointing": True,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],  # profiles
    }
    lora = attach_lora(model, params, quantized)  # QLoRA: prepare_model_for_kbit_training, as in training
    if not quantized:
        lora.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        lora.enable_input_require_grads()
    lora.train()
    for mode, rows in train_rows(shape, vocab).items():
        steps = 1 if mode.endswith("longest example") else micro_steps * (1 if mode == "packed" else shape.questions)
        try:
            out["train"][mode] = measure_training(lora, rows, device, dtype, min(steps, len(rows) * 2))
        except torch.OutOfMemoryError as e:  # a result, not a crash: the table says OOM
            out["train"][mode] = {"error": f"OOM ({str(e).splitlines()[0][:80]})"}
        log(f"  {name} {method} {mode}: {out['train'][mode]}")
    lora.eval()
    lora.config.use_cache = True
    with torch.no_grad(), lora.disable_adapter():
        try:
            out["inference"] = measure_inference(lora, shape, vocab, device)
        except torch.OutOfMemoryError as e:
            out["inference"] = {"error": f"OOM ({str(e).splitlines()[0][:80]})"}
    log(f"  {name} inference: {out['inference']}")
    del lora, model
    _reset_peak(device)
    return out


def table(results: list[dict], device: str) -> str:
    mem = "peak GiB (GPU)" if device.startswith("cuda") else "peak GiB (RSS)"
    lines = [
        f"{'model':20s} {'method':10s} {'training rows':26s} {'tokens/row':>10s} {mem:>15s} "
        f"{'tokens/s':>10s} {'answers/s':>10s}"
    ]
    for r in results:
        for mode, m in r["train"].items():
            if "error" in m:
                lines.append(f"{r['model']:20s} {r['method']:10s} {mode:26s} {m['error']}")
                continue
            lines.append(
                f"{r['model']:20s} {r['method']:10s} {mode:26s} {m['tokens_per_row']:10d} "
                f"{m['peak_gib']:15.2f} {m['tokens_per_s']:10.1f} {m['answers_per_s']:10.3f}"
            )
    lines += [
        "",
        f"{'model':20s} {'method':10s} {'inference s/case: one at a time':>32s} {'shared prefix':>14s} "
        f"{'speed-up':>9s}",
    ]
    for r in results:
        i = r["inference"]
        if "error" in i:
            lines.append(f"{r['model']:20s} {r['method']:10s} {i['error']}")
        else:
            lines.append(
                f"{r['model']:20s} {r['method']:10s} {i['one_at_a_time_s']:32.2f} "
                f"{i['shared_prefix_s']:14.2f} {i['speedup']:8.1f}x"
            )
    return "\n".join(lines)


def goals(results: list[dict]) -> list[str]:
    """The issue's targets, checked against what this run measured (GPU runs only)."""
    by = {(r["model"], r["method"]): r for r in results}
    out = []
    r4 = by.get(("Qwen3-4B", "LoRA bf16"))
    if r4 and "peak_gib" in r4["train"]["unpacked"]:
        v = r4["train"]["unpacked"]["peak_gib"]
        out.append(f"Qwen3-4B LoRA at ~5k tokens <= 24 GiB: {v:.1f} GiB -> {'met' if v <= 24 else 'NOT met'}")
    r32 = by.get(("Qwen3-32B", "QLoRA NF4"))
    if r32:
        peaks = [m["peak_gib"] for m in r32["train"].values() if "peak_gib" in m]
        ok = len(peaks) == len(r32["train"]) and max(peaks) <= 78
        out.append(
            f"Qwen3-32B QLoRA on one 80 GB GPU: peak {max(peaks, default=float('nan')):.1f} GiB -> "
            f"{'met' if ok else 'NOT met'}"
        )
    for r in results:
        if "speedup" in r["inference"]:
            s = r["inference"]["speedup"]
            out.append(f"{r['model']} shared-prefix inference >= 10x: {s:.1f}x -> {'met' if s >= 10 else 'NOT met'}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=list(QWEN3), choices=list(QWEN3))
    ap.add_argument("--tiny", action="store_true", help="CPU: scaled-down config and lengths (tests)")
    ap.add_argument("--micro-steps", type=int, default=2, help="timed rows per mode (x22 for unpacked)")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)

    import torch

    if args.tiny:
        device = "cpu"
        torch.set_num_threads(1)
        runs = [("4b", False), ("4b", True)]  # one scaled-down shape, LoRA and QLoRA NF4 code paths
    else:
        if not torch.cuda.is_available():
            print("paper_scale.py needs a CUDA GPU for the paper-scale shapes; use --tiny on a CPU", file=sys.stderr)
            return 2
        device = "cuda"
        runs = [(m, m == "32b") for m in args.models]  # 32B: QLoRA NF4 (bf16 weights alone are ~61 GiB)
    print(
        f"device {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'} | torch {torch.__version__} | "
        f"shape {TINY_SHAPE if args.tiny else PAPER}",
        flush=True,
    )
    t0 = time.perf_counter()
    results = [
        run_model(size, args.tiny, device, q, args.micro_steps, lambda s: print(s, flush=True)) for size, q in runs
    ]
    print("\n" + table(results, device))
    if not args.tiny:
        print("\n" + "\n".join(goals(results)))
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
