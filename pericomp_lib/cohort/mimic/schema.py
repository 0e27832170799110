"""MIMIC-IV v3.1 (hosp, icu) and MIMIC-IV-Note v2.2 (note) files we read, with their exact columns and types.

Explicit types (never auto-detection) keep leading zeros of ICD codes ("0389"), GSN and NDC codes
("004489", "00904198261") and dose ranges ("1-2") as text, and make DuckDB read a 158-million-row
labevents file without a sampling pass.
"""

from __future__ import annotations

TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "patients": (
        "hosp/patients",
        {
            "subject_id": "INTEGER",
            "gender": "VARCHAR",
            "anchor_age": "INTEGER",
            "anchor_year": "INTEGER",
            "anchor_year_group": "VARCHAR",
            "dod": "DATE",
        },
    ),
    "admissions": (
        "hosp/admissions",
        {
            "subject_id": "INTEGER",
            "hadm_id": "INTEGER",
            "admittime": "TIMESTAMP",
            "dischtime": "TIMESTAMP",
            "deathtime": "TIMESTAMP",
            "admission_type": "VARCHAR",
            "admit_provider_id": "VARCHAR",
            "admission_location": "VARCHAR",
            "discharge_location": "VARCHAR",
            "insurance": "VARCHAR",
            "language": "VARCHAR",
            "marital_status": "VARCHAR",
            "race": "VARCHAR",
            "edregtime": "TIMESTAMP",
            "edouttime": "TIMESTAMP",
            "hospital_expire_flag": "SMALLINT",
        },
    ),
    "diagnoses_icd": (
        "hosp/diagnoses_icd",
        {
            "subject_id": "INTEGER",
            "hadm_id": "INTEGER",
            "seq_num": "INTEGER",
            "icd_code": "VARCHAR",
            "icd_version": "SMALLINT",
        },
    ),
    "procedures_icd": (
        "hosp/procedures_icd",
        {
            "subject_id": "INTEGER",
            "hadm_id": "INTEGER",
            "seq_num": "INTEGER",
            "chartdate": "DATE",
            "icd_code": "VARCHAR",
            "icd_version": "SMALLINT",
        },
    ),
    "d_icd_diagnoses": (
        "hosp/d_icd_diagnoses",
        {"icd_code": "VARCHAR", "icd_version": "SMALLINT", "long_title": "VARCHAR"},
    ),
    "d_icd_procedures": (
        "hosp/d_icd_procedures",
        {"icd_code": "VARCHAR", "icd_version": "SMALLINT", "long_title": "VARCHAR"},
    ),
    "d_labitems": (
        "hosp/d_labitems",
        {"itemid": "INTEGER", "label": "VARCHAR", "fluid": "VARCHAR", "category": "VARCHAR"},
    ),
    "labevents": (
        "hosp/labevents",
        {
            "labevent_id": "BIGINT",
            "subject_id": "INTEGER",
            "hadm_id": "INTEGER",
            "specimen_id": "BIGINT",
            "itemid": "INTEGER",
            "order_provider_id": "VARCHAR",
            "charttime": "TIMESTAMP",
            "storetime": "TIMESTAMP",
            "value": "VARCHAR",
            "valuenum": "DOUBLE",
            "valueuom": "VARCHAR",
            "ref_range_lower": "DOUBLE",
            "ref_range_upper": "DOUBLE",
            "flag": "VARCHAR",
            "priority": "VARCHAR",
            "comments": "VARCHAR",
        },
    ),
    "discharge": (
        "note/discharge",
        {
            "note_id": "VARCHAR",
            "subject_id": "INTEGER",
            "hadm_id": "INTEGER",
            "note_type": "VARCHAR",
            "note_seq": "INTEGER",
            "charttime": "TIMESTAMP",
            "storetime": "TIMESTAMP",
            "text": "VARCHAR",
        },
    ),
    "prescriptions": (
        "hosp/prescriptions",
        {
            "subject_id": "INTEGER",
            "hadm_id": "INTEGER",
            "pharmacy_id": "INTEGER",
            "poe_id": "VARCHAR",
            "poe_seq": "INTEGER",
            "order_provider_id": "VARCHAR",
            "starttime": "TIMESTAMP",
            "stoptime": "TIMESTAMP",
            "drug_type": "VARCHAR",
            "drug": "VARCHAR",
            "formulary_drug_cd": "VARCHAR",
            "gsn": "VARCHAR",
            "ndc": "VARCHAR",
            "prod_strength": "VARCHAR",
            "form_rx": "VARCHAR",
            "dose_val_rx": "VARCHAR",  # text: MIMIC writes ranges such as "1-2"
            "dose_unit_rx": "VARCHAR",
            "form_val_disp": "VARCHAR",
            "form_unit_disp": "VARCHAR",
            "doses_per_24_hrs": "DOUBLE",
            "route": "VARCHAR",
        },
    ),
    "pharmacy": (
        "hosp/pharmacy",
        {
            "subject_id": "INTEGER",
            "hadm_id": "INTEGER",
            "pharmacy_id": "INTEGER",
            "poe_id": "VARCHAR",
            "starttime": "TIMESTAMP",
            "stoptime": "TIMESTAMP",
            "medication": "VARCHAR",
            "proc_type": "VARCHAR",
            "status": "VARCHAR",
            "entertime": "TIMESTAMP",
            "verifiedtime": "TIMESTAMP",
            "route": "VARCHAR",
            "frequency": "VARCHAR",
            "disp_sched": "VARCHAR",
            "infusion_type": "VARCHAR",
            "sliding_scale": "VARCHAR",
            "lockout_interval": "VARCHAR",
            "basal_rate": "DOUBLE",
            "one_hr_max": "VARCHAR",
            "doses_per_24_hrs": "DOUBLE",
            "duration": "DOUBLE",
            "duration_interval": "VARCHAR",
            "expiration_value": "INTEGER",
            "expiration_unit": "VARCHAR",
            "expirationdate": "TIMESTAMP",
            "dispensation": "VARCHAR",
            "fill_quantity": "VARCHAR",
        },
    ),
    "icustays": (
        "icu/icustays",
        {
            "subject_id": "INTEGER",
            "hadm_id": "INTEGER",
            "stay_id": "INTEGER",
            "first_careunit": "VARCHAR",
            "last_careunit": "VARCHAR",
            "intime": "TIMESTAMP",
            "outtime": "TIMESTAMP",
            "los": "DOUBLE",  # days, fractional
        },
    ),
}
# Optional files and what is lost without each: the build goes on, logs one line and records the table in
# IngestResult.missing_optional. MIMIC-IV-Note is a separate credentialed download; the medication and ICU
# tables are large and some users leave them out.
WITHOUT: dict[str, str] = {
    "discharge": "the records have no discharge-summary section",
    "prescriptions": "the Q&A context lacks prescribed drugs (no medication classes from prescriptions.drug)",
    "pharmacy": "the Q&A context lacks pharmacy orders (no medication classes from pharmacy.medication)",
    "icustays": "the Q&A context cannot say whether the patient stayed in intensive care",
}
OPTIONAL = frozenset(WITHOUT)

# Columns kept in the working database (labevents drops ids and free-text comments to stay small).
KEEP = {
    "labevents": (
        "subject_id",
        "hadm_id",
        "itemid",
        "charttime",
        "value",
        "valuenum",
        "valueuom",
        "ref_range_lower",
        "ref_range_upper",
        "flag",
    ),
    # the Q&A context's medication and ICU facts (docs/mimic.md); ids, provider, codes and dispensing details dropped
    "prescriptions": (
        "subject_id",
        "hadm_id",
        "starttime",
        "stoptime",
        "drug_type",
        "drug",
        "formulary_drug_cd",
        "route",
        "dose_val_rx",
        "dose_unit_rx",
    ),
    "pharmacy": ("subject_id", "hadm_id", "starttime", "stoptime", "medication", "route", "frequency", "status"),
}
