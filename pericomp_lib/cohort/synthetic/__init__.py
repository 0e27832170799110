"""Bilingual synthetic perioperative cohort: simulate a course, derive gold by the definitions, write it.

Why synthetic: the authors' 146 + 52 records are not public (one example is), yet every stage of the
pipeline needs records with known answers. The label mix follows the published gold standards
(`label_mix`), traps follow the paper's error analysis (`traps.TRAPS`), gold comes from `criteria`.
Same seed -> byte-identical cohort; English and Chinese records of one seed describe the same facts.
`record_length="compact"` writes ~5x shorter records of the same course (same gold, see `compact`).
"""

from __future__ import annotations

import random

from ...core.records import Case, GoldLabel
from . import criteria, label_mix
from .compact import RECORD_LENGTHS, check_record_length
from .course import simulate
from .facts import Course
from .phrases import HISTORY
from .record_layout import RECORD
from .traps import MIMICS, TRAPS, TWINS
from .writer import render

__all__ = [
    "generate_cohort",
    "generate_case",
    "add_twins",
    "twin_case",
    "TWINS",
    "check_record_length",
    "TRAPS",
    "RECORD_LENGTHS",
    "criteria",
    "label_mix",
]

CENTER_IDS = {"synthetic-a": "syn-a", "synthetic-b": "syn-b"}
VAL_SHARE = 46 / 146  # the paper: 100 train / 46 validation cases from center 1


def _trap_evidence(course: Course, fragments: dict[int, str]) -> dict[str, list[str]]:
    """{complication: fragments of the record a trap laid for it}: the look-alike facts a rationale quotes
    to say why the label is absent. Values a trap set (a troponin, a fever) come first, then what it added, unless
    the trap is in traps.QUOTES_ADDED_FIRST (its added line is what a positive of the mimic quotes)."""
    out: dict[str, list[str]] = {}
    for cids, added, values in course.trap_marks:
        shown = [
            fragments[id(f)]
            for day, key in values
            for f in course.findings
            if f.day == day
            and ((f.kind == "lab" and f.code == key) or (f.kind == "vitals" and key in f.data))
            and id(f) in fragments
        ]
        shown += [fragments[id(f)] for f in added if id(f) in fragments]
        for cid in cids:
            out.setdefault(cid, []).extend(shown)
    return {cid: list(dict.fromkeys(v)) for cid, v in sorted(out.items()) if v}


def _negative_evidence(
    course: Course, derived: dict, fragments: dict[int, str], trap_evidence: dict[str, list[str]], language: str
) -> dict[str, list[str]]:
    """{absent complication: fragments that show why}: the finding its rule read and rejected
    (criteria.counter_evidence; renal insufficiency for a raised troponin) first, then a trap's look-alikes;
    what a `negative_quote: decisive` answer quotes."""
    out = {
        cid: [fragments[id(f)] for f in found if id(f) in fragments]
        for cid, found in criteria.counter_evidence(course, derived).items()
    }
    peak = max(course.labs("tnt", (0, 30)), key=lambda f: f.value, default=None)
    if "ckd" in course.history and "myocardial_injury" not in derived and peak and peak.value >= criteria.TNT_INJURY:
        out["myocardial_injury"] = [HISTORY["ckd"][language == "zh"], *out.get("myocardial_injury", [])]
    for cid, quotes in trap_evidence.items():
        out[cid] = list(dict.fromkeys(out.get(cid, []) + quotes))
    return {cid: v for cid, v in sorted(out.items()) if v}


def _quotes(findings, fragments: dict[int, str]) -> list[str]:
    """The record's fragments of these findings, in order, once each (those the record shows)."""
    return list(dict.fromkeys(fragments[id(f)] for f in findings if id(f) in fragments))


def _case(
    course: Course, case_id: str, center: str, split: str, language: str, seed_key: str, record_length: str = "full"
) -> Case:
    derived = criteria.derive(course)
    proofs = [f for _grade, proof in derived.values() for f in proof]
    text, fragments = render(course, language, random.Random(f"{seed_key}-write-{language}"), record_length, proofs)
    named = {f.about for f in course.findings if f.kind == "assessment" and id(f) in fragments}
    name_of = RECORD[language].diagnosis_name  # a plan's "for the tachyarrhythmia" names one too
    named |= {cid for cid in derived if name_of(cid) in text}
    gold = []
    for cid, (grade, proof) in derived.items():
        evidence = _quotes(proof, fragments)
        gold.append(GoldLabel(cid, grade, evidence, "named" if cid in named else "criteria"))
    trap_evidence = _trap_evidence(course, fragments)
    meta = {
        "surgery": course.surgery.id,
        "traps": [t for t in course.traps if not t.startswith("_")],
        "trap_for": {cid: sorted(set(ts)) for cid, ts in sorted(course.trap_for.items())},
        "trap_evidence": trap_evidence,
        "negative_evidence": _negative_evidence(course, derived, fragments, trap_evidence, language),
        "neighbour_evidence": {
            cid: quotes
            for cid, found in criteria.neighbour_evidence(derived).items()
            if (quotes := _quotes(found, fragments))
        },
        "intended": dict(course.intended),
        "los": course.los,
    }
    return Case(case_id, center, split, language, text, gold, None, meta)


def generate_case(
    index: int,
    language: str = "en",
    seed: int = 1,
    difficulty: float = 0.5,
    center: str = "synthetic-a",
    split: str = "train",
    record_length: str = "full",
) -> Case:
    """One case; the facts depend on (seed, center, index, difficulty) only, not on language or length."""
    check_record_length(record_length)
    if language not in ("en", "zh"):
        raise ValueError(f"language={language!r}: use 'en' or 'zh'")
    if not 0.0 <= float(difficulty) <= 1.0:
        raise ValueError(f"difficulty={difficulty!r} must be in [0, 1] (share of traps and subtle wording)")
    if center not in CENTER_IDS:
        raise ValueError(f"center={center!r}: use one of {', '.join(CENTER_IDS)}")
    key = _seed_key(seed, center, index, difficulty)
    course = simulate(random.Random(f"{key}-course"), center, float(difficulty))
    return _case(course, f"{CENTER_IDS[center]}-{index + 1:04d}", center, split, language, key, record_length)


def _seed_key(seed: int, center: str, index: int, difficulty: float) -> str:
    """What a case's draws depend on: a case and its counterfactual twin share it."""
    return f"{seed}-{center}-{index}-{float(difficulty):.4f}"


def twin_case(case: Case, trap: str, index: int, seed: int, difficulty: float, record_length: str = "full"):
    """The counterfactual twin of a generated case laid with `trap` (traps.TWINS): the same course drawn again
    with the trap's deciding fact left out, written with the original's wording draws. None unless the gold
    flips on the trap's mimics and on nothing else (a twin must differ from its case in one answer)."""
    key = _seed_key(seed, case.center, index, difficulty)
    course = simulate(random.Random(f"{key}-course"), case.center, float(difficulty), twin=trap)
    twin = _case(course, f"{case.case_id}-twin", case.center, case.split, case.language, key, record_length)
    changed = {g.complication for g in case.gold} ^ {g.complication for g in twin.gold}
    if not changed or not changed <= set(MIMICS[trap]):
        return None
    twin.meta.update(twin_of=case.case_id, twin_trap=trap)
    return twin


def _quote_history_first(case: Case) -> None:
    """A renal troponin trap beside its twins quotes the renal history before its troponin: the pair then differs
    in its quote as in its answer. With the troponin as the quote every renal trap of seed 30 was answered True
    (9 of 9); with the history first and LoRA on the record's tokens none was, but on seed 38 all were (the
    history never quoted; docs/design.md)."""
    lines = [HISTORY[h][case.language == "zh"] for h in ("ckd", "esrd")]
    history = next((line for line in lines if line in case.record), None)
    evidence = case.meta.get("trap_evidence", {})
    for cid in MIMICS["tnt_renal"]:
        if history and cid in evidence:
            evidence[cid] = list(dict.fromkeys([history, *evidence[cid]]))


def add_twins(cases: list[Case], twins, seed: int, difficulty: float, record_length: str = "full") -> list[Case]:
    """Training cases followed each by its counterfactual twins (`twins`: trap kinds of traps.TWINS); other
    splits untouched. Both arms of a study train on them (the LoRA rows and the TF-IDF baseline), and
    core.records.calibration_split keeps a held-out case's twin out of training. With tnt_renal twins a renal
    trap's training quote is its renal history (`_quote_history_first`)."""
    twins = tuple(twins or ())
    unknown = sorted(set(twins) - set(TWINS))
    if unknown:
        raise ValueError(f"twins: {', '.join(unknown)} have no counterfactual twin; use some of {', '.join(TWINS)}")
    out: list[Case] = []
    for case in cases:
        out.append(case)
        if case.split != "train" or not case.center.startswith("synthetic") or case.meta.get("twin_of"):
            continue
        if "tnt_renal" in twins and "tnt_renal" in case.meta.get("traps", []):
            _quote_history_first(case)
        index = int(case.case_id.rsplit("-", 1)[1]) - 1
        for trap in twins:
            if trap in case.meta.get("traps", []):
                twin = twin_case(case, trap, index, seed, difficulty, record_length)
                out += [twin] if twin is not None else []
    return out


def generate_cohort(
    n_cases: int,
    language: str = "en",
    seed: int = 1,
    difficulty: float = 0.5,
    n_val: int | None = None,
    n_external: int = 0,
    progress: bool = False,
    record_length: str = "full",
    twins=(),
) -> list[Case]:
    """n_cases from center A split train/validation (paper ~68/32), plus n_external 'test' cases from center B.
    record_length: "full" (~3k SmolLM2 tokens in English), "compact" (same facts and gold, few hundred) or
    "notes" (compact without the laboratory table, whose values the notes state). twins: trap kinds whose
    training cases get a counterfactual twin each (`add_twins`); the other cases are the same with or without."""
    check_record_length(record_length)
    if not isinstance(n_cases, int) or n_cases < 1:
        raise ValueError(f"n_cases={n_cases!r} must be a positive integer")
    if n_external < 0:
        raise ValueError(f"n_external={n_external!r} must be >= 0")
    n_val = round(n_cases * VAL_SHARE) if n_val is None else n_val
    if not 0 <= n_val <= n_cases:
        raise ValueError(f"n_val={n_val!r} must be between 0 and n_cases={n_cases}")
    n_train = n_cases - n_val
    jobs = [("synthetic-a", i, "train" if i < n_train else "validation") for i in range(n_cases)]
    jobs += [("synthetic-b", i, "test") for i in range(n_external)]
    if progress:
        from tqdm.auto import tqdm

        jobs = tqdm(jobs, desc=f"synthetic cohort ({language})", unit="case")
    cases = [generate_case(i, language, seed, difficulty, center, split, record_length) for center, i, split in jobs]
    return add_twins(cases, twins, seed, difficulty, record_length) if twins else cases
