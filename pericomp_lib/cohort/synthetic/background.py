"""Routine charting: ordinary post-operative values on every charted day.

Written after the events so that complication values (`Course.state`) override the routine ones, and
`Course.routine_from` marks where routine charting starts (a compact record drops most of it).
"""

from __future__ import annotations

import random

from .draw import rnd
from .facts import PREOP, Course


def note_days(c: Course, rng: random.Random) -> list[int]:
    """Every day with an event gets a note, plus the first three days, discharge, and a note every 1-3 days."""
    days = (
        {1, 2, 3, c.los} | {f.day for f in c.findings if 1 <= f.day <= c.los} | {d for d in c.state if 1 <= d <= c.los}
    )
    d = 3
    while d < c.los:
        d += rng.randint(1, 3)
        days.add(min(d, c.los))
    return sorted(days)


def background(c: Course, rng: random.Random) -> None:
    """Ordinary post-operative values on every charted day; complication values override them."""
    c.routine_from = len(c.findings)  # what follows is routine unless an event set its value (c.state)
    true_cr, hb0 = _preop(c, rng)
    measure_tnt = rng.random() < 0.3
    c.note_days = note_days(c, rng)
    for day in c.note_days:
        _chart_day(c, rng, day, true_cr, hb0, measure_tnt)
    _bowel(c, rng)
    _drains(c, rng)


def _preop(c: Course, rng: random.Random) -> tuple[float, float]:
    """Pre-operative labs and day-0 vitals; returns (true creatinine, pre-operative Hb) the days build on."""
    male = c.sex == "M"
    true_cr = c.baseline_cr or (rnd(rng, 60, 100) if male else rnd(rng, 48, 85))
    hb0 = rnd(rng, 128, 156) if male else rnd(rng, 112, 140)
    c.add("lab", PREOP, "hb", hb0)
    c.add("lab", PREOP, "wbc", rnd(rng, 4.5, 9.0, 2))
    if c.baseline_cr:
        c.add("lab", PREOP, "cr", c.baseline_cr)
    c.add(
        "vitals",
        0,
        temp=rnd(rng, 36.4, 37.2, 1),
        hr=rnd(rng, 68, 92),
        rr=rnd(rng, 14, 19),
        bp=f"{rnd(rng, 105, 145)}/{rnd(rng, 60, 88)}",
    )
    return true_cr, hb0


def _chart_day(c: Course, rng: random.Random, day: int, true_cr: float, hb0: float, measure_tnt: bool) -> None:
    """One day's vitals and labs. A routine value is drawn even where an event overrides it (`st.get`
    with a drawn default), so adding an event never shifts the draws of later days."""
    st = c.state.get(day, {})
    early = day <= 3
    c.add(
        "vitals",
        day,
        temp=st.get("temp", rnd(rng, 36.4, 37.9 if day == 1 else 37.5, 1)),
        hr=st.get("hr", rnd(rng, 66, 92)),
        rr=st.get("rr", rnd(rng, 15, 20)),
        bp=f"{rnd(rng, 102, 148)}/{rnd(rng, 58, 90)}",
    )
    if early or "wbc" in st or "hb" in st or rng.random() < 0.6:
        c.add("lab", day, "wbc", st.get("wbc", rnd(rng, 8.5, 13.0, 2) if day == 1 else rnd(rng, 4.8, 10.5, 2)))
        c.add("lab", day, "hb", st.get("hb", rnd(rng, hb0 - 25, hb0 - 6)))
        c.add("lab", day, "plt", rnd(rng, 130, 320))
        c.add("lab", day, "crp", st.get("crp", rnd(rng, 18, 95, 2) if early else rnd(rng, 6, 45, 2)))
    if early or "cr" in st or rng.random() < 0.4:
        if c.surgery.kidney_transplant and "cr" not in st:
            cr = round(true_cr * max(0.16, 0.78**day) * rng.uniform(0.92, 1.08))
        else:
            cr = st.get("cr", round(true_cr * rng.uniform(0.86, 1.16)))
        c.add("lab", day, "cr", cr)
        c.add("lab", day, "alb", rnd(rng, 27, 37))
    if "tnt" in st or (measure_tnt and day == 1):
        c.add("lab", day, "tnt", st.get("tnt", rnd(rng, 0.004, 0.012, 3)))
    if "bnp" in st:
        c.add("lab", day, "bnp", st["bnp"])
    if "ddimer" in st or (day == 2 and rng.random() < 0.4):
        c.add("lab", day, "ddimer", st.get("ddimer", rnd(rng, 0.8, 2.9, 2)))


def _bowel(c: Course, rng: random.Random) -> None:
    """Routine return of bowel function, unless an event or trap already charted it (or must hide it)."""
    bowel_done = any(f.code in ("no_flatus", "flatus", "diet_intolerance") for f in c.of("bowel", negated=None))
    if c.surgery.abdominal and not bowel_done and "_no_bowel_records" not in c.traps:
        first = rng.choice([1, 2])
        if first == 2:
            c.add("bowel", 1, "no_flatus")
        c.add("bowel", first, "flatus")
        c.add("bowel", first + 1, "diet_ok")
    elif not c.surgery.abdominal:
        c.add("bowel", 1, "diet_ok")


def _drains(c: Course, rng: random.Random) -> None:
    if c.surgery.drain:
        have = {f.day for f in c.of("drain")}
        for day in c.note_days:
            if day <= 5 and day not in have:
                c.add(
                    "drain", day, volume=max(5, rnd(rng, 60, 260) // day), colour="light_red" if day <= 2 else "serous"
                )
