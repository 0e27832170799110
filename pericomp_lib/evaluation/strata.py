"""Scores by how the record shows each answer: named or criteria-only positives, trap or clean negatives.

Why: one F1 cannot tell a model that reads the EPCO criteria from one that spots "Impression: paralytic
ileus". Every asked (case, complication) pair falls in one stratum: a positive whose gold label says
`evidence_kind` "named" or "criteria", a negative on which a trap that looks like it was laid
(`meta.trap_for`, synthetic cohorts) or a clean negative. Per arm: recall on each kind of positive, the
false-positive rate on each kind of negative, and grade accuracy on the true positives (strict mode's
part). Cohorts without these fields (the authors' records, MIMIC-IV) give positives of kind "unknown",
whose recall is reported but not split. Intervals: percentile bootstrap over cases (pairs of one case
move together), like every other interval of a run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..core import taxonomy
from ..core.records import Case

STRATA = ("named", "criteria", "unknown", "trap", "clean")
POSITIVE = ("named", "criteria", "unknown")
RATE = {"named": "recall_named", "criteria": "recall_criteria", "unknown": "recall_unknown"}
RATE |= {"trap": "fpr_trap", "clean": "fpr_clean", "grade": "grade_acc"}


def _label_ids(labels: Sequence[str], strict: bool) -> dict[str, str | None]:
    """{complication id: grade or None} of one case's predicted or gold labels (zh names as result files write)."""
    out: dict[str, str | None] = {}
    for label in labels:
        name, grade = (label.rsplit("_", 1) + [None])[:2] if strict and "_" in label else (label, None)
        cid = taxonomy.lookup(name)
        if cid is not None and cid != taxonomy.NONE_ID:
            out[cid] = grade
    return out


def pairs(
    cases: Sequence[Case],
    lenient: Mapping[str, Sequence[str]],
    strict: Mapping[str, Sequence[str]] | None,
    complications: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per asked (case, complication): stratum, predicted (bool), grade_correct (bool or None)."""
    scope = list(complications) if complications else list(taxonomy.IDS)
    rows = []
    for case in cases:
        if case.case_id not in lenient:
            continue
        said = _label_ids(lenient[case.case_id], strict=False)
        graded = _label_ids(strict.get(case.case_id, []), strict=True) if strict is not None else {}
        gold = {g.complication: g for g in case.gold}
        traps = (case.meta or {}).get("trap_for") or {}
        for cid in scope:
            g = gold.get(cid)
            predicted = cid in said
            if g is not None:
                stratum = g.evidence_kind or "unknown"
                right = None
                if predicted and strict is not None:
                    right = graded.get(cid) == taxonomy.strict_label(cid, g.grade).rsplit("_", 1)[1]
            else:
                stratum, right = ("trap" if traps.get(cid) else "clean"), None
            rows.append(
                {
                    "case_id": case.case_id,
                    "complication": cid,
                    "stratum": stratum,
                    "predicted": predicted,
                    "grade_correct": right,
                }
            )
    return pd.DataFrame(rows, columns=["case_id", "complication", "stratum", "predicted", "grade_correct"])


def _rate_ci(per_case: pd.DataFrame, n_boot: int, seed: int) -> tuple[float, float, float]:
    """(k/n, CI low, CI high) with cases resampled; per_case holds k and n per case."""
    k, n = per_case["k"].to_numpy(float), per_case["n"].to_numpy(float)
    if n.sum() == 0:
        return float("nan"), float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, len(k), size=(n_boot, len(k)))
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = k[idx].sum(axis=1) / n[idx].sum(axis=1)
    lo, hi = np.nanpercentile(boot, [2.5, 97.5])
    return float(k.sum() / n.sum()), float(lo), float(hi)


def table(per_arm: Mapping[str, pd.DataFrame], n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Columns: arm, metric (recall_named ... grade_acc), stratum, n, k, rate, ci_low, ci_high.

    n and k: pairs in the stratum and how many were answered True (for grade_acc: true positives and
    how many of them had the gold grade)."""
    rows = []
    for arm, p in per_arm.items():
        cases = p.case_id.unique()
        for stratum in STRATA:
            s = p[p.stratum == stratum]
            if s.empty:
                continue
            per_case = s.groupby("case_id").predicted.agg(k="sum", n="size").reindex(cases, fill_value=0)
            rate, lo, hi = _rate_ci(per_case, n_boot, seed)
            rows.append([arm, RATE[stratum], stratum, len(s), int(s.predicted.sum()), rate, lo, hi])
        tp = p[p.stratum.isin(POSITIVE) & p.predicted & p.grade_correct.notna()]
        if not tp.empty:
            per_case = (
                tp.assign(ok=tp.grade_correct.astype(bool))
                .groupby("case_id")
                .ok.agg(k="sum", n="size")
                .reindex(cases, fill_value=0)
            )
            rate, lo, hi = _rate_ci(per_case, n_boot, seed)
            rows.append([arm, "grade_acc", "true positives", len(tp), int(tp.grade_correct.sum()), rate, lo, hi])
    return pd.DataFrame(rows, columns=["arm", "metric", "stratum", "n", "k", "rate", "ci_low", "ci_high"])


def summary_keys(strata: pd.DataFrame) -> dict[str, float | int]:
    """{recall_named_<arm>: rate, ..., n_named: pairs, ...} for summary.json."""
    out: dict[str, float | int] = {}
    for r in strata.itertuples():
        out[f"{r.metric}_{r.arm}"] = float(r.rate)
        if r.metric != "grade_acc":
            out[f"n_{r.stratum}"] = int(r.n)
    return out


ARMS = ("comprehensive", "base", "adapter", "baseline", "most_frequent")  # prediction files of a run


def for_run(run_dir, cases: Sequence[Case], scope: Sequence[str] | None, n_boot: int = 2000) -> pd.DataFrame:
    """`table` for every arm with a prediction file in the run, scored on `cases` (the run's asked ones) and
    the complications of `scope` (scope.json; None: all 22)."""
    from pathlib import Path

    from ..core.predictions import load_predictions

    run_dir = Path(run_dir)
    per_arm = {}
    for arm in ARMS:
        lenient, strict = run_dir / "predictions" / f"{arm}.json", run_dir / "predictions_strict" / f"{arm}.json"
        if not lenient.exists():
            continue
        said = dict(load_predictions(lenient))
        graded = dict(load_predictions(strict)) if strict.exists() else None
        per_arm[arm] = pairs(cases, said, graded, scope)
    return table(per_arm, n_boot)
