"""The 22 EPCO perioperative complications and their grades, in every spelling the project meets.

The definition files use long zh headings ("感染（来源不明）"), the result files short zh names
("感染"), our cohorts canonical English ids. Everything that compares labels goes through
`canonical_id` so that one spelling never silently misses another.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Complication:
    id: str
    zh_heading: str  # as numbered in prompt/defination*.md
    zh_short: str  # as written in results/*.json
    en: str


COMPLICATIONS: tuple[Complication, ...] = (
    Complication("acute_kidney_injury", "急性肾损伤", "急性肾损伤", "Acute kidney injury"),
    Complication(
        "ards", "急性呼吸窘迫综合征 (ARDS)", "急性呼吸窘迫综合征", "Acute respiratory distress syndrome (ARDS)"
    ),
    Complication("anastomotic_leak", "吻合口破裂", "吻合口破裂", "Anastomotic breakdown"),
    Complication("arrhythmia", "心律失常", "心律失常", "Arrhythmia"),
    Complication("cardiac_arrest", "心脏骤停", "心脏骤停", "Cardiac arrest"),
    Complication("cardiogenic_pulmonary_edema", "心源性肺水肿", "心源性肺水肿", "Cardiogenic pulmonary oedema"),
    Complication("deep_vein_thrombosis", "深静脉血栓", "深静脉血栓", "Deep vein thrombosis"),
    Complication("delirium", "谵妄", "谵妄", "Delirium"),
    Complication("gastrointestinal_bleeding", "胃肠道出血", "胃肠道出血", "Gastrointestinal bleeding"),
    Complication("infection_unknown_source", "感染（来源不明）", "感染", "Infection, source uncertain"),
    Complication(
        "bloodstream_infection", "血流感染（实验室确诊）", "血流感染", "Laboratory-confirmed bloodstream infection"
    ),
    Complication("myocardial_infarction", "心肌梗死", "心肌梗死", "Myocardial infarction"),
    Complication(
        "myocardial_injury",
        "非心脏手术后心肌损伤",
        "非心脏手术后心肌损伤",
        "Myocardial injury after non-cardiac surgery",
    ),
    Complication("pneumonia", "肺炎", "肺炎", "Pneumonia"),
    Complication("paralytic_ileus", "麻痹性肠梗阻", "麻痹性肠梗阻", "Paralytic ileus"),
    Complication("postoperative_bleeding", "术后出血", "术后出血", "Postoperative haemorrhage"),
    Complication("pulmonary_embolism", "肺栓塞", "肺栓塞", "Pulmonary embolism"),
    Complication("stroke", "中风", "中风", "Stroke"),
    Complication("superficial_ssi", "浅表手术部位感染", "浅表手术部位感染", "Superficial surgical site infection"),
    Complication("deep_ssi", "深部手术部位感染", "深部手术部位感染", "Deep surgical site infection"),
    Complication(
        "organ_space_ssi", "器官/腔隙手术部位感染", "器官/腔隙手术部位感染", "Organ/space surgical site infection"
    ),
    Complication("urinary_tract_infection", "泌尿道感染", "泌尿道感染", "Urinary tract infection"),
)

IDS: tuple[str, ...] = tuple(c.id for c in COMPLICATIONS)
BY_ID: dict[str, Complication] = {c.id: c for c in COMPLICATIONS}

NONE_ID = "none"
NONE_ZH = "无术后并发症"  # "no postoperative complication": a label of its own in evaluation
NONE_EN = "No postoperative complication"

GRADES: tuple[str, ...] = ("mild", "moderate", "severe", "none")
GRADE_TO_ZH: dict[str, str] = {"mild": "轻", "moderate": "中", "severe": "重", "none": "Null"}
ZH_TO_GRADE: dict[str, str] = {v: k for k, v in GRADE_TO_ZH.items()}

# How the paper asks about the 22: one question per complication, or one prompt for all of them. Prompts,
# answer parsing and params all read this one tuple.
STRATEGIES: tuple[str, ...] = ("targeted", "comprehensive")

# Infections that make "infection, source uncertain" redundant when both are answered (paper rule).
SPECIFIC_INFECTIONS: frozenset[str] = frozenset(
    {"bloodstream_infection", "pneumonia", "superficial_ssi", "deep_ssi", "organ_space_ssi", "urinary_tract_infection"}
)

_BRACKETS = str.maketrans({"（": "(", "）": ")", "　": " "})
_QUALIFIER = re.compile(r"\s*\([^()]*\)?\s*$")


def _norm(name: str) -> str:
    s = name.translate(_BRACKETS).strip().lower()
    return re.sub(r"\s+", " ", s)


def strip_qualifier(name: str) -> str:
    """'感染（来源不明）' -> '感染'; tolerates half-closed brackets seen in model output ('感染（来源不明)')."""
    return _QUALIFIER.sub("", name.translate(_BRACKETS)).strip()


def _build_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for c in COMPLICATIONS:
        for spelling in (c.id, c.zh_heading, c.zh_short, c.en, c.id.replace("_", " ")):
            index[_norm(spelling)] = c.id
            index[_norm(strip_qualifier(spelling))] = c.id
    for spelling in (NONE_ID, NONE_ZH, NONE_EN, "no complication", "no postoperative complications"):
        index[_norm(spelling)] = NONE_ID
    # short-name collision: stripping "(ARDS)" gives the same zh short name; English abbreviations
    index[_norm("ARDS")] = "ards"
    return index


_INDEX = _build_index()


class UnknownComplication(ValueError):
    """A label that is none of the 22 complications nor the no-complication label."""


def lookup(name: str) -> str | None:
    """Canonical id for any known spelling, or None."""
    if not isinstance(name, str):
        return None
    key = _norm(name)
    if key in _INDEX:
        return _INDEX[key]
    return _INDEX.get(_norm(strip_qualifier(name)))


def canonical_id(name: str) -> str:
    """Canonical id for any known spelling; a clear error naming the nearest valid name otherwise."""
    found = lookup(name)
    if found is not None:
        return found
    choices = sorted(set(_INDEX))
    near = difflib.get_close_matches(_norm(str(name)), choices, n=1, cutoff=0.0)
    hint = f" Did you mean {near[0]!r} (id {_INDEX[near[0]]!r})?" if near else ""
    raise UnknownComplication(
        f"unknown complication {name!r}: not one of the 22 EPCO complications or {NONE_ZH!r}.{hint} "
        f"Valid ids: {', '.join(IDS)}."
    )


def nearest_id(name: str) -> str:
    """The closest canonical id, for error messages that must suggest a fix."""
    near = difflib.get_close_matches(_norm(str(name)), sorted(_INDEX), n=1, cutoff=0.0)
    return _INDEX[near[0]] if near else IDS[0]


def zh_short(cid: str) -> str:
    """Result-file name for a canonical id (无术后并发症 for none)."""
    return NONE_ZH if cid == NONE_ID else BY_ID[cid].zh_short


def zh_heading(cid: str) -> str:
    return BY_ID[cid].zh_heading


def english(cid: str) -> str:
    return NONE_EN if cid == NONE_ID else BY_ID[cid].en


def canonical_grade(grade: object) -> str:
    """'轻'/'mild'/None/'Null'/'' -> one of GRADES; clear error otherwise."""
    if grade is None:
        return "none"
    s = str(grade).strip()
    if s in ZH_TO_GRADE:
        return ZH_TO_GRADE[s]
    low = s.lower()
    if low in GRADES:
        return low
    if low in {"", "null", "none", "无", "n/a", "na"}:
        return "none"
    aliases = {"轻度": "mild", "中度": "moderate", "重度": "severe", "i": "mild", "ii": "moderate", "iii": "severe"}
    if low in aliases:
        return aliases[low]
    raise ValueError(f"invalid grade {grade!r}: use one of {', '.join(GRADES)} (or 轻/中/重/Null)")


def strict_label(cid: str, grade: str) -> str:
    """Result-file strict label '<zh short>_<轻|中|重|Null>'."""
    return f"{zh_short(cid)}_{GRADE_TO_ZH[canonical_grade(grade)]}"
