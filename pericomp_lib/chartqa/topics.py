"""Topic bundles: which question a chart invites, and what its answer must say.

A topic (pericomp_lib/data/chartqa_topics.json) fires for a subject when a trigger matches the chart: a
medication class (bleeding for an anticoagulated patient, glycaemia for insulin), a diagnosis code prefix, or a
procedure theme (wound care after an operation). Topics are chosen from the chart rather than at random so
that every training answer can say a chart fact the context really shows; its warning signs are the must-have
facts the scoring checks. Procedure themes are defined in the same file (code prefixes, title words, or
"surgical": the cohort's operation rule).
"""

from __future__ import annotations

import logging
import os
import random
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from ..core.io import read_json
from .scoring import check_must_have

log = logging.getLogger(__name__)

TOPICS_PATH = Path(str(resources.files("pericomp_lib") / "data" / "chartqa_topics.json"))
TOPIC_KEYS = ("id", "title", "triggers", "questions", "try_now", "urgent", "track", "chart_facts")
TRIGGER_KEYS = ("med_classes", "icd_prefixes", "procedure_themes")
WHEN_KEYS = ("med_classes", "diagnoses", "procedure_themes")


@dataclass(frozen=True)
class Said:
    """A fact an answer says: its name, the lexical match alternatives (scoring.py), and its phrasings."""

    fact: str
    match: tuple[str, ...]
    say: tuple[str, ...]


@dataclass(frozen=True)
class ChartFact(Said):
    when: tuple[str, tuple[str, ...] | bool] = ("med_classes", ())  # (key of WHEN_KEYS, its value)


@dataclass(frozen=True)
class Topic:
    id: str
    title: str
    med_classes: tuple[str, ...]
    icd_prefixes: dict  # {9: (prefix, ...), 10: (...)}
    procedure_themes: tuple[str, ...]
    questions: tuple[str, ...]
    try_now: tuple[tuple[str, ...], ...]  # lines, each a tuple of phrasings
    urgent: tuple[Said, ...]
    track: tuple[tuple[str, ...], ...]
    chart_facts: tuple[ChartFact, ...]

    def diagnosis_hits(self, facts: dict) -> list[str]:
        """The chart's diagnosis codes ("10:E119") that start with one of the topic's prefixes."""
        out = []
        for vc in facts.get("diagnosis_codes") or []:
            version, _, code = str(vc).partition(":")
            if any(code.upper().startswith(p) for p in self.icd_prefixes.get(int(version), ())):
                out.append(vc)
        return out

    def triggers(self, facts: dict) -> dict:
        """What of the chart fires this topic: {med_classes, diagnosis_codes, procedure_themes} (empty: no)."""
        hits = {
            "med_classes": sorted(set(self.med_classes) & set(facts.get("med_classes") or [])),
            "diagnosis_codes": self.diagnosis_hits(facts),
            "procedure_themes": sorted(set(self.procedure_themes) & set(facts.get("procedure_themes") or [])),
        }
        return {k: v for k, v in hits.items() if v}

    def chart_facts_for(self, facts: dict, limit: int = 2) -> list[ChartFact]:
        """The chart facts that hold for this chart, in the topic's order, at most `limit`."""
        out = []
        for c in self.chart_facts:
            key, value = c.when
            if key == "diagnoses":
                holds = bool(self.diagnosis_hits(facts))
            else:
                holds = bool(set(value) & set(facts.get(key) or []))
            if holds:
                out.append(c)
        return out[:limit]


class TopicsError(ValueError):
    """A topics file that cannot be used; the message names the file, the topic and the key."""


def _strings(value, where: str, key: str, min_n: int = 1) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) < min_n or not all(isinstance(s, str) and s.strip() for s in value):
        raise TopicsError(f"{where}: {key!r} must be a list of at least {min_n} non-empty strings")
    return tuple(value)


def _said(entry, where: str, key: str, i: int, chart: bool = False) -> Said:
    here = f"{where} {key}[{i}]"
    if not isinstance(entry, dict):
        raise TopicsError(f"{here}: must be an object with fact, match, say")
    for k in ("fact", "match", "say", *(("when",) if chart else ())):
        if k not in entry:
            raise TopicsError(f"{here}: missing key {k!r}")
    try:
        kind = "chart" if chart else "warning"
        check_must_have([{"kind": kind, "fact": entry["fact"], "match": entry["match"]}], here)
    except ValueError as e:
        raise TopicsError(str(e)) from None
    fields = dict(fact=entry["fact"], match=tuple(entry["match"]), say=_strings(entry["say"], here, "say"))
    if not chart:
        return Said(**fields)
    when = entry["when"]
    if not isinstance(when, dict) or len(when) != 1 or next(iter(when)) not in WHEN_KEYS:
        raise TopicsError(f"{here}: 'when' must be one of {{{', '.join(WHEN_KEYS)}}}: value")
    wkey, wval = next(iter(when.items()))
    if wkey == "diagnoses":
        if wval is not True:
            raise TopicsError(f"{here}: 'when': {{'diagnoses': true}} is the only diagnosis condition")
        return ChartFact(**fields, when=(wkey, True))
    return ChartFact(**fields, when=(wkey, _strings(wval, here, f"when.{wkey}")))


def _lines(value, where: str, key: str) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list) or not value:
        raise TopicsError(f"{where}: {key!r} must be a non-empty list of lines (each a list of phrasings)")
    return tuple(_strings(line, where, f"{key}[{i}]") for i, line in enumerate(value))


def _topic(raw, where: str) -> Topic:
    if not isinstance(raw, dict):
        raise TopicsError(f"{where}: must be an object")
    for key in TOPIC_KEYS:
        if key not in raw:
            raise TopicsError(f"{where}: missing key {key!r}")
    if not isinstance(raw["id"], str) or not re.fullmatch(r"[a-z][a-z0-9_]*", raw["id"]):
        raise TopicsError(f"{where}: id {raw['id']!r} must be a lower-case identifier such as 'bleeding'")
    where = f"{where} ({raw['id']})"
    trig = raw["triggers"]
    if not isinstance(trig, dict) or not trig or set(trig) - set(TRIGGER_KEYS):
        raise TopicsError(f"{where}: 'triggers' must hold some of {', '.join(TRIGGER_KEYS)}")
    icd = trig.get("icd_prefixes") or {}
    if set(icd) - {"9", "10"}:
        raise TopicsError(f'{where}: triggers.icd_prefixes keys must be "9" and/or "10"')
    return Topic(
        id=raw["id"],
        title=raw["title"],
        med_classes=tuple(trig.get("med_classes") or ()),
        icd_prefixes=_prefixes(icd),
        procedure_themes=tuple(trig.get("procedure_themes") or ()),
        questions=_strings(raw["questions"], where, "questions", min_n=3),
        try_now=_lines(raw["try_now"], where, "try_now"),
        urgent=tuple(_said(w, where, "urgent", i) for i, w in enumerate(_entries(raw["urgent"], where, "urgent"))),
        track=_lines(raw["track"], where, "track"),
        chart_facts=tuple(
            _said(c, where, "chart_facts", i, chart=True)
            for i, c in enumerate(_entries(raw["chart_facts"], where, "chart_facts"))
        ),
    )


def _prefixes(raw) -> dict[int, tuple[str, ...]]:
    """{"9": ["250"], "10": ["E11"]} -> {9: ("250",), 10: ("E11",)}"""
    return {int(v): tuple(str(p).upper() for p in ps) for v, ps in (raw or {}).items()}


def _entries(value, where: str, key: str) -> list:
    if not isinstance(value, list) or not value:
        raise TopicsError(f"{where}: {key!r} must be a non-empty list")
    return value


@dataclass(frozen=True)
class TopicSet:
    topics: dict  # id -> Topic, in file order
    themes: dict  # procedure theme id -> {surgical, icd_prefixes {9: (...), 10: (...)}, title_words}
    path: Path


def load_topics(path: str | os.PathLike | None = None) -> TopicSet:
    """The topics file (packaged by default), validated and read once per process; errors name the file, the
    topic and the key."""
    return _load(str(Path(path or TOPICS_PATH).resolve()))


@cache
def _load(path: str) -> TopicSet:
    raw = read_json(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("topics"), list) or not raw["topics"]:
        raise TopicsError(f"{path}: expected an object with a non-empty 'topics' list")
    themes = {}
    for tid, spec in (raw.get("procedure_themes") or {}).items():
        themes[tid] = {
            "surgical": bool(spec.get("surgical")),
            "icd_prefixes": _prefixes(spec.get("icd_prefixes")),
            "title_words": tuple(w.lower() for w in spec.get("title_words") or ()),
        }
    topics: dict[str, Topic] = {}
    for i, entry in enumerate(raw["topics"]):
        t = _topic(entry, f"{path}: topics[{i}]")
        if t.id in topics:
            raise TopicsError(f"{path}: topics[{i}]: id {t.id!r} appears twice")
        unknown = set(t.procedure_themes) - set(themes)
        unknown |= {v for c in t.chart_facts if c.when[0] == "procedure_themes" for v in c.when[1]} - set(themes)
        if unknown:
            raise TopicsError(f"{path}: topics[{i}] ({t.id}): procedure theme(s) {sorted(unknown)} not defined")
        topics[t.id] = t
    return TopicSet(topics, themes, Path(path))


def procedure_themes(procedures: list[dict], topic_set: TopicSet | None = None) -> list[str]:
    """Sorted theme ids of a list of procedure rows ({icd_code, icd_version, title})."""
    from ..cohort.mimic.icd import is_surgical

    ts = topic_set or load_topics()
    found = set()
    for p in procedures:
        code, version = str(p.get("icd_code") or "").upper(), int(p.get("icd_version") or 10)
        title = f" {str(p.get('title') or '').lower()} "
        for tid, spec in ts.themes.items():
            if (
                (spec["surgical"] and code and is_surgical(code, version))
                or any(code.startswith(px) for px in spec["icd_prefixes"].get(version, ()))
                or any(re.search(rf"\b{re.escape(w)}\b", title) for w in spec["title_words"])
            ):
                found.add(tid)
    return sorted(found)


def matching_topics(facts: dict, topic_set: TopicSet | None = None) -> list[Topic]:
    """Every topic a chart fires, in file order."""
    ts = topic_set or load_topics()
    return [t for t in ts.topics.values() if t.triggers(facts)]


def choose_topics(facts: dict, rng: random.Random, k: int = 3, topic_set: TopicSet | None = None) -> list[Topic]:
    """Up to k distinct topics the chart fires, drawn by rng (seed-deterministic), in file order."""
    hits = matching_topics(facts, topic_set)
    if len(hits) <= k:
        return hits
    chosen = set(rng.sample(range(len(hits)), k))
    return [t for i, t in enumerate(hits) if i in chosen]
