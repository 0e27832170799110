"""Write a simulated course as a medical record shaped like the authors' example.

Sections: general information; dated course notes from the first post-operative note onward
(transfusion notes as separate entries); a laboratory table with ↑/↓ flags; imaging and
examination reports. `render` also returns, for every finding it wrote, the exact fragment it used,
so gold evidence is quoted from the record rather than re-typed. `record_length="compact"` writes the
facts `compact.select` keeps, without signatures and repeated boilerplate lines.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import timedelta

from . import compact as C
from . import phrases as P
from .facts import Course, Finding
from .record_layout import RECORD

LANG_INDEX = {"en": 0, "zh": 1}
EXAM_SIGNS = frozenset(
    {
        "wound_redness",
        "superficial_wound_pus",
        "fascial_dehiscence",
        "wound_pain",
        "deep_wound_pus",
        "drain_pus",
        "serous_exudate",
        "rales",
        "suprapubic_tenderness",
        "superficial_ssi_dx",
    }
)


def _fmt(value: float, nd: int) -> str:
    return f"{value:.{nd}f}" if nd else str(int(round(value)))


def _arrow(c: Course, code: str, value: float) -> str:
    lo, hi = P.LABS[code][3] if c.sex == "M" else P.LABS[code][4]
    return "↑" if value > hi else "↓" if value < lo else ""


def _cfu(cfu: float) -> str:
    exp = len(str(int(cfu))) - 1
    mant = int(cfu) // 10**exp
    return f"{mant}x10^{exp}" if mant != 1 else f"10^{exp}"


class Writer:
    def __init__(
        self,
        course: Course,
        language: str,
        rng: random.Random,
        compact: bool = False,
        reports: dict[int, str] | None = None,
        lab_table: bool = True,
    ):
        self.c, self.lang, self.rng, self.i = course, language, rng, LANG_INDEX[language]
        self.w = RECORD[language]
        self.compact = compact
        self.with_lab_table = lab_table
        self.reports = reports or {}  # id(finding) -> report text the full record used (same PE side)
        self.signed = "" if compact else self.w.signed
        self.text_of: dict[int, str] = {}  # id(finding) -> the fragment written for it

    def t(self, pair: tuple[str, str], **kw) -> str:
        return pair[self.i].format(**kw)

    def date(self, day: int) -> str:
        return (self.c.start + timedelta(days=day)).isoformat()

    def stamp(self, day: int, hour: tuple[int, int] = (8, 17)) -> str:
        if self.compact:  # a date is enough to order the notes; a time costs 6 tokens per note
            return self.date(day)
        return f"{self.date(day)} {self.rng.randint(*hour):02d}:{self.rng.randint(0, 59):02d}"

    def keep(self, f: Finding, text: str) -> str:
        self.text_of[id(f)] = text
        return text

    # ------------------------------------------------------------------ fragments
    def lab(self, f: Finding) -> str:
        row = P.LABS[f.code]
        name, unit, nd = row[self.i], row[2], row[5]
        return self.keep(
            f, f"{name} {_fmt(f.value, nd)}{self.w.unit_sep}{unit} {_arrow(self.c, f.code, f.value)}".rstrip()
        )

    def vitals(self, f: Finding) -> str:
        d = f.data
        pair = (
            "T {temp} °C, HR {hr}/min, RR {rr}/min, BP {bp} mmHg",
            "体温{temp}℃，心率{hr}次/分，呼吸{rr}次/分，血压{bp}mmHg",
        )
        return self.keep(f, self.t(pair, **d))

    def sign(self, f: Finding) -> str:
        key = f"{f.code}_neg" if f.negated else f.code
        side = f.data.get("side", "left")
        return self.keep(f, self.t(P.SIGN[key], side_zh=P.SIDE.get(side, ""), **f.data))

    def bowel(self, f: Finding) -> str:
        return self.keep(f, self.t(P.BOWEL[f.code]))

    def drain(self, f: Finding) -> str:
        colour = P.DRAIN_COLOUR[f.data["colour"]][self.i]
        return self.keep(f, self.t(P.DRAIN, volume=f.data["volume"], colour=colour))

    def delirium(self, f: Finding) -> str:
        return self.keep(f, self.w.delirium.write([P.DELIRIUM[x][self.i] for x in f.data["features"]]))

    def ecg(self, f: Finding) -> str:
        return self.keep(f, self.t(P.ECG[f.code], **{"rate": "", "leads": "", **f.data}))

    def gas(self, f: Finding) -> str:
        return self.keep(f, self.t(P.GAS, fio2=int(round(f.data["fio2"] * 100)), pao2=f.data["pao2"]))

    def culture(self, f: Finding) -> str:
        d = f.data
        state = (
            "contaminant"
            if d.get("contaminant")
            else "asymptomatic"
            if d.get("asymptomatic")
            else bool(d.get("positive"))
        )
        org = d.get("organism", "")
        return self.keep(
            f,
            self.t(
                P.CULTURE[(f.code, state)],
                organism=org,
                organism_zh=P.ORGANISM_ZH.get(org, org),
                bottles=d.get("bottles", 2),
                cfu=_cfu(d.get("cfu", 1e5)),
            ),
        )

    def treatment(self, f: Finding) -> str:
        what = self.t(P.TREATMENT[f.code])
        why = P.INDICATION[f.about][self.i] if f.about else ""
        with_why, without = self.w.treatment
        return self.keep(f, (with_why if why else without).format(what=what, why=why))

    def assessment(self, f: Finding) -> str:
        return self.keep(f, self.w.assessment.format(name=self.w.diagnosis_name(f.about)))

    def report(self, f: Finding) -> str:
        if id(f) in self.reports:
            return self.keep(f, self.reports[id(f)])
        d = f.data
        if f.kind == "echo":
            return self.keep(f, self.t(P.ECHO[f.code], **d))
        key = f.code
        if f.code == "leak" and d.get("small"):
            key = "leak_small"
        elif f.code == "dvt" and d.get("preop"):
            key = "dvt_preop"
        elif f.code == "effusion":
            key = "effusion_preop"
        if f.negated:
            key = f"{f.code}_neg"
        side = self.rng.choice(["left", "right"]) if f.code == "pe" else d.get("side", "left")
        vein = P.VEIN[d.get("vein", "calf")]
        extent_zh = P.EXTENT_ZH.get(d.get("extent", ""), "")
        lobe = d.get("lobe", "right lower lobe")
        text = self.t(
            P.IMAGING[key],
            lobe=lobe,
            lobe_zh=P.LOBE.get(lobe, ""),
            side=side,
            side_zh=P.SIDE[side],
            vein=vein[0],
            vein_zh=vein[1],
            extent=d.get("extent", ""),
            extent_zh=extent_zh,
            size=d.get("size", ""),
        )
        return self.keep(f, text)

    # ------------------------------------------------------------------ sections
    def general(self) -> str:
        c = self.c
        lo = c.age - c.age % 5
        history = self.w.history_joiner.join(P.HISTORY[h][self.i] for h in c.history)
        return self.w.general.format(sex=self.w.sex[c.sex], lo=lo, hi=lo + 5, history=history)

    def first_note(self, pre: list[Finding]) -> str:
        c, s, w = self.c, self.c.surgery, self.w
        pre_txt = w.pre_joiner.join(self.lab(f) for f in pre)
        lines = [t for t in w.first_note if not (self.compact and t.startswith(w.first_note_compact_drops))]
        fields = dict(
            stamp=self.stamp(0, (14, 20)),
            date=c.start,
            anaes=P.ANAESTHESIA[s.anaesthesia][self.i],
            procedure=(s.en, s.zh)[self.i],
            dx=(s.dx_en, s.dx_zh)[self.i],
            blood_loss=c.blood_loss_ml,
            drain=w.drain_left[0] if s.drain else w.drain_left[1],
            pre=pre_txt,
        )
        return "\n".join(t.format(**fields) for t in lines)

    def transfusion(self, f: Finding) -> str:
        units = f.data.get("units", 2)
        product = self.t(P.PRODUCT[f.code], units=units, ml=units * 200)
        reason = P.TRANSFUSION_REASON[f.data["reason"]][self.i]
        text = self.keep(f, self.w.transfusion_fragment.format(reason=reason, product=product))
        sign = "" if self.compact else self.w.transfusion_signed
        return f"{self.stamp(f.day, (9, 23))}\n" + self.w.transfusion_note.format(text=text, sign=sign)

    def fragment(self, f: Finding) -> tuple[str, str] | None:
        """(note section, text) for a finding of a day note; None for kinds a day note does not write."""
        if f.kind == "sign":
            return ("exam" if f.code in EXAM_SIGNS else "subj"), self.sign(f)
        if f.kind not in DAY_NOTE_KINDS:
            return None
        group, write = DAY_NOTE_KINDS[f.kind]
        return group, write(self, f)

    def day_note(self, day: int, fs: list[Finding]) -> str:
        """Sections and their punctuation come from record_layout.RECORD, so en and zh share one layout logic."""
        w = self.w
        groups: dict[str, list[str]] = {k: [] for k in ("subj", *w.sections, "plan")}
        for f in sorted(fs, key=lambda f: f.kind != "bowel"):
            written = self.fragment(f)
            if written:
                groups[written[0]].append(written[1])
        title = self.rng.choice(P.NOTE_TITLES_SHORT if self.compact else P.NOTE_TITLES)[self.i]
        bowel = [f for f in fs if f.kind == "bowel"]
        if bowel and groups["subj"]:  # the day makes bowel evidence unambiguous ("no flatus" on POD 3)
            self.text_of[id(bowel[0])] = w.bowel_lead.format(day=day) + self.text_of[id(bowel[0])]
        out = (
            w.note_open.format(day=day) + (w.subjective.write(groups["subj"]) if groups["subj"] else "") + w.note_close
        )
        out += "".join(section.write(groups[k]) for k, section in w.sections.items() if groups[k])
        routine = "" if self.compact else w.routine_plan  # compact: no routine plan line
        plan = (
            w.plan.joiner.join(groups["plan"]) if groups["plan"] else w.discharge_plan if day == self.c.los else routine
        )
        if plan:
            out += w.plan.prefix + plan + (w.plan.end if self.compact else w.plan_end_full)
        return f"{self.stamp(day)}\n{title}\n{out}{self.signed}"

    def lab_table(self) -> str:
        rows = [self.w.lab_heading, "|---|---|---|---|---|---|---|"]
        labs = [f for f in self.c.of("lab") if f.day >= 0 or not self.compact]  # compact: baseline is in the first note
        for f in sorted(labs, key=lambda f: f.day):
            name, unit, male, female, nd = P.LABS[f.code][self.i], *P.LABS[f.code][2:]
            lo, hi = male if self.c.sex == "M" else female
            ref = f"{_fmt(lo, nd)} - {_fmt(hi, nd)}"
            rows.append(
                f"|{self.date(f.day)}|{name}|{_fmt(f.value, nd)}|{unit}|{_arrow(self.c, f.code, f.value)}||{ref}|"
            )
        return "\n".join(rows)

    def exams(self) -> str:
        out = [self.w.exams_heading]
        items = sorted([f for f in self.c.findings if f.kind in ("imaging", "echo")], key=lambda f: f.day)
        for f in items:
            modality = (
                "echo"
                if f.kind == "echo"
                else ("ct_head" if f.code == "intracranial_haemorrhage" else f.data.get("modality", "ct_chest"))
            )
            out.append(
                self.w.exam_line.format(
                    date=self.date(f.day), modality=P.MODALITY[modality][self.i], report=self.report(f)
                )
            )
        if not items:
            out.append(self.w.no_exams)
        return "\n".join(out)

    def render(self) -> str:
        c = self.c
        pre = [f for f in c.of("lab") if f.day < 0]
        by_day: dict[int, list[Finding]] = {}
        for f in c.findings:
            if f.kind in ("imaging", "echo", "transfusion") or f.day < 0:
                continue
            if f.kind == "lab" and f.day < 0:
                continue
            by_day.setdefault(f.day, []).append(f)
        if self.compact:  # routine days are gone; the discharge note still closes the course
            by_day.setdefault(c.los, [])
        notes = [self.first_note(pre)]
        transfusions = sorted(c.of("transfusion"), key=lambda f: f.day)
        for day in sorted(by_day):
            if day == 0 and not any(f.kind not in ("vitals",) for f in by_day[0]):
                continue
            notes += [self.transfusion(f) for f in transfusions if f.day == day]
            notes.append(self.day_note(day, by_day[day]))
        notes += [self.transfusion(f) for f in transfusions if f.day not in by_day]
        table = [self.lab_table()] if self.with_lab_table else []
        return "\n\n".join([self.general(), self.w.course_heading, *notes, *table, self.exams()]) + "\n"


DAY_NOTE_KINDS = {  # finding kind -> (day-note section, writer); signs split by EXAM_SIGNS in Writer.fragment
    "bowel": ("subj", Writer.bowel),
    "delirium": ("subj", Writer.delirium),
    "vitals": ("vitals", Writer.vitals),
    "drain": ("exam", Writer.drain),
    "lab": ("labs", Writer.lab),
    "ecg": ("other", Writer.ecg),
    "gas": ("other", Writer.gas),
    "culture": ("other", Writer.culture),
    "assessment": ("assess", Writer.assessment),
    "treatment": ("plan", Writer.treatment),
}


def render(
    course: Course, language: str, rng: random.Random, record_length: str = "full", proof: Iterable[Finding] = ()
) -> tuple[str, dict[int, str]]:
    """(record text, {id(finding): exact fragment written for it}); a compact record keeps `proof`."""
    if C.check_record_length(record_length) == "full":
        w = Writer(course, language, rng)
        return w.render(), w.text_of
    full = Writer(course, language, random.Random())
    full.rng.setstate(rng.getstate())  # replay the full record: its writer draws the PE side
    full.render()
    reports = {
        id(f): full.text_of[id(f)] for f in course.findings if f.kind in ("imaging", "echo") and id(f) in full.text_of
    }
    # "notes": a compact note states every lab value of its day, so the table would only repeat them (~23% of the
    # record's tokens); the table draws nothing from rng, so the rest of the text is the compact record's
    w = Writer(
        C.select(course, proof), language, rng, compact=True, reports=reports, lab_table=record_length != "notes"
    )
    text = w.render()
    return text, w.text_of
