"""What a training run is given, checked and tokenized: the class balance of the examples (keep_negatives),
their chat-wrapped token rows (packed or not, never truncated), the launcher settings that cannot combine,
and `TrainingError` for inputs that cannot work. finetune.py runs the fit on these rows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from .packing import TokenizedExample, packed_rows, unpacked_row


class TrainingError(ValueError):
    """Training inputs that cannot work (no train cases, packing without a shared prefix...)."""


def answer_template(tokenizer, enable_thinking: bool = False) -> tuple[str, str]:
    """(before, after): what the chat template writes around an assistant answer that follows the
    generation prompt, e.g. ("", "<|im_end|>"). Without a template the answer ends with EOS."""
    from ..prompting import chat

    if not getattr(tokenizer, "chat_template", None):
        return "", tokenizer.eos_token or ""
    marker = "\u2063ANSWER\u2063"
    user = [{"role": "user", "content": "x"}]
    start = chat.chat_text(tokenizer, "x", enable_thinking)
    kwargs = {"enable_thinking": enable_thinking} if chat.uses_thinking_switch(tokenizer) else {}
    full = tokenizer.apply_chat_template(user + [{"role": "assistant", "content": marker}], tokenize=False, **kwargs)
    if not full.startswith(start) or marker not in full:
        return "", tokenizer.eos_token or ""
    before, after = full[len(start) :].split(marker, 1)
    return before, after.rstrip() or (tokenizer.eos_token or "")


def tokenize_examples(
    tokenizer,
    examples: Sequence[dict],
    enable_thinking: bool = False,
    positive_weight: float | None = None,
    decision_weight: float | None = None,
    trap_weight: float | None = None,
    quote_weight: float | None = None,
) -> list[TokenizedExample]:
    """Chat-wrap and tokenize. shared_prefix examples split at the record so packed and unpacked rows
    hold identical tokens. Loss weights (None: 1): `positive_weight` for every answer token of a positive
    targeted example, `trap_weight` for that of a negative one whose record holds a look-alike (a trap laid for
    that complication), `decision_weight` for the tokens of its "True"/"False" and `quote_weight` for the first token
    of its think (`weighted_answer`)."""
    from ..prompting import chat

    before, after = answer_template(tokenizer, enable_thinking)
    out = []
    for i, ex in enumerate(examples):
        if "messages" in ex:  # a conversation (chart Q&A): the last turn is the answer, the loss covers only it
            ex = _conversation_example(ex, i)
        missing = [k for k in ("case_id", "prompt", "completion") if k not in ex]
        if missing:
            raise TrainingError(f"example {i}: missing key(s) {missing}; examples come from sft_data.sft_examples")
        if ex.get("turns") is not None:
            head, tail = chat.chat_messages_text(tokenizer, ex["turns"], enable_thinking), ""
        elif ex.get("prefix") is not None and ex.get("question") is not None:
            head, tail = chat.chat_prefix_suffix(tokenizer, ex["prefix"], ex["question"], enable_thinking)
        else:
            head, tail = chat.chat_text(tokenizer, ex["prompt"], enable_thinking), ""

        def enc(text: str) -> list[int]:
            return tokenizer(text, add_special_tokens=False)["input_ids"] if text else []

        text = before + ex["completion"] + after
        if positive_weight is None and decision_weight is None and trap_weight is None and quote_weight is None:
            answer, weights = enc(text), None
        else:
            weight = 1.0
            if positive_weight is not None and ex.get("positive"):
                weight = float(positive_weight)
            elif trap_weight is not None and ex.get("trap"):
                weight = float(trap_weight)
            answer, weights = weighted_answer(tokenizer, text, weight, decision_weight, quote_weight)
        out.append(TokenizedExample(str(ex["case_id"]), ex.get("complication"), enc(head), enc(tail), answer, weights))
    return out


def _conversation_example(ex: dict, i: int) -> dict:
    """{"case_id", "messages": [system?, user, assistant]} -> the prompt/completion example tokenize_examples
    takes: the turns before the answer are the prompt (rendered with their system turn), the answer the completion."""
    msgs = ex["messages"]
    if not isinstance(msgs, list) or len(msgs) < 2 or any(not isinstance(m, dict) for m in msgs):
        raise TrainingError(f"example {i}: messages must be a list of {{role, content}} turns ending with the answer")
    if msgs[-1].get("role") != "assistant" or msgs[-2].get("role") != "user":
        raise TrainingError(f"example {i}: messages must end with a user turn and then the assistant's answer")
    if "case_id" not in ex:
        raise TrainingError(f"example {i}: missing key case_id (the subject id of a chart Q&A pair)")
    turns = [{"role": m["role"], "content": m["content"]} for m in msgs[:-1]]
    return {**ex, "prompt": msgs[-2]["content"], "completion": msgs[-1]["content"], "turns": turns}


_DECISION = re.compile(r'"bool":\s*"(True|False)"')
_THINK_VALUE = re.compile(r'"think":\s*"(?=[^"])')


def weighted_answer(
    tokenizer, text: str, weight: float, decision_weight: float | None, quote_weight: float | None = None
) -> tuple[list[int], tuple[float, ...]]:
    """(answer ids, loss weight per id): `weight` everywhere, times `decision_weight` on the tokens that spell a
    targeted answer's "True"/"False", times `quote_weight` on the first token of its think (found by character
    offsets; other answers have neither). With a schema the keys and quotes are forced at inference, so the
    decision is what training must teach; in an evidence_first answer it is often taken at the quote's first
    token ("none" or the record's words), and the True/False after a quote only follows it."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    weights = [weight] * len(enc["input_ids"])
    spans = []
    if decision_weight is not None and (m := _DECISION.search(text)):
        spans.append((m.start(1), m.end(1), float(decision_weight)))
    if quote_weight is not None and (m := _THINK_VALUE.search(text)):
        spans.append((m.end(), m.end() + 1, float(quote_weight)))
    for start, end, factor in spans:
        for k, (a, b) in enumerate(enc["offset_mapping"]):
            if a < end and b > start:
                weights[k] *= factor
    return enc["input_ids"], tuple(weights)


def build_rows(tokenized: Sequence[TokenizedExample], max_len: int, packing: bool) -> tuple[list[dict], list[str]]:
    """Training rows; examples longer than max_len are skipped and returned by id (never truncated:
    a cut prompt would teach answers to questions the model did not see)."""
    keep, skipped = [], []
    for ex in tokenized:
        (keep if len(ex) <= max_len else skipped).append(ex)
    skipped_ids = [f"{ex.case_id}/{ex.complication} ({len(ex)} tokens)" for ex in skipped]
    rows = packed_rows(keep, max_len) if packing else [unpacked_row(ex) for ex in keep]
    return rows, skipped_ids


def keep_negatives(examples: Sequence[dict], ratio: float | None, seed: int) -> list[dict]:
    """Class balance per complication: every positive targeted example and, per complication, about `ratio`
    negative examples per positive one (seeded); a case left with no example is left out.

    ratio None is the paper (every question of every case). Rare complications (~10% of cases) would
    otherwise teach a small model the prior "False" and little else, and each complication's P(True)
    would sit at its own prevalence, which spoils ranking across complications. With packing a case
    whose questions are all dropped costs nothing. The choice depends on the seed, case and complication."""
    import random
    from collections import Counter

    if ratio is None:
        return list(examples)
    pos = Counter(ex.get("complication") for ex in examples if ex.get("positive", True))
    neg = Counter(ex.get("complication") for ex in examples if not ex.get("positive", True))
    share = {c: min(1.0, float(ratio) * pos[c] / n) if n else 1.0 for c, n in neg.items()}
    return [
        ex
        for ex in examples
        if ex.get("positive", True)
        or random.Random(f"negatives-{seed}-{ex['case_id']}-{ex.get('complication')}").random()
        < share[ex.get("complication")]
    ]


def check_launch_config(params: dict, env: dict | None = None) -> None:
    """Refuse settings a launcher cannot combine, before any model loads (accelerate passes its config
    to the processes as environment variables)."""
    env = os.environ if env is None else env
    fsdp = env.get("ACCELERATE_USE_FSDP", "").lower() == "true"
    if fsdp and env.get("FSDP_ACTIVATION_CHECKPOINTING", "").lower() == "true" and params.get("gradient_checkpointing"):
        raise TrainingError(
            "params gradient_checkpointing: true together with the accelerate config's fsdp_activation_checkpointing: "
            "true: transformers refuses the pair (FSDP already checkpoints every decoder layer). Set "
            "gradient_checkpointing: false in the params file (or fsdp_activation_checkpointing: false in the "
            "accelerate config); see docs/scale_out.md"
        )
