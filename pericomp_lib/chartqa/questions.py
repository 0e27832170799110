"""The guidance set of the validation trials: patient questions with ideal answers, written by us.

Each entry {id, topic, question, ideal, must_have}: the ideal answer keeps the training answers' structure
(answers.py) and states the topic's urgent warning signs; its must-have facts are the structure's four parts and
those warning signs. Chart facts are not in the file: they depend on the subject a trial asks about, and
must_have_for adds the ones that hold for that subject's chart. The questions are phrased apart from the
training questions of topics.json, so the trials ask something training did not show verbatim.

The packaged file is pericomp_lib/data/chartqa_questions.json; a user's file in the same shape replaces it
(params key qa_questions). A broken entry stops with one line naming the file, the entry and the key.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from ..core.io import read_json
from .answers import chart_must_have
from .scoring import check_must_have
from .topics import TopicSet, load_topics

QUESTIONS_PATH = Path(str(resources.files("pericomp_lib") / "data" / "chartqa_questions.json"))
KEYS = ("id", "topic", "question", "ideal", "must_have")


class QuestionsError(ValueError):
    """A questions file that cannot be used; the message names the file, the entry and the key."""


def _check(entry, where: str, topic_set: TopicSet) -> dict:
    if not isinstance(entry, dict):
        raise QuestionsError(f"{where}: expected an object with keys {', '.join(KEYS)}")
    for key in KEYS:
        if key not in entry:
            raise QuestionsError(f"{where}: missing key {key!r}")
    for key in ("id", "topic", "question", "ideal"):
        if not isinstance(entry[key], str) or not entry[key].strip():
            raise QuestionsError(f"{where}: key {key!r} is empty")
    if entry["topic"] not in topic_set.topics:
        known = ", ".join(topic_set.topics)
        raise QuestionsError(f"{where}: key 'topic': {entry['topic']!r} is not a topic of {topic_set.path} ({known})")
    try:
        check_must_have(entry["must_have"], where)
    except ValueError as e:
        raise QuestionsError(str(e)) from None
    return {key: entry[key] for key in KEYS}


def load_questions(path: str | os.PathLike | None = None, topic_set: TopicSet | None = None) -> list[dict]:
    """The guidance questions (packaged file when path is None), validated; list of {id, topic, question,
    ideal, must_have} in file order."""
    path = Path(path or QUESTIONS_PATH)
    raw = read_json(path)
    if not isinstance(raw, list) or not raw:
        raise QuestionsError(f"{path}: expected a non-empty JSON list of questions")
    ts = topic_set or load_topics()
    out, seen = [], set()
    for i, entry in enumerate(raw):
        label = f"entry {i}" + (f" (id {entry['id']!r})" if isinstance(entry, dict) and entry.get("id") else "")
        q = _check(entry, f"{path}: {label}", ts)
        if q["id"] in seen:
            raise QuestionsError(f"{path}: {label}: key 'id': {q['id']!r} appears twice")
        seen.add(q["id"])
        out.append(q)
    return out


def must_have_for(question: dict, facts: dict, topic_set: TopicSet | None = None) -> list[dict]:
    """The question's must-have facts plus the chart facts of its topic that hold for this chart (facts from
    context.patient_context)."""
    ts = topic_set or load_topics()
    return [dict(f) for f in question["must_have"]] + chart_must_have(ts.topics[question["topic"]], facts)
