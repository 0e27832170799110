"""Simulate one perioperative course: pick complications from the target mix, then lay down facts.

Order matters for realism and for the gold standard: labels are *aimed at* here (`Course.intended`),
but the gold comes later from `criteria.derive` reading the facts, never from this aim. Traps add
facts that look like a complication and are not one by the definitions (the paper's mistakes.csv).
"""
from __future__ import annotations

import random
from datetime import date, timedelta

from . import targets
from .facts import PREOP, SURGERIES, SURGERY_BY_ID, Course, Surgery

INFECTIONS = ("bloodstream_infection", "pneumonia", "superficial_ssi", "deep_ssi", "organ_space_ssi",
              "urinary_tract_infection", "infection_unknown_source")
SITES = ("pneumonia", "superficial_ssi", "deep_ssi", "organ_space_ssi", "urinary_tract_infection", "anastomotic_leak")
FEVERISH = INFECTIONS + ("anastomotic_leak",)
TRAPS = ("absorption_fever", "aki_preop_high", "aki_no_baseline", "kidney_transplant", "transfusion_not_bleeding",
         "ileus_no_records", "ileus_flatus_day3", "tnt_near", "tnt_renal", "sinus_tachy", "delirium_partial",
         "hypoxaemia_atelectasis", "negated", "preop_dvt", "asymptomatic_bacteriuria", "contaminant_culture",
         "bnp_only", "fat_liquefaction", "infection_source_known", "preop_effusion")


def _weighted(rng: random.Random, weights: dict) -> object:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys], k=1)[0]


def choose_labels(rng: random.Random, center: str) -> dict[str, str]:
    """Number of complications, then which ones and their grades, from the published mix."""
    k = _weighted(rng, targets.per_case_probs(center))
    weights = targets.label_weights(center)
    chosen: list[str] = []
    while len(chosen) < k and weights:
        cid = _weighted(rng, weights)
        weights.pop(cid)
        if cid == "infection_unknown_source" and any(c in INFECTIONS for c in chosen):
            continue
        if cid in INFECTIONS and "infection_unknown_source" in chosen:
            continue
        if {cid, *chosen} >= {"myocardial_infarction", "myocardial_injury"}:
            continue
        sites = set(SITES) & {cid, *chosen}  # a bacteraemia with a known site is not a primary BSI
        if sites and "bloodstream_infection" in {cid, *chosen}:
            continue
        chosen.append(cid)
    return {cid: _weighted(rng, targets.grade_probs(center, cid)) for cid in chosen}


def compatible(s: Surgery, labels: dict[str, str]) -> bool:
    if "anastomotic_leak" in labels and not s.anastomosis:
        return False
    if "paralytic_ileus" in labels and not s.abdominal:
        return False
    if s.kidney_transplant and ({"acute_kidney_injury", "myocardial_injury"} & set(labels)):
        return False
    return True


def choose_surgery(rng: random.Random, center: str, labels: dict[str, str]) -> Surgery:
    key = "weight_a" if center == "synthetic-a" else "weight_b"
    weights = {s.id: getattr(s, key) for s in SURGERIES if compatible(s, labels) and not s.kidney_transplant}
    return SURGERY_BY_ID[_weighted(rng, weights)]


def _r(rng: random.Random, lo: float, hi: float, nd: int = 0) -> float:
    v = round(rng.uniform(lo, hi), nd)
    return int(v) if nd == 0 else v


# ---------------------------------------------------------------------------------------------- realise
def _fever(c: Course, rng: random.Random, day: int, wbc: bool = True) -> None:
    c.bump(day, "temp", _r(rng, 38.3, 39.3, 1))
    c.bump(day, "hr", _r(rng, 96, 125))
    if wbc:
        c.bump(day, "wbc", _r(rng, 12.6, 19.5, 2))
        c.bump(day, "crp", _r(rng, 90, 220, 2))


def aki(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(1, 5)
    base = c.baseline_cr or 84
    rrt = g == "severe" and rng.random() < 0.4
    ratio = {"mild": (1.55, 1.9), "moderate": (2.05, 2.9), "severe": (2.3, 2.8) if rrt else (3.05, 4.2)}[g]
    peak = round(base * rng.uniform(*ratio))
    c.bump(d, "cr", peak)
    if d > 1:
        c.bump(d - 1, "cr", round(base + (peak - base) * 0.55))
    c.bump(d + 2, "cr", round(base + (peak - base) * 0.6))
    c.add("sign", d, "oliguria", volume=_r(rng, 250, 450))
    c.add("treatment", d, "fluids", about="acute_kidney_injury")
    if rrt:
        c.add("treatment", d, "rrt", about="acute_kidney_injury")
    return d


def ards(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(2, 5)
    band = {"mild": (215, 290), "moderate": (110, 190), "severe": (62, 95)}[g]
    fio2 = rng.choice({"mild": (0.35, 0.4, 0.45), "moderate": (0.5, 0.6), "severe": (0.8, 1.0)}[g])
    pao2 = round(rng.uniform(*band) * fio2)
    c.add("imaging", d, "bilateral_infiltrates", modality="ct_chest")
    c.add("gas", d, pao2=pao2, fio2=fio2)
    c.add("sign", d, "dyspnoea")
    c.bump(d, "rr", _r(rng, 28, 36))
    if "cardiogenic_pulmonary_edema" not in c.intended:
        c.add("echo", d, "normal", ef=_r(rng, 58, 68))
    c.add("treatment", d, {"mild": "hfnc", "moderate": "niv", "severe": "intubation"}[g], about="ards")
    if g == "severe":
        c.add("treatment", d, "icu", about="ards")
    return d


def _general_treatment(c: Course, d: int, cid: str, g: str, moderate: str, severe: str) -> None:
    if g in ("moderate", "severe"):
        c.add("treatment", d, moderate, about=cid)
    if g == "severe":
        c.add("treatment", d + 1, severe, about=cid)


def leak(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(3, 8)
    c.add("imaging", d, "leak", modality="ct_abdomen", small=g == "mild")
    if g != "mild":
        c.add("sign", d, "drain_bowel_content")
        c.add("bowel", d, "nbm_leak")
        c.bump(d, "temp", _r(rng, 37.9, 38.8, 1))
        c.bump(d, "wbc", _r(rng, 11.5, 17.0, 2))
    _general_treatment(c, d, "anastomotic_leak", g, rng.choice(["percutaneous_drainage", "antibiotics"]), "reoperation")
    return d


def arrhythmia(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(1, 5)
    rate = _r(rng, 128, 165)
    c.add("ecg", d, rng.choice(["af", "af", "afl", "svt"]), rate=rate)
    c.bump(d, "hr", rate)
    if g == "mild":
        c.add("sign", d, "self_terminated")
    _general_treatment(c, d, "arrhythmia", g, rng.choice(["amiodarone", "beta_blocker"]), "cardioversion")
    return d


def cardiac_arrest(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(1, 6)
    c.add("sign", d, "cardiac_arrest", minutes=_r(rng, 4, 25))
    c.add("ecg", d, "vf")
    c.add("treatment", d, "icu", about="cardiac_arrest")
    return d


def cpe(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(1, 5)
    c.add("imaging", d, "pulmonary_oedema", modality="cxr")
    c.add("echo", d, "low_ef", ef=_r(rng, 25, 40))
    c.bump(d, "bnp", _r(rng, 2500, 12000))
    c.add("sign", d, "orthopnoea")
    c.add("sign", d, "rales")
    _general_treatment(c, d, "cardiogenic_pulmonary_edema", g, "diuretic", "niv_icu")
    if g == "severe":
        c.add("treatment", d + 1, "icu", about="cardiogenic_pulmonary_edema")
    return d


def dvt(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(2, 10)
    c.add("sign", d, "leg_swelling")
    c.add("imaging", d, "dvt", modality="us_legs", vein=rng.choice(["calf", "calf", "popliteal", "femoral"]))
    _general_treatment(c, d, "deep_vein_thrombosis", g, "anticoagulation", "ivc_filter")
    return d


DELIRIUM_FEATURES = ("inattention", "disorientation", "hallucination", "agitation", "inappropriate_speech", "sleep_wake")


def delirium(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(1, 5)
    n = rng.choice([4, 4, 5, 6])
    c.add("delirium", d, features=rng.sample(DELIRIUM_FEATURES, n))
    c.add("treatment", d, "haloperidol", about="delirium")
    return d


def gi_bleed(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(2, 8)
    if g == "mild":
        c.add("sign", d, "coffee_ground", volume=_r(rng, 20, 80))
    else:
        c.add("sign", d, rng.choice(["melena", "haematemesis"]), volume=_r(rng, 150, 600))
        c.bump(d, "hb", _r(rng, 72, 92), "min")
        c.add("treatment", d, "ppi", about="gastrointestinal_bleeding")
    if g == "severe":
        c.add("imaging", d + 1, "endoscopy_bleeding", modality="endoscopy")
        c.add("treatment", d + 1, "endoscopic_haemostasis", about="gastrointestinal_bleeding")
    return d


def infection_unknown(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(2, 6)
    _fever(c, rng, d)
    c.add("sign", d, "suspected_infection")
    c.add("culture", d, "blood", positive=False)
    _general_treatment(c, d, "infection_unknown_source", g, "antibiotics", "vasopressors")
    return d


ORGANISMS = ("Escherichia coli", "Klebsiella pneumoniae", "Staphylococcus aureus", "Enterococcus faecalis",
             "Pseudomonas aeruginosa")


def bsi(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(3, 8)
    _fever(c, rng, d)
    c.add("sign", d, "rigors")
    c.add("culture", d + 1, "blood", positive=True, organism=rng.choice(ORGANISMS), bottles=2)
    _general_treatment(c, d + 1, "bloodstream_infection", g, "antibiotics", "vasopressors")
    return d + 1


def mi(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(1, 4)
    c.bump(d, "tnt", _r(rng, 0.08, 1.6, 3))
    kind = rng.choice(["chest_pain", "st_change", "rwma"])
    if kind == "chest_pain":
        c.add("sign", d, "chest_pain")
        c.add("ecg", d, "st_change", leads=rng.choice(["V1-V4", "II, III, aVF", "V4-V6"]))
    elif kind == "st_change":
        c.add("ecg", d, "st_change", leads=rng.choice(["V1-V4", "II, III, aVF", "V4-V6"]))
    else:
        c.add("echo", d, "rwma", ef=_r(rng, 40, 55))
    _general_treatment(c, d, "myocardial_infarction", g, "antiplatelet", "pci")
    if g == "severe":
        c.add("treatment", d + 1, "icu", about="myocardial_infarction")
    return d


def mins(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(1, 3)
    c.bump(d, "tnt", _r(rng, 0.031, 0.22, 3))
    c.add("sign", d, "chest_pain", negated=True)
    c.add("ecg", d, "sinus", no_st=True)
    return d


def pneumonia(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(2, 6)
    c.add("imaging", d, rng.choice(["consolidation", "new_infiltrate"]), modality=rng.choice(["ct_chest", "cxr"]),
          lobe=rng.choice(["right lower lobe", "left lower lobe", "both lower lobes"]))
    _fever(c, rng, d, wbc=rng.random() < 0.7)
    signs = rng.sample(["purulent_sputum", "cough", "rales", "hypoxaemia"], rng.choice([2, 3, 4]))
    for s in signs:
        c.add("sign", d, s)
    if rng.random() < 0.5:
        c.add("culture", d + 1, "sputum", positive=True, organism=rng.choice(ORGANISMS))
    _general_treatment(c, d, "pneumonia", g, "antibiotics", "intubation")
    if g == "severe":
        c.add("treatment", d + 1, "icu", about="pneumonia")
    return d


def ileus(c: Course, rng: random.Random, g: str) -> int:
    last = rng.randint(3, 4) if g == "mild" else rng.randint(4, 6)
    code = "diet_intolerance" if rng.random() < 0.2 else "no_flatus"
    for day in range(1, last + 1):
        c.add("bowel", day, "no_flatus" if day < 3 else code)
    c.add("bowel", last + 1, "flatus")
    if rng.random() < 0.6:
        c.add("sign", 3, rng.choice(["abdominal_distension", "vomiting"]))
    if g != "mild":
        c.add("treatment", 3, rng.choice(["ng_tube", "prokinetic"]), about="paralytic_ileus")
    if g == "severe":
        c.add("treatment", 5, "reoperation", about="paralytic_ileus")
    return 3


def bleeding(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(0, 1)
    c.add("drain", d, volume=_r(rng, 450, 1400), colour=rng.choice(["dark_red", "fresh_blood"]))
    c.bump(d + 1, "hb", _r(rng, 66, 84), "min")
    c.bump(d + 1, "hr", _r(rng, 108, 135))
    c.add("transfusion", d + 1, "rbc", units=rng.choice([2, 3, 4]), reason="drain_bleeding")
    c.add("treatment", d + 1, "haemostatics", about="postoperative_bleeding")
    if g == "severe":
        c.add("treatment", d + 1, "reoperation", about="postoperative_bleeding")
    return d + 1


def pe(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(3, 10)
    c.add("sign", d, "dyspnoea")
    c.bump(d, "ddimer", _r(rng, 3.5, 12.0, 2))
    c.add("imaging", d, "pe", modality="ctpa", extent="subsegmental" if g == "mild" else "segmental")
    _general_treatment(c, d, "pulmonary_embolism", g, "anticoagulation", "thrombolysis")
    return d


def stroke(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(1, 6)
    c.add("sign", d, "neuro_deficit", side=rng.choice(["left", "right"]))
    c.add("imaging", d, rng.choice(["acute_infarct", "acute_infarct", "intracranial_haemorrhage"]), modality="mri_head")
    _general_treatment(c, d, "stroke", g, "neurology", "icu")
    return d


def superficial(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(4, 10)
    c.add("sign", d, "wound_redness")
    c.add("sign", d, "superficial_wound_pus" if g != "mild" else "superficial_ssi_dx")
    if rng.random() < 0.5:
        c.add("culture", d, "wound", positive=True, organism=rng.choice(ORGANISMS[:3]))
    _general_treatment(c, d, "superficial_ssi", g, "wound_opening", "debridement")
    return d


def deep(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(5, 12)
    if rng.random() < 0.5:
        c.add("sign", d, "fascial_dehiscence")
        c.add("sign", d, "wound_pain")
        c.bump(d, "temp", _r(rng, 38.2, 39.0, 1))
    else:
        c.add("sign", d, "deep_wound_pus")
    _general_treatment(c, d, "deep_ssi", g, "antibiotics", "debridement")
    return d


def organ_space(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(4, 10)
    _fever(c, rng, d, wbc=True)
    c.add("imaging", d, "abscess", modality="ct_abdomen" if c.surgery.abdominal or c.surgery.anastomosis else "ct_site",
          size=_r(rng, 3, 9))
    if g != "mild" and rng.random() < 0.6:
        c.add("sign", d + 1, "drain_pus")
        c.add("culture", d + 1, "drain", positive=True, organism=rng.choice(ORGANISMS))
    _general_treatment(c, d, "organ_space_ssi", g, "percutaneous_drainage", "reoperation")
    return d


def uti(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(2, 8)
    c.add("culture", d, "urine", positive=True, organism=rng.choice(ORGANISMS[:2] + ORGANISMS[3:4]), cfu=1e5 * rng.choice([1, 2, 5, 10]), species=1)
    c.add("sign", d, rng.choice(["dysuria", "urgency", "frequency", "suprapubic_tenderness"]))
    if rng.random() < 0.5:
        c.bump(d, "temp", _r(rng, 38.2, 38.9, 1))
    _general_treatment(c, d, "urinary_tract_infection", g, "antibiotics", "icu")
    return d


REALISE = {
    "acute_kidney_injury": aki, "ards": ards, "anastomotic_leak": leak, "arrhythmia": arrhythmia,
    "cardiac_arrest": cardiac_arrest, "cardiogenic_pulmonary_edema": cpe, "deep_vein_thrombosis": dvt,
    "delirium": delirium, "gastrointestinal_bleeding": gi_bleed, "infection_unknown_source": infection_unknown,
    "bloodstream_infection": bsi, "myocardial_infarction": mi, "myocardial_injury": mins, "pneumonia": pneumonia,
    "paralytic_ileus": ileus, "postoperative_bleeding": bleeding, "pulmonary_embolism": pe, "stroke": stroke,
    "superficial_ssi": superficial, "deep_ssi": deep, "organ_space_ssi": organ_space, "urinary_tract_infection": uti,
}


# ---------------------------------------------------------------------------------------------- traps
def _trap_applies(c: Course, trap: str) -> bool:
    labels = set(c.intended)
    s = c.surgery
    return {
        "absorption_fever": not labels & set(FEVERISH),
        "aki_preop_high": "acute_kidney_injury" not in labels and not s.kidney_transplant and "myocardial_injury" not in labels,
        "aki_no_baseline": "acute_kidney_injury" not in labels and c.baseline_cr is None and not s.kidney_transplant,
        "kidney_transplant": not labels & {"acute_kidney_injury", "myocardial_injury", "anastomotic_leak", "paralytic_ileus"},
        "transfusion_not_bleeding": "postoperative_bleeding" not in labels,
        "ileus_no_records": "paralytic_ileus" not in labels and s.abdominal and "anastomotic_leak" not in labels,
        "ileus_flatus_day3": "paralytic_ileus" not in labels and s.abdominal and "_no_bowel_records" not in c.traps,
        "tnt_near": not labels & {"myocardial_infarction", "myocardial_injury"},
        "tnt_renal": not labels & {"myocardial_infarction", "myocardial_injury"},
        "sinus_tachy": "arrhythmia" not in labels,
        "delirium_partial": "delirium" not in labels,
        "hypoxaemia_atelectasis": not labels & {"ards", "pneumonia"},
        "negated": True,
        "preop_dvt": "deep_vein_thrombosis" not in labels,
        "asymptomatic_bacteriuria": not labels & set(FEVERISH),
        "contaminant_culture": "bloodstream_infection" not in labels,
        "bnp_only": "cardiogenic_pulmonary_edema" not in labels,
        "fat_liquefaction": not labels & {"superficial_ssi", "deep_ssi"},
        "infection_source_known": bool(labels & set(INFECTIONS[:-1])),
        "preop_effusion": not labels & {"ards", "pneumonia", "cardiogenic_pulmonary_edema"},
    }[trap]


def apply_trap(c: Course, rng: random.Random, trap: str) -> None:
    """Facts that look like a complication and are not one under the definitions."""
    if trap == "absorption_fever":
        c.bump(1, "temp", _r(rng, 37.8, 38.4, 1))
        c.bump(1, "wbc", _r(rng, 12.2, 14.5, 2))
        c.add("sign", 1, "absorption_fever")
    elif trap == "aki_preop_high":
        c.history.append("ckd")
        c.baseline_cr = _r(rng, 150, 230)
    elif trap == "aki_no_baseline":
        c.bump(rng.randint(1, 3), "cr", _r(rng, 106, 124))
    elif trap == "kidney_transplant":
        c.surgery = SURGERY_BY_ID["kidney_transplant"]
        c.history.append("esrd")
        c.baseline_cr = _r(rng, 650, 980)
        for day, frac in ((1, 0.75), (2, 0.55), (3, 0.4), (5, 0.25)):
            c.bump(day, "cr", round(c.baseline_cr * frac * rng.uniform(0.9, 1.1)), "set")
    elif trap == "transfusion_not_bleeding":
        d = rng.randint(0, 2)
        c.add("transfusion", d, rng.choice(["rbc", "plasma"]), units=rng.choice([1, 2]),
              reason=rng.choice(["anaemia", "intraop_loss"]))
        c.add("drain", d, volume=_r(rng, 30, 150), colour=rng.choice(["light_red", "serous"]))
        c.bump(d, "hb", _r(rng, 72, 86), "min")
        c.blood_loss_ml = max(c.blood_loss_ml, _r(rng, 600, 1200))
    elif trap == "ileus_no_records":
        c.traps.append("_no_bowel_records")
    elif trap == "ileus_flatus_day3":
        c.add("bowel", 1, "no_flatus")
        c.add("bowel", 2, "no_flatus")
        c.add("bowel", 3, "flatus")
    elif trap == "tnt_near":
        c.bump(rng.randint(1, 3), "tnt", _r(rng, 0.015, 0.026, 3))
    elif trap == "tnt_renal":
        if not c.renal_insufficiency:
            c.history.append("ckd")
            c.baseline_cr = c.baseline_cr if c.baseline_cr and c.baseline_cr > 140 else _r(rng, 150, 230)
        c.bump(rng.randint(1, 3), "tnt", _r(rng, 0.032, 0.07, 3))
        c.add("sign", 1, "chest_pain", negated=True)
    elif trap == "sinus_tachy":
        d = rng.randint(1, 3)
        rate = _r(rng, 105, 125)
        c.bump(d, "hr", rate)
        c.add("ecg", d, "sinus_tachy", rate=rate)
    elif trap == "delirium_partial":
        c.add("delirium", rng.randint(1, 4), features=rng.sample(DELIRIUM_FEATURES, rng.choice([2, 3])))
    elif trap == "hypoxaemia_atelectasis":
        d = rng.randint(1, 4)
        c.add("imaging", d, "atelectasis", modality="ct_chest")
        c.add("gas", d, pao2=_r(rng, 72, 95), fio2=0.33)
        c.add("sign", d, "cough")
    elif trap == "negated":
        for code in rng.sample(["no_dvt", "no_pe", "no_melena", "no_chest_pain", "wound_clean", "urine_negative"], 2):
            d = rng.randint(2, 6)
            if code == "no_dvt":
                c.add("imaging", d, "dvt", negated=True, modality="us_legs")
            elif code == "no_pe":
                c.add("imaging", d, "pe", negated=True, modality="ctpa")
            elif code == "no_melena":
                c.add("sign", d, "melena", negated=True)
            elif code == "no_chest_pain":
                c.add("sign", d, "chest_pain", negated=True)
            elif code == "wound_clean":
                c.add("sign", d, "wound_redness", negated=True)
            else:
                c.add("culture", d, "urine", positive=False)
    elif trap == "preop_dvt":
        c.add("imaging", PREOP - 2, "dvt", modality="us_legs", vein="calf", preop=True)
    elif trap == "asymptomatic_bacteriuria":
        c.add("culture", rng.randint(2, 5), "urine", positive=True, organism="Enterococcus faecalis",
              cfu=rng.choice([1e4, 1e5]), species=1, asymptomatic=True)
    elif trap == "contaminant_culture":
        c.add("culture", rng.randint(2, 6), "blood", positive=True, organism="coagulase-negative Staphylococcus",
              bottles=1, contaminant=True)
    elif trap == "bnp_only":
        c.bump(rng.randint(1, 3), "bnp", _r(rng, 400, 950))
    elif trap == "fat_liquefaction":
        d = rng.randint(4, 8)
        c.add("sign", d, "serous_exudate")
        c.add("culture", d, "wound", positive=False)
    elif trap == "infection_source_known":
        site_day = min((f.day for f in c.findings if f.kind in ("imaging", "culture", "sign") and f.day > 1), default=4)
        d = max(1, site_day - 1)
        _fever(c, rng, d)
        c.add("sign", d, "suspected_infection")
    elif trap == "preop_effusion":
        c.add("imaging", PREOP - 3, "effusion", modality="ct_chest", preop=True)
    if {"ckd", "esrd"} & set(c.history) and "none" in c.history:
        c.history.remove("none")
    c.traps.append(trap)


# ---------------------------------------------------------------------------------------------- course
def simulate(rng: random.Random, center: str, difficulty: float) -> Course:
    labels = choose_labels(rng, center)
    surgery = choose_surgery(rng, center, labels)
    sex = rng.choice("MF") if surgery.id != "hysterectomy" else "F"
    start = date(2021, 1, 1) + timedelta(days=rng.randint(0, 4 * 365))
    c = Course(sex=sex, age=_r(rng, 38, 86), surgery=surgery, start=start, intended=dict(labels))
    if rng.random() < 0.7:
        c.baseline_cr = _r(rng, 58, 105) if sex == "M" else _r(rng, 45, 85)
    c.history += rng.sample(["hypertension", "diabetes", "copd", "none"], 1)
    c.blood_loss_ml = rng.choice([20, 50, 100, 150, 200, 300, 400])
    for trap in TRAPS:  # traps first: some change surgery or baseline that realisation builds on
        if trap == "infection_source_known":
            continue
        if _trap_applies(c, trap) and rng.random() < difficulty * 0.22:
            apply_trap(c, rng, trap)
    days = {cid: REALISE[cid](c, rng, grade) for cid, grade in labels.items()}
    last = max([3, *days.values()])
    if _trap_applies(c, "infection_source_known") and rng.random() < difficulty * 0.8:
        apply_trap(c, rng, "infection_source_known")
    for cid, grade in labels.items():  # explicit wording: the note names the diagnosis
        if rng.random() < 1 - 0.8 * difficulty:
            c.add("assessment", max(days[cid], 1), about=cid)
    extra = sum({"mild": 1, "moderate": 3, "severe": 7, "none": 2}[g] for g in labels.values())
    c.los = max(last, max((f.day for f in c.findings), default=3)) + rng.randint(2, 4) + min(extra, 12)
    c.los = max(c.los, rng.randint(5, 9))
    background(c, rng)
    return c


# ---------------------------------------------------------------------------------------------- background
def note_days(c: Course, rng: random.Random) -> list[int]:
    days = {1, 2, 3, c.los} | {f.day for f in c.findings if 1 <= f.day <= c.los} | {d for d in c.state if 1 <= d <= c.los}
    d = 3
    while d < c.los:
        d += rng.randint(1, 3)
        days.add(min(d, c.los))
    return sorted(days)


def background(c: Course, rng: random.Random) -> None:
    """Ordinary post-operative values on every charted day; complication values override them."""
    c.routine_from = len(c.findings)  # what follows is routine unless an event set its value (c.state)
    male = c.sex == "M"
    true_cr = c.baseline_cr or (_r(rng, 60, 100) if male else _r(rng, 48, 85))
    hb0 = _r(rng, 128, 156) if male else _r(rng, 112, 140)
    c.add("lab", PREOP, "hb", hb0)
    c.add("lab", PREOP, "wbc", _r(rng, 4.5, 9.0, 2))
    if c.baseline_cr:
        c.add("lab", PREOP, "cr", c.baseline_cr)
    c.add("vitals", 0, temp=_r(rng, 36.4, 37.2, 1), hr=_r(rng, 68, 92), rr=_r(rng, 14, 19), bp=f"{_r(rng, 105, 145)}/{_r(rng, 60, 88)}")
    measure_tnt = rng.random() < 0.3
    c.note_days = note_days(c, rng)
    for day in c.note_days:
        st = c.state.get(day, {})
        early = day <= 3
        c.add("vitals", day, temp=st.get("temp", _r(rng, 36.4, 37.9 if day == 1 else 37.5, 1)),
              hr=st.get("hr", _r(rng, 66, 92)), rr=st.get("rr", _r(rng, 15, 20)),
              bp=f"{_r(rng, 102, 148)}/{_r(rng, 58, 90)}")
        if early or "wbc" in st or "hb" in st or rng.random() < 0.6:
            c.add("lab", day, "wbc", st.get("wbc", _r(rng, 8.5, 13.0, 2) if day == 1 else _r(rng, 4.8, 10.5, 2)))
            c.add("lab", day, "hb", st.get("hb", _r(rng, hb0 - 25, hb0 - 6)))
            c.add("lab", day, "plt", _r(rng, 130, 320))
            c.add("lab", day, "crp", st.get("crp", _r(rng, 18, 95, 2) if early else _r(rng, 6, 45, 2)))
        if early or "cr" in st or rng.random() < 0.4:
            if c.surgery.kidney_transplant and "cr" not in st:
                cr = round(true_cr * max(0.16, 0.78 ** day) * rng.uniform(0.92, 1.08))
            else:
                cr = st.get("cr", round(true_cr * rng.uniform(0.86, 1.16)))
            c.add("lab", day, "cr", cr)
            c.add("lab", day, "alb", _r(rng, 27, 37))
        if "tnt" in st or (measure_tnt and day == 1):
            c.add("lab", day, "tnt", st.get("tnt", _r(rng, 0.004, 0.012, 3)))
        if "bnp" in st:
            c.add("lab", day, "bnp", st["bnp"])
        if "ddimer" in st or (day == 2 and rng.random() < 0.4):
            c.add("lab", day, "ddimer", st.get("ddimer", _r(rng, 0.8, 2.9, 2)))
    bowel_done = any(f.code in ("no_flatus", "flatus", "diet_intolerance") for f in c.of("bowel", negated=None))
    if c.surgery.abdominal and not bowel_done and "_no_bowel_records" not in c.traps:
        first = rng.choice([1, 2])
        if first == 2:
            c.add("bowel", 1, "no_flatus")
        c.add("bowel", first, "flatus")
        c.add("bowel", first + 1, "diet_ok")
    elif not c.surgery.abdominal:
        c.add("bowel", 1, "diet_ok")
    if c.surgery.drain:
        have = {f.day for f in c.of("drain")}
        for day in c.note_days:
            if day <= 5 and day not in have:
                c.add("drain", day, volume=max(5, _r(rng, 60, 260) // day), colour="light_red" if day <= 2 else "serous")
    return None
