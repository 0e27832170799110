"""Token lengths of the rows a params file trains on and of its inference prompts: from a cohort, built as
stage 03 builds them, or, without one, the authors' logged lengths.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from .meta_model import PlanError, quiet

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
    from .finetune import training_examples
    from .train_inputs import TrainingError, build_rows, tokenize_examples

    try:
        examples = training_examples(params, cohort)
    except TrainingError as e:
        raise PlanError(str(e)) from None
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
        source=f"{cohort} ({len({ex['case_id'] for ex in examples})} train cases, {len(u)} examples; {how})",
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
        with quiet():
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
