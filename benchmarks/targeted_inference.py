"""Targeted inference, three ways, same cases and model, side by side in one run.

(a) one full prompt at a time (the authors' way: 22 independent requests per case);
(b) the 22 full prompts of a case batched (left padding);
(c) batched with the shared prefix: the record's KV cache computed once per case and read once per decode
    step for all rows (cascade attention, `pericomp_lib/inference/cascade.py`);
(p) the same, with the prefix cache copied into every row (the previous way; `--modes abcp` to compare).

All three feed the model exactly the same tokens, ids(head) + ids(tail) of the shared_prefix layout, so
greedy answers can be compared one to one; the script prints seconds per case, the speed-up over (a)
and how many answers are identical to (a). `--constrained` runs all three under the answer schema
(llguidance mask + jump-forward) and also compares P(True) at each decision.

usage: python benchmarks/targeted_inference.py [--params params/smollm2-135m.yaml] [--cases 2]
       [--batch-size 22] [--max-new-tokens N] [--threads N] [--cohort path/to/cohort.jsonl]
       [--constrained] [--record-length full|compact|notes] [--params-override key=value ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pericomp_lib.cohort.synthetic import RECORD_LENGTHS  # noqa: E402 - after the path insert


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--params", default=str(ROOT / "params" / "smollm2-135m.yaml"))
    ap.add_argument("--cohort", default=None, help="cohort.jsonl (default: a fresh synthetic cohort)")
    ap.add_argument("--cases", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=22, help="questions per batch in (c)")
    ap.add_argument(
        "--full-batch-size",
        type=int,
        default=4,
        help="prompts per batch in (b): 22 full ~3k-token prompts at once need several GB on CPU",
    )
    ap.add_argument("--questions", type=int, default=22, help="first N complications only (quick runs)")
    ap.add_argument("--max-new-tokens", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--modes", default="abc", help="subset of abc to run")
    ap.add_argument("--constrained", action="store_true", help="decode under the answer schema (params constrained)")
    ap.add_argument("--record-length", default="full", choices=RECORD_LENGTHS, help="synthetic records")
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="params overrides, e.g. answer_layout=decision_first question_style=brief",
    )
    args = ap.parse_args(argv)

    import torch

    from pericomp_lib.cohort import build
    from pericomp_lib.core import records
    from pericomp_lib.core.params import load_params
    from pericomp_lib.inference import decoding as dec
    from pericomp_lib.inference.jobs import build_jobs, grammar_for
    from pericomp_lib.llm import models
    from pericomp_lib.prompting import definitions

    if args.threads:
        torch.set_num_threads(args.threads)
    import yaml

    from pericomp_lib.core import taxonomy

    extra = {k: yaml.safe_load(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    p = load_params(
        args.params,
        prompt_layout="shared_prefix",
        strategy="targeted",
        max_new_tokens=args.max_new_tokens,
        complications=list(taxonomy.IDS[: args.questions]),
        constrained=args.constrained or None,
        **extra,
    )
    if args.cohort:
        cases = records.load_cohort(args.cohort, check_evidence=False)
    else:
        with tempfile.TemporaryDirectory() as d:
            cases = build.make_cohort(
                "synthetic", n_cases=max(20, 4 * args.cases), out_dir=d, record_length=args.record_length
            )
    cases = records.split_cases(cases, "eval")[: args.cases]
    model, tok = models.load_model(p)
    defs = definitions.load_definitions(p.get("definitions"), language=p["language"])
    jobs = build_jobs(cases, tok, defs, p)
    n_new = int(p["max_new_tokens"])
    grammar = grammar_for(tok, p, defs)

    by_case: dict[str, tuple[list[int], list[list[int]]]] = {}
    for j in jobs:
        head = tok(j.head, add_special_tokens=False).input_ids
        by_case.setdefault(j.case_id, (head, []))[1].append(tok(j.tail, add_special_tokens=False).input_ids)
    n_q = [len(t) for _, t in by_case.values()]
    head_len = sum(len(h) for h, _ in by_case.values()) / len(by_case)
    tail_len = sum(len(x) for _, t in by_case.values() for x in t) / sum(n_q)
    print(
        f"model {p['model_name_or_path']} | {len(by_case)} cases x {n_q[0]} questions | head {head_len:.0f} "
        f"tokens, tail {tail_len:.0f} tokens (mean) | max_new_tokens {n_new} | "
        f"batch (b) {args.full_batch_size}, (c) {args.batch_size} | "
        f"torch threads {torch.get_num_threads()} | cpu count {os.cpu_count()} | "
        f"{'constrained (llguidance, jump-forward)' if grammar else 'free generation'} | "
        f"{p['answer_layout']} / {p['question_style']}"
    )
    probs: dict[str, list] = {}

    def keep(key):
        def on_done(row, ids, seconds, p_true):
            probs.setdefault(key, []).append(p_true)

        return on_done

    def mode_a(head, tails):
        return [dec.generate_full(model, tok, [head + t], n_new, on_done=keep("a"), grammar=grammar)[0] for t in tails]

    def mode_b(head, tails):
        out = []
        for i in range(0, len(tails), args.full_batch_size):
            out += dec.generate_full(
                model,
                tok,
                [head + t for t in tails[i : i + args.full_batch_size]],
                n_new,
                on_done=keep("b"),
                grammar=grammar,
            )
        return out

    def shared(key, cascade_attention):
        def mode(head, tails):
            cache = dec.prefix_cache(model, head)
            out = []
            for i in range(0, len(tails), args.batch_size):
                out += dec.generate_shared(
                    model,
                    tok,
                    head,
                    tails[i : i + args.batch_size],
                    n_new,
                    cache=cache,
                    on_done=keep(key),
                    grammar=grammar,
                    cascade_attention=cascade_attention,
                )
            return out

        return mode

    modes = {
        "a": ("(a) one full prompt at a time", mode_a),
        "b": ("(b) batched full prompts", mode_b),
        "c": ("(c) batched + shared prefix", shared("c", True)),
        "p": ("(p) shared prefix copied per row", shared("p", False)),
    }
    results: dict[str, tuple[float, list]] = {}
    for key in args.modes:
        name, fn = modes[key]
        answers, t0 = [], time.perf_counter()
        for case_id, (head, tails) in by_case.items():
            tc = time.perf_counter()
            answers.append(fn(head, tails))
            print(f"  {name}: {case_id} {time.perf_counter() - tc:.1f} s", flush=True)
        results[key] = ((time.perf_counter() - t0) / len(by_case), answers)

    ref = results.get("a")
    print(f"\n{'mode':34s} {'s/case':>8s} {'speed-up vs (a)':>16s} {'identical to (a)':>18s} {'new tokens':>11s}")
    for key, (sec, answers) in results.items():
        flat = [x for case in answers for x in case]
        ratio = f"{ref[0] / sec:.2f}x" if ref else "-"
        same = "-"
        if ref:
            ref_flat = [x for case in ref[1] for x in case]
            same = f"{sum(x == y for x, y in zip(flat, ref_flat))}/{len(flat)}"
        print(f"{modes[key][0]:34s} {sec:8.1f} {ratio:>16s} {same:>18s} {sum(map(len, flat)):11d}")
    if "a" in probs and grammar is not None:
        for key in set(probs) - {"a"}:  # rows finish in a different order in batches: compare as multisets
            a, o = sorted(x for x in probs["a"] if x is not None), sorted(x for x in probs[key] if x is not None)
            gap = max((abs(x - y) for x, y in zip(a, o)), default=0.0)
            print(f"P(True) ({key}) vs (a): {len(o)}/{len(a)} decisions, largest difference {gap:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
