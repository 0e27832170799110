"""Lay down the facts of each complication at its intended grade (one function per complication).

Each function returns the day the complication is established, so `course.simulate` can place the
explicit diagnosis and the length of stay after it. The grade shapes the treatment facts, because the
criteria grade by what was done (Clavien-Dindo style), never by a stored grade.
"""

from __future__ import annotations

import random

from .draw import rnd
from .facts import Course

INFECTIONS = (
    "bloodstream_infection",
    "pneumonia",
    "superficial_ssi",
    "deep_ssi",
    "organ_space_ssi",
    "urinary_tract_infection",
    "infection_unknown_source",
)
SITES = ("pneumonia", "superficial_ssi", "deep_ssi", "organ_space_ssi", "urinary_tract_infection", "anastomotic_leak")
FEVERISH = INFECTIONS + ("anastomotic_leak",)
DELIRIUM_FEATURES = (
    "inattention",
    "disorientation",
    "hallucination",
    "agitation",
    "inappropriate_speech",
    "sleep_wake",
)
ORGANISMS = (
    "Escherichia coli",
    "Klebsiella pneumoniae",
    "Staphylococcus aureus",
    "Enterococcus faecalis",
    "Pseudomonas aeruginosa",
)


def fever(c: Course, rng: random.Random, day: int, wbc: bool = True) -> None:
    """Shared by infections and the traps that must look like one (same draws, same values)."""
    c.bump(day, "temp", rnd(rng, 38.3, 39.3, 1))
    c.bump(day, "hr", rnd(rng, 96, 125))
    if wbc:
        c.bump(day, "wbc", rnd(rng, 12.6, 19.5, 2))
        c.bump(day, "crp", rnd(rng, 90, 220, 2))


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
    c.add("sign", d, "oliguria", volume=rnd(rng, 250, 450))
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
    c.bump(d, "rr", rnd(rng, 28, 36))
    if "cardiogenic_pulmonary_edema" not in c.intended:
        c.add("echo", d, "normal", ef=rnd(rng, 58, 68))
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
        c.bump(d, "temp", rnd(rng, 37.9, 38.8, 1))
        c.bump(d, "wbc", rnd(rng, 11.5, 17.0, 2))
    _general_treatment(c, d, "anastomotic_leak", g, rng.choice(["percutaneous_drainage", "antibiotics"]), "reoperation")
    return d


def arrhythmia(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(1, 5)
    rate = rnd(rng, 128, 165)
    c.add("ecg", d, rng.choice(["af", "af", "afl", "svt"]), rate=rate)
    c.bump(d, "hr", rate)
    if g == "mild":
        c.add("sign", d, "self_terminated")
    _general_treatment(c, d, "arrhythmia", g, rng.choice(["amiodarone", "beta_blocker"]), "cardioversion")
    return d


def cardiac_arrest(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(1, 6)
    c.add("sign", d, "cardiac_arrest", minutes=rnd(rng, 4, 25))
    c.add("ecg", d, "vf")
    c.add("treatment", d, "icu", about="cardiac_arrest")
    return d


def cpe(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(1, 5)
    c.add("imaging", d, "pulmonary_oedema", modality="cxr")
    c.add("echo", d, "low_ef", ef=rnd(rng, 25, 40))
    c.bump(d, "bnp", rnd(rng, 2500, 12000))
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


def delirium(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(1, 5)
    n = rng.choice([4, 4, 5, 6])
    c.add("delirium", d, features=rng.sample(DELIRIUM_FEATURES, n))
    c.add("treatment", d, "haloperidol", about="delirium")
    return d


def gi_bleed(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(2, 8)
    if g == "mild":
        c.add("sign", d, "coffee_ground", volume=rnd(rng, 20, 80))
    else:
        c.add("sign", d, rng.choice(["melena", "haematemesis"]), volume=rnd(rng, 150, 600))
        c.bump(d, "hb", rnd(rng, 72, 92), "min")
        c.add("treatment", d, "ppi", about="gastrointestinal_bleeding")
    if g == "severe":
        c.add("imaging", d + 1, "endoscopy_bleeding", modality="endoscopy")
        c.add("treatment", d + 1, "endoscopic_haemostasis", about="gastrointestinal_bleeding")
    return d


def infection_unknown(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(2, 6)
    fever(c, rng, d)
    c.add("sign", d, "suspected_infection")
    c.add("culture", d, "blood", positive=False)
    _general_treatment(c, d, "infection_unknown_source", g, "antibiotics", "vasopressors")
    return d


def bsi(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(3, 8)
    fever(c, rng, d)
    c.add("sign", d, "rigors")
    c.add("culture", d + 1, "blood", positive=True, organism=rng.choice(ORGANISMS), bottles=2)
    _general_treatment(c, d + 1, "bloodstream_infection", g, "antibiotics", "vasopressors")
    return d + 1


def mi(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(1, 4)
    c.bump(d, "tnt", rnd(rng, 0.08, 1.6, 3))
    kind = rng.choice(["chest_pain", "st_change", "rwma"])
    if kind == "chest_pain":
        c.add("sign", d, "chest_pain")
        c.add("ecg", d, "st_change", leads=rng.choice(["V1-V4", "II, III, aVF", "V4-V6"]))
    elif kind == "st_change":
        c.add("ecg", d, "st_change", leads=rng.choice(["V1-V4", "II, III, aVF", "V4-V6"]))
    else:
        c.add("echo", d, "rwma", ef=rnd(rng, 40, 55))
    _general_treatment(c, d, "myocardial_infarction", g, "antiplatelet", "pci")
    if g == "severe":
        c.add("treatment", d + 1, "icu", about="myocardial_infarction")
    return d


def mins(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(1, 3)
    c.bump(d, "tnt", rnd(rng, 0.031, 0.22, 3))
    tnt_workup(c, d)
    return d


def tnt_workup(c: Course, d: int) -> None:
    """What a record holds beside a troponin without ischaemia: a positive's and its traps' alike, or a bag of
    words reads this line instead of the value (traps.tnt_near, tnt_renal; docs/design.md)."""
    c.add("sign", d, "chest_pain", negated=True)
    c.add("ecg", d, "sinus", no_st=True)


def pneumonia(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(2, 6)
    c.add(
        "imaging",
        d,
        rng.choice(["consolidation", "new_infiltrate"]),
        modality=rng.choice(["ct_chest", "cxr"]),
        lobe=rng.choice(["right lower lobe", "left lower lobe", "both lower lobes"]),
    )
    fever(c, rng, d, wbc=rng.random() < 0.7)
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
    c.add("drain", d, volume=rnd(rng, 450, 1400), colour=rng.choice(["dark_red", "fresh_blood"]))
    c.bump(d + 1, "hb", rnd(rng, 66, 84), "min")
    c.bump(d + 1, "hr", rnd(rng, 108, 135))
    c.add("transfusion", d + 1, "rbc", units=rng.choice([2, 3, 4]), reason="drain_bleeding")
    c.add("treatment", d + 1, "haemostatics", about="postoperative_bleeding")
    if g == "severe":
        c.add("treatment", d + 1, "reoperation", about="postoperative_bleeding")
    return d + 1


def pe(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(3, 10)
    c.add("sign", d, "dyspnoea")
    c.bump(d, "ddimer", rnd(rng, 3.5, 12.0, 2))
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
        c.bump(d, "temp", rnd(rng, 38.2, 39.0, 1))
    else:
        c.add("sign", d, "deep_wound_pus")
    _general_treatment(c, d, "deep_ssi", g, "antibiotics", "debridement")
    return d


def organ_space(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(4, 10)
    fever(c, rng, d, wbc=True)
    c.add(
        "imaging",
        d,
        "abscess",
        modality="ct_abdomen" if c.surgery.abdominal or c.surgery.anastomosis else "ct_site",
        size=rnd(rng, 3, 9),
    )
    if g != "mild" and rng.random() < 0.6:
        c.add("sign", d + 1, "drain_pus")
        c.add("culture", d + 1, "drain", positive=True, organism=rng.choice(ORGANISMS))
    _general_treatment(c, d, "organ_space_ssi", g, "percutaneous_drainage", "reoperation")
    return d


def uti(c: Course, rng: random.Random, g: str) -> int:
    d = rng.randint(2, 8)
    c.add(
        "culture",
        d,
        "urine",
        positive=True,
        organism=rng.choice(ORGANISMS[:2] + ORGANISMS[3:4]),
        cfu=1e5 * rng.choice([1, 2, 5, 10]),
        species=1,
    )
    c.add("sign", d, rng.choice(["dysuria", "urgency", "frequency", "suprapubic_tenderness"]))
    if rng.random() < 0.5:
        c.bump(d, "temp", rnd(rng, 38.2, 38.9, 1))
    _general_treatment(c, d, "urinary_tract_infection", g, "antibiotics", "icu")
    return d


REALISE = {
    "acute_kidney_injury": aki,
    "ards": ards,
    "anastomotic_leak": leak,
    "arrhythmia": arrhythmia,
    "cardiac_arrest": cardiac_arrest,
    "cardiogenic_pulmonary_edema": cpe,
    "deep_vein_thrombosis": dvt,
    "delirium": delirium,
    "gastrointestinal_bleeding": gi_bleed,
    "infection_unknown_source": infection_unknown,
    "bloodstream_infection": bsi,
    "myocardial_infarction": mi,
    "myocardial_injury": mins,
    "pneumonia": pneumonia,
    "paralytic_ileus": ileus,
    "postoperative_bleeding": bleeding,
    "pulmonary_embolism": pe,
    "stroke": stroke,
    "superficial_ssi": superficial,
    "deep_ssi": deep,
    "organ_space_ssi": organ_space,
    "urinary_tract_infection": uti,
}
