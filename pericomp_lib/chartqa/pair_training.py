"""QLoRA on the chart's instruction pairs (stage 03b), through the project's TRL path (training.finetune).

Each pair is a conversation {system, user (context + question), assistant (answer)}; train_inputs renders the
turns before the answer with the model's chat template and puts the loss on the assistant turn only.
"""

from __future__ import annotations

import os
from pathlib import Path

from . import pairs
from .pair_set import PAIRS


def pair_examples(path: str | os.PathLike, split: str = "train") -> list[dict]:
    """The pairs of one split as training examples ({case_id: subject, messages})."""
    rows = pairs.read_pairs(path)
    out = [{"case_id": str(p["subject_id"]), "messages": p["messages"]} for p in rows if p["split"] == split]
    if not out:
        raise ValueError(f"{path}: no pairs in split {split!r}; build them with notebooks/02b_qa_pairs")
    return out


def train_pairs(params: dict, run_dir: str | os.PathLike) -> dict:
    """adapter/, train_log.jsonl, train_summary.json in run_dir from its qa_pairs.jsonl (train split)."""
    from ..training.finetune import train_examples

    run_dir = Path(run_dir)
    return train_examples(params, pair_examples(run_dir / PAIRS), run_dir)
