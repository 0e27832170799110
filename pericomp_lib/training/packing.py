"""Token rows for SFT: one example per row, or one case per row (packed targeted training).

Targeted prompts repeat the record 22 times. In the shared_prefix layout all 22 prompts of a case start
with the same head (instructions + record), so one row can hold head + 22 (question, answer) blocks.
A block attention mask lets each block see the head and itself only, and position ids restart after
the head for every block, so each answer's loss and gradient equal those of its unpacked example
(tests/test_packing.py checks it) while the record is read once instead of 22 times.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

IGNORE = -100  # label of tokens that carry no loss (prompt, padding)


@dataclass
class TokenizedExample:
    case_id: str
    complication: str | None
    head: list[int]  # chat head; in shared_prefix the part shared by a case's questions
    tail: list[int]  # the question part (empty for the paper layout)
    answer: list[int]  # completion + end-of-turn: the only tokens with loss
    weights: tuple[float, ...] | None = None  # loss weight per answer token (params *_weight); None: 1

    def __len__(self) -> int:
        return len(self.head) + len(self.tail) + len(self.answer)


def unpacked_row(ex: TokenizedExample) -> dict[str, Any]:
    """head + tail + answer; loss on the answer only."""
    prompt = ex.head + ex.tail
    ids = prompt + ex.answer
    row = {
        "input_ids": ids,
        "labels": [IGNORE] * len(prompt) + list(ex.answer),
        "position_ids": list(range(len(ids))),
        "segments": [0] * len(ids),
        "n_examples": 1,
    }
    if ex.weights is not None:
        row["weights"] = [0.0] * len(prompt) + list(ex.weights)
    return row


def packed_rows(examples: Sequence[TokenizedExample], max_len: int) -> list[dict[str, Any]]:
    """Group examples sharing (case_id, head) into rows head + blocks; a row that would pass max_len
    starts a new row with the head again. `segments`: 0 for the head, k for block k."""
    groups: dict[tuple, list[TokenizedExample]] = {}
    for ex in examples:
        groups.setdefault((ex.case_id, tuple(ex.head)), []).append(ex)
    rows: list[dict[str, Any]] = []
    for (_, head), members in groups.items():
        row = None
        for ex in members:
            block = ex.tail + ex.answer
            if row is None or len(row["input_ids"]) + len(block) > max_len:
                row = {
                    "input_ids": list(head),
                    "labels": [IGNORE] * len(head),
                    "position_ids": list(range(len(head))),
                    "segments": [0] * len(head),
                    "n_examples": 0,
                }
                if ex.weights is not None:
                    row["weights"] = [0.0] * len(head)
                rows.append(row)
            k = row["n_examples"] + 1
            row["input_ids"] += block
            row["labels"] += [IGNORE] * len(ex.tail) + list(ex.answer)
            row["position_ids"] += list(range(len(head), len(head) + len(block)))
            row["segments"] += [k] * len(block)
            if ex.weights is not None:
                row["weights"] += [0.0] * len(ex.tail) + list(ex.weights)
            row["n_examples"] = k
    return rows


def block_mask(segments, dtype=None):
    """(B, 1, L, L) additive mask from segment ids (B, L): a query sees earlier keys of the head
    (segment 0) and of its own segment; padding (segment -1) sees only itself, so no row is empty."""
    import torch

    dtype = dtype or torch.float32
    seg = segments
    L = seg.shape[1]
    causal = torch.ones(L, L, dtype=torch.bool, device=seg.device).tril()
    q, k = seg[:, :, None], seg[:, None, :]
    allowed = causal & (((k == 0) & (q >= 0)) | ((k == q) & (q > 0)))
    allowed |= torch.eye(L, dtype=torch.bool, device=seg.device)[None] & (q == -1)
    mask = torch.zeros(allowed.shape, dtype=dtype, device=seg.device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[:, None]


class Collator:
    """Right-pads rows into a batch; packed rows get the 4D block mask, plain rows a 2D mask.

    Also `logits_to_keep` (positions whose next token is an answer token) and `shift_labels` (those
    next tokens): the vocabulary projection then runs on ~2% of an 8k-token row instead of all of it
    (see answer_loss). `n_tokens` (real tokens per row) feeds the tokens/s count; `labels` stays for
    the trainer's token count; `rows`, the rows' ids where they have one. Pop `labels`, `shift_labels`, `rows`
    and `n_tokens` before the forward pass.
    """

    def __init__(self, pad_id: int, mask_dtype=None):
        self.pad_id = pad_id
        self.mask_dtype = mask_dtype

    def __call__(self, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
        import torch

        rows = list(rows)
        L = max(len(r["input_ids"]) for r in rows)
        packed = any(r["n_examples"] > 1 for r in rows)

        def pad(key, value):
            return torch.tensor([r[key] + [value] * (L - len(r[key])) for r in rows], dtype=torch.long)

        batch = {
            "input_ids": pad("input_ids", self.pad_id),
            "labels": pad("labels", IGNORE),
            "position_ids": pad("position_ids", 0),
        }
        segments = pad("segments", -1)
        if packed:
            batch["attention_mask"] = block_mask(segments, self.mask_dtype)
        else:
            batch["attention_mask"] = (segments >= 0).long()
        targets = batch["labels"][:, 1:]
        keep = (targets != IGNORE).any(0).nonzero()[:, 0]
        batch["logits_to_keep"] = keep
        batch["shift_labels"] = targets[:, keep]
        if all("weights" in r for r in rows):  # examples with loss weights (params *_weight)
            padded = torch.tensor([r["weights"] + [0.0] * (L - len(r["weights"])) for r in rows], dtype=torch.float32)
            batch["shift_weights"] = padded[:, 1:][:, keep]
        if all("row" in r for r in rows):  # which row each is (frozen_record caches per row)
            batch["rows"] = torch.tensor([r["row"] for r in rows])
        batch["n_tokens"] = torch.tensor([len(r["input_ids"]) for r in rows])
        return batch


MODEL_KEYS = ("input_ids", "attention_mask", "position_ids", "logits_to_keep")


def answer_loss(model, batch: dict[str, Any]):
    """(summed cross-entropy over answer tokens, number of answer tokens, model output), logits computed only
    where an answer token is predicted. Equals the usual causal-LM loss with prompt labels set to -100."""
    out = model(**{k: batch[k] for k in MODEL_KEYS if k in batch})
    loss, n = token_loss(out.logits, batch)
    return loss, n, out


def token_loss(logits, batch: dict[str, Any]):
    """(summed, weighted cross-entropy of `logits` against batch["shift_labels"], number of answer tokens)."""
    import torch.nn.functional as F

    targets = batch["shift_labels"].to(logits.device)
    logits = logits.float()
    weights = batch.get("shift_weights")  # params *_weight: a loss weight per answer token
    loss = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=IGNORE,
        reduction="sum" if weights is None else "none",
    )
    if weights is not None:
        loss = (loss * weights.reshape(-1).to(loss.device)).sum()
    return loss, int((targets != IGNORE).sum())
