"""The record's scaffolding in English and Chinese: headings, note layouts, section joiners, signatures.

It differs in shape between the languages, not just in words, so it is one `RecordWords` per language in
`RECORD` instead of the (en, zh) pairs that phrases keeps for the wording of each fact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ...core import taxonomy


@dataclass(frozen=True)
class Section:
    """One part of a note: prefix + items joined + end (written only when there are items)."""

    prefix: str
    joiner: str
    end: str

    def write(self, items: list[str]) -> str:
        return self.prefix + self.joiner.join(items) + self.end


@dataclass(frozen=True)
class RecordWords:
    signed: str  # closes a full record's day note
    general: str  # {sex} {lo} {hi} {history}
    sex: dict[str, str]
    history_joiner: str
    first_note: tuple[str, ...]  # lines; {stamp} {date} {anaes} {procedure} {dx} {blood_loss} {drain} {pre}
    first_note_compact_drops: tuple[str, ...]  # line prefixes a compact record leaves out
    drain_left: tuple[str, str]  # end of the operative summary: (drain left, no drain)
    pre_joiner: str
    unit_sep: str  # between a lab value and its unit
    delirium: Section
    treatment: tuple[str, str]  # (with an indication, without)
    assessment: str  # {name}
    diagnosis_name: Callable[[str], str]
    transfusion_fragment: str  # {reason} {product}: the quoted evidence
    transfusion_note: str  # {text} {sign}
    transfusion_signed: str
    note_open: str  # {day}
    note_close: str
    bowel_lead: str  # {day}: prefixed to the first bowel fragment of a note
    subjective: Section  # between note_open and note_close
    sections: dict[str, Section]  # after note_close, in the order they are written
    plan: Section
    plan_end_full: str  # a full record's plan ends with this instead of plan.end
    discharge_plan: str
    routine_plan: str
    course_heading: str
    lab_heading: str
    exams_heading: str
    exam_line: str  # {date} {modality} {report}
    no_exams: str


RECORD = {
    "en": RecordWords(
        signed="\nRecorded by: /",
        general="# General information\nSex: {sex}\nAge: {lo}-{hi}\nPast history: {history}",
        sex={"M": "Male", "F": "Female"},
        history_joiner="; ",
        first_note=(
            "{stamp}",
            "First post-operative note",
            "Date of surgery: {date}",
            "Anaesthesia: {anaes}",
            "Procedure: {procedure}",
            "Intra-operative diagnosis: {dx}",
            "Post-operative diagnosis: {dx}",
            "Operative summary: uneventful procedure, estimated blood loss {blood_loss} ml{drain}",
            "Pre-operative tests: {pre}.",
            "Post-operative plan: recovery then ward; ECG monitoring, oxygen, fluids, prophylactic antibiotics; "
            "watch vital signs and drain output.",
        ),
        first_note_compact_drops=("Anaesthesia", "Intra-operative diagnosis", "Post-operative plan"),
        drain_left=("; one drain left in place.", "."),
        pre_joiner="; ",
        unit_sep=" ",
        delirium=Section("nursing report: ", ", ", ""),
        treatment=("{what} for {why}", "{what}"),
        assessment="Impression: {name}",
        diagnosis_name=lambda cid: taxonomy.english(cid).lower(),
        transfusion_fragment="{reason}, {product} transfused",
        transfusion_note="Transfusion note: {text}; uneventful, no transfusion reaction.{sign}",
        transfusion_signed=" Recorded by: /",
        note_open="POD {day}.",
        note_close="",
        bowel_lead="POD {day}. Today: ",
        subjective=Section(" Today: ", "; ", "."),
        sections={
            "vitals": Section(" Vitals: ", "; ", "."),
            "exam": Section(" Examination: ", "; ", "."),
            "labs": Section(" Investigations: ", "; ", "."),
            "other": Section(" Also: ", "; ", "."),
            "assess": Section(" ", "; ", "."),
        },
        plan=Section(" Plan: ", "; ", "."),
        plan_end_full=".",
        discharge_plan="discharge home today, clinic follow-up",
        routine_plan="continue current management and observe",
        course_heading="# Course notes",
        lab_heading="# Laboratory results\n\n|Date|Test|Result|Unit|Flag|Critical|Reference|",
        exams_heading="# Imaging and examinations",
        exam_line="{date}\n{modality}\tImpression: {report}",
        no_exams="(none)",
    ),
    "zh": RecordWords(
        signed="\n记录者： /",
        general="# 一般情况\n性别：{sex}\n年龄：{lo}-{hi}\n既往史：{history}",
        sex={"M": "男", "F": "女"},
        history_joiner="；",
        first_note=(
            "{stamp}",
            "术后首次病程记录",
            "手术日期： {date.year}年{date.month:02d}月{date.day:02d}日",
            "麻醉方式： {anaes}",
            "手术方式： {procedure}",
            "术中诊断： {dx}",
            "术后诊断： {dx}",
            "手术简要经过： 手术顺利，术中出血约{blood_loss}ml{drain}",
            "术前检查： {pre}。",
            "术后处理措施： 患者麻醉复苏后安返病房，予心电监护、吸氧、补液、预防性抗感染等处理，"
            "密切观察生命体征及引流情况。",
        ),
        first_note_compact_drops=("麻醉方式", "术中诊断", "术后处理措施"),
        drain_left=("，留置引流管1根。", "。"),
        pre_joiner="，",
        unit_sep="",
        delirium=Section("护士反映患者", "、", ""),
        treatment=("针对{why}予{what}", "予{what}"),
        assessment="考虑{name}",
        diagnosis_name=taxonomy.zh_heading,
        transfusion_fragment="{reason}，输注{product}",
        # no "：" after the heading: the authors' record writes "输血病程记录因治疗贫血，输注..." (medical_record.json)
        transfusion_note="输血病程记录{text}，过程顺利，无发热、皮疹等输血不良反应。{sign}",
        transfusion_signed="记录者：/",
        note_open="患者术后第{day}天",
        note_close="。",
        bowel_lead="患者术后第{day}天，",
        subjective=Section("，", "，", ""),
        sections={
            "vitals": Section("生命体征：", "；", "。"),
            "exam": Section("查体：", "，", "。"),
            "labs": Section("辅助检查：", "，", "。"),
            "other": Section("", "；", "。"),
            "assess": Section("", "；", "。"),
        },
        plan=Section("处理：", "；", "。"),
        plan_end_full="。遵嘱执行。",
        discharge_plan="今日出院，门诊随诊",
        routine_plan="继续目前治疗，密切观察病情变化",
        course_heading="# 病程记录",
        lab_heading="# 检验结果\n\n|检验日期|检验项名称|检验结果|检验项单位|高低标志|危险标志|参考值|",
        exams_heading="# 检查结果",
        exam_line="{date}\n{modality}\t影像诊断：{report}",
        no_exams="（无）",
    ),
}
