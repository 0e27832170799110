"""Instruction pairs of the second study: {system, user (context + question), assistant (answer)} per subject.

Up to `per_subject` pairs a subject, one per topic its chart fires (topics.py), drawn with
random.Random(f"{seed}:{subject_id}"): the same seed gives the same pairs on any machine, and a subject's pairs
do not move when other subjects are added. The split is by subject (cohort.mimic.cases.subject_split), so no
patient sits in two splits. Each pair keeps its must-have facts (answers.py) so that any answer to its prompt
can be scored without a person.
"""

from __future__ import annotations

import json
import logging
import os
import random
from collections.abc import Iterable
from pathlib import Path

from tqdm.auto import tqdm

from ..core.io import write_jsonl
from .answers import SYSTEM_PROMPT, render_answer
from .context import patient_context
from .scoring import check_must_have
from .topics import TopicSet, choose_topics

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
PAIR_KEYS = ("subject_id", "split", "topic", "messages", "must_have")
ROLES = ("system", "user", "assistant")


def user_content(context_text: str, question: str) -> str:
    return f"{context_text}\n\nQuestion: {question}"


def prompt_messages(context_text: str, question: str) -> list[dict]:
    """The prompt turns (system, user) that training and answering share; the answer is the assistant's turn."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": user_content(context_text, question)},
    ]


def subject_pairs(
    subject: dict,
    seed: int,
    per_subject: int = 3,
    drop: frozenset[str] = frozenset(),
    topic_set: TopicSet | None = None,
) -> list[dict]:
    """One subject's pairs (0 when its chart fires no topic)."""
    from ..cohort.mimic.cases import subject_split

    sid = int(subject["subject_id"])
    rng = random.Random(f"{seed}:{sid}")
    ctx = patient_context(subject, drop=drop)
    split = subject_split(sid, seed)
    out = []
    for topic in choose_topics(ctx.facts, rng, k=per_subject, topic_set=topic_set):
        question = rng.choice(topic.questions)
        answer, must_have = render_answer(topic, ctx.facts, rng)
        messages = [*prompt_messages(ctx.text, question), {"role": "assistant", "content": answer}]
        out.append({"subject_id": sid, "split": split, "topic": topic.id, "messages": messages, "must_have": must_have})
    return out


def build_pairs(
    subjects: Iterable[dict],
    seed: int,
    per_subject: int = 3,
    drop: frozenset[str] = frozenset(),
    topic_set: TopicSet | None = None,
    progress: bool = False,
) -> list[dict]:
    """Every subject's pairs, in the subjects' order (see module doc)."""
    if per_subject < 1:
        raise ValueError(f"per_subject must be at least 1, got {per_subject}")
    made, silent = [], 0
    for subject in tqdm(subjects, desc="chart Q&A pairs", unit="subject", disable=not progress, mininterval=15):
        rows = subject_pairs(subject, seed, per_subject, frozenset(drop), topic_set)
        silent += not rows
        made += rows
    if silent:
        log.info("%d subject(s) fire no topic (no medication class, code or procedure theme matched): no pairs", silent)
    return made


def write_pairs(path: str | os.PathLike, pairs: list[dict]) -> Path:
    """qa_pairs.jsonl, one pair a line, written atomically."""
    return write_jsonl(path, pairs)


def check_pair(pair, where: str) -> dict:
    """A pair as build_pairs makes it, or ValueError naming `where` and what is wrong."""
    if not isinstance(pair, dict):
        raise ValueError(f"{where}: expected a JSON object")
    for key in PAIR_KEYS:
        if key not in pair:
            raise ValueError(f"{where}: missing key {key!r}")
    if pair["split"] not in SPLITS:
        raise ValueError(f"{where}: split {pair['split']!r} is not one of {', '.join(SPLITS)}")
    msgs = pair["messages"]
    if not isinstance(msgs, list) or [m.get("role") if isinstance(m, dict) else None for m in msgs] != list(ROLES):
        raise ValueError(f"{where}: messages must be three turns with roles {', '.join(ROLES)}")
    for m in msgs:
        if not isinstance(m.get("content"), str) or not m["content"].strip():
            raise ValueError(f"{where}: the {m['role']} turn has no content")
    check_must_have(pair["must_have"], where)
    return pair


def read_pairs(path: str | os.PathLike) -> list[dict]:
    """The pairs of a qa_pairs.jsonl; a broken line stops with file:line and what is wrong."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no pairs file; build it with chartqa.pairs.build_pairs / write_pairs")
    out = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: invalid JSON ({e.msg})") from None
            out.append(check_pair(row, f"{path}:{n}"))
    return out
