"""The Q&A study's MIMIC tables (prescriptions, pharmacy, icustays) and the column-level feature selection."""

import gzip
import logging

import numpy as np
import pandas as pd
import pytest

from pericomp_lib.cohort import mimic
from pericomp_lib.cohort.mimic import column_selection as cs
from pericomp_lib.cohort.mimic.ingest import MimicError


def test_missing_optional_table_degrades_and_says_so(tmp_path, caplog):
    full = mimic.make_fixture(tmp_path / "full", n_subjects=12, seed=4)
    root = mimic.make_fixture(tmp_path / "m", n_subjects=12, seed=4, omit_tables=("icustays",))
    assert not (root / "icu").exists()
    for p in full.rglob("*.csv.gz"):  # leaving a table out changes nothing else
        if p.name != "icustays.csv.gz":
            assert (root / p.relative_to(full)).read_bytes() == p.read_bytes()
    with caplog.at_level(logging.WARNING, logger="pericomp_lib.cohort.mimic.ingest"):
        ing = mimic.ingest(root, tmp_path / "out")
    assert ing.missing_optional == ["icustays"] and ing.as_dict()["missing_optional"] == ["icustays"]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "icu/icustays.csv.gz" in lines[0] and "intensive care" in lines[0]
    adms = [a for s in mimic.iter_subjects(ing.subjects_path) for a in s["admissions"]]
    assert adms and all("icustays" not in a and "prescriptions" in a and "pharmacy" in a for a in adms)


def test_all_optional_tables_missing(tmp_path, caplog):
    root = mimic.make_fixture(
        tmp_path / "m", n_subjects=6, seed=1, omit_tables=("prescriptions", "pharmacy", "icustays", "discharge")
    )
    with caplog.at_level(logging.WARNING, logger="pericomp_lib.cohort.mimic.ingest"):
        ing = mimic.ingest(root, tmp_path / "out")
    assert ing.missing_optional == ["discharge", "prescriptions", "pharmacy", "icustays"] and not ing.has_notes
    assert len(caplog.records) == 4
    adms = [a for s in mimic.iter_subjects(ing.subjects_path) for a in s["admissions"]]
    assert all(not {"prescriptions", "pharmacy", "icustays"} & set(a) for a in adms)
    with pytest.raises(ValueError, match=r"omit_tables \['labevents'\]: only optional tables"):
        mimic.make_fixture(tmp_path / "x", n_subjects=2, omit_tables=("labevents",))


def test_truncated_prescriptions_names_the_file(tmp_path):
    root = mimic.make_fixture(tmp_path / "m", n_subjects=30, seed=2)
    rx = root / "hosp" / "prescriptions.csv.gz"
    data = rx.read_bytes()
    rx.write_bytes(data[: len(data) // 2])
    with pytest.raises(MimicError, match=r"prescriptions\.csv\.gz: could not be read completely.*truncated or corrupt"):
        mimic.ingest(root, tmp_path / "out")
    with gzip.open(rx, "wt") as fh:
        fh.write("subject_id,hadm_id,drug\n1,2,x\n")
    with pytest.raises(MimicError, match=r"prescriptions\.csv\.gz: header is"):
        mimic.ingest(root, tmp_path / "out")
    assert not (tmp_path / "out" / "subjects.jsonl").exists()


def test_chronic_conditions_flag(tmp_path):
    plain = mimic.make_fixture(tmp_path / "a", n_subjects=40, seed=7)
    chronic = mimic.make_fixture(tmp_path / "b", n_subjects=40, seed=7, chronic_conditions=True)
    for name in ("patients", "admissions", "labevents", "procedures_icd"):
        p = f"hosp/{name}.csv.gz"
        assert (plain / p).read_bytes() == (chronic / p).read_bytes()
    dx_plain = gzip.decompress((plain / "hosp/diagnoses_icd.csv.gz").read_bytes()).decode()
    dx_chronic = gzip.decompress((chronic / "hosp/diagnoses_icd.csv.gz").read_bytes()).decode()
    codes = {line.split(",")[3] for line in dx_chronic.splitlines()[1:]}
    assert codes & {"I5022", "42832"} and not {"I5022", "42832", "J449", "496"} & {
        line.split(",")[3] for line in dx_plain.splitlines()[1:]
    }
    titles = gzip.decompress((chronic / "hosp/d_icd_diagnoses.csv.gz").read_bytes()).decode()
    assert "Chronic systolic (congestive) heart failure" in titles


@pytest.fixture(scope="module")
def subjects(tmp_path_factory):
    base = tmp_path_factory.mktemp("qa_tables")
    root = mimic.make_fixture(base / "mimic", n_subjects=160, seed=5)
    ing = mimic.ingest(root, base / "out")
    return list(mimic.iter_subjects(ing.subjects_path))


def test_column_importance_is_deterministic_and_sensible(subjects):
    df = cs.column_importance(subjects, seed=1)
    assert list(df.columns) == cs.RESULT_COLUMNS
    assert df.equals(cs.column_importance(subjects, seed=1))
    assert set(df["table"]) == set(cs.COLUMNS)  # the diagnoses tables are labels, never features
    assert "diagnoses_icd" not in set(df["table"]) and df.attrs["labels"]
    assert abs(df["share"].sum() - 1.0) < 1e-9 and (df["importance"] >= 0).all()
    assert df["rank"].tolist() == list(range(1, len(df) + 1))
    assert df["importance"].is_monotonic_decreasing
    imp = dict(zip(df["table"] + "." + df["column"], df["importance"]))
    # the fixture's medicines follow its diagnoses; its anchor_year is drawn independently of everything
    assert max(imp["prescriptions.drug"], imp["prescriptions.dose_val_rx"]) > imp["patients.anchor_year"]
    assert imp["procedures_icd.icd_code"] > 0  # the operation predicts the reason for admission
    assert (df["n_labels"] == df["labels"].map(lambda s: len(s.split(";")) if s else 0)).all()
    tables = cs.table_importance(df)
    assert list(tables.columns) == ["table", "importance", "share"] and tables["importance"].is_monotonic_decreasing


def test_protected_columns_are_never_dropped(subjects, tmp_path):
    df = cs.column_importance(subjects, seed=2)
    names = set(df["table"] + "." + df["column"])
    assert names >= cs.PROTECTED
    everything = cs.columns_to_drop(df, 1.0)
    assert everything == frozenset(names - cs.PROTECTED)
    assert cs.columns_to_drop(df, 0.0) == frozenset()
    with pytest.raises(ValueError, match="qa_column_drop_below"):
        cs.columns_to_drop(df, 1.5)
    sel = cs.write_selection(tmp_path / "sel", df, 0.01)
    assert set(sel) == {"dropped", "kept", "threshold"} and sel["threshold"] == 0.01
    assert set(sel["dropped"]) | set(sel["kept"]) == names and not set(sel["dropped"]) & set(sel["kept"])
    assert not cs.PROTECTED & set(sel["dropped"])
    share = dict(zip(df["table"] + "." + df["column"], df["share"]))
    assert all(share[n] < 0.01 for n in sel["dropped"])
    written = pd.read_csv(tmp_path / "sel" / "column_importance.csv", keep_default_na=False)
    assert list(written.columns) == cs.RESULT_COLUMNS and len(written) == len(df)
    top = pd.read_csv(tmp_path / "sel" / "top_tables.csv")
    least = pd.read_csv(tmp_path / "sel" / "least_tables.csv")
    assert top["table"].tolist() == least["table"].tolist()[::-1] and top["importance"].is_monotonic_decreasing
    assert not list((tmp_path / "sel").glob(".*.tmp"))  # atomic writes leave no temp files


def test_missing_table_is_not_scored(subjects):
    stripped = [
        {**s, "admissions": [{k: v for k, v in a.items() if k != "icustays"} for a in s["admissions"] or []]}
        for s in subjects
    ]
    df = cs.column_importance(stripped, seed=1)
    assert "icustays" not in set(df["table"]) and "prescriptions" in set(df["table"])


def test_nothing_fitted_drops_nothing(subjects, caplog):
    with caplog.at_level(logging.WARNING, logger="pericomp_lib.cohort.mimic.column_selection"):
        df = cs.column_importance(subjects[:6], seed=1)
    assert (df["importance"] == 0).all() and (df["share"] == 0).all() and not df.attrs["labels"]
    assert cs.columns_to_drop(df, 0.5) == frozenset() and "no label could be fitted" in caplog.text


def test_noise_column_ranks_below_a_predictive_one():
    rng = np.random.default_rng(0)
    n = 300
    y = rng.integers(0, 2, n)
    X = pd.DataFrame(
        {
            "prescriptions.drug|=Insulin": np.where(rng.random(n) < 0.9, y, 1 - y).astype("float32"),
            "prescriptions.drug|distinct": (y * 2 + rng.integers(0, 3, n)).astype("float32"),
            "patients.anchor_year|mean": rng.normal(2150, 20, n).astype("float32"),
            "patients.anchor_year|max": rng.normal(2150, 20, n).astype("float32"),
            "labevents.flag|=abnormal": np.zeros(n, dtype="float32"),  # constant: scores 0
        }
    )
    Y = pd.DataFrame({"icd10:E11": y.astype(float), "icd10:I10": rng.integers(0, 2, n).astype(float)})
    df = cs.rank_columns(X, Y, pd.Series(np.arange(n)), seed=3, min_positives=10)
    assert df["column"].tolist()[0] == "drug" and df.loc[0, "labels"].startswith("icd10:E11")
    imp = dict(zip(df["column"], df["importance"]))
    assert imp["drug"] > 0.2 > imp["anchor_year"] and imp["flag"] == 0.0
    assert cs.rank_columns(X, Y, pd.Series(np.arange(n)), seed=3).equals(df)


def test_labels_are_judged_within_their_icd_version():
    subj = [
        {"subject_id": 1, "admissions": [{"hadm_id": 1, "diagnoses": [{"icd_code": "25000", "icd_version": 9}]}]},
        {"subject_id": 2, "admissions": [{"hadm_id": 2, "diagnoses": [{"icd_code": "E119", "icd_version": 10}]}]},
        {"subject_id": 3, "admissions": [{"hadm_id": 3, "diagnoses": [{"icd_code": "E8781", "icd_version": 9}]}]},
    ]
    _, Y, groups = cs.subject_features(subj)
    assert list(groups) == [1, 2, 3]
    assert Y["icd9:250"].tolist()[0] == 1 and np.isnan(Y["icd9:250"].tolist()[1]) and Y["icd9:250"].tolist()[2] == 0
    assert np.isnan(Y["icd10:E11"].tolist()[0]) and Y["icd10:E11"].tolist()[1] == 1
    assert "icd9:E878" in Y.columns
