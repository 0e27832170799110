"""A MIMIC-IV-shaped folder with fake values, so everything runs and is tested without credentialed data.

Same file names, columns and code formats as MIMIC-IV v3.1 / MIMIC-IV-Note v2.2; every patient, date,
value and note is invented. Labs move with the invented complications (creatinine rises with AKI,
white cells with infections, haemoglobin falls with bleeding) so that feature ranking has a signal.
Medications (hosp/prescriptions, hosp/pharmacy) follow each admission's diagnoses and operation, and a
share of operations (most cardiac ones) go through intensive care (icu/icustays). These three tables are
drawn from their own seeded generators (one per admission), never from the main one, so adding them left
every other file byte-identical to what earlier versions wrote for the same seed.
"""

from __future__ import annotations

import csv
import gzip
import io
import random
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from .schema import OPTIONAL, TABLES

# Procedure codes with their official-style titles (public code-set text, no patient data).
SURGERY = {
    10: [
        ("0DTJ0ZZ", "Resection of Appendix, Open Approach", "K3580", "Unspecified acute appendicitis"),
        (
            "0FT44ZZ",
            "Resection of Gallbladder, Percutaneous Endoscopic Approach",
            "K8010",
            "Calculus of gallbladder with chronic cholecystitis without obstruction",
        ),
        (
            "0SRC0J9",
            "Replacement of Right Knee Joint with Synthetic Substitute, Cemented, Open Approach",
            "M1711",
            "Unilateral primary osteoarthritis, right knee",
        ),
        (
            "02100Z9",
            "Bypass Coronary Artery, One Artery from Left Internal Mammary, Open Approach",
            "I2510",
            "Atherosclerotic heart disease of native coronary artery without angina pectoris",
        ),
        ("0DTN0ZZ", "Resection of Sigmoid Colon, Open Approach", "C187", "Malignant neoplasm of sigmoid colon"),
    ],
    9: [
        ("4701", "Laparoscopic appendectomy", "5409", "Acute appendicitis without mention of peritonitis"),
        (
            "5123",
            "Laparoscopic cholecystectomy",
            "57410",
            "Calculus of gallbladder with other cholecystitis, without mention of obstruction",
        ),
        (
            "8154",
            "Total knee replacement",
            "71536",
            "Osteoarthrosis, localized, not specified whether primary or secondary, lower leg",
        ),
        (
            "3611",
            "(Aorto)coronary bypass of one coronary artery",
            "41401",
            "Coronary atherosclerosis of native coronary artery",
        ),
        ("4573", "Open and other right hemicolectomy", "1530", "Malignant neoplasm of hepatic flexure"),
    ],
}
NON_SURGICAL = {
    10: [
        ("02HV33Z", "Insertion of Infusion Device into Superior Vena Cava, Percutaneous Approach"),
        ("5A1955Z", "Respiratory Ventilation, Greater than 96 Consecutive Hours"),
        ("0W9G3ZZ", "Drainage of Peritoneal Cavity, Percutaneous Approach"),
    ],
    9: [
        ("3893", "Venous catheterization, not elsewhere classified"),
        ("9671", "Continuous invasive mechanical ventilation for less than 96 consecutive hours"),
    ],
}
MEDICAL_REASON = {
    10: ("J441", "Chronic obstructive pulmonary disease with (acute) exacerbation"),
    9: ("49121", "Obstructive chronic bronchitis with (acute) exacerbation"),
}
COMPLICATIONS = {
    10: {
        "aki": ("N179", "Acute kidney failure, unspecified"),
        "pneumonia": ("J189", "Pneumonia, unspecified organism"),
        "af": ("I4891", "Unspecified atrial fibrillation"),
        "delirium": ("F05", "Delirium due to known physiological condition"),
        "uti": ("N390", "Urinary tract infection, site not specified"),
        "ileus": ("K567", "Ileus, unspecified"),
        "ssi": ("T8141XA", "Infection following a procedure, superficial incisional surgical site, initial encounter"),
        "gib": ("K922", "Gastrointestinal hemorrhage, unspecified"),
        "pe": ("I2699", "Other pulmonary embolism without acute cor pulmonale"),
    },
    9: {
        "aki": ("5849", "Acute kidney failure, unspecified"),
        "pneumonia": ("486", "Pneumonia, organism unspecified"),
        "af": ("42731", "Atrial fibrillation"),
        "delirium": ("2930", "Delirium due to conditions classified elsewhere"),
        "uti": ("5990", "Urinary tract infection, site not specified"),
        "ileus": ("5601", "Paralytic ileus"),
        "ssi": ("99859", "Other postoperative infection"),
        "gib": ("5789", "Hemorrhage of gastrointestinal tract, unspecified"),
        "pe": ("41519", "Other pulmonary embolism and infarction"),
    },
}
COMORBID = {
    10: [("I10", "Essential (primary) hypertension"), ("E119", "Type 2 diabetes mellitus without complications")],
    9: [
        ("4019", "Unspecified essential hypertension"),
        (
            "25000",
            (
                "Diabetes mellitus without mention of complication, type II or unspecified type, not stated as "
                "uncontrolled"
            ),
        ),
    ],
}
# Chronic conditions added only with make_fixture(chronic_conditions=True) (default off: the diagnoses stay as
# they were), so the medication topics heart failure, venous thrombosis, COPD and AF also appear outside
# complications and COPD admissions. I48.20 and 427.31 still map to the arrhythmia silver label.
CHRONIC = {
    10: [
        ("I5022", "Chronic systolic (congestive) heart failure"),
        ("I82509", "Chronic embolism and thrombosis of unspecified deep veins of unspecified lower extremity"),
        ("J449", "Chronic obstructive pulmonary disease, unspecified"),
        ("I4820", "Chronic atrial fibrillation, unspecified"),
    ],
    9: [
        ("42832", "Chronic diastolic heart failure"),
        ("45350", "Chronic venous embolism and thrombosis of unspecified deep vessels of lower extremity"),
        ("496", "Chronic airway obstruction, not elsewhere classified"),
        ("42731", "Atrial fibrillation"),
    ],
}
# itemid, label, fluid, category, unit, normal low, normal high
LABS = [
    (50912, "Creatinine", "Blood", "Chemistry", "mg/dL", 0.5, 1.2),
    (51222, "Hemoglobin", "Blood", "Hematology", "g/dL", 12.0, 17.5),
    (51301, "White Blood Cells", "Blood", "Hematology", "K/uL", 4.0, 11.0),
    (50971, "Potassium", "Blood", "Chemistry", "mEq/L", 3.3, 5.1),
    (50983, "Sodium", "Blood", "Chemistry", "mEq/L", 133.0, 145.0),
    (51006, "Urea Nitrogen", "Blood", "Chemistry", "mg/dL", 6.0, 20.0),
    (51265, "Platelet Count", "Blood", "Hematology", "K/uL", 150.0, 440.0),
    (50813, "Lactate", "Blood", "Blood Gas", "mmol/L", 0.5, 2.0),
    (50931, "Glucose", "Blood", "Chemistry", "mg/dL", 70.0, 100.0),
    (50882, "Bicarbonate", "Blood", "Chemistry", "mEq/L", 22.0, 32.0),
]


# Drugs as MIMIC-IV writes them (prescriptions.drug in its mixed "Tall Man" case), with made-up GSN and NDC
# codes in MIMIC's zero-padded formats; one order of each is one prescriptions row (+ a diluent for IV bags).
_DRUG_TABLE = """
key|drug|formulary_drug_cd|gsn|ndc|prod_strength|dose_val_rx|dose_unit_rx|form_val_disp|form_unit_disp|doses_per_24_hrs|route|frequency
warfarin|Warfarin|WARF5|006562|00056017270|5mg Tab|5|mg|1|TAB|1|PO|DAILY16
apixaban|Apixaban|APIX5|066950|00003089421|5 mg Tab|5|mg|1|TAB|2|PO|BID
enoxaparin|Enoxaparin Sodium|ENOX40I|026010|00075062040|40mg/0.4mL Syringe|40|mg|0.4|mL|1|SC|DAILY
heparin|Heparin|HEPA5I|006549|63323026201|5000 Units / mL- 1mL Vial|5000|UNIT|1|mL|3|SC|Q8H
glargine|Insulin Glargine|GLAR100I|034296|00088222033|100 Units / mL - 3 mL Pen|10|UNIT|0.1|mL|1|SC|QHS
lispro|Insulin Lispro|HUML100I|016007|00002751001|100 Units / mL - 3 mL Pen|2-10|UNIT|0.02-0.1|mL|4|SC|QACHS
regular|Insulin Human Regular|REGI100|016005|00169183311|100 Units / mL - 10 mL Vial|4|UNIT|0.04|mL|4|SC|QACHS
metformin|MetFORMIN (Glucophage)|METF500|010857|00093104801|500mg Tab|500|mg|1|TAB|2|PO|BID
metoprolol|Metoprolol Tartrate|METO25|005132|00378001801|25mg Tab|25|mg|1|TAB|2|PO/NG|BID
metoprolol_xl|Metoprolol Succinate XL|METX50|020615|00186109205|50 mg Tab|50|mg|1|TAB|1|PO|DAILY
lisinopril|Lisinopril|LISI10|000388|00172375960|10mg Tab|10|mg|1|TAB|1|PO|DAILY
furosemide|Furosemide|FURO20|008209|00054429725|20mg Tab|20|mg|1|TAB|1|PO|DAILY
oxycodone|OxyCODONE (Immediate Release)|OXYC5|004225|00406055262|5mg Tab|5-10|mg|1-2|TAB||PO|Q4H:PRN
morphine|Morphine Sulfate|MORP2I|004189|00409189001|2mg Syringe|2|mg|1|SYR||IV|Q4H:PRN
acetaminophen|Acetaminophen|ACET325|004489|00904198261|325mg Tab|650|mg|2|TAB|4|PO/NG|Q6H
cefazolin|CeFAZolin|CEFA2F|009082|00409080501|2 g Frozen Bag|2|g|1|BAG|3|IV|Q8H
vancomycin|Vancomycin|VANC1F|009327|00338355348|1 g Frozen Bag|1000|mg|1|BAG|2|IV|Q12H
piptazo|Piperacillin-Tazobactam|PIPT4I|040865|00206885916|4.5 g Vial|4.5|g|1|VIAL|4|IV|Q6H
ceftriaxone|CeftriaXONE|CEFT1I|009085|00409733701|1 g Vial|1|g|1|VIAL|1|IV|Q24H
albuterol|Albuterol 0.083% Neb Soln|ALB3H|028090|00487950101|0.083%;3mL|1|NEB|1|NEB||IH|Q4H:PRN
tiotropium|Tiotropium Bromide|TIOT18|047659|00597007541|18 mcg Cap|1|CAP|1|CAP|1|IH|DAILY
prednisone|PredniSONE|PRED20|006747|00054474025|20 mg Tab|40|mg|2|TAB|1|PO|DAILY
ondansetron|Ondansetron|ONDA2I|016258|00409475503|2mg/mL-2mL|4|mg|2|mL||IV|Q8H:PRN
docusate|Docusate Sodium|DOCU100|002644|00904645161|100mg Cap|100|mg|1|CAP|2|PO|BID
senna|Senna|SENN8|009397|00904516561|8.6 mg Tab|1-2|TAB|1-2|TAB||PO|BID:PRN
pantoprazole|Pantoprazole|PANT40I|027462|00008092355|40mg Vial|40|mg|1|VIAL|2|IV|Q12H
"""
# key -> (drug, formulary_drug_cd, gsn, ndc, prod_strength, dose_val_rx, dose_unit_rx, form_val_disp,
#         form_unit_disp, doses_per_24_hrs (float or None), route, frequency)
DRUGS: dict[str, tuple] = {
    f[0]: (*f[1:10], float(f[10]) if f[10] else None, *f[11:])
    for f in (line.split("|") for line in _DRUG_TABLE.strip().splitlines()[1:])
}
IV_BASE = ("Sodium Chloride 0.9%", "NS100", None, "00338004938", "100mL Bag", "100", "mL", "100", "mL", None, "IV")
DISP_SCHED = {
    "DAILY": "08",
    "DAILY16": "16",
    "BID": "08, 20",
    "Q8H": "06, 14, 22",
    "Q6H": "00, 06, 12, 18",
    "Q12H": "08, 20",
    "Q24H": "08",
    "QHS": "21",
    "QACHS": "07, 11, 16, 21",
}
CARE_UNITS = {
    "cardiac": "Cardiac Vascular Intensive Care Unit (CVICU)",
    "surgical": "Surgical Intensive Care Unit (SICU)",
    "trauma": "Trauma SICU (TSICU)",
    "medical": "Medical Intensive Care Unit (MICU)",
    "mixed": "Medical/Surgical Intensive Care Unit (MICU/SICU)",
}
CARDIAC_OPS = {"02100Z9", "3611"}
# Diagnosis prefixes (ICD-10 and ICD-9, dots removed) that decide an admission's medicines.
MED_TOPICS = {
    "af": ("I48", "42731"),
    "vte": ("I26", "I82", "4151", "4534", "4535"),
    "diabetes": ("E11", "250"),
    "hypertension": ("I10", "401"),
    "heart_failure": ("I50", "428"),
    "copd": ("J44", "491", "492", "496"),
    "pneumonia": ("J18", "486"),
    "uti": ("N39", "5990"),
    "wound_infection": ("T814", "99859"),
    "gi_bleeding": ("K92", "578"),
}


def _write(root: Path, table: str, rows: list[list]) -> Path:
    rel, columns = TABLES[table]
    path = root / f"{rel}.csv.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    with gzip.GzipFile(path, "wb", mtime=0) as fh:
        fh.write(buf.getvalue().encode("utf-8"))
    return path


def _ts(t: datetime | None) -> str | None:
    return None if t is None else t.strftime("%Y-%m-%d %H:%M:%S")


def _lab_value(rng: random.Random, lo: float, hi: float, shift: float) -> float:
    return round(rng.uniform(lo, hi) * shift, 1)


@dataclass
class _Tables:
    """Rows of every table, filled subject by subject; ids count up as MIMIC's do."""

    patients: list[list] = field(default_factory=list)
    admissions: list[list] = field(default_factory=list)
    dx: list[list] = field(default_factory=list)
    px: list[list] = field(default_factory=list)
    labs: list[list] = field(default_factory=list)
    notes: list[list] = field(default_factory=list)
    rx: list[list] = field(default_factory=list)
    pharmacy: list[list] = field(default_factory=list)
    icu: list[list] = field(default_factory=list)
    hadm: int = 20000000
    labevent_id: int = 1
    seed: int = 0
    chronic_conditions: bool = False
    pharmacy_id: int = 10000000
    stay_id: int = 30000000
    poe_seq: int = 0  # per subject, as MIMIC numbers a patient's orders
    chronic: list[str] = field(default_factory=list)  # this subject's chronic codes (chronic_conditions only)
    no_meds: bool = False  # this subject has no medication orders at all


def make_fixture(
    out_dir: str | Path,
    n_subjects: int = 60,
    seed: int = 0,
    with_notes: bool = True,
    with_labs: bool = True,
    omit_tables: Collection[str] = (),
    chronic_conditions: bool = False,
) -> Path:
    """Write hosp/, icu/ (and note/ when with_notes) under out_dir; returns out_dir.

    Subject 1 has a surgical ICD-10 admission and a later non-surgical one, subject 2 two surgical ICD-9
    admissions; the rest are random. Some admissions have no discharge note; some labs have no hadm_id.
    The main tables come from one seeded generator in a fixed order, the medication and ICU tables from
    generators seeded per admission, so a seed gives byte-identical files. Any n_subjects works (the ids
    count up from 10000001; 400 subjects take about a second).

    omit_tables: optional tables (prescriptions, pharmacy, icustays, discharge) not to write, to test the
    degraded path; what is written stays the same. chronic_conditions: also code chronic heart failure,
    venous thrombosis, COPD and AF (CHRONIC) on some subjects' admissions, with their medicines; this
    changes diagnoses_icd and d_icd_diagnoses, so it is off by default.
    """
    unknown = set(omit_tables) - OPTIONAL
    if unknown:
        raise ValueError(f"omit_tables {sorted(unknown)}: only optional tables can be left out: {sorted(OPTIONAL)}")
    rng = random.Random(seed)
    root = Path(out_dir)
    t = _Tables(seed=seed, chronic_conditions=chronic_conditions)
    for s in range(n_subjects):
        _subject(t, rng, s, with_notes, with_labs)
    if with_labs:  # an outpatient lab without an admission
        sid = t.patients[0][0]
        t.labs.append(
            [
                t.labevent_id,
                sid,
                None,
                t.labevent_id * 7,
                50912,
                None,
                "2100-01-01 08:00:00",
                None,
                "0.9",
                0.9,
                "mg/dL",
                0.5,
                1.2,
                None,
                "ROUTINE",
                None,
            ]
        )
    _write_tables(root, t, with_notes and "discharge" not in omit_tables, set(omit_tables))
    return root


def _subject(t: _Tables, rng: random.Random, s: int, with_notes: bool, with_labs: bool) -> None:
    sid = 10000001 + s
    era9 = (s == 1) or (s > 1 and rng.random() < 0.4)
    side = random.Random(f"{t.seed}:subject:{sid}")  # the medication tables' own draws, never the main rng's
    t.poe_seq, t.no_meds = 0, side.random() < 0.08
    t.chronic = [c for c, _ in CHRONIC[9 if era9 else 10] if side.random() < 0.12] if t.chronic_conditions else []
    year = rng.randint(2110, 2180)
    t.patients.append(
        [sid, rng.choice("FM"), rng.randint(25, 89), year, "2008 - 2010" if era9 else "2017 - 2019", None]
    )
    n_adm = 2 if s < 2 else rng.choice((1, 1, 2, 3))
    admit = datetime(year, rng.randint(1, 6), rng.randint(1, 28), rng.randint(0, 23), 5)
    for a in range(n_adm):
        admit = _admission(t, rng, s, sid, a, 9 if era9 else 10, admit, with_notes, with_labs)


def _admission(
    t: _Tables,
    rng: random.Random,
    s: int,
    sid: int,
    a: int,
    version: int,
    admit: datetime,
    with_notes: bool,
    with_labs: bool,
) -> datetime:
    """One admission with its codes, labs and note; returns when the subject's next admission starts."""
    t.hadm += rng.randint(1, 9)
    dx_start, px_start = len(t.dx), len(t.px)
    surgical = (s == 0 and a == 0) or s == 1 or (s > 1 and rng.random() < 0.8)
    los = rng.randint(3, 10)
    disch = admit + timedelta(days=los, hours=rng.randint(1, 8))
    died = rng.random() < 0.03
    t.admissions.append(
        [
            sid,
            t.hadm,
            _ts(admit),
            _ts(disch),
            _ts(disch) if died else None,
            "EW EMER." if rng.random() < 0.5 else "ELECTIVE",
            "P00" + str(rng.randint(100, 999)),
            "EMERGENCY ROOM",
            "DIED" if died else "HOME",
            "Medicare",
            "ENGLISH",
            "MARRIED",
            "WHITE",
            None,
            None,
            int(died),
        ]
    )
    if surgical:
        op_day, comps = _surgical_codes(t, rng, sid, version, admit, first_of_subject_0=s == 0 and a == 0)
    else:
        op_day, comps = _medical_codes(t, rng, sid, version, admit)
    _secondary_diagnoses(t, rng, sid, version, comps)
    for code in t.chronic:
        t.dx.append([sid, t.hadm, len(t.dx) - dx_start + 1, code, version])
    stay = _Stay(sid, t.hadm, admit, disch, op_day, surgical, [r[3] for r in t.dx[dx_start:]])
    stay.ops = [r[4] for r in t.px[px_start:] if r[2] == 1] if surgical else []
    _medications(t, stay)
    _icu_stays(t, stay, comps)
    if with_labs:
        _labs(t, rng, sid, admit, los, op_day, comps)
    if with_notes and rng.random() < 0.8:
        story = ", which was complicated by " + " and ".join(sorted(comps)) if comps else "; the course was uneventful"
        text = (
            f"Name:  ___                 Unit No:   ___\n\nAdmission Date:  ___\n\nService: SURGERY\n\n"
            f'Brief Hospital Course:\nThe patient was admitted "for care"{story}.\n'
            f"Discharge Disposition:\nHome"
        )
        t.notes.append(
            [f"{sid}-DS-{a + 1}", sid, t.hadm, "DS", a + 1, _ts(disch), _ts(disch + timedelta(hours=3)), text]
        )
    return disch + timedelta(days=rng.randint(30, 400))


def _surgical_codes(
    t: _Tables, rng: random.Random, sid: int, version: int, admit: datetime, first_of_subject_0: bool
) -> tuple[date, set[str]]:
    """Index operation the day after admission (sometimes with a non-surgical procedure) and its complications."""
    code, title, reason, _ = rng.choice(SURGERY[version])
    op_day = admit.date() + timedelta(days=1)
    t.px.append([sid, t.hadm, 1, op_day.isoformat(), code, version])
    if rng.random() < 0.5:
        ns = rng.choice(NON_SURGICAL[version])
        t.px.append([sid, t.hadm, 2, admit.date().isoformat(), ns[0], version])
    t.dx.append([sid, t.hadm, 1, reason, version])
    comps = {k for k in COMPLICATIONS[version] if rng.random() < 0.12}
    if first_of_subject_0:  # the tests rely on one known AKI case
        comps |= {"aki"}
    return op_day, comps


def _medical_codes(t: _Tables, rng: random.Random, sid: int, version: int, admit: datetime) -> tuple[date, set[str]]:
    """A non-surgical admission; its complication codes must never become a case."""
    op_day = admit.date()
    ns = rng.choice(NON_SURGICAL[version])
    t.px.append([sid, t.hadm, 1, admit.date().isoformat(), ns[0], version])
    t.dx.append([sid, t.hadm, 1, MEDICAL_REASON[version][0], version])
    comps = {"pneumonia"} if rng.random() < 0.5 else set()
    return op_day, comps


def _secondary_diagnoses(t: _Tables, rng: random.Random, sid: int, version: int, comps: set[str]) -> None:
    seq = 2
    for key in sorted(comps):
        t.dx.append([sid, t.hadm, seq, COMPLICATIONS[version][key][0], version])
        seq += 1
    for code, _ in rng.sample(COMORBID[version], rng.randint(0, 2)):
        t.dx.append([sid, t.hadm, seq, code, version])
        seq += 1


def _labs(t: _Tables, rng: random.Random, sid: int, admit: datetime, los: int, op_day: date, comps: set[str]) -> None:
    """Daily panels; after the operation the values move with the admission's complications."""
    for day in range(los + 1):
        ts = admit + timedelta(days=day, hours=rng.randint(1, 6))
        post = ts.date() > op_day
        for itemid, _, _, _, unit, lo, hi in LABS:
            if itemid == 50813 and rng.random() < 0.6:
                continue
            v = _lab_value(rng, lo, hi, _lab_shift(rng, post, itemid, comps))
            flag = "abnormal" if (v < lo or v > hi) else None
            text = "___" if rng.random() < 0.01 else f"{v}"
            t.labs.append(
                [
                    t.labevent_id,
                    sid,
                    t.hadm,
                    t.labevent_id * 7,
                    itemid,
                    None,
                    _ts(ts),
                    _ts(ts + timedelta(minutes=50)),
                    text,
                    v,
                    unit,
                    lo,
                    hi,
                    flag,
                    "ROUTINE",
                    None,
                ]
            )
            t.labevent_id += 1


def _lab_shift(rng: random.Random, post: bool, itemid: int, comps: set[str]) -> float:
    """Creatinine rises with AKI, white cells with infections, haemoglobin falls with GI bleeding."""
    shift = 1.0
    if post and itemid == 50912 and "aki" in comps:
        shift = rng.uniform(2.2, 3.5)
    if post and itemid == 51301 and comps & {"pneumonia", "uti", "ssi"}:
        shift = rng.uniform(1.6, 2.2)
    if post and itemid == 51222 and "gib" in comps:
        shift = rng.uniform(0.5, 0.7)
    return shift


@dataclass
class _Stay:
    """What the medication and ICU tables need to know about one admission."""

    sid: int
    hadm: int
    admit: datetime
    disch: datetime
    op_day: date
    surgical: bool
    codes: list[str]
    ops: list[str] = field(default_factory=list)

    def has(self, topic: str) -> bool:
        return any(c.startswith(MED_TOPICS[topic]) for c in self.codes)


def _medications(t: _Tables, st: _Stay) -> None:
    """Orders that follow the admission's diagnoses and operation (prescriptions rows, most with a pharmacy row)."""
    if t.no_meds:
        return
    r = random.Random(f"{t.seed}:meds:{st.hadm}")
    op = datetime.combine(st.op_day, datetime.min.time()) + timedelta(hours=r.randint(8, 14))
    home = st.admit + timedelta(minutes=r.randint(60, 360))  # continued home medicines
    after_op = op + timedelta(minutes=r.randint(60, 240)) if st.surgical else home
    orders: list[tuple[str, datetime, float | None]] = []  # drug, start, days (None: until discharge)

    def give(drug: str, p: float, start: datetime, days: float | None = None) -> None:
        if r.random() < p and all(drug != d for d, _, _ in orders):
            orders.append((drug, start, days))

    if st.has("af"):
        give(r.choice(("warfarin", "apixaban")), 0.9, home)
        give("metoprolol", 0.7, home)
    if st.has("vte"):
        give(r.choice(("enoxaparin", "heparin")), 0.9, after_op, r.uniform(1.5, 3.0))
        give(r.choice(("warfarin", "apixaban")), 0.8, after_op + timedelta(days=1))
    if st.has("diabetes"):
        give("lispro", 0.85, home)
        give("glargine", 0.5, home)
        give("regular", 0.25, home, r.uniform(0.5, 2.0))
        give("metformin", 0.4, home)
    if st.has("hypertension"):
        give("metoprolol", 0.5, home)
        give("lisinopril", 0.5, home)
        give("furosemide", 0.25, home)
    if st.has("heart_failure"):
        give("furosemide", 0.9, home)
        give("metoprolol_xl", 0.6, home)
    if st.has("copd"):
        give("albuterol", 0.9, home)
        give("prednisone", 0.7 if any(c in ("J441", "49121") for c in st.codes) else 0.2, home, r.uniform(3, 5))
        give("tiotropium", 0.4, home)
    infection = after_op + timedelta(days=r.randint(1, 3))
    if st.has("pneumonia"):
        give("piptazo", 0.8, infection, r.uniform(4, 7))
        give("vancomycin", 0.5, infection, r.uniform(2, 5))
    if st.has("uti"):
        give("ceftriaxone", 0.85, infection, r.uniform(3, 5))
    if st.has("wound_infection"):
        give(r.choice(("cefazolin", "vancomycin")), 0.9, infection, r.uniform(5, 10))
    if st.has("gi_bleeding"):
        give("pantoprazole", 0.9, home)
    if st.surgical:
        give("cefazolin", 0.7, op - timedelta(hours=1), 1.0)
        give("acetaminophen", 0.8, after_op, r.uniform(2, 5))
        give("oxycodone", 0.6, after_op, r.uniform(2, 6))
        give("morphine", 0.35, op + timedelta(minutes=r.randint(30, 120)), r.uniform(0.5, 2))
        if not any(d in ("warfarin", "apixaban", "enoxaparin", "heparin") for d, _, _ in orders):
            give(r.choice(("heparin", "heparin", "enoxaparin")), 0.6, after_op)
        give("ondansetron", 0.5, after_op, r.uniform(1, 3))
        give("docusate", 0.5, after_op)
        give("senna", 0.3, after_op)
    else:
        give("ondansetron", 0.2, home, r.uniform(1, 3))
        give("docusate", 0.3, home)
    for drug, start, days in orders:
        _order(t, r, st, drug, start, days)


def _order(t: _Tables, r: random.Random, st: _Stay, drug: str, start: datetime, days: float | None) -> None:
    """One order: a prescriptions MAIN row (+ a BASE diluent row for IV bags) and usually its pharmacy row."""
    name, cd, gsn, ndc, strength, dose, unit, disp_val, disp_unit, per_day, route, freq = DRUGS[drug]
    start = min(start, st.disch - timedelta(hours=2))
    stop = st.disch if days is None else min(start + timedelta(minutes=int(days * 1440)), st.disch)
    stop = None if r.random() < 0.02 else stop
    t.poe_seq += 1
    t.pharmacy_id += r.randint(1, 5)
    poe = f"{st.sid}-{t.poe_seq}"
    provider = "P" + "".join(r.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(5))
    rx = [st.sid, st.hadm, t.pharmacy_id, poe, t.poe_seq, provider, _ts(start), _ts(stop)]
    t.rx.append([*rx, "MAIN", name, cd, gsn, ndc, strength, None, dose, unit, disp_val, disp_unit, per_day, route])
    iv_bag = route == "IV" and disp_unit in ("BAG", "VIAL") and drug != "pantoprazole"
    if iv_bag:
        t.rx.append([*rx, "BASE", *IV_BASE[:5], None, *IV_BASE[5:]])
    if r.random() < 0.1:  # not every order reaches the pharmacy table
        return
    enter = start - timedelta(minutes=r.randint(5, 60))
    if stop is None or r.random() < 0.1:
        status = "Expired" if stop is not None else "Active"
    else:
        status = "Discontinued via patient discharge" if stop == st.disch else "Discontinued"
    t.pharmacy.append(
        [
            st.sid,
            st.hadm,
            t.pharmacy_id,
            poe,
            _ts(start),
            _ts(stop),
            name,
            "IV Piggyback" if iv_bag else "Unit Dose",
            status,
            _ts(enter),
            _ts(enter + timedelta(minutes=r.randint(2, 30))),
            route,
            freq,
            DISP_SCHED.get(freq),
            "N" if iv_bag else None,
            "Y" if drug == "lispro" else "N",
            None,
            None,
            None,
            per_day,
            3.0 if drug == "cefazolin" and days == 1.0 else None,
            "Doses" if drug == "cefazolin" and days == 1.0 else "Ongoing",
            36 if iv_bag else None,
            "Hours" if iv_bag else None,
            None,
            "Main Pharmacy" if iv_bag else "Omnicell",
            None,
        ]
    )


def _icu_stays(t: _Tables, st: _Stay, comps: set[str]) -> None:
    """Intensive care after most cardiac operations, some others (more with complications), few medical stays."""
    r = random.Random(f"{t.seed}:icu:{st.hadm}")
    cardiac = bool(CARDIAC_OPS & set(st.ops))
    p = (0.75 if cardiac else 0.2) if st.surgical else 0.15
    if comps & {"pneumonia", "pe", "aki", "gib", "af"}:
        p += 0.2
    if r.random() >= p:
        return
    if st.surgical:
        unit = CARE_UNITS["cardiac" if cardiac else r.choice(("surgical", "surgical", "surgical", "trauma"))]
        intime = datetime.combine(st.op_day, datetime.min.time()) + timedelta(minutes=r.randint(12 * 60, 18 * 60))
    else:
        unit = CARE_UNITS["medical"]
        intime = st.admit + timedelta(minutes=r.randint(60, 480))
    for _ in range(2):  # a second stay now and then (readmission to intensive care)
        outtime = min(intime + timedelta(minutes=r.randint(14 * 60, 5 * 1440)), st.disch - timedelta(hours=3))
        if outtime <= intime + timedelta(hours=4):
            return
        t.stay_id += r.randint(1, 99)
        last = CARE_UNITS["mixed"] if r.random() < 0.1 else unit
        los = round((outtime - intime).total_seconds() / 86400, 4)
        t.icu.append([st.sid, st.hadm, t.stay_id, unit, last, _ts(intime), _ts(outtime), los])
        if r.random() >= 0.06:
            return
        intime = outtime + timedelta(minutes=r.randint(12 * 60, 2 * 1440))
        unit = last


def _write_tables(root: Path, t: _Tables, with_notes: bool, omit: Collection[str] = ()) -> None:
    dx_titles = {
        (c, v): title
        for v in (9, 10)
        for c, title in [
            *COMPLICATIONS[v].values(),
            *COMORBID[v],
            MEDICAL_REASON[v],
            *[(r[2], r[3]) for r in SURGERY[v]],
            *(CHRONIC[v] if t.chronic_conditions else []),
        ]
    }
    px_titles = {(c, v): title for v in (9, 10) for c, title in [*[(r[0], r[1]) for r in SURGERY[v]], *NON_SURGICAL[v]]}
    _write(root, "patients", t.patients)
    _write(root, "admissions", t.admissions)
    _write(root, "diagnoses_icd", t.dx)
    _write(root, "procedures_icd", t.px)
    _write(root, "d_icd_diagnoses", [[c, v, title] for (c, v), title in sorted(dx_titles.items())])
    _write(root, "d_icd_procedures", [[c, v, title] for (c, v), title in sorted(px_titles.items())])
    _write(root, "d_labitems", [list(item[:4]) for item in LABS])
    _write(root, "labevents", t.labs)
    if with_notes:
        _write(root, "discharge", t.notes)
    for table, rows in (("prescriptions", t.rx), ("pharmacy", t.pharmacy), ("icustays", t.icu)):
        if table not in omit:
            _write(root, table, rows)
