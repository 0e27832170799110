"""Gold labels from simulated facts, by the rules of prompt/defination_modified.md.

Each rule reads only `Finding`s, so what it decides is what the record says. A rule returns the
grade and the findings that prove it (rendered later into verbatim evidence strings), or None.
"""

from __future__ import annotations

from collections.abc import Callable

from .facts import PREOP, Course, Finding

DEFAULT_BASELINE_CR = 84  # umol/L, used when no pre-operative creatinine was measured
TNT_INJURY = 0.03  # ng/mL
SEVERE_TREATMENTS = frozenset(
    {
        "reoperation",
        "icu",
        "intubation",
        "debridement",
        "rrt",
        "cardioversion",
        "thrombolysis",
        "vasopressors",
        "endoscopic_haemostasis",
        "ivc_filter",
        "thrombectomy",
    }
)
SPECIFIC_INFECTIONS = (
    "bloodstream_infection",
    "pneumonia",
    "superficial_ssi",
    "deep_ssi",
    "organ_space_ssi",
    "urinary_tract_infection",
)
ISCHAEMIA_ECG = ("st_change", "new_lbbb", "q_wave")
ARRHYTHMIA_ECG = ("af", "afl", "svt", "vt", "av_block")
RESP_GROUPS = {
    "purulent_sputum": "sputum",
    "cough": "cough",
    "dyspnoea": "cough",
    "tachypnoea": "cough",
    "rales": "rales",
    "hypoxaemia": "gas",
}
URINARY_SIGNS = ("dysuria", "urgency", "frequency", "suprapubic_tenderness", "cva_tenderness")
GI_SIGNS = ("abdominal_distension", "vomiting")

Result = tuple[str, list[Finding]]


def kdigo_stage(baseline: float | None, peak: float, rrt: bool = False) -> int:
    """0 (no AKI) to 3; baseline 84 umol/L when no pre-operative value exists."""
    ratio = peak / (baseline or DEFAULT_BASELINE_CR)
    if rrt or ratio >= 3:
        return 3
    return 2 if ratio >= 2 else 1 if ratio >= 1.5 else 0


def ards_grade(pf_mmhg: float) -> str | None:
    """Berlin bands: mild 200-300, moderate 100-200, severe <=100 mmHg; None above 300."""
    if pf_mmhg > 300:
        return None
    return "mild" if pf_mmhg > 200 else "moderate" if pf_mmhg > 100 else "severe"


def general_grade(c: Course, cid: str) -> str:
    """常规分级: no treatment -> mild, treatment -> moderate, organ support / reoperation -> severe."""
    treats = [f for f in c.of("treatment") if f.about == cid]
    if any(f.code in SEVERE_TREATMENTS for f in treats):
        return "severe"
    return "moderate" if treats else "mild"


def _treatments(c: Course, cid: str) -> list[Finding]:
    return [f for f in c.of("treatment") if f.about == cid]


def _vitals(c: Course, lo: int, hi: int) -> list[Finding]:
    return list(c.of("vitals", days=(lo, hi)))


def sirs_count(c: Course, day: int) -> tuple[int, list[Finding]]:
    """SIRS-type criteria met on one day (temperature, WBC, respiratory rate, pulse)."""
    proof: list[Finding] = []
    met = set()
    for v in _vitals(c, day, day):
        t, hr, rr = v.data.get("temp"), v.data.get("hr"), v.data.get("rr")
        if t is not None and (t > 38 or t < 36):
            met.add("temp")
        if rr is not None and rr > 20:
            met.add("rr")
        if hr is not None and hr > 90:
            met.add("hr")
        if met:
            proof.append(v)
    for w in c.labs("wbc", (day, day)):
        if w.value > 12 or w.value < 4:
            met.add("wbc")
            proof.append(w)
    return len(met), proof


def acute_kidney_injury(c: Course) -> Result | None:
    if c.surgery.kidney_transplant:
        return None
    crs = c.labs("cr", (0, 7))
    if not crs:
        return None
    peak = max(crs, key=lambda f: f.value)
    rrt = [f for f in _treatments(c, "acute_kidney_injury") if f.code == "rrt"]
    stage = kdigo_stage(c.baseline_cr, peak.value, bool(rrt))
    if stage == 0:
        return None
    pre = c.labs("cr", (PREOP - 5, PREOP))
    return {1: "mild", 2: "moderate", 3: "severe"}[stage], [peak, *pre[-1:], *rrt]


def ards(c: Course) -> Result | None:
    for img in c.of("imaging", "bilateral_infiltrates", days=(0, 30)):
        gases = [g for g in c.of("gas", days=(img.day - 2, img.day + 3))]
        if not gases:
            continue
        worst = min(gases, key=lambda g: g.data["pao2"] / g.data["fio2"])
        grade = ards_grade(worst.data["pao2"] / worst.data["fio2"])
        if grade:
            return grade, [img, worst]
    return None


def anastomotic_leak(c: Course) -> Result | None:
    proof = list(c.of("imaging", "leak", days=(0, 30))) + list(c.of("sign", "drain_bowel_content", days=(0, 30)))
    return (general_grade(c, "anastomotic_leak"), proof) if proof else None


def arrhythmia(c: Course) -> Result | None:
    ecgs = list(c.of("ecg", *ARRHYTHMIA_ECG, days=(0, 30)))
    return (general_grade(c, "arrhythmia"), ecgs[:1]) if ecgs else None


def cardiac_arrest(c: Course) -> Result | None:
    arrest = list(c.of("sign", "cardiac_arrest", days=(0, 30)))
    return ("none", arrest[:1]) if arrest else None


def cardiogenic_pulmonary_edema(c: Course) -> Result | None:
    for img in c.of("imaging", "pulmonary_oedema", days=(0, 30)):
        cardiac = [e for e in c.of("echo", "low_ef")] + [
            b for b in c.labs("bnp", (img.day - 2, img.day + 2)) if b.value > 1000
        ]
        if cardiac:
            return general_grade(c, "cardiogenic_pulmonary_edema"), [img, cardiac[0]]
    return None


def deep_vein_thrombosis(c: Course) -> Result | None:
    dvt = list(c.of("imaging", "dvt", days=(0, 30)))  # a pre-operative thrombus is not new
    return (general_grade(c, "deep_vein_thrombosis"), dvt[:1]) if dvt else None


def delirium(c: Course) -> Result | None:
    for f in c.of("delirium", days=(0, 30)):
        if len(set(f.data["features"])) >= 4:
            return "none", [f]
    return None


def gastrointestinal_bleeding(c: Course) -> Result | None:
    signs = list(c.of("sign", "melena", "haematemesis", "coffee_ground", days=(0, 30))) + list(
        c.of("imaging", "endoscopy_bleeding", days=(0, 30))
    )
    return (general_grade(c, "gastrointestinal_bleeding"), signs[:2]) if signs else None


def infection_unknown_source(c: Course, specific_found: bool) -> Result | None:
    if specific_found:  # a named source makes this label wrong (the paper's commonest mistake)
        return None
    for s in c.of("sign", "suspected_infection", days=(0, 30)):
        n, proof = sirs_count(c, s.day)
        if n >= 2:
            return general_grade(c, "infection_unknown_source"), [s, *proof[:2]]
    return None


def bloodstream_infection(c: Course, other_infection: bool) -> Result | None:
    if other_infection:  # bacteraemia secondary to another site is not a primary BSI
        return None
    for cul in c.of("culture", "blood", days=(0, 30)):
        if cul.data.get("positive") and not cul.data.get("contaminant"):
            return general_grade(c, "bloodstream_infection"), [cul]
    return None


def _ischaemia(c: Course, lo: int, hi: int) -> list[Finding]:
    return (
        list(c.of("sign", "chest_pain", days=(lo, hi)))
        + list(c.of("ecg", *ISCHAEMIA_ECG, days=(lo, hi)))
        + list(c.of("echo", "rwma", days=(lo, hi)))
    )


def _tnt_peak(c: Course) -> Finding | None:
    tnts = c.labs("tnt", (0, 30))
    return max(tnts, key=lambda f: f.value) if tnts else None


def myocardial_infarction(c: Course) -> Result | None:
    peak = _tnt_peak(c)
    if peak is None or peak.value < TNT_INJURY:
        return None
    isch = _ischaemia(c, peak.day - 2, peak.day + 2)
    return (general_grade(c, "myocardial_infarction"), [peak, isch[0]]) if isch else None


def myocardial_injury(c: Course) -> Result | None:
    peak = _tnt_peak(c)
    if peak is None or peak.value < TNT_INJURY or c.renal_insufficiency:
        return None
    if _ischaemia(c, peak.day - 2, peak.day + 2):
        return None
    return "none", [peak]


def pneumonia(c: Course) -> Result | None:
    for img in c.of("imaging", "consolidation", "new_infiltrate", days=(0, 30)):
        lo, hi = img.day - 2, img.day + 2
        systemic = [v for v in _vitals(c, lo, hi) if v.data.get("temp", 37) > 38]
        systemic += [w for w in c.labs("wbc", (lo, hi)) if w.value > 12 or w.value < 4]
        resp = [s for s in c.of("sign", *RESP_GROUPS, days=(lo, hi))]
        groups = {RESP_GROUPS[s.code] for s in resp}
        if systemic and len(groups) >= 2:
            return general_grade(c, "pneumonia"), [img, systemic[0], *resp[:2]]
    return None


def paralytic_ileus(c: Course) -> Result | None:
    bowel = list(c.of("bowel", negated=None))
    late = [b for b in bowel if b.day >= 3 and b.code in ("no_flatus", "diet_intolerance")]
    if late:
        return general_grade(c, "paralytic_ileus"), late[:1]
    if not bowel:  # no diet/flatus charting at all: only GI symptoms can make the diagnosis
        gi = list(c.of("sign", *GI_SIGNS, days=(3, 30)))
        if gi:
            return general_grade(c, "paralytic_ileus"), gi[:1]
    return None


def postoperative_bleeding(c: Course) -> Result | None:
    haemostasis = [t for t in c.of("treatment", "reoperation", days=(0, 3)) if t.about == "postoperative_bleeding"]
    drains = [
        d
        for d in c.of("drain", days=(0, 3))
        if d.data["volume"] >= 300 or d.data["colour"] in ("dark_red", "fresh_blood")
    ]
    transfusions = [t for t in c.of("transfusion", days=(0, 3)) if t.data.get("reason") == "drain_bleeding"]
    if haemostasis:
        return "severe", [*drains[:1], haemostasis[0]]
    if transfusions and drains:  # transfusion for anaemia or intra-operative loss with a quiet drain is not bleeding
        return "moderate", [drains[0], transfusions[0]]
    return None


def pulmonary_embolism(c: Course) -> Result | None:
    pe = list(c.of("imaging", "pe", days=(0, 30)))
    return (general_grade(c, "pulmonary_embolism"), pe[:1]) if pe else None


def stroke(c: Course) -> Result | None:
    img = list(c.of("imaging", "acute_infarct", "intracranial_haemorrhage", days=(0, 30)))
    deficit = list(c.of("sign", "neuro_deficit", days=(0, 30)))
    return (general_grade(c, "stroke"), [deficit[0], img[0]]) if img and deficit else None


def superficial_ssi(c: Course) -> Result | None:
    pus = list(c.of("sign", "superficial_wound_pus", "superficial_ssi_dx", days=(0, 30)))
    cult = [f for f in c.of("culture", "wound", days=(0, 30)) if f.data.get("positive")]
    opened = [t for t in c.of("treatment", "wound_opening") if t.about == "superficial_ssi"]
    local = list(c.of("sign", "wound_redness", days=(0, 30)))
    proof = pus + cult + (opened + local if opened and local else [])
    return (general_grade(c, "superficial_ssi"), proof[:2]) if proof else None


def deep_ssi(c: Course) -> Result | None:
    window = (0, 365 if c.surgery.implant else 30)
    proof = list(c.of("sign", "deep_wound_pus", days=window)) + list(c.of("imaging", "deep_abscess", days=window))
    for d in c.of("sign", "fascial_dehiscence", days=window):
        fever = [v for v in _vitals(c, d.day - 1, d.day + 1) if v.data.get("temp", 37) > 38]
        pain = list(c.of("sign", "wound_pain", days=(d.day - 1, d.day + 1)))
        if fever or pain:
            proof += [d, *(fever or pain)[:1]]
    return (general_grade(c, "deep_ssi"), proof[:2]) if proof else None


def organ_space_ssi(c: Course) -> Result | None:
    proof = list(c.of("sign", "drain_pus", days=(0, 30))) + list(c.of("imaging", "abscess", days=(0, 30)))
    proof += [f for f in c.of("culture", "drain", days=(0, 30)) if f.data.get("positive")]
    return (general_grade(c, "organ_space_ssi"), proof[:2]) if proof else None


def urinary_tract_infection(c: Course) -> Result | None:
    for cul in c.of("culture", "urine", days=(1, 30)):
        if not cul.data.get("positive") or cul.data.get("cfu", 0) < 1e5 or cul.data.get("species", 1) > 2:
            continue
        lo, hi = cul.day - 2, cul.day + 2
        symptoms = list(c.of("sign", *URINARY_SIGNS, days=(lo, hi)))
        symptoms += [v for v in _vitals(c, lo, hi) if v.data.get("temp", 37) > 38]
        if symptoms:
            return general_grade(c, "urinary_tract_infection"), [cul, symptoms[0]]
    return None


RULES: dict[str, Callable[[Course], Result | None]] = {
    "acute_kidney_injury": acute_kidney_injury,
    "ards": ards,
    "anastomotic_leak": anastomotic_leak,
    "arrhythmia": arrhythmia,
    "cardiac_arrest": cardiac_arrest,
    "cardiogenic_pulmonary_edema": cardiogenic_pulmonary_edema,
    "deep_vein_thrombosis": deep_vein_thrombosis,
    "delirium": delirium,
    "gastrointestinal_bleeding": gastrointestinal_bleeding,
    "myocardial_infarction": myocardial_infarction,
    "myocardial_injury": myocardial_injury,
    "pneumonia": pneumonia,
    "paralytic_ileus": paralytic_ileus,
    "postoperative_bleeding": postoperative_bleeding,
    "pulmonary_embolism": pulmonary_embolism,
    "stroke": stroke,
    "superficial_ssi": superficial_ssi,
    "deep_ssi": deep_ssi,
    "organ_space_ssi": organ_space_ssi,
    "urinary_tract_infection": urinary_tract_infection,
}


def derive(c: Course) -> dict[str, Result]:
    """All complications the facts support: {cid: (grade, proving findings)}, in taxonomy order."""
    from ...core import taxonomy

    found = {cid: r for cid, rule in RULES.items() if (r := rule(c)) is not None}
    site = [
        cid
        for cid in (
            "pneumonia",
            "superficial_ssi",
            "deep_ssi",
            "organ_space_ssi",
            "urinary_tract_infection",
            "anastomotic_leak",
        )
        if cid in found
    ]
    if (r := bloodstream_infection(c, bool(site))) is not None:
        found["bloodstream_infection"] = r
    specific = any(cid in found for cid in SPECIFIC_INFECTIONS)
    if (r := infection_unknown_source(c, specific)) is not None:
        found["infection_unknown_source"] = r
    return {cid: found[cid] for cid in taxonomy.IDS if cid in found}


def counter_evidence(c: Course, derived: dict[str, Result]) -> dict[str, list[Finding]]:
    """{complication the rules rejected: the charted finding that shows why}, for the rules whose inputs
    are charted in most records. Why: an evidence_first answer that quotes only for positives and traps
    lets the model decide at the quote's first token ("quoting" means True); quoting the fact the rule
    read (flatus back on POD 2, a troponin under the threshold, the site that explains a fever) makes the
    decision follow what the quote says."""
    out: dict[str, list[Finding]] = {}
    flatus = list(c.of("bowel", "flatus"))
    if "paralytic_ileus" not in derived and flatus:
        out["paralytic_ileus"] = flatus[:1]
    peak = _tnt_peak(c)
    if "myocardial_infarction" not in derived and peak is not None:
        out["myocardial_infarction"] = [peak]
    if "myocardial_injury" not in derived and peak is not None:  # ischaemia makes it an infarction instead
        out["myocardial_injury"] = neighbour_evidence(derived).get("myocardial_injury") or [peak]
    crs = c.labs("cr", (0, 7))
    if "acute_kidney_injury" not in derived and crs:
        out["acute_kidney_injury"] = [max(crs, key=lambda f: f.value)]
    site = next((cid for cid in SPECIFIC_INFECTIONS if cid in derived), None)
    if "infection_unknown_source" not in derived and site is not None:
        out["infection_unknown_source"] = derived[site][1][:1]
    return out


# An asked complication a neighbouring one rules out: the neighbour's proof, less the finding both read (an
# infarction's troponin), is what shows why. Why: with `negative_quote: trap` such a negative quoted "none", so
# the adapter, which quotes the record at inference, quoted the infarction's troponin or a wound's pus and
# answered True (6 and 2 of its 20 pooled false positives on seeds 30-35). Measured on seeds 40, 41 and 45: the
# shallower SSIs' quote was learned, the infarctions' was never written; the CPU default after six pairs, reverted
# after a seventh (seed 50) brought the paired F1 gain to +0.002 (docs/design.md).
NEIGHBOURS: dict[str, tuple[tuple[str, slice], ...]] = {
    "myocardial_injury": (("myocardial_infarction", slice(1, None)),),  # its ischaemia: chest pain, ST, RWMA
    "organ_space_ssi": (("deep_ssi", slice(0, 1)), ("superficial_ssi", slice(0, 1))),
}


def neighbour_evidence(derived: dict[str, Result]) -> dict[str, list[Finding]]:
    """{absent complication: the present neighbour's findings that rule it out} (NEIGHBOURS)."""
    out: dict[str, list[Finding]] = {}
    for cid, neighbours in NEIGHBOURS.items():
        if cid in derived:
            continue
        for other, part in neighbours:
            if other in derived and derived[other][1][part]:
                out[cid] = list(derived[other][1][part])
                break
    return out
