"""A MIMIC-IV-shaped folder with fake values, so everything runs and is tested without credentialed data.

Same file names, columns and code formats as MIMIC-IV v3.1 / MIMIC-IV-Note v2.2; every patient, date,
value and note is invented. Labs move with the invented complications (creatinine rises with AKI,
white cells with infections, haemoglobin falls with bleeding) so that feature ranking has a signal.
"""

from __future__ import annotations

import csv
import gzip
import io
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from .schema import TABLES

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
    hadm: int = 20000000
    labevent_id: int = 1


def make_fixture(
    out_dir: str | Path, n_subjects: int = 60, seed: int = 0, with_notes: bool = True, with_labs: bool = True
) -> Path:
    """Write hosp/ (and note/ when with_notes) under out_dir; returns out_dir.

    Subject 1 has a surgical ICD-10 admission and a later non-surgical one, subject 2 two surgical ICD-9
    admissions; the rest are random. Some admissions have no discharge note; some labs have no hadm_id.
    All draws come from one seeded generator in a fixed order, so a seed gives byte-identical files.
    """
    rng = random.Random(seed)
    root = Path(out_dir)
    t = _Tables()
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
    _write_tables(root, t, with_notes)
    return root


def _subject(t: _Tables, rng: random.Random, s: int, with_notes: bool, with_labs: bool) -> None:
    sid = 10000001 + s
    era9 = (s == 1) or (s > 1 and rng.random() < 0.4)
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


def _write_tables(root: Path, t: _Tables, with_notes: bool) -> None:
    dx_titles = {
        (c, v): title
        for v in (9, 10)
        for c, title in [
            *COMPLICATIONS[v].values(),
            *COMORBID[v],
            MEDICAL_REASON[v],
            *[(r[2], r[3]) for r in SURGERY[v]],
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
