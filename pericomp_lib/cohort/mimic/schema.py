"""MIMIC-IV v3.1 (hosp) and MIMIC-IV-Note v2.2 (note) files we read, with their exact columns and types.

Explicit types (never auto-detection) keep leading zeros of ICD codes ("0389") and make DuckDB read
a 158-million-row labevents file without a sampling pass.
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
}
OPTIONAL = frozenset({"discharge"})  # MIMIC-IV-Note is a separate credentialed download

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
}
