"""Per-answer scores of the second study, computed without a person (pure functions).

Must-have recall (K-QA style): the share of an answer's must-have facts that the answer states. The lexical rule:

1. Normalise: lower-case; curly apostrophes made straight; "won't" -> "will not", "can't" -> "can not",
   "n't" -> " not"; every run of characters other than a-z and 0-9 becomes one space.
2. Split the answer into sentences: at line breaks, and at . ! ? ; followed by a space (so "38.5" stays whole).
3. Fold each word: drop one suffix of "ing", "ed", "es", "s", "e" (the first that fits and leaves at least 3
   letters), then undouble a final doubled consonant other than l, s, z ("hitting" -> "hit", "bleeding" ->
   "bleed", "stools" -> "stool", "increases"/"increased"/"increase" -> "increas").
4. A match alternative's content words are its folded words less STOPWORDS ("not" and "no" are content).
5. A fact is stated when, for one of its `match` alternatives, all of that alternative's content words appear
   in one sentence of the answer (in any order).

chart_fact_recall is the same restricted to kind "chart" (nan when the list has none: not applicable).
rouge_l is ROUGE-L F against the ideal answer (package rouge-score, its Porter stemmer on).
section_adherence is 1 when the three headings each appear once, on their own line, in order, each followed by
at least one bullet line (-, *, •, or "1." / "1)"), and the disclaimer comes after the last heading; else 0.
names_disease is True when the answer contains (as a run of folded words) a term of the packaged list
pericomp_lib/data/chartqa_disease_terms.txt or a key term of the chart's diagnosis titles (diagnosis_terms).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path

from .answers import DISCLAIMER, HEADINGS

TERMS_PATH = Path(str(resources.files("pericomp_lib") / "data" / "chartqa_disease_terms.txt"))
KINDS = ("section", "warning", "chart")


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS = _wordset(
    "a an the and or of to in on at by for from with as is are be been being it its this that these those "
    "you your yours i me my we our us they them their he she his her what when which who will would should "
    "can could may might do does did if so than then there about into any some"
)
_CONTRACTIONS = (
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"\bcan't\b"), "can not"),
    (re.compile(r"n't\b"), " not"),
)
_NON_WORD = re.compile(r"[^a-z0-9]+")
_SENTENCE = re.compile(r"\n|(?<=[.!?;])\s+")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+\S")
_DOUBLE = re.compile(r"([b-df-hj-km-rtv-y])\1$")  # a doubled final consonant, except l, s, z


def normalize(text: str) -> str:
    """Rule steps 1: lower-case, contractions unfolded, punctuation to single spaces."""
    text = str(text).lower().replace("\u2019", "'").replace("\u2018", "'")
    for pattern, repl in _CONTRACTIONS:
        text = pattern.sub(repl, text)
    return _NON_WORD.sub(" ", text).strip()


def fold(word: str) -> str:
    """Rule step 3: the simple plural/stem folding."""
    for suffix in ("ing", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            return stem[:-1] if suffix in ("ing", "ed") and _DOUBLE.search(stem) else stem
    return word


def words(text: str) -> list[str]:
    """The folded words of a text, in order."""
    return [fold(w) for w in normalize(text).split()]


def content_words(text: str) -> frozenset[str]:
    """Rule step 4: the folded words of a match alternative, less the stopwords."""
    return frozenset(fold(w) for w in normalize(text).split() if w not in STOPWORDS)


def sentences(answer: str) -> list[frozenset[str]]:
    """Rule step 2: the answer's sentences, each as its set of folded words."""
    return [frozenset(words(s)) for s in _SENTENCE.split(str(answer or "")) if s.strip()]


def check_must_have(entries, where: str) -> None:
    """A must-have list as scoring needs it, or ValueError naming `where` (file:line or file: entry) and the fault."""
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{where}: must_have must be a non-empty list of {{kind, fact, match}}")
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise ValueError(f"{where}: must_have[{i}] is not an object")
        for key in ("kind", "fact", "match"):
            if key not in e:
                raise ValueError(f"{where}: must_have[{i}] lacks key {key!r}")
        if e["kind"] not in KINDS:
            raise ValueError(f"{where}: must_have[{i}] kind {e['kind']!r} is not one of {', '.join(KINDS)}")
        if not isinstance(e["fact"], str) or not e["fact"].strip():
            raise ValueError(f"{where}: must_have[{i}] fact is empty")
        if not isinstance(e["match"], list) or not e["match"]:
            raise ValueError(f"{where}: must_have[{i}] ({e['fact']!r}) match must be a non-empty list of strings")
        for alt in e["match"]:
            if not isinstance(alt, str) or not content_words(alt):
                raise ValueError(f"{where}: must_have[{i}] ({e['fact']!r}) match {alt!r} has no content word")


def stated(answer: str, fact: dict, _sentences: list[frozenset[str]] | None = None) -> bool:
    """Rule step 5: does the answer state this must-have fact?"""
    sents = sentences(answer) if _sentences is None else _sentences
    for alt in fact["match"]:
        need = content_words(alt)
        if not need:
            raise ValueError(f"must-have {fact.get('fact')!r}: match alternative {alt!r} has no content word")
        if any(need <= s for s in sents):
            return True
    return False


def missing_facts(answer: str, must_have: Iterable[dict]) -> list[str]:
    """The must-have facts the answer does not state (their `fact` texts), in list order."""
    sents = sentences(answer)
    return [f["fact"] for f in must_have if not stated(answer, f, sents)]


def _recall(answer: str, facts: list[dict]) -> float:
    sents = sentences(answer)
    return sum(stated(answer, f, sents) for f in facts) / len(facts)


def must_have_recall(answer: str, must_have: list[dict]) -> float:
    """Share of the must-have facts the answer states (0..1); an empty list is a caller's mistake."""
    if not must_have:
        raise ValueError("must_have is empty: every answer has at least the structure's four parts")
    return _recall(answer, list(must_have))


def kind_recall(answer: str, must_have: list[dict], kind: str) -> float:
    """must_have_recall over the facts of one kind; nan when the list has none of that kind."""
    facts = [f for f in must_have if f["kind"] == kind]
    return _recall(answer, facts) if facts else math.nan


def chart_fact_recall(answer: str, must_have: list[dict]) -> float:
    """Share of the chart facts stated; nan when the must-have list has no chart fact (not applicable)."""
    return kind_recall(answer, must_have, "chart")


def warning_recall(answer: str, must_have: list[dict]) -> float:
    """Share of the urgent warning signs stated; nan when there are none."""
    return kind_recall(answer, must_have, "warning")


@cache
def _rouge():
    import logging

    from rouge_score import rouge_scorer

    # rouge-score logs through the root logger's module functions, which attach a stderr handler to the root
    # logger of the process (every library line then prints twice in a notebook): take back what it added
    root = logging.getLogger()
    before = list(root.handlers)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    scorer.score("a", "a")
    for handler in [h for h in root.handlers if h not in before]:
        root.removeHandler(handler)
    return scorer


def rouge_l(answer: str, ideal: str) -> float:
    """ROUGE-L F-measure of the answer against the ideal answer (0..1)."""
    return float(_rouge().score(str(ideal or ""), str(answer or ""))["rougeL"].fmeasure)


def _same_line(line: str, target: str) -> bool:
    return normalize(line) == normalize(target)


def section_problems(answer: str) -> list[str]:
    """What breaks the structure (empty when the answer keeps it): headings, bullets, disclaimer."""
    lines = [ln for ln in str(answer or "").splitlines() if ln.strip()]
    problems = []
    at = []
    for h in HEADINGS:
        hits = [i for i, ln in enumerate(lines) if _same_line(ln, h)]
        if not hits:
            problems.append(f"heading {h!r} missing")
        elif len(hits) > 1:
            problems.append(f"heading {h!r} appears {len(hits)} times")
        at.append(hits[0] if hits else None)
    if problems:
        return problems
    if at != sorted(at):
        return ["headings out of order: " + " / ".join(h for _, h in sorted(zip(at, HEADINGS)))]
    bounds = [*at, len(lines)]
    for h, start, end in zip(HEADINGS, bounds, bounds[1:]):
        if not any(_BULLET.match(ln) for ln in lines[start + 1 : end]):
            problems.append(f"no bullet under {h!r}")
    disclaimer = normalize(DISCLAIMER)
    if not any(disclaimer in normalize(ln) for ln in lines[at[-1] + 1 :]):
        problems.append("closing disclaimer missing after the last section")
    return problems


def section_adherence(answer: str) -> float:
    """1.0 when the answer keeps the structure (section_problems is empty), else 0.0."""
    return 0.0 if section_problems(answer) else 1.0


# ------------------------------------------------------------------------------------------- diseases
# Words that name symptoms, body parts or everyday things: a diagnosis title made only of these ("Chronic pain",
# "Constipation, unspecified") is not a key term, since the guidance must be free to speak of symptoms.
GENERIC = _wordset(
    "pain ache bleeding bleed swelling fever weakness tiredness fatigue nausea vomiting dizziness fall falls injury "
    "wound breath breathing shortness cough confusion constipation diarrhea diarrhoea kidney kidneys heart lung "
    "lungs blood pressure sugar skin chest leg legs head urine stool stools infection sore rash care complication "
    "complications disorder disorders condition problem disease failure low high abnormal body site organ state "
    "status history use long term acute chronic"
)
QUALIFIERS = _wordset(
    "unspecified other specified acute chronic essential primary secondary initial subsequent encounter type "
    "mild moderate severe unsp nos nec"
)
DISEASE_SUFFIXES = ("itis", "osis", "emia", "aemia", "oma", "pathy", "plegia", "penia", "ectasis", "iasis")
_HEAD_CUT = re.compile(r",|;| with | without | due to | in | not elsewhere ")
_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]")


def _skip_code(code: str, version: int) -> bool:
    """Symptom, external-cause and health-status chapters: their titles are not diseases (R, V-Z; 780-799, V, E)."""
    code = str(code).upper()
    if int(version) == 10:
        return code[:1] in "RVWXYZ"
    return code[:1] in "VE" or (code[:3].isdigit() and 780 <= int(code[:3]) <= 799)


def title_terms(title: str) -> list[str]:
    """Key terms of one diagnosis title: its head phrase (brackets removed, then the text before the first comma,
    'with', 'without', 'due to', 'in'; qualifiers such as 'unspecified', 'acute' and digits removed) unless every
    word of it is GENERIC; plus each word of the title with a disease suffix (-itis, -osis, -emia, -oma, ...)."""
    low = f" {_BRACKETS.sub(' ', str(title).lower())} "
    head = [w for w in normalize(_HEAD_CUT.split(low)[0]).split() if w not in QUALIFIERS and not w.isdigit()]
    while head and head[0] in STOPWORDS:
        head.pop(0)
    while head and head[-1] in STOPWORDS:
        head.pop()
    terms = [" ".join(head)] if head and not all(w in GENERIC or w in STOPWORDS for w in head) else []
    terms += [w for w in normalize(low).split() if len(w) > 5 and w.endswith(DISEASE_SUFFIXES)]
    return list(dict.fromkeys(terms))


def diagnosis_terms(subject: dict) -> list[str]:
    """Key terms of every diagnosis title of the subject's admissions (symptom chapters left out)."""
    out: list[str] = []
    for adm in subject.get("admissions") or []:
        for d in adm.get("diagnoses") or []:
            if d.get("title") and not _skip_code(d.get("icd_code", ""), d.get("icd_version", 10)):
                out += title_terms(d["title"])
    return list(dict.fromkeys(out))


@cache
def packaged_terms(path: str | None = None) -> tuple[str, ...]:
    """The packaged disease-term list (one term a line; '#' starts a comment)."""
    from ..core.io import read_text

    text = read_text(path or TERMS_PATH)
    return tuple(t for t in (ln.split("#")[0].strip().lower() for ln in text.splitlines()) if t)


def disease_terms(subject_or_terms: dict | Iterable[str] | None = None) -> list[str]:
    """The packaged list plus the chart's diagnosis terms (a subject dict) or the given terms (strings)."""
    if subject_or_terms is None:
        extra: list[str] = []
    elif isinstance(subject_or_terms, dict):
        extra = diagnosis_terms(subject_or_terms)
    elif isinstance(subject_or_terms, str):
        extra = [subject_or_terms]
    else:
        extra = list(subject_or_terms)
    return list(dict.fromkeys([*packaged_terms(), *(t.lower() for t in extra)]))


def disease_mentions(answer: str, subject_or_terms: dict | Iterable[str] | None = None) -> list[str]:
    """The disease terms the answer names (each term's folded words appear as a run in the answer)."""
    text = f" {' '.join(words(answer))} "
    found = []
    for term in disease_terms(subject_or_terms):
        folded = " ".join(words(term))
        if folded and f" {folded} " in text:
            found.append(term)
    return found


def names_disease(answer: str, subject_or_terms: dict | Iterable[str] | None = None) -> bool:
    """True when the answer names a disease: a packaged term or a key term of the chart's diagnosis titles."""
    return bool(disease_mentions(answer, subject_or_terms))
