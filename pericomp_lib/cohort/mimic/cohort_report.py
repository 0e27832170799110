"""Looking at a built MIMIC cohort: summary tables, one subject next to its cases, and the command line.

Building the cases lives in cohort; what a person reads to check them (notebook 01b, `python -m
pericomp_lib mimic`) lives here, so the build stays free of display code.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pandas as pd

from ...core import taxonomy
from .cases import admission_labs, dx_text, index_operation
from .cohort import build_mimic, iter_subjects, resolve_mimic_dir
from .icd import IcdMap, load_icd_map

# ---- summaries for the notebook -------------------------------------------------------------------------


def overview(admissions: pd.DataFrame) -> pd.DataFrame:
    """Headline counts: subjects, admissions, surgical admissions (cases), ICD versions, notes, lab coverage."""
    surg = admissions[admissions["surgical"]]
    rows = [
        ("subjects with an admission", admissions["subject_id"].nunique()),
        ("admissions", len(admissions)),
        ("surgical admissions (= cases)", len(surg)),
        ("subjects with a surgical admission", surg["subject_id"].nunique()),
        ("surgical admissions coded ICD-9", int((surg["icd_version"] == 9).sum())),
        ("surgical admissions coded ICD-10", int((surg["icd_version"] == 10).sum())),
        ("surgical admissions with a discharge note", int(surg["has_note"].sum())),
        ("surgical admissions with >= 1 lab result", int((surg["n_labs"] > 0).sum())),
        ("surgical admissions with >= 1 silver label", int(surg["labels"].map(bool).sum())),
        ("median lab results per surgical admission", float(surg["n_labs"].median()) if len(surg) else 0.0),
        ("median length of stay (days), surgical", round(float(surg["los_days"].median()), 1) if len(surg) else 0.0),
    ]
    return pd.DataFrame({"metric": [r[0] for r in rows], "value": pd.Series([r[1] for r in rows], dtype=object)})


def label_frequencies(admissions: pd.DataFrame) -> pd.DataFrame:
    """Silver-label counts over cases, overall and by ICD version (ICD-9 and ICD-10 code differently)."""
    surg = admissions[admissions["surgical"]]
    rows = []
    for cid in [*taxonomy.IDS, taxonomy.NONE_ID]:
        has = surg["labels"].map(lambda ls, cid=cid: (not ls) if cid == taxonomy.NONE_ID else cid in ls)
        rows.append(
            {
                "complication": cid,
                "zh": taxonomy.zh_short(cid),
                "cases": int(has.sum()),
                "share": float(has.mean()) if len(surg) else 0.0,
                "icd9_cases": int((has & (surg["icd_version"] == 9)).sum()),
                "icd10_cases": int((has & (surg["icd_version"] == 10)).sum()),
            }
        )
    return pd.DataFrame(rows).sort_values("cases", ascending=False, ignore_index=True)


def record_lengths(admissions: pd.DataFrame) -> pd.DataFrame:
    """Distribution of record length (characters and whitespace words) per split."""
    cases = admissions[admissions["record_chars"].notna()]
    return cases.groupby("split")[["record_chars", "record_words"]].describe().round(0)


# ---- QA -------------------------------------------------------------------------------------------------


def show_subject(
    subjects_path: str | os.PathLike,
    cohort_path: str | os.PathLike,
    subject_id: int | None = None,
    icd_map: IcdMap | None = None,
    max_record_chars: int = 4000,
) -> str:
    """Print one subject's consolidated record next to the case(s) built from it; returns the text.

    subject_id None picks the first subject that has a case. Use it to check by eye that every case
    comes from a surgical admission, that labels match the codes, and that nothing leaked across subjects.
    """
    icd_map = icd_map or load_icd_map()
    cases = [json.loads(line) for line in Path(cohort_path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if subject_id is None:
        if not cases:
            raise ValueError(f"{cohort_path}: no cases to pick a subject from")
        subject_id = cases[0]["meta"]["subject_id"]
    subj = next((s for s in iter_subjects(subjects_path, []) if s["subject_id"] == int(subject_id)), None)
    if subj is None:
        raise ValueError(f"subject {subject_id} is not in {subjects_path}")
    out = [
        f"=== SUBJECT {subj['subject_id']}: {subj.get('gender')}, anchor age {subj.get('anchor_age')}, "
        f"{len(subj.get('admissions') or [])} admission(s), {len(subj.get('labs') or [])} lab results in total"
    ]
    for adm in subj.get("admissions") or []:
        op = index_operation(adm)
        out.append(
            f"--- admission {adm['hadm_id']}: {str(adm.get('admittime'))[:16]} -> {str(adm.get('dischtime'))[:16]}; "
            f"{'SURGICAL, index operation ' + op['icd_code'] if op else 'not surgical (no case)'}; "
            f"{len(admission_labs(subj, adm))} labs; {'discharge note' if adm.get('notes') else 'no note'}"
        )
        for p in adm.get("procedures") or []:
            out.append(f"    procedure {p.get('chartdate')} ICD-{p['icd_version']} {p['icd_code']}: {p.get('title')}")
        for d in adm.get("diagnoses") or []:
            row = icd_map.lookup(d["icd_code"], d["icd_version"])
            tag = f"  -> {row.complication} ({row.confidence})" if row else ""
            tag += " [principal: not a label]" if row and d.get("seq_num") == 1 else ""
            out.append(f"    dx {d.get('seq_num')}: {dx_text(d)}{tag}")
    mine = [c for c in cases if c.get("meta", {}).get("subject_id") == subj["subject_id"]]
    out.append(f"=== {len(mine)} CASE(S) built from subject {subj['subject_id']}")
    for c in mine:
        labels = (
            ", ".join(f"{g['complication']} <- {g['evidence']}" for g in c["gold"]) or "none (no mapped complication)"
        )
        text = c["record"] if len(c["record"]) <= max_record_chars else c["record"][:max_record_chars] + "\n[...]"
        out += [f"--- {c['case_id']} (split {c['split']}); silver labels: {labels}", text]
    text = "\n".join(out)
    print(text)  # a display function (notebook 01b): the text is its result, not a report
    return text


def cli(argv: list[str]) -> int:
    """python -m pericomp_lib.cohort.mimic --mimic-dir DIR --out-dir runs/mimic [--top-k-labs 20]"""
    from ...core.logs import show_logs

    show_logs()
    ap = argparse.ArgumentParser(
        prog="pericomp mimic", description="MIMIC-IV hosp(+note) -> subjects.jsonl -> cohort.jsonl"
    )
    ap.add_argument("--mimic-dir", help="folder holding hosp/ (and note/); omit to use a generated FAKE fixture")
    ap.add_argument("--out-dir", default="runs/mimic")
    ap.add_argument("--top-k-labs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--memory-limit", default="2GB")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--no-diagnoses", action="store_true", help="leave billed diagnoses out of the record (no evidence)"
    )
    a = ap.parse_args(argv)
    mimic_dir = resolve_mimic_dir(a.mimic_dir, a.out_dir)
    res = build_mimic(
        mimic_dir,
        a.out_dir,
        top_k_labs=a.top_k_labs,
        seed=a.seed,
        memory_limit=a.memory_limit,
        threads=a.threads,
        include_diagnoses=not a.no_diagnoses,
    )
    print(overview(res.admissions).to_string(index=False))
    print(f"wrote {res.cohort_path} ({res.n_cases} cases)")
    return 0
