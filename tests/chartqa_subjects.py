"""Hand-written subjects in the subjects.jsonl shape (docs: chartqa_design.md), for the chart Q&A tests.

Helpers only (no tests): `admission` fills the keys the ingestion writes; a table absent from the MIMIC
folder is modelled by leaving its key out (tables=...), as the ingestion does.
"""

from __future__ import annotations

OPTIONAL = ("prescriptions", "pharmacy", "icustays")


def dx(code: str, title: str, version: int = 10, seq: int = 1) -> dict:
    return {"seq_num": seq, "icd_code": code, "icd_version": version, "title": title}


def px(code: str, title: str, version: int = 10, seq: int = 1, day: str = "2150-01-02") -> dict:
    return {"seq_num": seq, "chartdate": day, "icd_code": code, "icd_version": version, "title": title}


def rx(drug: str) -> dict:
    return {
        "starttime": "2150-01-01 10:00:00",
        "stoptime": "2150-01-05 10:00:00",
        "drug_type": "MAIN",
        "drug": drug,
        "formulary_drug_cd": drug[:6].upper(),
        "route": "PO",
        "dose_val_rx": "1",
        "dose_unit_rx": "TAB",
    }


def ph(medication: str) -> dict:
    return {
        "starttime": "2150-01-01 10:00:00",
        "stoptime": None,
        "medication": medication,
        "route": "PO",
        "frequency": "DAILY",
        "status": "Discontinued",
    }


def icu(stay_id: int, los: float) -> dict:
    return {
        "stay_id": stay_id,
        "first_careunit": "Medical Intensive Care Unit (MICU)",
        "last_careunit": "Medical Intensive Care Unit (MICU)",
        "intime": "2150-01-01 12:00:00",
        "outtime": "2150-01-03 12:00:00",
        "los": los,
    }


def admission(
    hadm_id: int,
    diagnoses=None,
    procedures=None,
    prescriptions=None,
    pharmacy=None,
    icustays=None,
    tables=OPTIONAL,
) -> dict:
    """One admission; lists left None are 'read, no rows' (null); a table not in `tables` has no key at all."""
    adm = {
        "hadm_id": hadm_id,
        "admittime": "2150-01-01 08:00:00",
        "dischtime": "2150-01-06 12:00:00",
        "deathtime": None,
        "admission_type": "EW EMER.",
        "admission_location": "EMERGENCY ROOM",
        "discharge_location": "HOME",
        "hospital_expire_flag": 0,
        "diagnoses": diagnoses,
        "procedures": procedures,
        "notes": None,
    }
    for key, value in (("prescriptions", prescriptions), ("pharmacy", pharmacy), ("icustays", icustays)):
        if key in tables:
            adm[key] = value
    return adm


def subject(subject_id: int, gender: str, age: int, admissions: list[dict]) -> dict:
    return {
        "subject_id": subject_id,
        "gender": gender,
        "anchor_age": age,
        "anchor_year": 2150,
        "anchor_year_group": "2017 - 2019",
        "dod": None,
        "admissions": admissions,
        "labs": None,
    }


def anticoagulated(subject_id: int = 101) -> dict:
    """71-year-old woman: warfarin and metoprolol, aspirin from pharmacy, a knee replacement, one ICU stay."""
    return subject(
        subject_id,
        "F",
        71,
        [
            admission(
                subject_id * 10 + 1,
                diagnoses=[
                    dx("I4891", "Unspecified atrial fibrillation"),
                    dx("I10", "Essential (primary) hypertension", seq=2),
                ],
                procedures=[px("0SRC0J9", "Replacement of Right Knee Joint with Synthetic Substitute, Open Approach")],
                prescriptions=[rx("Warfarin"), rx("Metoprolol Tartrate"), rx("Heparin Flush (10 units/ml)")],
                pharmacy=[ph("Aspirin EC")],
                icustays=[icu(subject_id * 100 + 1, 2.5)],
            ),
            admission(
                subject_id * 10 + 2, diagnoses=[dx("R079", "Chest pain, unspecified")], prescriptions=[rx("Warfarin")]
            ),
        ],
    )


def on_insulin(subject_id: int = 202) -> dict:
    """58-year-old man: insulin (pharmacy only), a diabetes code, no procedures, no ICU stay (table read)."""
    return subject(
        subject_id,
        "M",
        58,
        [
            admission(
                subject_id * 10 + 1,
                diagnoses=[dx("E119", "Type 2 diabetes mellitus without complications")],
                pharmacy=[ph("Insulin Glargine"), ph("Acetaminophen")],
            )
        ],
    )


def diabetes_code_only(subject_id: int = 505) -> dict:
    """ICD-9 diabetes code, no diabetes medicine."""
    return subject(
        subject_id,
        "F",
        66,
        [
            admission(
                subject_id * 10 + 1,
                diagnoses=[dx("25000", "Diabetes mellitus without mention of complication", version=9)],
                prescriptions=[rx("Acetaminophen")],
            )
        ],
    )


def quiet(subject_id: int = 303) -> dict:
    """A chart that fires no topic: paracetamol only, a cold, a non-surgical procedure."""
    return subject(
        subject_id,
        "M",
        45,
        [
            admission(
                subject_id * 10 + 1,
                diagnoses=[dx("J069", "Acute upper respiratory infection, unspecified")],
                procedures=[px("0331", "Spinal tap", version=9)],
                prescriptions=[rx("Acetaminophen")],
            )
        ],
    )


def tables_missing(subject_id: int = 404) -> dict:
    """An opioid from prescriptions, but the MIMIC folder had no icu/icustays and no hosp/pharmacy."""
    return subject(
        subject_id,
        "F",
        80,
        [
            admission(
                subject_id * 10 + 1,
                diagnoses=[dx("K5900", "Constipation, unspecified")],
                procedures=[px("0DTJ4ZZ", "Resection of Appendix, Percutaneous Endoscopic Approach")],
                prescriptions=[rx("OxycoDONE (Immediate Release)"), rx("Furosemide")],
                tables=("prescriptions",),
            )
        ],
    )


def cohort(n: int = 60) -> list[dict]:
    """n subjects cycling through the hand-written charts above (ids 1000, 1001, ...)."""
    makers = (anticoagulated, on_insulin, diabetes_code_only, quiet, tables_missing)
    return [makers[i % len(makers)](1000 + i) for i in range(n)]
