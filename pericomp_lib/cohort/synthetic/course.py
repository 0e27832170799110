"""Simulate one perioperative course: pick complications from the target mix, then lay down facts.

Order matters for realism and for the gold standard: labels are *aimed at* here (`Course.intended`),
but the gold comes later from `criteria.derive` reading the facts, never from this aim. Traps add
facts that look like a complication and are not one by the definitions (the paper's mistakes.csv).
The facts of each complication are in `complications`, traps in `traps`, routine charting in `background`.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from . import label_mix
from .background import background
from .complications import INFECTIONS, REALISE, SITES
from .draw import rnd, weighted
from .facts import SURGERIES, SURGERY_BY_ID, Course, Surgery
from .traps import TRAPS, apply_trap, trap_applies

__all__ = ["TRAPS", "choose_labels", "choose_surgery", "compatible", "simulate"]


def choose_labels(rng: random.Random, center: str) -> dict[str, str]:
    """Number of complications, then which ones and their grades, from the published mix."""
    k = weighted(rng, label_mix.per_case_probs(center))
    weights = label_mix.label_weights(center)
    chosen: list[str] = []
    while len(chosen) < k and weights:
        cid = weighted(rng, weights)
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
    return {cid: weighted(rng, label_mix.grade_probs(center, cid)) for cid in chosen}


def compatible(s: Surgery, labels: dict[str, str]) -> bool:
    """A leak needs an anastomosis and ileus charted bowel function; a transplant's falling creatinine
    would blur AKI and myocardial injury."""
    if "anastomotic_leak" in labels and not s.anastomosis:
        return False
    if "paralytic_ileus" in labels and not s.abdominal:
        return False
    return not (s.kidney_transplant and ({"acute_kidney_injury", "myocardial_injury"} & set(labels)))


def choose_surgery(rng: random.Random, center: str, labels: dict[str, str]) -> Surgery:
    key = "weight_a" if center == "synthetic-a" else "weight_b"
    weights = {s.id: getattr(s, key) for s in SURGERIES if compatible(s, labels) and not s.kidney_transplant}
    return SURGERY_BY_ID[weighted(rng, weights)]


def simulate(rng: random.Random, center: str, difficulty: float, twin: str | None = None) -> Course:
    """The draws happen in a fixed order (labels, surgery, patient, traps, events, background): changing
    it changes every cohort, so keep it when editing. twin: a trap of traps.TWINS laid as its counterfactual
    (same draws, the look-alike's deciding fact left out), for a counterfactual twin of the course."""
    labels = choose_labels(rng, center)
    surgery = choose_surgery(rng, center, labels)
    sex = rng.choice("MF") if surgery.id != "hysterectomy" else "F"
    start = date(2021, 1, 1) + timedelta(days=rng.randint(0, 4 * 365))
    c = Course(sex=sex, age=rnd(rng, 38, 86), surgery=surgery, start=start, intended=dict(labels))
    if rng.random() < 0.7:
        c.baseline_cr = rnd(rng, 58, 105) if sex == "M" else rnd(rng, 45, 85)
    c.history += rng.sample(["hypertension", "diabetes", "copd", "none"], 1)
    c.blood_loss_ml = rng.choice([20, 50, 100, 150, 200, 300, 400])
    for trap in TRAPS:  # traps first: some change surgery or baseline that realisation builds on
        if trap == "infection_source_known":
            continue
        if trap_applies(c, trap) and rng.random() < difficulty * 0.22:
            apply_trap(c, rng, trap, twin=trap == twin)
    days = {cid: REALISE[cid](c, rng, grade) for cid, grade in labels.items()}
    last = max([3, *days.values()])
    if trap_applies(c, "infection_source_known") and rng.random() < difficulty * 0.8:
        apply_trap(c, rng, "infection_source_known")
    for cid in labels:  # explicit wording: the note names the diagnosis
        if rng.random() < 1 - 0.8 * difficulty:
            c.add("assessment", max(days[cid], 1), about=cid)
    extra = sum({"mild": 1, "moderate": 3, "severe": 7, "none": 2}[g] for g in labels.values())
    c.los = max(last, max((f.day for f in c.findings), default=3)) + rng.randint(2, 4) + min(extra, 12)
    c.los = max(c.los, rng.randint(5, 9))
    background(c, rng)
    return c
