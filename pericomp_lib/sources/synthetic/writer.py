"""Write a simulated course as a medical record shaped like the authors' example.

Sections: general information; dated course notes from the first post-operative note onward
(transfusion notes as separate entries); a laboratory table with ↑/↓ flags; imaging and
examination reports. `render` also returns, for every finding it wrote, the exact fragment it used,
so gold evidence is quoted from the record rather than re-typed. `record_length="compact"` writes the
facts `compact.select` keeps, without signatures and repeated boilerplate lines.
"""
from __future__ import annotations

import random
from datetime import timedelta
from typing import Iterable

from ... import taxonomy
from . import compact as C
from . import phrases as P
from .facts import Course, Finding

LANG_INDEX = {"en": 0, "zh": 1}


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
    def __init__(self, course: Course, language: str, rng: random.Random, compact: bool = False,
                 reports: dict[int, str] | None = None):
        self.c, self.lang, self.rng, self.i = course, language, rng, LANG_INDEX[language]
        self.compact = compact
        self.reports = reports or {}  # id(finding) -> report text the full record used (same PE side)
        self.signed = "" if compact else ("\n记录者： /" if language == "zh" else "\nRecorded by: /")
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
        en, zh, unit, *_rest, nd = P.LABS[f.code]
        name = zh if self.lang == "zh" else en
        sep = "" if self.lang == "zh" else " "
        return self.keep(f, f"{name} {_fmt(f.value, nd)}{sep}{unit} {_arrow(self.c, f.code, f.value)}".rstrip())

    def vitals(self, f: Finding) -> str:
        d = f.data
        pair = ("T {temp} °C, HR {hr}/min, RR {rr}/min, BP {bp} mmHg", "体温{temp}℃，心率{hr}次/分，呼吸{rr}次/分，血压{bp}mmHg")
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
        parts = [P.DELIRIUM[x][self.i] for x in f.data["features"]]
        text = ("nursing report: " + ", ".join(parts)) if self.lang == "en" else "护士反映患者" + "、".join(parts)
        return self.keep(f, text)

    def ecg(self, f: Finding) -> str:
        return self.keep(f, self.t(P.ECG[f.code], **{"rate": "", "leads": "", **f.data}))

    def gas(self, f: Finding) -> str:
        return self.keep(f, self.t(P.GAS, fio2=int(round(f.data["fio2"] * 100)), pao2=f.data["pao2"]))

    def culture(self, f: Finding) -> str:
        d = f.data
        state = "contaminant" if d.get("contaminant") else "asymptomatic" if d.get("asymptomatic") else bool(d.get("positive"))
        org = d.get("organism", "")
        return self.keep(f, self.t(P.CULTURE[(f.code, state)], organism=org, organism_zh=P.ORGANISM_ZH.get(org, org),
                                   bottles=d.get("bottles", 2), cfu=_cfu(d.get("cfu", 1e5))))

    def treatment(self, f: Finding) -> str:
        what = self.t(P.TREATMENT[f.code])
        why = P.INDICATION[f.about][self.i] if f.about else ""
        text = (f"{what} for {why}" if why else what) if self.lang == "en" else (f"针对{why}予{what}" if why else f"予{what}")
        return self.keep(f, text)

    def assessment(self, f: Finding) -> str:
        if self.lang == "en":
            return self.keep(f, f"Impression: {taxonomy.english(f.about).lower()}")
        return self.keep(f, f"考虑{taxonomy.zh_heading(f.about)}")

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
        extent_zh = {"segmental": "段", "subsegmental": "亚段"}.get(d.get("extent", ""), "")
        lobe = d.get("lobe", "right lower lobe")
        text = self.t(P.IMAGING[key], lobe=lobe, lobe_zh=P.LOBE.get(lobe, ""), side=side, side_zh=P.SIDE[side],
                      vein=vein[0], vein_zh=vein[1], extent=d.get("extent", ""), extent_zh=extent_zh, size=d.get("size", ""))
        return self.keep(f, text)

    # ------------------------------------------------------------------ sections
    def general(self) -> str:
        c, zh = self.c, self.lang == "zh"
        lo = c.age - c.age % 5
        sex = ("男" if c.sex == "M" else "女") if zh else ("Male" if c.sex == "M" else "Female")
        hist = ("；" if zh else "; ").join(P.HISTORY[h][self.i] for h in c.history)
        lines = ["# 一般情况" if zh else "# General information", f"{'性别：' if zh else 'Sex: '}{sex}",
                 f"{'年龄：' if zh else 'Age: '}{lo}-{lo + 5}", f"{'既往史：' if zh else 'Past history: '}{hist}"]
        return "\n".join(lines)

    def first_note(self, pre: list[Finding]) -> str:
        c, s, zh = self.c, self.c.surgery, self.lang == "zh"
        pre_txt = ("，" if zh else "; ").join(self.lab(f) for f in pre)
        anaes = P.ANAESTHESIA[s.anaesthesia][self.i]
        if zh:
            d = c.start
            body = [f"{self.stamp(0, (14, 20))}", "术后首次病程记录", f"手术日期： {d.year}年{d.month:02d}月{d.day:02d}日",
                    f"麻醉方式： {anaes}", f"手术方式： {s.zh}", f"术中诊断： {s.dx_zh}", f"术后诊断： {s.dx_zh}",
                    f"手术简要经过： 手术顺利，术中出血约{c.blood_loss_ml}ml" + ("，留置引流管1根。" if s.drain else "。"),
                    f"术前检查： {pre_txt}。",
                    "术后处理措施： 患者麻醉复苏后安返病房，予心电监护、吸氧、补液、预防性抗感染等处理，密切观察生命体征及引流情况。"]
            if self.compact:
                body = [b for b in body if not b.startswith(("麻醉方式", "术中诊断", "术后处理措施"))]
        else:
            body = [f"{self.stamp(0, (14, 20))}", "First post-operative note", f"Date of surgery: {c.start.isoformat()}",
                    f"Anaesthesia: {anaes}", f"Procedure: {s.en}", f"Intra-operative diagnosis: {s.dx_en}",
                    f"Post-operative diagnosis: {s.dx_en}",
                    f"Operative summary: uneventful procedure, estimated blood loss {c.blood_loss_ml} ml" + ("; one drain left in place." if s.drain else "."),
                    f"Pre-operative tests: {pre_txt}.",
                    "Post-operative plan: recovery then ward; ECG monitoring, oxygen, fluids, prophylactic antibiotics; watch vital signs and drain output."]
            if self.compact:
                body = [b for b in body if not b.startswith(("Anaesthesia", "Intra-operative diagnosis", "Post-operative plan"))]
        return "\n".join(body)

    def transfusion(self, f: Finding) -> str:
        units = f.data.get("units", 2)
        product = self.t(P.PRODUCT[f.code], units=units, ml=units * 200)
        reason = P.TRANSFUSION_REASON[f.data["reason"]][self.i]
        if self.lang == "zh":
            text = self.keep(f, f"{reason}，输注{product}")
            sign = "" if self.compact else "记录者：/"
            return f"{self.stamp(f.day, (9, 23))}\n输血病程记录{text}，过程顺利，无发热、皮疹等输血不良反应。{sign}"
        text = self.keep(f, f"{reason}, {product} transfused")
        sign = "" if self.compact else " Recorded by: /"
        return f"{self.stamp(f.day, (9, 23))}\nTransfusion note: {text}; uneventful, no transfusion reaction.{sign}"

    def day_note(self, day: int, fs: list[Finding]) -> str:
        zh = self.lang == "zh"
        groups: dict[str, list[str]] = {k: [] for k in ("subj", "vitals", "exam", "labs", "other", "assess", "plan")}
        for f in sorted(fs, key=lambda f: f.kind != "bowel"):
            if f.kind == "bowel" or (f.kind == "sign" and f.code not in ("wound_redness", "superficial_wound_pus", "fascial_dehiscence",
                                                                          "wound_pain", "deep_wound_pus", "drain_pus", "serous_exudate",
                                                                          "rales", "suprapubic_tenderness", "superficial_ssi_dx")):
                groups["subj"].append(self.bowel(f) if f.kind == "bowel" else self.sign(f))
            elif f.kind == "delirium":
                groups["subj"].append(self.delirium(f))
            elif f.kind == "vitals":
                groups["vitals"].append(self.vitals(f))
            elif f.kind in ("sign",):
                groups["exam"].append(self.sign(f))
            elif f.kind == "drain":
                groups["exam"].append(self.drain(f))
            elif f.kind == "lab":
                groups["labs"].append(self.lab(f))
            elif f.kind == "ecg":
                groups["other"].append(self.ecg(f))
            elif f.kind == "gas":
                groups["other"].append(self.gas(f))
            elif f.kind == "culture":
                groups["other"].append(self.culture(f))
            elif f.kind == "assessment":
                groups["assess"].append(self.assessment(f))
            elif f.kind == "treatment":
                groups["plan"].append(self.treatment(f))
        title = self.rng.choice(P.NOTE_TITLES_SHORT if self.compact else P.NOTE_TITLES)[self.i]
        bowel = [f for f in fs if f.kind == "bowel"]
        if bowel and groups["subj"]:  # the day makes bowel evidence unambiguous ("no flatus" on POD 3)
            lead = f"患者术后第{day}天，" if zh else f"POD {day}. Today: "
            self.text_of[id(bowel[0])] = lead + self.text_of[id(bowel[0])]
        if zh:
            parts = [f"患者术后第{day}天"] + groups["subj"]
            out = "，".join(parts) + "。"
            if groups["vitals"]:
                out += "生命体征：" + "；".join(groups["vitals"]) + "。"
            if groups["exam"]:
                out += "查体：" + "，".join(groups["exam"]) + "。"
            if groups["labs"]:
                out += "辅助检查：" + "，".join(groups["labs"]) + "。"
            if groups["other"]:
                out += "；".join(groups["other"]) + "。"
            if groups["assess"]:
                out += "；".join(groups["assess"]) + "。"
            routine = "" if self.compact else "继续目前治疗，密切观察病情变化"  # compact: no routine plan line
            plan = "；".join(groups["plan"]) if groups["plan"] else "今日出院，门诊随诊" if day == self.c.los else routine
            out += ("处理：" + plan + ("。" if self.compact else "。遵嘱执行。") if plan else "") + self.signed
        else:
            out = f"POD {day}."
            if groups["subj"]:
                out += " Today: " + "; ".join(groups["subj"]) + "."
            if groups["vitals"]:
                out += " Vitals: " + "; ".join(groups["vitals"]) + "."
            if groups["exam"]:
                out += " Examination: " + "; ".join(groups["exam"]) + "."
            if groups["labs"]:
                out += " Investigations: " + "; ".join(groups["labs"]) + "."
            if groups["other"]:
                out += " Also: " + "; ".join(groups["other"]) + "."
            if groups["assess"]:
                out += " " + "; ".join(groups["assess"]) + "."
            routine = "" if self.compact else "continue current management and observe"
            plan = "; ".join(groups["plan"]) if groups["plan"] else "discharge home today, clinic follow-up" if day == self.c.los else routine
            out += (" Plan: " + plan + "." if plan else "") + self.signed
        return f"{self.stamp(day)}\n{title}\n{out}"

    def lab_table(self) -> str:
        zh = self.lang == "zh"
        head = ("# 检验结果\n\n|检验日期|检验项名称|检验结果|检验项单位|高低标志|危险标志|参考值|" if zh else
                "# Laboratory results\n\n|Date|Test|Result|Unit|Flag|Critical|Reference|")
        rows = [head, "|---|---|---|---|---|---|---|"]
        labs = [f for f in self.c.of("lab") if f.day >= 0 or not self.compact]  # compact: baseline is in the first note
        for f in sorted(labs, key=lambda f: f.day):
            en, zname, unit, male, female, nd = P.LABS[f.code]
            lo, hi = male if self.c.sex == "M" else female
            ref = f"{_fmt(lo, nd)} - {_fmt(hi, nd)}"
            rows.append(f"|{self.date(f.day)}|{zname if zh else en}|{_fmt(f.value, nd)}|{unit}|{_arrow(self.c, f.code, f.value)}||{ref}|")
        return "\n".join(rows)

    def exams(self) -> str:
        zh = self.lang == "zh"
        out = ["# 检查结果" if zh else "# Imaging and examinations"]
        items = sorted([f for f in self.c.findings if f.kind in ("imaging", "echo")], key=lambda f: f.day)
        for f in items:
            modality = "echo" if f.kind == "echo" else ("ct_head" if f.code == "intracranial_haemorrhage" else f.data.get("modality", "ct_chest"))
            label = ("影像诊断" if zh else "Impression")
            out.append(f"{self.date(f.day)}\n{P.MODALITY[modality][self.i]}\t{label}: {self.report(f)}" if not zh else
                       f"{self.date(f.day)}\n{P.MODALITY[modality][self.i]}\t{label}：{self.report(f)}")
        if not items:
            out.append("（无）" if zh else "(none)")
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
        heading = "# 病程记录" if self.lang == "zh" else "# Course notes"
        return "\n\n".join([self.general(), heading, *notes, self.lab_table(), self.exams()]) + "\n"


def render(course: Course, language: str, rng: random.Random, record_length: str = "full",
           proof: Iterable[Finding] = ()) -> tuple[str, dict[int, str]]:
    """(record text, {id(finding): exact fragment written for it}); a compact record keeps `proof`."""
    if C.check_record_length(record_length) == "full":
        w = Writer(course, language, rng)
        return w.render(), w.text_of
    full = Writer(course, language, random.Random())
    full.rng.setstate(rng.getstate())  # replay the full record: its writer draws the PE side
    full.render()
    reports = {id(f): full.text_of[id(f)] for f in course.findings if f.kind in ("imaging", "echo") and id(f) in full.text_of}
    w = Writer(C.select(course, proof), language, rng, compact=True, reports=reports)
    text = w.render()
    return text, w.text_of
