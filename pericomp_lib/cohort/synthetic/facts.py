"""The simulated patient course as plain facts, before any wording.

A course is a surgery plus a list of `Finding`s (a lab value, a vital-sign set, an imaging report,
an ECG, a culture, a symptom, a treatment with its stated indication...). The criteria read only
findings, the writers only render them; so a gold label is always backed by facts that the record
states, and both languages say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

# post-operative day: 0 = day of surgery, negative = before surgery
PREOP = -1


@dataclass(frozen=True)
class Surgery:
    id: str
    en: str
    zh: str
    dx_en: str
    dx_zh: str
    abdominal: bool = True  # bowel function is charted (ileus can be judged)
    anastomosis: bool = False  # a leak is possible
    implant: bool = False
    kidney_transplant: bool = False
    drain: bool = True
    anaesthesia: str = "general"  # general | spinal | epidural
    weight_a: float = 1.0
    weight_b: float = 1.0


SURGERIES: tuple[Surgery, ...] = (
    Surgery(
        "distal_gastrectomy",
        "Laparoscopic radical distal gastrectomy (Billroth II)",
        "腹腔镜下根治性远端胃切除术（Billroth II式吻合）",
        "gastric antrum cancer",
        "胃窦癌",
        anastomosis=True,
        weight_a=14,
        weight_b=3,
    ),
    Surgery(
        "total_gastrectomy",
        "Laparoscopic radical total gastrectomy with Roux-en-Y reconstruction",
        "腹腔镜下根治性全胃切除术（Roux-en-Y吻合）",
        "gastric body cancer",
        "胃体癌",
        anastomosis=True,
        weight_a=8,
        weight_b=2,
    ),
    Surgery(
        "right_hemicolectomy",
        "Laparoscopic radical right hemicolectomy",
        "腹腔镜下根治性右半结肠切除术",
        "ascending colon cancer",
        "升结肠癌",
        anastomosis=True,
        weight_a=10,
        weight_b=4,
    ),
    Surgery(
        "anterior_resection",
        "Laparoscopic anterior resection of rectum",
        "腹腔镜下直肠前切除术（Dixon术）",
        "rectal cancer",
        "直肠癌",
        anastomosis=True,
        weight_a=10,
        weight_b=4,
    ),
    Surgery(
        "whipple",
        "Pancreaticoduodenectomy (Whipple)",
        "胰十二指肠切除术",
        "periampullary carcinoma",
        "壶腹周围癌",
        anastomosis=True,
        weight_a=6,
        weight_b=1,
    ),
    Surgery(
        "oesophagectomy",
        "Thoracolaparoscopic Ivor Lewis oesophagectomy",
        "胸腹腔镜联合Ivor Lewis食管癌根治术",
        "mid-thoracic oesophageal cancer",
        "胸中段食管癌",
        anastomosis=True,
        weight_a=4,
        weight_b=1,
    ),
    Surgery(
        "small_bowel_resection",
        "Exploratory laparotomy, adhesiolysis and small bowel resection",
        "剖腹探查、肠粘连松解、小肠部分切除术",
        "adhesive small bowel obstruction",
        "粘连性小肠梗阻",
        anastomosis=True,
        weight_a=4,
        weight_b=2,
    ),
    Surgery(
        "hepatectomy",
        "Laparoscopic right hepatectomy",
        "腹腔镜下右半肝切除术",
        "hepatocellular carcinoma",
        "肝细胞癌",
        weight_a=6,
        weight_b=3,
    ),
    Surgery(
        "cholecystectomy",
        "Laparoscopic cholecystectomy",
        "腹腔镜下胆囊切除术",
        "gallstones with chronic cholecystitis",
        "胆囊结石伴慢性胆囊炎",
        weight_a=5,
        weight_b=6,
    ),
    Surgery(
        "hysterectomy",
        "Total abdominal hysterectomy with bilateral salpingo-oophorectomy",
        "经腹全子宫切除+双侧附件切除术",
        "multiple uterine fibroids",
        "多发性子宫肌瘤",
        weight_a=2,
        weight_b=6,
    ),
    Surgery(
        "nephrectomy",
        "Laparoscopic radical nephrectomy",
        "腹腔镜下根治性肾切除术",
        "renal cell carcinoma",
        "肾细胞癌",
        abdominal=False,
        weight_a=2,
        weight_b=5,
    ),
    Surgery(
        "kidney_transplant",
        "Allogeneic kidney transplantation",
        "同种异体肾移植术",
        "end-stage renal disease",
        "终末期肾病",
        abdominal=False,
        kidney_transplant=True,
        weight_a=1,
        weight_b=3,
    ),
    Surgery(
        "lobectomy",
        "Video-assisted thoracoscopic right upper lobectomy",
        "胸腔镜下右肺上叶切除术",
        "right upper lobe lung adenocarcinoma",
        "右肺上叶腺癌",
        abdominal=False,
        weight_a=3,
        weight_b=4,
    ),
    Surgery(
        "hip_arthroplasty",
        "Total hip arthroplasty",
        "全髋关节置换术",
        "femoral neck fracture",
        "股骨颈骨折",
        abdominal=False,
        implant=True,
        anaesthesia="spinal",
        weight_a=2,
        weight_b=8,
    ),
    Surgery(
        "knee_arthroplasty",
        "Total knee arthroplasty",
        "全膝关节置换术",
        "knee osteoarthritis",
        "膝关节骨性关节炎",
        abdominal=False,
        implant=True,
        anaesthesia="spinal",
        weight_a=1,
        weight_b=6,
    ),
    Surgery(
        "lumbar_fusion",
        "Posterior lumbar interbody fusion L4-L5",
        "腰椎后路椎间融合术（L4-L5）",
        "lumbar spinal stenosis",
        "腰椎管狭窄症",
        abdominal=False,
        implant=True,
        weight_a=1,
        weight_b=5,
    ),
)
SURGERY_BY_ID = {s.id: s for s in SURGERIES}


@dataclass
class Finding:
    kind: str  # lab vitals gas imaging ecg echo culture sign bowel drain transfusion treatment delirium assessment
    day: int
    code: str = ""
    value: float | None = None
    data: dict[str, Any] = field(default_factory=dict)
    negated: bool = False
    about: str | None = None  # the complication a treatment / assessment is stated for


@dataclass
class Course:
    sex: str  # M | F
    age: int
    surgery: Surgery
    start: date  # day of surgery
    los: int = 7  # discharge day (post-operative)
    baseline_cr: int | None = None  # pre-operative creatinine when measured
    history: list[str] = field(default_factory=list)  # ckd, hypertension, diabetes, anaemia, copd, af_history
    findings: list[Finding] = field(default_factory=list)
    intended: dict[str, str] = field(default_factory=dict)  # what the simulation aimed at: cid -> grade
    traps: list[str] = field(default_factory=list)
    trap_for: dict[str, list[str]] = field(default_factory=dict)  # complication -> traps laid that look like it
    # (complications a trap looks like, findings it added, (day, key) values it set): its quotable facts
    trap_marks: list[tuple[tuple[str, ...], list[Finding], list[tuple[int, str]]]] = field(default_factory=list)
    state: dict[int, dict[str, float]] = field(default_factory=dict)  # per-day lab / vital overrides
    blood_loss_ml: int = 100
    note_days: list[int] = field(default_factory=list)  # days with a ward-round note
    routine_from: int | None = None  # index in `findings` where background (routine) charting starts

    def add(
        self,
        kind: str,
        day: int,
        code: str = "",
        value: float | None = None,
        *,
        negated: bool = False,
        about: str | None = None,
        **data: Any,
    ) -> Finding:
        f = Finding(kind, day, code, value, data, negated, about)
        self.findings.append(f)
        return f

    def bump(self, day: int, key: str, value: float, mode: str = "max") -> None:
        """Set a day's lab/vital value; 'max'/'min' keep the most abnormal of several causes."""
        day_state = self.state.setdefault(day, {})
        old = day_state.get(key)
        if old is None or mode == "set" or (mode == "max" and value > old) or (mode == "min" and value < old):
            day_state[key] = value

    def of(
        self, kind: str, *codes: str, days: tuple[int, int] | None = None, negated: bool | None = False
    ) -> Iterator[Finding]:
        for f in self.findings:
            if f.kind != kind or (codes and f.code not in codes):
                continue
            if days is not None and not days[0] <= f.day <= days[1]:
                continue
            if negated is not None and f.negated != negated:
                continue
            yield f

    def labs(self, code: str, days: tuple[int, int] | None = None) -> list[Finding]:
        return [f for f in self.of("lab", code, days=days) if f.value is not None]

    @property
    def renal_insufficiency(self) -> bool:
        return "ckd" in self.history or self.surgery.kidney_transplant
