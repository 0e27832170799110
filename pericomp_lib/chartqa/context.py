"""One subject's chart -> the "Patient context:" block that opens every prompt of the second study.

The same block goes into training pairs, `pericomp qa` and the validation trials, so a model answers from what
it was trained to read. One "- Key: value" line each, most useful first (a prompt too long for the model is
cut from the end): Age, Sex, Prior admissions, ICU stays, Key medication classes, Past procedures, Diagnoses
on record. Sex comes from the subject's `gender` (the original study's scripts read it from the wrong level,
and by the wrong name, and so always printed "Unknown").

A table the MIMIC folder lacked (its key absent on the admissions) degrades its line and says so, in the text
and in `.missing` ("ICU stays: not recorded (icu/icustays missing)"); it never stops the context. `drop` holds
`table.column` names the column selection left out: their lines say "not used" and the facts stay empty.

Medication classes come from prescriptions.drug and pharmacy.medication through the packaged map
pericomp_lib/data/chartqa_drug_classes.csv (pattern,class,label): a drug is in a class when a pattern starts
a word of its name ("Heparin Sodium", "oxycodone-acetaminophen"); names with "flush" (line flushes, not
treatment) are skipped.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

from ..core.io import read_text
from . import topics as topics_mod

DRUG_CLASSES_PATH = Path(str(resources.files("pericomp_lib") / "data" / "chartqa_drug_classes.csv"))
MAX_LISTED = {"procedures": 3, "diagnoses": 4, "drugs": 2}  # short: read once per question
SEX = {"M": "male", "F": "female"}
# the table.column whose drop leaves each line out
COLUMNS = {
    "age": "patients.anchor_age",
    "sex": "patients.gender",
    "admissions": "admissions.hadm_id",
    "icu": "icustays.stay_id",
    "icu_days": "icustays.los",
    "prescriptions": "prescriptions.drug",
    "pharmacy": "pharmacy.medication",
    "procedures": "procedures_icd.icd_code",
    "diagnoses": "diagnoses_icd.icd_code",
}
TABLE_FILES = {
    "icustays": "icu/icustays",
    "prescriptions": "hosp/prescriptions",
    "pharmacy": "hosp/pharmacy",
    "procedures": "hosp/procedures_icd",
    "diagnoses": "hosp/diagnoses_icd",
}


@dataclass(frozen=True)
class DrugClass:
    id: str
    label: str  # how a sentence says it: "an anticoagulant"
    patterns: tuple[str, ...]

    @property
    def name(self) -> str:
        """The label without its article, as the context lists it: "anticoagulant"."""
        return re.sub(r"^(an?|the) ", "", self.label)


@dataclass(frozen=True)
class PatientContext:
    text: str
    facts: dict = field(default_factory=dict)
    missing: tuple[str, ...] = ()


@cache
def load_drug_classes(path: str | os.PathLike | None = None) -> tuple[DrugClass, ...]:
    """The drug-class map in file order; a bad row names the file, line and the fix."""
    path = Path(path or DRUG_CLASSES_PATH)
    rows = list(csv.DictReader(io.StringIO(read_text(path))))
    if not rows or set(rows[0]) != {"pattern", "class", "label"}:
        raise ValueError(f"{path}: expected the header pattern,class,label")
    classes: dict[str, tuple[str, list[str]]] = {}
    for line, r in enumerate(rows, start=2):
        pattern, cid, label = (str(r.get(k) or "").strip() for k in ("pattern", "class", "label"))
        if not (pattern and cid and label):
            raise ValueError(f"{path}:{line}: pattern, class and label must all be filled")
        if cid in classes and classes[cid][0] != label:
            raise ValueError(f"{path}:{line}: class {cid!r} has label {label!r} here but {classes[cid][0]!r} above")
        classes.setdefault(cid, (label, []))[1].append(pattern.lower())
    return tuple(DrugClass(cid, label, tuple(ps)) for cid, (label, ps) in classes.items())


def drug_class_labels() -> dict[str, str]:
    """{class id: label} of the packaged map ("anticoagulant": "an anticoagulant")."""
    return {c.id: c.label for c in load_drug_classes()}


@cache
def _pattern_index() -> tuple[re.Pattern, dict[str, str]]:
    """One regex over every pattern (longest first, each starting a word) and {pattern: class id}."""
    owner = {p: c.id for c in load_drug_classes() for p in c.patterns}
    alternatives = "|".join(re.escape(p) for p in sorted(owner, key=len, reverse=True))
    return re.compile(rf"(?<![a-z])(?:{alternatives})"), owner


@cache
def _name_classes(low: str) -> frozenset[tuple[str, str]]:
    """{(class id, pattern)} of one lower-cased drug name (cached: MIMIC repeats names across subjects)."""
    if "flush" in low:
        return frozenset()
    regex, owner = _pattern_index()
    return frozenset((owner[m.group(0)], m.group(0)) for m in regex.finditer(low))


def medication_classes(names: Iterable[str]) -> dict[str, list[str]]:
    """{class id: the patterns seen} for drug names, in the map's class order."""
    seen: dict[str, set[str]] = {}
    for low in {str(n or "").strip().lower() for n in names}:
        for cid, pattern in _name_classes(low):
            seen.setdefault(cid, set()).add(pattern)
    return {c.id: sorted(seen[c.id]) for c in load_drug_classes() if c.id in seen}


def _listed(items: list[str], limit: int) -> str:
    shown = "; ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def _table_missing(admissions: list[dict], key: str) -> bool:
    """The table was absent from the MIMIC folder: its key is missing on the admissions."""
    return bool(admissions) and any(key not in a for a in admissions)


def _rows(admissions: list[dict], key: str) -> list[dict]:
    return [row for a in admissions for row in (a.get(key) or [])]


class _Lines:
    """Collects the context lines and the `.missing` notes."""

    def __init__(self, drop: frozenset[str]):
        self.drop, self.lines, self.missing = drop, [], []

    def dropped(self, part: str) -> bool:
        return COLUMNS[part] in self.drop

    def add(self, key: str, value: str) -> None:
        self.lines.append(f"- {key}: {value}")

    def gap(self, key: str, why: str) -> None:
        self.add(key, why)
        self.missing.append(f"{key}: {why}")

    def not_used(self, key: str, *parts: str) -> None:
        self.gap(key, f"not used ({', '.join(COLUMNS[p] for p in parts)} left out by the column selection)")

    def not_recorded(self, key: str, *tables: str) -> None:
        self.gap(key, f"not recorded ({' and '.join(TABLE_FILES[t] for t in tables)} missing)")


def _age_sex(subject: dict, out: _Lines, facts: dict) -> None:
    age = subject.get("anchor_age")
    if out.dropped("age"):
        out.not_used("Age", "age")
    elif age is None:
        out.gap("Age", "not recorded (patients.anchor_age missing)")
    else:
        facts["age"] = int(age)
        out.add("Age", str(int(age)))
    sex = SEX.get(str(subject.get("gender") or "").strip().upper())
    if out.dropped("sex"):
        out.not_used("Sex", "sex")
    elif sex is None:
        out.gap("Sex", "not recorded (patients.gender missing)")
    else:
        facts["sex"] = sex
        out.add("Sex", sex)


def _stays(admissions: list[dict], out: _Lines, facts: dict) -> None:
    if out.dropped("admissions"):
        out.not_used("Prior admissions", "admissions")
    else:
        facts["admissions"] = len(admissions)
        out.add("Prior admissions", str(len(admissions)))
    if out.dropped("icu"):
        out.not_used("ICU stays", "icu")
    elif _table_missing(admissions, "icustays"):
        out.not_recorded("ICU stays", "icustays")
    else:
        stays = _rows(admissions, "icustays")
        facts["icu_stays"] = len(stays)
        days = [float(s["los"]) for s in stays if s.get("los") is not None]
        if stays and days and not out.dropped("icu_days"):
            facts["icu_days"] = round(sum(days), 1)
            out.add("ICU stays", f"{len(stays)} ({facts['icu_days']:g} days in all)")
        else:
            out.add("ICU stays", str(len(stays)))


def _medicines(admissions: list[dict], out: _Lines, facts: dict) -> None:
    key = "Key medication classes"
    sources = {"prescriptions": "drug", "pharmacy": "medication"}
    used = [t for t in sources if not out.dropped(t)]
    if not used:
        out.not_used(key, *sources)
        return
    recorded = [t for t in used if not _table_missing(admissions, t)]
    if not recorded:
        out.not_recorded(key, *used)
        return
    names = [row.get(sources[t]) for t in recorded for row in _rows(admissions, t)]
    classes = medication_classes(names)
    facts["med_classes"] = sorted(classes)
    facts["med_drugs"] = classes
    by_id = {c.id: c for c in load_drug_classes()}
    shown = []
    for cid, drugs in classes.items():
        extra = [d for d in drugs if d != by_id[cid].name][: MAX_LISTED["drugs"]]
        shown.append(by_id[cid].name + (f" ({', '.join(extra)})" if extra else ""))
    value = "; ".join(shown) or "none found"
    absent = [t for t in used if t not in recorded]
    if absent:
        note = f"from {', '.join(recorded)} only ({' and '.join(TABLE_FILES[t] for t in absent)} missing)"
        out.add(key, f"{value} [{note}]")
        out.missing.append(f"{key}: {note}")
    else:
        out.add(key, value)


def _codes(admissions: list[dict], out: _Lines, facts: dict, part: str, label: str) -> None:
    """Past procedures or diagnoses: titles, latest admission first, each once."""
    if out.dropped(part):
        out.not_used(label, part)
        return
    if _table_missing(admissions, part):
        out.not_recorded(label, part)
        return
    rows = [r for a in reversed(admissions) for r in sorted(a.get(part) or [], key=lambda r: r.get("seq_num") or 0)]
    titles = list(dict.fromkeys(str(r.get("title") or r.get("icd_code")) for r in rows))
    facts[part] = titles
    if part == "procedures":
        facts["procedure_themes"] = topics_mod.procedure_themes(rows)
    else:
        facts["diagnosis_codes"] = sorted({f"{int(r.get('icd_version') or 0)}:{r['icd_code']}".upper() for r in rows})
    out.add(label, _listed(titles, MAX_LISTED[part]) if titles else "none recorded")


def patient_context(subject: dict, drop: frozenset[str] | set[str] = frozenset()) -> PatientContext:
    """The subject's context block, its machine-readable facts, and what could not be filled (see module doc).

    facts: age (int), sex ("male"/"female"), admissions, icu_stays (int), icu_days (float), med_classes (sorted
    class ids), med_drugs ({class: patterns seen}), procedures (titles, latest admission first),
    procedure_themes, diagnoses (titles), diagnosis_codes ("10:E119"); a key left unfilled is absent, except
    the lists (empty).
    """
    drop = frozenset(drop)
    admissions = list(subject.get("admissions") or [])
    facts: dict = {"med_classes": [], "med_drugs": {}, "procedures": [], "procedure_themes": []}
    facts.update(diagnoses=[], diagnosis_codes=[])
    out = _Lines(drop)
    _age_sex(subject, out, facts)
    _stays(admissions, out, facts)
    _medicines(admissions, out, facts)
    _codes(admissions, out, facts, "procedures", "Past procedures")
    _codes(admissions, out, facts, "diagnoses", "Diagnoses on record")
    text = "\n".join(["Patient context:", *out.lines])
    return PatientContext(text=text, facts=facts, missing=tuple(out.missing))
