"""Traps: facts that look like a complication and are not one under the definitions.

They follow the paper's error analysis (mistakes.csv): each trap kind is one small function registered
in `TRAP_KINDS` with the condition under which it may be laid down (a trap must never contradict an
intended label, or the gold would change). `TRAPS` fixes the order in which `course.simulate` draws
them, which is part of what keeps a seed's cohort byte-identical.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import NamedTuple

from .complications import DELIRIUM_FEATURES, FEVERISH, INFECTIONS, fever, tnt_workup
from .draw import rnd
from .facts import PREOP, SURGERY_BY_ID, Course

TRAPS = (
    "absorption_fever",
    "aki_preop_high",
    "aki_no_baseline",
    "kidney_transplant",
    "transfusion_not_bleeding",
    "ileus_no_records",
    "ileus_flatus_day3",
    "tnt_near",
    "tnt_renal",
    "sinus_tachy",
    "delirium_partial",
    "hypoxaemia_atelectasis",
    "negated",
    "preop_dvt",
    "asymptomatic_bacteriuria",
    "contaminant_culture",
    "bnp_only",
    "fat_liquefaction",
    "infection_source_known",
    "preop_effusion",
)


class TrapKind(NamedTuple):
    applies: Callable[[Course, set[str]], bool]  # (course, intended labels) -> may this trap be laid down
    apply: Callable[[Course, random.Random], None]


# Counterfactual twins (`generate_cohort(twins=...)`): a training case laid with one of these traps gets a
# second case, the same course drawn again with the one fact that rules the mimic out left out, so the gold
# flips: the renal history and its raised baseline creatinine (tnt_renal) or the troponin's distance below the
# threshold (tnt_near, raised by TWIN_TNT_STEP to 0.031-0.042 ng/mL). The pair says what the definition reads,
# which a model trained on the trap alone can learn as "a troponin under 0.1 is no injury" (docs/design.md).
# Each twin function takes the trap's draws in the same order, so the events are the original's; a near twin's
# record differs in the value only, a renal twin's also in routine values drawn after a baseline creatinine
# would have been (a pre-operative haemoglobin, a blood pressure). A twin whose gold changes beyond the
# trap's mimics is not made (synthetic.twin_case).
TWIN_TNT_STEP = 0.016
TWINS = ("tnt_renal", "tnt_near")


def absorption_fever(c: Course, rng: random.Random) -> None:
    c.bump(1, "temp", rnd(rng, 37.8, 38.4, 1))
    c.bump(1, "wbc", rnd(rng, 12.2, 14.5, 2))
    c.add("sign", 1, "absorption_fever")


def aki_preop_high(c: Course, rng: random.Random) -> None:
    c.history.append("ckd")
    c.baseline_cr = rnd(rng, 150, 230)


def aki_no_baseline(c: Course, rng: random.Random) -> None:
    c.bump(rng.randint(1, 3), "cr", rnd(rng, 106, 124))


def kidney_transplant(c: Course, rng: random.Random) -> None:
    c.surgery = SURGERY_BY_ID["kidney_transplant"]
    c.history.append("esrd")
    c.baseline_cr = rnd(rng, 650, 980)
    for day, frac in ((1, 0.75), (2, 0.55), (3, 0.4), (5, 0.25)):
        c.bump(day, "cr", round(c.baseline_cr * frac * rng.uniform(0.9, 1.1)), "set")


def transfusion_not_bleeding(c: Course, rng: random.Random) -> None:
    d = rng.randint(0, 2)
    c.add(
        "transfusion",
        d,
        rng.choice(["rbc", "plasma"]),
        units=rng.choice([1, 2]),
        reason=rng.choice(["anaemia", "intraop_loss"]),
    )
    c.add("drain", d, volume=rnd(rng, 30, 150), colour=rng.choice(["light_red", "serous"]))
    c.bump(d, "hb", rnd(rng, 72, 86), "min")
    c.blood_loss_ml = max(c.blood_loss_ml, rnd(rng, 600, 1200))


def ileus_no_records(c: Course, rng: random.Random) -> None:
    c.traps.append("_no_bowel_records")  # background then charts no bowel function at all


def ileus_flatus_day3(c: Course, rng: random.Random) -> None:
    c.add("bowel", 1, "no_flatus")
    c.add("bowel", 2, "no_flatus")
    c.add("bowel", 3, "flatus")


def tnt_near(c: Course, rng: random.Random, twin: bool = False) -> None:
    d = rng.randint(1, 3)
    value = rnd(rng, 0.015, 0.026, 3)
    c.bump(d, "tnt", round(value + TWIN_TNT_STEP, 3) if twin else value)
    tnt_workup(c, d)


def tnt_renal(c: Course, rng: random.Random, twin: bool = False) -> None:
    if not c.renal_insufficiency:
        baseline = c.baseline_cr if c.baseline_cr and c.baseline_cr > 140 else rnd(rng, 150, 230)
        if not twin:
            c.history.append("ckd")
            c.baseline_cr = baseline
    d = rng.randint(1, 3)
    c.bump(d, "tnt", rnd(rng, 0.032, 0.07, 3))
    tnt_workup(c, d)


def sinus_tachy(c: Course, rng: random.Random) -> None:
    d = rng.randint(1, 3)
    rate = rnd(rng, 105, 125)
    c.bump(d, "hr", rate)
    c.add("ecg", d, "sinus_tachy", rate=rate)


def delirium_partial(c: Course, rng: random.Random) -> None:
    c.add("delirium", rng.randint(1, 4), features=rng.sample(DELIRIUM_FEATURES, rng.choice([2, 3])))


def hypoxaemia_atelectasis(c: Course, rng: random.Random) -> None:
    d = rng.randint(1, 4)
    c.add("imaging", d, "atelectasis", modality="ct_chest")
    c.add("gas", d, pao2=rnd(rng, 72, 95), fio2=0.33)
    c.add("sign", d, "cough")


NEGATION_MIMICS = {  # what each negated finding of `negated` would be if it were positive
    "no_dvt": "deep_vein_thrombosis",
    "no_pe": "pulmonary_embolism",
    "no_melena": "gastrointestinal_bleeding",
    "no_chest_pain": "myocardial_infarction",
    "wound_clean": "superficial_ssi",
    "urine_negative": "urinary_tract_infection",
}
NEGATIONS: dict[str, Callable[[Course, int], object]] = {  # order matters: `negated` samples from it
    "no_dvt": lambda c, d: c.add("imaging", d, "dvt", negated=True, modality="us_legs"),
    "no_pe": lambda c, d: c.add("imaging", d, "pe", negated=True, modality="ctpa"),
    "no_melena": lambda c, d: c.add("sign", d, "melena", negated=True),
    "no_chest_pain": lambda c, d: c.add("sign", d, "chest_pain", negated=True),
    "wound_clean": lambda c, d: c.add("sign", d, "wound_redness", negated=True),
    "urine_negative": lambda c, d: c.add("culture", d, "urine", positive=False),
}


def negated(c: Course, rng: random.Random) -> None:
    for code in rng.sample(list(NEGATIONS), 2):
        finding = NEGATIONS[code](c, rng.randint(2, 6))
        c.trap_for.setdefault(NEGATION_MIMICS[code], []).append("negated")
        c.trap_marks.append(((NEGATION_MIMICS[code],), [finding], []))


def preop_dvt(c: Course, rng: random.Random) -> None:
    c.add("imaging", PREOP - 2, "dvt", modality="us_legs", vein="calf", preop=True)


def asymptomatic_bacteriuria(c: Course, rng: random.Random) -> None:
    c.add(
        "culture",
        rng.randint(2, 5),
        "urine",
        positive=True,
        organism="Enterococcus faecalis",
        cfu=rng.choice([1e4, 1e5]),
        species=1,
        asymptomatic=True,
    )


def contaminant_culture(c: Course, rng: random.Random) -> None:
    c.add(
        "culture",
        rng.randint(2, 6),
        "blood",
        positive=True,
        organism="coagulase-negative Staphylococcus",
        bottles=1,
        contaminant=True,
    )


def bnp_only(c: Course, rng: random.Random) -> None:
    c.bump(rng.randint(1, 3), "bnp", rnd(rng, 400, 950))


def fat_liquefaction(c: Course, rng: random.Random) -> None:
    d = rng.randint(4, 8)
    c.add("sign", d, "serous_exudate")
    c.add("culture", d, "wound", positive=False)


def infection_source_known(c: Course, rng: random.Random) -> None:
    """Fever the day before a site shows up: applied after realisation, since it reads the site's day."""
    site_day = min((f.day for f in c.findings if f.kind in ("imaging", "culture", "sign") and f.day > 1), default=4)
    d = max(1, site_day - 1)
    fever(c, rng, d)
    c.add("sign", d, "suspected_infection")
    # Blood cultures of that fever grow nothing and empirical antibiotics start, as for an unknown-source
    # positive (`complications.infection_unknown`): without them "blood cultures: no growth" and "... for the
    # suspected infection" appeared only in positives, and a bag of words read those lines (docs/design.md).
    c.add("culture", d, "blood", positive=False)
    c.add("treatment", d, "antibiotics", about="infection_unknown_source")


def preop_effusion(c: Course, rng: random.Random) -> None:
    c.add("imaging", PREOP - 3, "effusion", modality="ct_chest", preop=True)


# The complications each trap looks like ("negated" registers its own, per negated finding): evaluation
# scores false positives on these (case, complication) pairs apart from clean negatives.
MIMICS: dict[str, tuple[str, ...]] = {
    "absorption_fever": ("infection_unknown_source",),
    "aki_preop_high": ("acute_kidney_injury",),
    "aki_no_baseline": ("acute_kidney_injury",),
    "kidney_transplant": ("acute_kidney_injury",),
    "transfusion_not_bleeding": ("postoperative_bleeding",),
    "ileus_no_records": ("paralytic_ileus",),
    "ileus_flatus_day3": ("paralytic_ileus",),
    "tnt_near": ("myocardial_injury", "myocardial_infarction"),
    "tnt_renal": ("myocardial_injury", "myocardial_infarction"),
    "sinus_tachy": ("arrhythmia",),
    "delirium_partial": ("delirium",),
    "hypoxaemia_atelectasis": ("ards", "pneumonia"),
    "negated": (),
    "preop_dvt": ("deep_vein_thrombosis",),
    "asymptomatic_bacteriuria": ("urinary_tract_infection",),
    "contaminant_culture": ("bloodstream_infection",),
    "bnp_only": ("cardiogenic_pulmonary_edema",),
    "fat_liquefaction": ("superficial_ssi", "deep_ssi"),
    "infection_source_known": ("infection_unknown_source",),
    "preop_effusion": ("pneumonia", "cardiogenic_pulmonary_edema"),
}
# A trap's quote (meta.trap_evidence[0], what an evidence_first negative quotes) is the value it set (a
# troponin, a fever's vitals) unless the line it adds is what a positive of the mimic quotes: infection_source_known
# adds "fever with rising inflammatory markers, infection suspected", the quote of every infection_unknown_source
# positive. Quoting the fever's vitals instead let the quote decide: the adapter quoted the positives' line and
# answered True at P(True) > 0.999 for 20 of 43 such traps over 8 seeds (12 after the paper's 感染 rule). With the
# shared line the decision has to come from the rest of the record, the site that explains the fever
# (docs/design.md).
QUOTES_ADDED_FIRST = {"infection_source_known"}
_NO_MI = {"myocardial_infarction", "myocardial_injury"}
TRAP_KINDS: dict[str, TrapKind] = {
    "absorption_fever": TrapKind(lambda c, labels: not labels & set(FEVERISH), absorption_fever),
    "aki_preop_high": TrapKind(
        lambda c, labels: (
            "acute_kidney_injury" not in labels
            and not c.surgery.kidney_transplant
            and "myocardial_injury" not in labels
        ),
        aki_preop_high,
    ),
    "aki_no_baseline": TrapKind(
        lambda c, labels: (
            "acute_kidney_injury" not in labels and c.baseline_cr is None and not c.surgery.kidney_transplant
        ),
        aki_no_baseline,
    ),
    "kidney_transplant": TrapKind(
        lambda c, labels: (
            not labels & {"acute_kidney_injury", "myocardial_injury", "anastomotic_leak", "paralytic_ileus"}
        ),
        kidney_transplant,
    ),
    "transfusion_not_bleeding": TrapKind(
        lambda c, labels: "postoperative_bleeding" not in labels, transfusion_not_bleeding
    ),
    "ileus_no_records": TrapKind(
        lambda c, labels: "paralytic_ileus" not in labels and c.surgery.abdominal and "anastomotic_leak" not in labels,
        ileus_no_records,
    ),
    "ileus_flatus_day3": TrapKind(
        lambda c, labels: (
            "paralytic_ileus" not in labels and c.surgery.abdominal and "_no_bowel_records" not in c.traps
        ),
        ileus_flatus_day3,
    ),
    "tnt_near": TrapKind(lambda c, labels: not labels & _NO_MI, tnt_near),
    "tnt_renal": TrapKind(lambda c, labels: not labels & _NO_MI, tnt_renal),
    "sinus_tachy": TrapKind(lambda c, labels: "arrhythmia" not in labels, sinus_tachy),
    "delirium_partial": TrapKind(lambda c, labels: "delirium" not in labels, delirium_partial),
    "hypoxaemia_atelectasis": TrapKind(lambda c, labels: not labels & {"ards", "pneumonia"}, hypoxaemia_atelectasis),
    "negated": TrapKind(lambda c, labels: True, negated),
    "preop_dvt": TrapKind(lambda c, labels: "deep_vein_thrombosis" not in labels, preop_dvt),
    "asymptomatic_bacteriuria": TrapKind(lambda c, labels: not labels & set(FEVERISH), asymptomatic_bacteriuria),
    "contaminant_culture": TrapKind(lambda c, labels: "bloodstream_infection" not in labels, contaminant_culture),
    "bnp_only": TrapKind(lambda c, labels: "cardiogenic_pulmonary_edema" not in labels, bnp_only),
    "fat_liquefaction": TrapKind(lambda c, labels: not labels & {"superficial_ssi", "deep_ssi"}, fat_liquefaction),
    "infection_source_known": TrapKind(lambda c, labels: bool(labels & set(INFECTIONS[:-1])), infection_source_known),
    "preop_effusion": TrapKind(
        lambda c, labels: not labels & {"ards", "pneumonia", "cardiogenic_pulmonary_edema"}, preop_effusion
    ),
}
assert set(TRAP_KINDS) == set(TRAPS) == set(MIMICS), "every trap in TRAPS needs a TrapKind and MIMICS, only those"


def trap_applies(c: Course, trap: str) -> bool:
    return TRAP_KINDS[trap].applies(c, set(c.intended))


def apply_trap(c: Course, rng: random.Random, trap: str, twin: bool = False) -> None:
    """Lay `trap` down; twin=True lays its counterfactual (TWINS) instead: the same draws, no look-alike."""
    if twin:
        if trap not in TWINS:
            raise ValueError(f"trap {trap!r} has no counterfactual twin; twins exist for {', '.join(TWINS)}")
        TRAP_KINDS[trap].apply(c, rng, twin=True)
        return
    n_findings, before = len(c.findings), {day: dict(values) for day, values in c.state.items()}
    TRAP_KINDS[trap].apply(c, rng)
    for cid in MIMICS[trap]:
        c.trap_for.setdefault(cid, []).append(trap)
    if MIMICS[trap]:
        changed = [(d, k) for d, vs in c.state.items() for k, v in vs.items() if before.get(d, {}).get(k) != v]
        if trap in QUOTES_ADDED_FIRST:  # two marks: what the trap added is quoted before the values it set
            c.trap_marks += [(MIMICS[trap], c.findings[n_findings:], []), (MIMICS[trap], [], changed)]
        else:
            c.trap_marks.append((MIMICS[trap], c.findings[n_findings:], changed))
    if {"ckd", "esrd"} & set(c.history) and "none" in c.history:
        c.history.remove("none")  # a kidney trap made "no significant past history" untrue
    c.traps.append(trap)
