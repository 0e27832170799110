"""subjects.jsonl -> cohort.jsonl: one case per surgical admission, silver labels, lab ranking, summaries, QA.

Two streaming passes over subjects.jsonl: the first collects one row per admission (for summaries) and lab
features of surgical admissions (for the ranking), the second writes the cases with the top-k lab items.
Bad lines are counted and reported, never silently dropped and never fatal.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from ...core.io import atomic_lines, write_json
from ...core.records import Case, GoldLabel, case_from_dict
from . import features as feats
from .cases import (
    admission_labs,
    case_meta,
    index_operation,
    render_record,
    silver_labels,
    split_labs,
    subject_split,
)
from .icd import IcdMap, load_icd_map
from .ingest import ingest

log = logging.getLogger(__name__)

CENTER = "mimic-iv"


def iter_subjects(path: str | os.PathLike, problems: list[str] | None = None) -> Iterator[dict]:
    """Parsed subject lines; a broken line is recorded in problems (file:line and why) and skipped."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: subjects file not found (run pericomp_lib.cohort.mimic.ingest first)")
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict) or "subject_id" not in obj:
                    raise ValueError("not a subject object with 'subject_id'")
            except ValueError as e:
                if problems is None:
                    raise ValueError(f"{path}:{lineno}: {e}") from None
                problems.append(f"{path}:{lineno}: skipped ({str(e)[:120]})")
                continue
            yield obj


def count_lines(path: str | os.PathLike) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


@dataclass
class MimicCohort:
    cohort_path: str
    subjects_path: str
    n_cases: int
    admissions: pd.DataFrame  # one row per admission (all, surgical or not)
    ranking: pd.DataFrame  # lab items ranked for the silver labels
    top_items: list[int]
    problems: list[str] = field(default_factory=list)


ADMISSION_COLUMNS = [
    "subject_id",
    "hadm_id",
    "icd_version",
    "surgical",
    "operation",
    "n_diagnoses",
    "n_procedures",
    "n_labs",
    "has_note",
    "labels",
    "los_days",
]


@dataclass
class _Scan:
    """What pass 1 collects: one row per admission, and lab features of surgical admissions for the ranking."""

    rows: list[dict] = field(default_factory=list)
    feat_rows: list[dict] = field(default_factory=list)
    label_rows: list[dict] = field(default_factory=list)
    groups: list[int] = field(default_factory=list)  # subject of each feature row (grouped cross-validation)
    item_labels: dict[int, str] = field(default_factory=dict)


def build_cohort(
    subjects_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    top_k_labs: int = 20,
    seed: int = 1,
    include_diagnoses: bool = True,
    skip_principal: bool = True,
    postop_only: bool = False,
    min_confidence: str = "low",
    icd_map: IcdMap | None = None,
    max_feature_admissions: int = 20000,
    min_positives: int = 10,
) -> MimicCohort:
    """Write out_dir/cohort.jsonl (the project's case contract) and return tables for the notebook.

    Two passes because the lab items a record shows come from a ranking over all surgical admissions."""
    out_dir = Path(out_dir)
    icd_map = icd_map or load_icd_map()
    problems: list[str] = []
    total = count_lines(subjects_path)
    label_kw = dict(skip_principal=skip_principal, postop_only=postop_only, min_confidence=min_confidence)
    scan = _scan_admissions(subjects_path, total, icd_map, label_kw, max_feature_admissions, problems)
    admissions = pd.DataFrame(scan.rows, columns=ADMISSION_COLUMNS)
    ranking = _rank_labs(scan, seed, min_positives)
    top_items = ranking["itemid"].head(top_k_labs).astype(int).tolist() if top_k_labs else None

    cohort_path = out_dir / "cohort.jsonl"
    lengths, n_cases = _write_cases(
        subjects_path, cohort_path, total, seed, icd_map, label_kw, top_items, include_diagnoses, problems
    )
    _add_record_lengths(admissions, lengths)
    write_json(
        out_dir / "mimic_build.json",
        {
            "cohort": str(cohort_path),
            "subjects": str(subjects_path),
            "cases": n_cases,
            "top_items": top_items,
            "settings": {"top_k_labs": top_k_labs, "seed": seed, "include_diagnoses": include_diagnoses, **label_kw},
            "problems": problems,
        },
    )
    ranking.to_csv(out_dir / "lab_ranking.csv", index=False)
    if problems:
        log.warning(
            "%d problem(s) while building the MIMIC cohort (listed in %s); first: %s",
            len(problems),
            out_dir / "mimic_build.json",
            problems[0],
        )
    return MimicCohort(str(cohort_path), str(subjects_path), n_cases, admissions, ranking, top_items or [], problems)


def _scan_admissions(
    subjects_path: str | os.PathLike,
    total: int,
    icd_map: IcdMap,
    label_kw: dict,
    max_feature_admissions: int,
    problems: list[str],
) -> _Scan:
    """Pass 1. A bad admission is recorded in problems and skipped, never fatal."""
    scan = _Scan()
    for subj in tqdm(iter_subjects(subjects_path, problems), total=total, desc="admissions (pass 1)", unit="subject"):
        for adm in subj.get("admissions") or []:
            try:
                _scan_admission(scan, subj, adm, icd_map, label_kw, max_feature_admissions)
            except (KeyError, TypeError, ValueError) as e:
                problems.append(
                    f"subject {subj.get('subject_id')} admission {adm.get('hadm_id')}: "
                    f"skipped ({type(e).__name__}: {e})"
                )
    return scan


def _scan_admission(
    scan: _Scan, subj: dict, adm: dict, icd_map: IcdMap, label_kw: dict, max_feature_admissions: int
) -> None:
    op = index_operation(adm)
    labs = admission_labs(subj, adm)
    labels = [g.complication for g in silver_labels(adm, icd_map, **label_kw)] if op else []
    scan.rows.append(_admission_row(subj, adm, op, labs, labels))
    if op and len(scan.feat_rows) < max_feature_admissions:  # bounded: the ranking needs a sample, not everything
        _, after = split_labs(labs, pd.Timestamp(op["chartdate"]).date())
        for lab in after:
            scan.item_labels.setdefault(lab["itemid"], lab.get("label") or f"item {lab['itemid']}")
        scan.feat_rows.append(feats.lab_features(after))
        scan.label_rows.append({c: int(c in labels) for c in labels})
        scan.groups.append(subj["subject_id"])


def _admission_row(subj: dict, adm: dict, op: dict | None, labs: list[dict], labels: list[str]) -> dict:
    versions = sorted({d["icd_version"] for d in (adm.get("diagnoses") or []) + (adm.get("procedures") or [])})
    return {
        "subject_id": subj["subject_id"],
        "hadm_id": adm["hadm_id"],
        "icd_version": versions[-1] if versions else None,
        "surgical": op is not None,
        "operation": op["icd_code"] if op else None,
        "n_diagnoses": len(adm.get("diagnoses") or []),
        "n_procedures": len(adm.get("procedures") or []),
        "n_labs": len(labs),
        "has_note": bool(adm.get("notes")),
        "labels": labels,
        "los_days": (pd.Timestamp(adm["dischtime"]) - pd.Timestamp(adm["admittime"])).total_seconds() / 86400
        if adm.get("dischtime") and adm.get("admittime")
        else None,
    }


def _rank_labs(scan: _Scan, seed: int, min_positives: int) -> pd.DataFrame:
    # Column pruning before the frame exists keeps memory bounded on the full dataset.
    feat_rows, label_rows = scan.feat_rows, scan.label_rows
    item_counts = Counter(k.split("|")[0] for r in feat_rows for k in r if k.endswith("|last"))
    keep = {i for i, n in item_counts.items() if feat_rows and n / len(feat_rows) >= 0.05}
    cols = sorted({k for r in feat_rows for k in r if k.split("|")[0] in keep})
    X = pd.DataFrame.from_records(feat_rows, columns=cols).astype("float32")
    Y = pd.DataFrame.from_records(label_rows, columns=sorted({c for r in label_rows for c in r})).fillna(0).astype(int)
    return feats.rank_lab_items(X, Y, pd.Series(scan.groups), scan.item_labels, seed=seed, min_positives=min_positives)


def _write_cases(
    subjects_path: str | os.PathLike,
    cohort_path: Path,
    total: int,
    seed: int,
    icd_map: IcdMap,
    label_kw: dict,
    top_items: list[int] | None,
    include_diagnoses: bool,
    problems: list[str],
) -> tuple[dict[int, tuple[str, int, int]], int]:
    """Pass 2: one case per surgical admission; returns ({hadm_id: (split, record chars, record words)}, cases "
    "written)."""
    lengths: dict[int, tuple[str, int, int]] = {}
    n_cases = 0
    with atomic_lines(cohort_path) as fh:
        for subj in tqdm(iter_subjects(subjects_path, []), total=total, desc="cases (pass 2)", unit="subject"):
            split = subject_split(subj["subject_id"], seed)
            for adm in subj.get("admissions") or []:
                try:
                    case = _case(subj, adm, split, icd_map, label_kw, top_items, include_diagnoses)
                except (KeyError, TypeError, ValueError) as e:
                    problems.append(
                        f"subject {subj.get('subject_id')} admission {adm.get('hadm_id')}: "
                        f"no case ({type(e).__name__}: {e})"
                    )
                    continue
                if case is None:
                    continue
                fh.write(json.dumps(case.to_dict(), ensure_ascii=False) + "\n")
                lengths[adm["hadm_id"]] = (split, len(case.record), len(case.record.split()))
                n_cases += 1
    return lengths, n_cases


def _case(
    subj: dict,
    adm: dict,
    split: str,
    icd_map: IcdMap,
    label_kw: dict,
    top_items: list[int] | None,
    include_diagnoses: bool,
) -> Case | None:
    """The case of a surgical admission (None when it is not surgical), checked against the contract."""
    op = index_operation(adm)
    if op is None:
        return None
    record = render_record(subj, adm, op, admission_labs(subj, adm), top_items, include_diagnoses)
    gold = silver_labels(adm, icd_map, **label_kw)
    if not include_diagnoses:  # no diagnoses in the record: nothing to quote as evidence
        gold = [GoldLabel(g.complication, g.grade, []) for g in gold]
    case = Case(
        f"mimic-{subj['subject_id']}-{adm['hadm_id']}",
        CENTER,
        split,
        "en",
        record,
        gold,
        None,
        case_meta(subj, adm, op),
    )
    case_from_dict(case.to_dict(), where=case.case_id)  # the contract, checked before writing
    return case


def _add_record_lengths(admissions: pd.DataFrame, lengths: dict[int, tuple[str, int, int]]) -> None:
    admissions["split"] = admissions["hadm_id"].map(lambda h: lengths.get(h, (None,))[0])
    admissions["record_chars"] = admissions["hadm_id"].map(lambda h: lengths[h][1] if h in lengths else None)
    admissions["record_words"] = admissions["hadm_id"].map(lambda h: lengths[h][2] if h in lengths else None)


def resolve_mimic_dir(
    mimic_dir: str | os.PathLike | None, out_dir: str | os.PathLike, seed: int = 0, n_subjects: int = 120
) -> Path:
    """The user's MIMIC-IV folder, or (None) a freshly generated FAKE fixture under out_dir/fixture."""
    from .fixture import make_fixture

    if mimic_dir:
        return Path(mimic_dir)
    fx = Path(out_dir) / "fixture"
    log.warning(
        "%s\nNO mimic_dir GIVEN: generating a FAKE MIMIC-shaped demo fixture in %s\nEverything below is "
        "made-up data for demonstration; set mimic_dir to your MIMIC-IV v3.1 folder.\n%s",
        "=" * 78,
        fx,
        "=" * 78,
    )
    return make_fixture(fx, n_subjects=n_subjects, seed=seed)


def build_mimic(
    mimic_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    top_k_labs: int = 20,
    seed: int = 1,
    memory_limit: str = "2GB",
    threads: int | None = None,
    **cohort_kw,
) -> MimicCohort:
    """Both stages: MIMIC-IV tables -> subjects.jsonl -> cohort.jsonl (what 01_cohort calls for source 'mimic')."""
    res = ingest(mimic_dir, out_dir, memory_limit=memory_limit, threads=threads)
    return build_cohort(res.subjects_path, out_dir, top_k_labs=top_k_labs, seed=seed, **cohort_kw)
