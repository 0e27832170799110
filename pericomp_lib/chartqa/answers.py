"""THE answer structure of the second study, shared by the training answers and the ideal answers.

The original study trained on lists of the chart's diagnoses and then validated against guidance that must
not name diseases, so its trials measured a task training never taught. Here one structure serves both:

    What you can try now:
    - ...
    When to seek urgent care:
    - ...
    What to track or share:
    - ...
    This is general guidance, not a diagnosis; contact your care team about your own situation.

No disease names (not the chart's diagnoses either): the guidance speaks of symptoms and medicines. Every
answer comes with its must-have facts, so it can be scored without a person (scoring.py): the four structure
parts, the topic's urgent warning signs, and the chart facts the answer uses ("you take an anticoagulant").
Wording varies by the seeded rng (a few phrasings per line) so a model learns the structure and the facts,
not one string; answers stay short (about 70-120 words) because a 135M model is trained on CPU.

A topic here is a topics.Topic (read duck-typed: this module imports no sibling, so topics and scoring can
use its constants without an import cycle).
"""

from __future__ import annotations

import random

HEADINGS = ("What you can try now:", "When to seek urgent care:", "What to track or share:")
DISCLAIMER = "This is general guidance, not a diagnosis; contact your care team about your own situation."
# Short (it is read before every question, ~45 tokens): the three headings, bullets, a closing disclaimer, no disease
SYSTEM_PROMPT = (
    "Answer the patient's question from the patient context in three sections: 'What you can try now:', "
    "'When to seek urgent care:', 'What to track or share:', with '- ' bullets, then a one-line disclaimer. "
    "Name no disease."
)
MAX_CHART_FACTS = 2  # chart facts said per answer (keeps answers short)


def section_must_have() -> list[dict]:
    """The structure's four parts as must-have facts (fresh dicts: callers may extend the list)."""
    rows = [{"kind": "section", "fact": h.rstrip(":"), "match": [h.rstrip(":")]} for h in HEADINGS]
    rows.append({"kind": "section", "fact": "closing disclaimer", "match": ["general guidance, not a diagnosis"]})
    return rows


def warning_must_have(topic) -> list[dict]:
    """The topic's urgent warning signs as must-have facts."""
    return [{"kind": "warning", "fact": w.fact, "match": list(w.match)} for w in topic.urgent]


def chart_must_have(topic, facts: dict) -> list[dict]:
    """The topic's chart facts that hold for this chart (at most MAX_CHART_FACTS, in the topic's order)."""
    return [{"kind": "chart", "fact": c.fact, "match": list(c.match)} for c in topic.chart_facts_for(facts)]


def format_answer(try_now: list[str], urgent: list[str], track: list[str]) -> str:
    """The structure around three lists of bullet texts."""
    lines: list[str] = []
    for heading, items in zip(HEADINGS, (try_now, urgent, track)):
        lines.append(heading)
        lines += [f"- {item}" for item in items]
    lines.append(DISCLAIMER)
    return "\n".join(lines)


def render_answer(topic, facts: dict, rng: random.Random) -> tuple[str, list[dict]]:
    """(answer text, must_have) for one topic and one chart.

    The chart facts that hold open "What you can try now" (one or two), then one self-care line; every urgent
    warning sign, in the topic's order; one line of what to track. Each line's phrasing is drawn by rng (short
    answers, ~100 words: a 135M model trains and answers on 2 CPU cores).
    """
    chart = topic.chart_facts_for(facts)
    said_chart = [rng.choice(c.say) for c in chart]
    try_now = [rng.choice(line) for line in rng.sample(list(topic.try_now), min(1, len(topic.try_now)))]
    urgent = list(topic.urgent)  # in the topic's order: a small model learns one order from few examples
    track = [rng.choice(line) for line in rng.sample(list(topic.track), min(1, len(topic.track)))]
    text = format_answer(said_chart + try_now, [rng.choice(w.say) for w in urgent], track)
    must_have = section_must_have() + warning_must_have(topic) + chart_must_have(topic, facts)
    return text, must_have
