"""Which chart columns carry signal: per-subject summaries, boosted classifiers, importance per `table.column`.

The Q&A context (chartqa/context.py) is built from a subject's chart; columns that tell a model nothing
about the patient's conditions only lengthen it. Per subject we summarise every column of patients,
admissions, procedures_icd, labevents, prescriptions, pharmacy and icustays (COLUMNS says how), fit one
gradient-boosted classifier per frequent diagnosis group and score each column by permutation importance
on held-out subjects (features.boosted_importance, the lab ranking's own code): all summaries of a column
are shuffled together, so a column is scored as a whole (its summaries often stand in for one another:
a drug's presence and the number of distinct drugs) and it costs one prediction per column, not per
summary. The importance is averaged over the labels; columns whose share of the total falls below the
params key `qa_column_drop_below` leave the context, except the PROTECTED ones the Q&A topics read.

The diagnoses tables are never features: they are the labels, and a model that reads them would score them
(and nothing else) as important. A label is judged among subjects coded in its ICD version only, so the
coding era (anchor_year_group, icd_version) does not pass for a clinical signal.
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from ...core.io import atomic_write_text
from . import features as feats

log = logging.getLogger(__name__)

# Never dropped: the Q&A topics and the context's lines read them (age, sex, medicines, operations, ICU, admissions).
PROTECTED = frozenset(
    {
        "patients.anchor_age",
        "patients.gender",
        "prescriptions.drug",
        "pharmacy.medication",
        "procedures_icd.icd_code",
        "icustays.stay_id",
        "admissions.hadm_id",
    }
)

# How each column is summarised per subject (over all its admissions' rows):
#   id        number of distinct values (admissions, ICU stays)
#   number    mean and max
#   category  number of distinct values, and presence (0/1) of each of the cohort's top values
#   present   number of rows where it is filled (patients.dod: died)
#   time      hours after the row's admission began (admittime: days after the subject's first admission),
#             mean and max; shifted calendar dates mean nothing in MIMIC, intervals do
#   lab       labevents.valuenum per lab item: min, max and last value (features.lab_features) of the
#             cohort's most covered items, all scored as the one column labevents.valuenum
# Free text, ids that only link tables, and columns that mirror another (labevents.value) are not scored.
COLUMNS: dict[str, dict[str, str]] = {
    "patients": {
        "gender": "category",
        "anchor_age": "number",
        "anchor_year": "number",
        "anchor_year_group": "category",
        "dod": "present",
    },
    "admissions": {
        "hadm_id": "id",
        "admittime": "time",
        "dischtime": "time",
        "deathtime": "time",
        "admission_type": "category",
        "admission_location": "category",
        "discharge_location": "category",
        "hospital_expire_flag": "number",
    },
    "procedures_icd": {"seq_num": "number", "chartdate": "time", "icd_code": "category", "icd_version": "category"},
    "labevents": {
        "itemid": "category",
        "charttime": "time",
        "valuenum": "lab",
        "valueuom": "category",
        "ref_range_lower": "number",
        "ref_range_upper": "number",
        "flag": "category",
    },
    "prescriptions": {
        "starttime": "time",
        "stoptime": "time",
        "drug_type": "category",
        "drug": "category",
        "formulary_drug_cd": "category",
        "route": "category",
        "dose_val_rx": "category",
        "dose_unit_rx": "category",
    },
    "pharmacy": {
        "starttime": "time",
        "stoptime": "time",
        "medication": "category",
        "route": "category",
        "frequency": "category",
        "status": "category",
    },
    "icustays": {
        "stay_id": "id",
        "first_careunit": "category",
        "last_careunit": "category",
        "intime": "time",
        "outtime": "time",
        "los": "number",
    },
}
# where a table's rows sit in a subjects.jsonl line: the subject itself, its admissions, or a list per admission
_ADMISSION_LISTS = {
    "procedures_icd": "procedures",
    "prescriptions": "prescriptions",
    "pharmacy": "pharmacy",
    "icustays": "icustays",
}
RESULT_COLUMNS = ["table", "column", "importance", "share", "rank", "n_labels", "labels"]


def diagnosis_group(code: str, version: int) -> str:
    """ICD-10-CM: the 3-character category (N17); ICD-9-CM: the 3-digit code (584), E codes 4 characters (E878)."""
    code = str(code)
    return f"icd{version}:{code[:4] if int(version) == 9 and code.startswith('E') else code[:3]}"


def _time(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _hours(value, start: datetime | None) -> float | None:
    t = _time(value)
    return None if t is None or start is None else (t - start).total_seconds() / 3600


def _rows(subj: dict) -> dict[str, list[tuple[dict, datetime | None]] | None]:
    """Per table: (row, admittime of its admission), None when the table is absent from the chart."""
    adms = subj.get("admissions") or []
    out: dict[str, list | None] = {"patients": [(subj, None)]}
    out["admissions"] = [(a, _time(a.get("admittime"))) for a in adms]
    starts = {a.get("hadm_id"): _time(a.get("admittime")) for a in adms}
    out["labevents"] = [(lab, starts.get(lab.get("hadm_id"))) for lab in subj.get("labs") or []]
    for table, key in _ADMISSION_LISTS.items():
        if adms and all(key not in a for a in adms):  # the table's file was missing at ingest
            out[table] = None
            continue
        out[table] = [(r, start) for a, start in out["admissions"] for r in a.get(key) or []]
    return out


def _summarise(subj: dict) -> tuple[dict[str, float], dict[str, set[str]], dict[str, float]]:
    """One subject: numeric summaries, the set of values of each category column, lab features."""
    rows = _rows(subj)
    first = min((s for _, s in rows["admissions"] if s is not None), default=None)
    num: dict[str, float] = {}
    cats: dict[str, set[str]] = {}
    for table, spec in COLUMNS.items():
        table_rows = rows[table]
        if table_rows is None:
            continue
        for column, kind in spec.items():
            name = f"{table}.{column}"
            if kind == "lab":
                continue
            values = [r.get(column) for r, _ in table_rows]
            if kind == "category":
                cats[name] = {str(v) for v in values if v is not None}
            elif kind == "id":
                num[f"{name}|distinct"] = float(len({v for v in values if v is not None}))
            elif kind == "present":
                num[f"{name}|present"] = float(sum(v is not None for v in values))
            else:
                if kind == "time" and name == "admissions.admittime":
                    vals = [_hours(v, first) for v in values]
                    vals = [v / 24 for v in vals if v is not None]
                elif kind == "time":
                    vals = [_hours(r.get(column), start) for r, start in table_rows]
                    vals = [v for v in vals if v is not None]
                else:
                    vals = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
                    vals = [v for v in vals if math.isfinite(v)]
                if vals:
                    num[f"{name}|mean"], num[f"{name}|max"] = sum(vals) / len(vals), max(vals)
    return num, cats, feats.lab_features(subj.get("labs") or [])


def subject_features(
    subjects: Iterable[dict] | str | os.PathLike,
    top_values: int = 12,
    max_lab_items: int = 20,
    min_coverage: float = 0.05,
    max_subjects: int = 20000,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """(features, labels, groups): one row per subject (the first max_subjects, in file order).

    features: columns '<table>.<column>|<summary>' (see COLUMNS); a category column gets '|distinct' and
    '|=<value>' for its top_values most frequent values, labevents.valuenum '|<itemid>|min/max/last' for the
    max_lab_items items measured in at least min_coverage of subjects; NaN where the chart has nothing to
    summarise (all of a table's columns are NaN for a subject whose table file was missing at ingest).
    labels: one column per diagnosis group on record (diagnosis_group): 1/0 for subjects with diagnoses
    coded in the group's ICD version, NaN for the others; groups: subject_id per row.
    """
    problems: list[str] = []
    if isinstance(subjects, (str, os.PathLike)):
        from .cohort import iter_subjects

        subjects = iter_subjects(subjects, problems)
    nums, cats, labs, dx, sids = [], [], [], [], []
    for subj in subjects:
        if len(sids) >= max_subjects:
            break
        num, cat, lab = _summarise(subj)
        nums.append(num)
        cats.append(cat)
        labs.append(lab)
        adms = subj.get("admissions") or []
        dx.append({diagnosis_group(d["icd_code"], d["icd_version"]) for a in adms for d in a.get("diagnoses") or []})
        sids.append(subj["subject_id"])
    if problems:
        log.warning("column selection: %d broken subject line(s) skipped; first: %s", len(problems), problems[0])
    n = len(sids)
    columns: dict[str, list[float]] = {}
    for name in sorted({k for r in nums for k in r}):
        columns[name] = [r.get(name, np.nan) for r in nums]
    for name in sorted({k for r in cats for k in r}):
        counts = Counter(v for r in cats if name in r for v in r[name])
        top = sorted(counts, key=lambda v: (-counts[v], v))[:top_values]
        columns[f"{name}|distinct"] = [float(len(r[name])) if name in r else np.nan for r in cats]
        for v in top:
            columns[f"{name}|={v}"] = [float(v in r[name]) if name in r else np.nan for r in cats]
    item_counts = Counter(k.split("|")[0] for r in labs for k in r if k.endswith("|last"))
    items = sorted(
        (i for i, c in item_counts.items() if n and c / n >= min_coverage), key=lambda i: (-item_counts[i], i)
    )
    for item in items[:max_lab_items]:
        for stat in feats.STATS:
            columns[f"labevents.valuenum|{item}|{stat}"] = [r.get(f"{item}|{stat}", np.nan) for r in labs]
    X = pd.DataFrame(columns, index=range(n), dtype="float32")
    groups_on_record = sorted({g for s in dx for g in s})
    versions = [{g.split(":")[0] for g in s} for s in dx]
    Y = pd.DataFrame(
        {
            g: [float(g in s) if g.split(":")[0] in v else np.nan for s, v in zip(dx, versions)]
            for g in groups_on_record
        },
        index=range(n),
        dtype=float,
    )
    return X, Y, pd.Series(sids, name="subject_id")


def rank_columns(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    groups: pd.Series,
    seed: int = 1,
    min_positives: int = 10,
    max_labels: int = 8,
    n_repeats: int = 3,
    n_threads: int | None = None,
) -> pd.DataFrame:
    """Importance per `table.column` (RESULT_COLUMNS), features named '<table>.<column>|...'.

    Labels: the max_labels most frequent columns of `labels` (0/1, NaN where a label does not apply) with at
    least min_positives positives and as many negatives. Per label, boosted_importance shuffles all
    non-constant features of a column together (a constant feature cannot change a prediction); the score
    is averaged over the labels fitted and floored at 0 (permutation noise can go negative). share:
    importance / total (0 when nothing could be fitted); n_labels and labels: the labels for which the
    column's importance was positive, most helped first.
    """
    names = sorted({c.split("|")[0] for c in features.columns})
    usable = {}
    for c in labels.columns:
        y = labels[c].astype(float)
        pos, known = int(y.sum()), int(y.notna().sum())
        if min_positives <= pos <= known - min_positives:
            usable[c] = (pos, y)
    usable = {k: y for k, (_, y) in sorted(usable.items(), key=lambda kv: (-kv[1][0], kv[0]))[:max_labels]}
    varying = [c for c in features.columns if features[c].nunique(dropna=False) > 1]
    scored = sorted({c.split("|")[0] for c in varying})
    per_label: dict[str, pd.Series] = {}
    if usable and varying and groups.nunique() >= 4:
        X = features[varying].to_numpy(dtype=np.float32)
        owner = np.array([c.split("|")[0] for c in varying])
        col_groups = [np.flatnonzero(owner == n) for n in scored]
        fitted = feats.boosted_importance(
            X, usable, groups, seed, n_repeats, n_threads=n_threads, feature_groups=col_groups
        )
        for label, imp in fitted.items():
            # rounded: shuffles that change no prediction must score 0, not a float-noise +-1e-17
            per_label[label] = pd.Series(np.round(imp, 12), index=scored).reindex(names, fill_value=0.0)
    if not per_label:
        log.warning(
            "column selection: no label could be fitted (%d subjects, %d usable labels); every column scores 0 "
            "and none will be dropped",
            len(features),
            len(usable),
        )
    scores = pd.DataFrame(per_label, index=names)
    importance = (scores.mean(axis=1) if per_label else pd.Series(0.0, index=names)).clip(lower=0.0)
    total = float(importance.sum())
    helped = {
        n: sorted((lab for lab in per_label if per_label[lab][n] > 0), key=lambda lab: (-per_label[lab][n], lab))
        for n in names
    }
    df = pd.DataFrame(
        {
            "table": [n.split(".", 1)[0] for n in names],
            "column": [n.split(".", 1)[1] for n in names],
            "importance": importance.to_numpy(),
            "share": (importance / total).to_numpy() if total > 0 else 0.0,
            "n_labels": [len(helped[n]) for n in names],
            "labels": [";".join(helped[n]) for n in names],
        }
    )
    df = df.sort_values(["importance", "table", "column"], ascending=[False, True, True], ignore_index=True)
    df["rank"] = np.arange(1, len(df) + 1)
    df.attrs["labels"] = list(per_label)
    return df[RESULT_COLUMNS]


def column_importance(
    subjects: Iterable[dict] | str | os.PathLike,
    seed: int = 1,
    min_positives: int = 10,
    max_labels: int = 8,
    top_values: int = 12,
    max_lab_items: int = 20,
    n_repeats: int = 3,
    max_subjects: int = 20000,
    n_threads: int | None = None,
) -> pd.DataFrame:
    """Importance of each `table.column` of the chart for the frequent diagnosis groups (rank_columns' frame).

    subjects: parsed subjects.jsonl lines or the file's path. Seed-deterministic; one OpenMP thread below
    5000 subjects (the FAKE fixture's 400 subjects take a few seconds).
    """
    X, Y, groups = subject_features(
        subjects, top_values=top_values, max_lab_items=max_lab_items, max_subjects=max_subjects
    )
    return rank_columns(X, Y, groups, seed, min_positives, max_labels, n_repeats, n_threads)


def table_importance(df: pd.DataFrame) -> pd.DataFrame:
    """Importance summed per table: columns table, importance, share; most important first."""
    out = df.groupby("table", as_index=False)["importance"].sum()
    total = float(out["importance"].sum())
    out["share"] = out["importance"] / total if total > 0 else 0.0
    return out.sort_values(["importance", "table"], ascending=[False, True], ignore_index=True)


def columns_to_drop(df: pd.DataFrame, threshold: float, protected: frozenset[str] = PROTECTED) -> frozenset[str]:
    """`table.column` names whose share of the importance is below threshold, protected ones excepted.

    Nothing is dropped when no label could be fitted (every share 0): no evidence is not evidence of no signal.
    """
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"qa_column_drop_below {threshold!r}: a share of the total importance, in [0, 1]")
    if df.empty or float(df["importance"].sum()) <= 0:
        return frozenset()
    names = df["table"] + "." + df["column"]
    return frozenset(n for n, s in zip(names, df["share"]) if s < threshold and n not in protected)


def write_selection(
    out_dir: str | os.PathLike, df: pd.DataFrame, threshold: float, protected: frozenset[str] = PROTECTED
) -> dict:
    """Write column_importance.csv, top_tables.csv (most important table first) and least_tables.csv (least
    first) under out_dir, atomically; returns {"dropped": [...], "kept": [...], "threshold": threshold}."""
    out_dir = Path(out_dir)
    dropped = columns_to_drop(df, threshold, protected)
    tables = table_importance(df)
    atomic_write_text(out_dir / "column_importance.csv", df.to_csv(index=False))
    atomic_write_text(out_dir / "top_tables.csv", tables.to_csv(index=False))
    atomic_write_text(out_dir / "least_tables.csv", tables.iloc[::-1].to_csv(index=False))
    names = (df["table"] + "." + df["column"]).tolist()
    return {
        "dropped": sorted(dropped),
        "kept": sorted(n for n in names if n not in dropped),
        "threshold": float(threshold),
    }
