"""Target label mix for the synthetic centers, measured from the authors' published gold standards.

`stats_from_strict_gold` turns a strict gold file ({case: ["<zh short>_<grade>"]}) into frequencies
only (no patient text). It produced the constants below from results/strict/center1/gold.json
(146 cases) and center2/gold.json (52 cases); the notebook recomputes them from a PeriComp clone when
one is given, so the embedded numbers can always be checked against the source.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from ...core import taxonomy


def stats_from_strict_gold(gold: Mapping[str, list[str]]) -> dict:
    """{n_cases, none_share, per_case {k: share}, freq {cid: n}, grades {cid: {grade: n}}} of a strict gold map."""
    freq: Counter = Counter()
    grades: dict[str, Counter] = {}
    per_case: Counter = Counter()
    for labels in gold.values():
        found = []
        for label in labels:
            name, _, grade = str(label).rpartition("_")
            cid = taxonomy.canonical_id(name or label)
            if cid == taxonomy.NONE_ID:
                continue
            found.append(cid)
            grades.setdefault(cid, Counter())[taxonomy.canonical_grade(grade)] += 1
        per_case[len(set(found))] += 1
        freq.update(set(found))
    n = len(gold)
    return {
        "n_cases": n,
        "none_share": per_case[0] / n if n else 0.0,
        "per_case": {k: per_case[k] / n for k in sorted(per_case)},
        "freq": {cid: freq[cid] for cid in taxonomy.IDS},
        "grades": {cid: dict(grades.get(cid, {})) for cid in taxonomy.IDS},
    }


# Measured from results/strict/center1/gold.json (146 cases; the paper's train + validation center).
CENTER1 = {
    "n_cases": 146,
    "per_case": {0: 50, 1: 42, 2: 30, 3: 18, 4: 3, 5: 1, 6: 1, 7: 1},
    "freq": {
        "acute_kidney_injury": 7,
        "ards": 4,
        "anastomotic_leak": 15,
        "arrhythmia": 7,
        "cardiac_arrest": 0,
        "cardiogenic_pulmonary_edema": 7,
        "deep_vein_thrombosis": 5,
        "delirium": 5,
        "gastrointestinal_bleeding": 4,
        "infection_unknown_source": 22,
        "bloodstream_infection": 1,
        "myocardial_infarction": 2,
        "myocardial_injury": 20,
        "pneumonia": 10,
        "paralytic_ileus": 36,
        "postoperative_bleeding": 10,
        "pulmonary_embolism": 3,
        "stroke": 0,
        "superficial_ssi": 4,
        "deep_ssi": 3,
        "organ_space_ssi": 21,
        "urinary_tract_infection": 0,
    },
    "grades": {
        "acute_kidney_injury": {"mild": 6, "moderate": 1},
        "ards": {"moderate": 3, "severe": 1},
        "anastomotic_leak": {"mild": 1, "moderate": 14},
        "arrhythmia": {"mild": 3, "moderate": 4},
        "delirium": {"none": 5},
        "myocardial_injury": {"none": 20},
        "cardiogenic_pulmonary_edema": {"moderate": 5, "severe": 2},
        "deep_vein_thrombosis": {"mild": 4, "moderate": 1},
        "gastrointestinal_bleeding": {"mild": 1, "moderate": 3},
        "infection_unknown_source": {"moderate": 22},
        "bloodstream_infection": {"moderate": 1},
        "myocardial_infarction": {"mild": 1, "severe": 1},
        "pneumonia": {"moderate": 8, "severe": 2},
        "paralytic_ileus": {"mild": 19, "moderate": 17},
        "postoperative_bleeding": {"moderate": 6, "severe": 4},
        "pulmonary_embolism": {"mild": 2, "moderate": 1},
        "superficial_ssi": {"moderate": 4},
        "deep_ssi": {"moderate": 1, "severe": 2},
        "organ_space_ssi": {"moderate": 19, "severe": 2},
    },
}

# Measured from results/strict/center2/gold.json (52 cases; the paper's external-validation center).
CENTER2 = {
    "n_cases": 52,
    "per_case": {0: 29, 1: 11, 2: 6, 3: 3, 4: 2, 5: 1},
    "freq": {
        "acute_kidney_injury": 5,
        "ards": 1,
        "anastomotic_leak": 3,
        "arrhythmia": 2,
        "cardiac_arrest": 0,
        "cardiogenic_pulmonary_edema": 0,
        "deep_vein_thrombosis": 2,
        "delirium": 0,
        "gastrointestinal_bleeding": 2,
        "infection_unknown_source": 3,
        "bloodstream_infection": 1,
        "myocardial_infarction": 0,
        "myocardial_injury": 2,
        "pneumonia": 3,
        "paralytic_ileus": 6,
        "postoperative_bleeding": 2,
        "pulmonary_embolism": 0,
        "stroke": 0,
        "superficial_ssi": 6,
        "deep_ssi": 3,
        "organ_space_ssi": 4,
        "urinary_tract_infection": 0,
    },
    "grades": {
        "acute_kidney_injury": {"mild": 4, "moderate": 1},
        "ards": {"moderate": 1},
        "myocardial_injury": {"none": 2},
        "anastomotic_leak": {"mild": 1, "moderate": 2},
        "arrhythmia": {"mild": 1, "moderate": 1},
        "deep_vein_thrombosis": {"mild": 1, "moderate": 1},
        "gastrointestinal_bleeding": {"mild": 1, "moderate": 1},
        "infection_unknown_source": {"moderate": 3},
        "bloodstream_infection": {"moderate": 1},
        "pneumonia": {"moderate": 3},
        "paralytic_ileus": {"mild": 2, "moderate": 4},
        "postoperative_bleeding": {"severe": 2},
        "superficial_ssi": {"mild": 1, "moderate": 4, "severe": 1},
        "deep_ssi": {"severe": 3},
        "organ_space_ssi": {"moderate": 1, "severe": 3},
    },
}

# Complications absent from a published center still appear now and then (count added before
# normalising), so that a large synthetic cohort exercises all 22 targeted questions.
FREQ_FLOOR = 0.5

# Complications without a grade (definition says 无分级) and fallback mixes for unseen ones.
UNGRADED = frozenset({"cardiac_arrest", "delirium", "myocardial_injury"})
GRADE_FALLBACK = {"mild": 1, "moderate": 2, "severe": 1}
ONLY_MODERATE_SEVERE = frozenset({"postoperative_bleeding"})  # definition: 只包含中度和重度

CENTERS = {"synthetic-a": CENTER1, "synthetic-b": CENTER2}


def label_weights(center: str) -> dict[str, float]:
    """Per-label draw weights: published count + floor."""
    t = CENTERS[center]
    return {cid: t["freq"][cid] + FREQ_FLOOR for cid in taxonomy.IDS}


def per_case_probs(center: str) -> dict[int, float]:
    pc = CENTERS[center]["per_case"]
    total = sum(pc.values())
    return {k: v / total for k, v in pc.items()}


def grade_probs(center: str, cid: str) -> dict[str, float]:
    if cid in UNGRADED:
        return {"none": 1.0}
    mix = dict(CENTERS[center]["grades"].get(cid) or GRADE_FALLBACK)
    if cid in ONLY_MODERATE_SEVERE:
        mix.pop("mild", None)
        mix = mix or {"moderate": 1, "severe": 1}
    total = sum(mix.values())
    return {g: v / total for g, v in mix.items()}
