"""MIMIC-IV source on a generated MIMIC-shaped fixture (fake values; no credentialed data anywhere)."""

import gzip
import json
import shutil
from pathlib import Path

import pytest

from pericomp_lib.cohort import mimic
from pericomp_lib.cohort.mimic.ingest import MimicError
from pericomp_lib.core import taxonomy
from pericomp_lib.core.records import load_cohort


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("mimic")
    root = mimic.make_fixture(base / "mimic", n_subjects=120, seed=0)
    ing = mimic.ingest(root, base / "out")
    res = mimic.build_cohort(ing.subjects_path, base / "out", top_k_labs=5, seed=1)
    subjects = {s["subject_id"]: s for s in mimic.iter_subjects(ing.subjects_path)}
    return root, ing, res, subjects


def test_icd_formatting():
    assert mimic.format_dx("N179", 10) == "N17.9" and mimic.format_dx("5849", 9) == "584.9"
    assert mimic.format_dx("I10", 10) == "I10" and mimic.format_dx("E8781", 9) == "E878.1"
    assert mimic.format_px("4573", 9) == "45.73" and mimic.format_px("0DTJ0ZZ", 10) == "0DTJ0ZZ"


@pytest.mark.parametrize(
    "code,version,expected",
    [
        ("0DTJ0ZZ", 10, True),
        ("0FT44ZZ", 10, True),
        ("0SRC0J9", 10, True),
        ("10D00Z1", 10, True),
        ("02HV33Z", 10, False),
        ("0W9G3ZZ", 10, False),
        ("0W9G0ZZ", 10, False),
        ("0DJ08ZZ", 10, False),
        ("5A1955Z", 10, False),
        ("4701", 9, True),
        ("8154", 9, True),
        ("3893", 9, False),
        ("9671", 9, False),
        ("0331", 9, False),
        ("0041", 9, False),
    ],
)
def test_surgical_rule(code, version, expected):
    assert mimic.is_surgical(code, version) is expected


def test_mapping_table_covers_all_complications_with_valid_ids():
    m = mimic.load_icd_map()
    assert {r.complication for r in m.rows} == set(taxonomy.IDS)
    assert all(r.complication in taxonomy.IDS for r in m.rows)


@pytest.mark.parametrize(
    "code,version,cid",
    [
        ("N179", 10, "acute_kidney_injury"),
        ("5849", 9, "acute_kidney_injury"),
        ("J80", 10, "ards"),
        ("5185", 9, "ards"),
        ("51851", 9, None),
        ("I2699", 10, "pulmonary_embolism"),
        ("41519", 9, "pulmonary_embolism"),
        ("K560", 10, "paralytic_ileus"),
        ("K5660", 10, None),
        ("5601", 9, "paralytic_ileus"),
        ("F05", 10, "delirium"),
        ("I63512", 10, "stroke"),
        ("43411", 9, "stroke"),
        ("43400", 9, None),
        ("I469", 10, "cardiac_arrest"),
        ("4275", 9, "cardiac_arrest"),
        ("42731", 9, "arrhythmia"),
        ("I4891", 10, "arrhythmia"),
        ("I214", 10, "myocardial_infarction"),
        ("J189", 10, "pneumonia"),
        ("486", 9, "pneumonia"),
        ("T8141XA", 10, "superficial_ssi"),
        ("T8142XA", 10, "deep_ssi"),
        ("T8143XA", 10, "organ_space_ssi"),
        ("T814XXA", 10, "superficial_ssi"),
        ("N390", 10, "urinary_tract_infection"),
        ("5990", 9, "urinary_tract_infection"),
        ("A419", 10, "infection_unknown_source"),
        ("A4101", 10, "bloodstream_infection"),
        ("I82401", 10, "deep_vein_thrombosis"),
        ("K9189", 10, "anastomotic_leak"),
        ("K922", 10, "gastrointestinal_bleeding"),
        ("I97618", 10, "postoperative_bleeding"),
        ("99811", 9, "postoperative_bleeding"),
        ("I5A", 10, "myocardial_injury"),
        ("I10", 10, None),
        ("4019", 9, None),
    ],
)
def test_key_codes(code, version, cid):
    row = mimic.load_icd_map().lookup(code, version)
    assert (row.complication if row else None) == cid


def test_bad_mapping_row_names_line(tmp_path):
    p = tmp_path / "map.csv"
    p.write_text(
        "icd_version,code,match,complication,confidence,postop_specific,description,note\n"
        "10,A41,prefix,sepsis,high,0,Sepsis,\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"map.csv:2: complication 'sepsis'"):
        mimic.load_icd_map(p)


def test_subjects_jsonl(built):
    root, ing, _, subjects = built
    assert ing.n_subjects == len(subjects) == 120 and ing.has_notes
    s1 = subjects[10000001]
    assert len(s1["admissions"]) == 2
    assert any(lab["hadm_id"] is None for lab in s1["labs"])  # outpatient lab kept on the timeline
    versions = {d["icd_version"] for s in subjects.values() for a in s["admissions"] for d in a["diagnoses"] or []}
    assert versions == {9, 10}
    note = next(n for s in subjects.values() for a in s["admissions"] for n in a["notes"] or [])
    assert "Brief Hospital Course:\n" in note["text"] and '"for care"' in note["text"]  # multi-line, quoted CSV field
    assert all(d["title"] for s in subjects.values() for a in s["admissions"] for d in a["diagnoses"] or [])


def test_cases_contract_and_rules(built):
    _, _, res, subjects = built
    cases = load_cohort(res.cohort_path)  # validates, incl. evidence verbatim in the record
    assert len(cases) == res.n_cases == int(res.admissions["surgical"].sum()) > 50
    by_id = {c.case_id: c for c in cases}
    first, second = subjects[10000001]["admissions"]
    assert f"mimic-10000001-{first['hadm_id']}" in by_id
    assert f"mimic-10000001-{second['hadm_id']}" not in by_id  # non-surgical admission: no case
    two = [c for c in cases if c.meta["subject_id"] == 10000002]
    assert len(two) == 2 and {c.meta["icd_version"] for c in two} == {9}  # two ICD-9 surgical admissions
    splits: dict[int, set] = {}
    for c in cases:
        assert c.center == "mimic-iv" and c.language == "en" and {"subject_id", "hadm_id"} <= set(c.meta)
        assert all(g.grade == "none" and g.evidence for g in c.gold)
        splits.setdefault(c.meta["subject_id"], set()).add(c.split)
    assert all(len(s) == 1 for s in splits.values())  # no subject in two splits
    assert {c.meta["icd_version"] for c in cases if c.gold} == {9, 10}
    aki = by_id[f"mimic-10000001-{first['hadm_id']}"]
    assert [g.complication for g in aki.gold] == ["acute_kidney_injury"]
    assert aki.gold[0].evidence == ["N17.9 Acute kidney failure, unspecified"]
    assert "Creatinine" in aki.record and "↑" in aki.record and "# Discharge summary" in aki.record
    # the principal diagnosis (reason for admission) never becomes a label
    for c in cases:
        adm = next(a for a in subjects[c.meta["subject_id"]]["admissions"] if a["hadm_id"] == c.meta["hadm_id"])
        principal = next(d for d in adm["diagnoses"] if d["seq_num"] == 1)
        assert all(
            mimic.format_dx(principal["icd_code"], principal["icd_version"]) not in " ".join(g.evidence) for g in c.gold
        )


def test_ranking_finds_planted_signal(built):
    _, _, res, _ = built
    assert res.ranking["method"].iloc[0] == "permutation"
    top3 = set(res.ranking["label"].head(3))
    assert {"Creatinine", "White Blood Cells"} <= top3
    assert len(res.top_items) == 5


def test_summaries(built):
    _, _, res, _ = built
    ov = dict(zip(*mimic.overview(res.admissions).T.values))
    assert ov["surgical admissions (= cases)"] == res.n_cases and ov["admissions"] > ov["surgical admissions (= cases)"]
    freq = mimic.label_frequencies(res.admissions).set_index("complication")
    assert freq.loc["acute_kidney_injury", "cases"] >= 1 and len(freq) == 23
    assert set(mimic.record_lengths(res.admissions).index) <= {"train", "validation", "test"}


def test_show_subject(built, capsys):
    _, _, res, _ = built
    text = mimic.show_subject(res.subjects_path, res.cohort_path, 10000001)
    assert "not surgical (no case)" in text and "mimic-10000001-" in text and "acute_kidney_injury" in text
    assert "SUBJECT 10000001" in capsys.readouterr().out


def test_bad_subject_line_is_counted_not_fatal(built, tmp_path):
    _, ing, res, _ = built
    bad = tmp_path / "subjects.jsonl"
    lines = Path(ing.subjects_path).read_text(encoding="utf-8").splitlines()
    bad.write_text(
        "\n".join(lines[:5] + ['{"subject_id": 1, "admissions": [{"oops": 1}]}', "{not json"]) + "\n", encoding="utf-8"
    )
    out = mimic.build_cohort(bad, tmp_path, top_k_labs=3)
    assert len(out.problems) == 2 and "subjects.jsonl:7" in out.problems[0] + out.problems[1]
    assert out.n_cases == int(out.admissions["surgical"].sum()) > 0


def test_without_notes_folder(tmp_path):
    root = mimic.make_fixture(tmp_path / "m", n_subjects=8, seed=3, with_notes=False)
    ing = mimic.ingest(root, tmp_path / "out")
    assert not ing.has_notes and not (root / "note").exists()
    res = mimic.build_cohort(ing.subjects_path, tmp_path / "out", top_k_labs=3)
    cases = load_cohort(res.cohort_path)
    assert cases and all("# Discharge summary" not in c.record for c in cases)
    assert res.ranking["method"].iloc[0] == "coverage"  # too few cases for a model: falls back, still ranks


def test_no_diagnoses_in_record(tmp_path):
    root = mimic.make_fixture(tmp_path / "m", n_subjects=10, seed=1)
    ing = mimic.ingest(root, tmp_path / "out")
    res = mimic.build_cohort(ing.subjects_path, tmp_path / "out", include_diagnoses=False)
    cases = load_cohort(res.cohort_path)
    assert any(c.gold for c in cases) and all(not g.evidence for c in cases for g in c.gold)
    assert all("Discharge diagnoses" not in c.record for c in cases)


def test_malformed_and_truncated_files(tmp_path):
    root = mimic.make_fixture(tmp_path / "m", n_subjects=30, seed=2)
    good = root / "hosp" / "labevents.csv.gz"
    keep = tmp_path / "labevents.keep"
    shutil.copy(good, keep)
    data = keep.read_bytes()
    good.write_bytes(data[: len(data) // 2])  # truncated download
    with pytest.raises(MimicError, match=r"labevents\.csv\.gz.*truncated or corrupt"):
        mimic.ingest(root, tmp_path / "out")
    good.write_bytes(b"this is not gzip at all")
    with pytest.raises(MimicError, match=r"labevents\.csv\.gz: cannot be read as gzip"):
        mimic.ingest(root, tmp_path / "out")
    with gzip.open(good, "wt") as fh:
        fh.write("subject_id,itemid\n1,2\n")
    with pytest.raises(MimicError, match=r"labevents\.csv\.gz: header is"):
        mimic.ingest(root, tmp_path / "out")
    shutil.copy(keep, good)
    (root / "hosp" / "d_labitems.csv.gz").unlink()
    with pytest.raises(MimicError, match=r"d_labitems\.csv\.gz: required MIMIC-IV file is missing"):
        mimic.ingest(root, tmp_path / "out")
    assert not (tmp_path / "out" / "subjects.jsonl").exists()  # nothing half-written


@pytest.mark.notebook
def test_notebook_01b_on_fixture(run_notebook, tmp_path):
    out = tmp_path / "mimic_run"
    executed = run_notebook("01b_mimic.ipynb", run_dir=str(out), top_k_labs=5, seed=1)
    stored = json.loads((out / "params.json").read_text(encoding="utf-8"))  # 02-05 follow from the run folder
    assert stored["cohort_source"] == "mimic" and stored["cohort_path"] == str(out / "fixture")
    cases = load_cohort(out / "cohort.jsonl")
    assert cases and (out / "fixture" / "hosp" / "labevents.csv.gz").exists()
    text = json.dumps(json.loads(executed.read_text(encoding="utf-8")))
    assert "FAKE" in text and "SILVER" in text


# Content hashes (sha256 of the decompressed csv, first 16 hex) of the fixture's original tables for
# make_fixture(n_subjects=120, seed=0), taken before the medication and ICU tables were added: adding
# tables must never change the ones the complications study was built on.
FIXTURE_TABLES_SEED0_N120 = {
    "hosp/admissions.csv.gz": "5a00feae06b9ffd1",
    "hosp/d_icd_diagnoses.csv.gz": "542e90f2df2907a8",
    "hosp/d_icd_procedures.csv.gz": "0c78db8f74d8db94",
    "hosp/d_labitems.csv.gz": "be080410c7cfc111",
    "hosp/diagnoses_icd.csv.gz": "9848b6c0c083ae0a",
    "hosp/labevents.csv.gz": "7285ff1b960df321",
    "hosp/patients.csv.gz": "4225aa56dd494281",
    "hosp/procedures_icd.csv.gz": "b1aab8aea9b6dd9c",
    "note/discharge.csv.gz": "d956e2f2e97f0786",
}


def test_fixture_original_tables_unchanged(built):
    import hashlib

    root = built[0]
    found = {
        str(p.relative_to(root)): hashlib.sha256(gzip.decompress(p.read_bytes())).hexdigest()[:16]
        for p in sorted(root.rglob("*.csv.gz"))
    }
    assert {k: found[k] for k in FIXTURE_TABLES_SEED0_N120} == FIXTURE_TABLES_SEED0_N120
    assert set(found) - set(FIXTURE_TABLES_SEED0_N120) == {
        "hosp/prescriptions.csv.gz",
        "hosp/pharmacy.csv.gz",
        "icu/icustays.csv.gz",
    }


def test_medication_and_icu_lists_per_admission(built):
    _, ing, _, subjects = built
    assert ing.missing_optional == []
    adms = [a for s in subjects.values() for a in s["admissions"]]
    rx_keys = [
        "starttime",
        "stoptime",
        "drug_type",
        "drug",
        "formulary_drug_cd",
        "route",
        "dose_val_rx",
        "dose_unit_rx",
    ]
    ph_keys = ["starttime", "stoptime", "medication", "route", "frequency", "status"]
    icu_keys = ["stay_id", "first_careunit", "last_careunit", "intime", "outtime", "los"]
    for a in adms:
        assert list(a)[-3:] == ["prescriptions", "pharmacy", "icustays"]
        for key, fields, order in (
            ("prescriptions", rx_keys, "starttime"),
            ("pharmacy", ph_keys, "starttime"),
            ("icustays", icu_keys, "intime"),
        ):
            rows = a[key]
            assert rows is None or (rows and all(list(r) == fields for r in rows))
            starts = [r[order] for r in rows or []]
            assert starts == sorted(starts)  # "YYYY-MM-DD HH:MM:SS" sorts as time
    assert any(a["prescriptions"] is None for a in adms) and any(a["icustays"] is None for a in adms)
    drugs = {r["drug"] for a in adms for r in a["prescriptions"] or []}
    assert {"Insulin Lispro", "Warfarin", "CeFAZolin", "OxyCODONE (Immediate Release)"} <= drugs
    doses = {r["dose_val_rx"] for a in adms for r in a["prescriptions"] or []}
    assert "1-2" in doses and all(isinstance(d, str) for d in doses)  # ranges stay text
    stays = [r for a in adms for r in a["icustays"] or []]
    assert stays and all(isinstance(r["stay_id"], int) and isinstance(r["los"], float) for r in stays)
    assert all(r["intime"] < r["outtime"] and 0 < r["los"] < 10 for r in stays)
    # medicines follow the diagnoses: diabetes -> insulin, AF -> an anticoagulant
    diabetic = [a for a in adms if any(d["icd_code"][:3] in ("E11", "250") for d in a["diagnoses"] or [])]
    with_insulin = [a for a in diabetic if any("Insulin" in r["drug"] for r in a["prescriptions"] or [])]
    assert len(with_insulin) > 0.6 * len(diabetic)
    insulin_without_diabetes = [
        a for a in adms if a not in diabetic and any("Insulin" in r["drug"] for r in a["prescriptions"] or [])
    ]
    assert not insulin_without_diabetes


def test_explicit_types_keep_codes_as_text(built):
    import duckdb

    from pericomp_lib.cohort.mimic.ingest import csv_source, table_path

    root = built[0]
    src = csv_source("prescriptions", table_path(root, "prescriptions"))
    rows = duckdb.sql(f"SELECT DISTINCT gsn, ndc, dose_val_rx FROM {src} WHERE drug = 'Senna'").fetchall()
    assert rows == [("009397", "00904516561", "1-2")]  # leading zeros and the range survive
    types = dict(duckdb.sql(f"DESCRIBE SELECT * FROM {src}").fetchall()[i][:2] for i in range(21))
    assert types["gsn"] == types["dose_val_rx"] == "VARCHAR" and types["starttime"] == "TIMESTAMP"
    icu = csv_source("icustays", table_path(root, "icustays"))
    assert [r[1] for r in duckdb.sql(f"DESCRIBE SELECT stay_id, intime, los FROM {icu}").fetchall()] == [
        "INTEGER",
        "TIMESTAMP",
        "DOUBLE",
    ]
