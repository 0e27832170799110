"""Packed vs unpacked targeted SFT, side by side on the same cases: tokens per epoch and wall time.

Both runs train one epoch on identical examples (synthetic cases, targeted strategy, shared_prefix
layout); only `packing` differs. tests/test_packing.py proves the two give the same losses and
gradients, so the ratios below are pure savings.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/train_packing.py --model smollm2-135m --cases 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from pericomp_lib.cohort.synthetic import RECORD_LENGTHS, generate_cohort
from pericomp_lib.core.params import validate
from pericomp_lib.llm.models import load_tokenizer
from pericomp_lib.prompting import sft_data
from pericomp_lib.prompting.definitions import load_definitions
from pericomp_lib.training.finetune import train_examples
from pericomp_lib.training.train_inputs import build_rows, tokenize_examples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--cases", type=int, default=1)
    ap.add_argument("--complications", type=int, default=22, help="first N of the 22 (fewer = quicker)")
    ap.add_argument("--max-seq-len", type=int, default=8192)
    ap.add_argument("--record-length", choices=RECORD_LENGTHS, default="full", help="synthetic record size")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (1 is faster on a busy machine)")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    cases = generate_cohort(args.cases, language="en", seed=1, record_length=args.record_length)
    definitions = load_definitions(None)
    cids = list(definitions.sections)[: args.complications]
    examples = sft_data.sft_examples(cases, "targeted", definitions, "shared_prefix", cids)
    every = sft_data.sft_examples(cases, "targeted", definitions, "shared_prefix")
    tok = load_tokenizer(args.model)
    tokenized = tokenize_examples(tok, every)
    full_u = sum(len(r["input_ids"]) for r in build_rows(tokenized, args.max_seq_len, False)[0])
    full_p = sum(len(r["input_ids"]) for r in build_rows(tokenized, args.max_seq_len, True)[0])
    print(
        f"tokens per epoch with all 22 questions (tokenized, not trained): unpacked {full_u}, packed {full_p}, "
        f"ratio {full_u / full_p:.2f}x"
    )
    results = {}
    for packing in (False, True):
        params = validate(
            {
                "run_name": f"bench-packing-{packing}",
                "model_name_or_path": args.model,
                "prompt_layout": "shared_prefix",
                "packing": packing,
                "num_epochs": 1.0,
                "batch_size": 1,
                "grad_accum": 1,
                "max_seq_len": args.max_seq_len,
                "seed": 1,
            }
        )
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            s = train_examples(params, examples, out, save_steps=10**6)
            results[packing] = {
                "tokens_per_epoch": s["tokens_per_epoch"],
                "rows": s["n_rows"],
                "steps": s["steps"],
                "train_wall_s": s["wall_s"],
                "total_wall_s": round(time.perf_counter() - t0, 1),
                "tokens_per_s": s["tokens_per_s"],
                "train_loss": round(s["train_loss"], 4),
                "peak_memory_mb": max(
                    json.loads(line)["peak_memory_mb"] for line in Path(s["train_log"]).read_text().splitlines()
                ),
            }
    u, p = results[False], results[True]
    print(
        f"\n{args.model}: {args.cases} {args.record_length}-record case(s) x {len(cids)} targeted questions = "
        f"{len(examples)} examples, "
        f"one epoch, max_seq_len {args.max_seq_len}"
    )
    print(f"{'':24s}{'unpacked':>12s}{'packed':>12s}{'ratio':>10s}")
    for key in ("rows", "tokens_per_epoch", "train_wall_s", "tokens_per_s", "train_loss", "peak_memory_mb"):
        ratio = u[key] / p[key] if p[key] else float("nan")
        print(f"{key:24s}{u[key]:>12}{p[key]:>12}{ratio:>9.2f}x")
    print(json.dumps({"unpacked": u, "packed": p}))


if __name__ == "__main__":
    main()
