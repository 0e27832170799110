"""Targeted decisions as probabilities: ranking (AUROC, average precision) and operating points.

The paper scores greedy answers (F1). A screening user also wants to trade sensitivity for alerts, which
needs P(True) for every question (recorded by inference at the decision token). Thresholds are always
chosen on the training split (04's calibration cases) and applied unchanged to the evaluation split, so
no evaluation case informs the number reported for it. The greedy F1 stays the headline.

decisions.csv (written by 04, decision_rows.py): split, case_id, complication, model, gold (0/1), p_true.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..core import taxonomy
from ..core.io import atomic_write_text
from . import metrics

SENSITIVITIES = (0.5, 0.7, 0.8, 0.9, 0.95)


def read(run_dir: str | os.PathLike) -> pd.DataFrame | None:
    path = Path(run_dir) / "decisions.csv"
    return pd.read_csv(path) if path.exists() else None


def _ranking(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    if len(set(y.tolist())) < 2:
        return float("nan"), float("nan")
    return float(roc_auc_score(y, p)), float(average_precision_score(y, p))


def ranking_table(df: pd.DataFrame, split: str = "eval") -> pd.DataFrame:
    """AUROC and average precision per model, overall and per complication, on one split."""
    d = df[(df.split == split) & df.p_true.notna()]
    rows = []
    for model, g in d.groupby("model", sort=False):
        groups = [("all", g)] + list(g.groupby("complication", sort=False))
        for cid, part in groups:
            auroc, ap = _ranking(part.gold.to_numpy(), part.p_true.to_numpy(dtype=float))
            rows.append(
                {
                    "model": model,
                    "complication": cid,
                    "n": len(part),
                    "positives": int(part.gold.sum()),
                    "auroc": auroc,
                    "average_precision": ap,
                }
            )
    return pd.DataFrame(rows, columns=["model", "complication", "n", "positives", "auroc", "average_precision"])


def label_sets(d: pd.DataFrame, threshold: float) -> tuple[dict, dict]:
    """(gold, predicted) label maps in the paper's result-file shape from thresholded decisions."""
    gold: dict[str, list[str]] = {}
    pred: dict[str, list[str]] = {}
    for row in d.itertuples(index=False):
        gold.setdefault(row.case_id, [])
        pred.setdefault(row.case_id, [])
        if row.gold:
            gold[row.case_id].append(taxonomy.zh_short(row.complication))
        if row.p_true >= threshold:
            pred[row.case_id].append(taxonomy.zh_short(row.complication))
    for m in (gold, pred):
        for k in m:
            m[k] = m[k] or [taxonomy.NONE_ZH]
    return gold, pred


def _candidates(p: np.ndarray) -> np.ndarray:
    u = np.unique(p)
    return np.concatenate([u, [1.0 + 1e-9]])


def best_f1_threshold(d: pd.DataFrame) -> float:
    """The threshold that maximises micro F1 (the paper's metric) on these rows; ties: the higher threshold."""
    best, best_f1 = 0.5, -1.0
    for t in _candidates(d.p_true.to_numpy(dtype=float)):
        f1 = metrics.micro_prf(*label_sets(d, t))["f1"]
        if f1 > best_f1 + 1e-12 or (abs(f1 - best_f1) <= 1e-12 and t > best):
            best, best_f1 = float(t), f1
    return best


def sensitivity_threshold(d: pd.DataFrame, target: float) -> float:
    """The highest threshold whose question-level sensitivity on these rows reaches `target`."""
    pos = np.sort(d[d.gold == 1].p_true.to_numpy(dtype=float))[::-1]
    if len(pos) == 0:
        return float("nan")
    k = int(np.ceil(target * len(pos))) - 1
    return float(pos[min(max(k, 0), len(pos) - 1)])


def _rates(d: pd.DataFrame, t: float) -> dict:
    said = d.p_true.to_numpy(dtype=float) >= t
    y = d.gold.to_numpy() == 1
    tp, fp = int((said & y).sum()), int((said & ~y).sum())
    fn, tn = int((~said & y).sum()), int((~said & ~y).sum())
    return {
        "sensitivity": tp / (tp + fn) if tp + fn else float("nan"),
        "specificity": tn / (tn + fp) if tn + fp else float("nan"),
        "ppv": tp / (tp + fp) if tp + fp else float("nan"),
        "alerts_per_case": (tp + fp) / max(d.case_id.nunique(), 1),
    }


def operating_points(df: pd.DataFrame, sensitivities: Sequence[float] = SENSITIVITIES) -> pd.DataFrame:
    """Per model: thresholds chosen on the training split (the best-F1 one and one per target
    sensitivity), and what each gives on the evaluation split. Empty when no calibration rows exist."""
    rows = []
    d = df[df.p_true.notna()]
    for model, g in d.groupby("model", sort=False):
        train, ev = g[g.split == "train"], g[g.split == "eval"]
        if train.empty or ev.empty:
            continue
        choices = [("best F1 on train", best_f1_threshold(train))]
        choices += [(f"sensitivity {s:.0%} on train", sensitivity_threshold(train, s)) for s in sensitivities]
        for name, t in choices:
            if np.isnan(t):
                continue
            f1 = metrics.micro_prf(*label_sets(ev, t))["f1"]
            rows.append(
                {
                    "model": model,
                    "chosen_by": name,
                    "threshold": t,
                    "train_sensitivity": _rates(train, t)["sensitivity"],
                    **{f"eval_{k}": v for k, v in _rates(ev, t).items()},
                    "eval_micro_f1": f1,
                }
            )
    return pd.DataFrame(rows)


FIXED_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def fixed_thresholds(
    frames: Sequence[pd.DataFrame], thresholds: Sequence[float] = FIXED_THRESHOLDS, model: str = "adapter"
) -> pd.DataFrame:
    """Micro F1 of one model's evaluation decisions at each fixed threshold, with every seed's cases pooled, and
    on how many seeds each beats 0.5 (the greedy answer's). Why: an adapter that ranks well yet loses at 0.5
    invites moving the threshold; a fixed one set from earlier seeds is the honest way, and this says whether
    any would have helped. No paper rule is applied here, so F1 at 0.5 differs a little from the greedy F1."""
    seeds = []
    for i, df in enumerate(frames):
        d = df[(df.split == "eval") & (df.model == model) & df.p_true.notna()]
        if not d.empty:
            seeds.append(d.assign(case_id=f"{i}:" + d.case_id.astype(str)))  # case ids repeat across seeds
    half = [metrics.micro_prf(*label_sets(d, 0.5))["f1"] for d in seeds]
    rows = []
    for t in thresholds:
        per_seed = [metrics.micro_prf(*label_sets(d, t))["f1"] for d in seeds]
        pooled = metrics.micro_prf(*label_sets(pd.concat(seeds), t))["f1"] if seeds else float("nan")
        rows.append(
            {
                "threshold": float(t),
                "f1_pooled": pooled,
                "f1_seed_mean": float(np.mean(per_seed)) if seeds else float("nan"),
                "seeds_above_half": sum(f > h + 1e-12 for f, h in zip(per_seed, half)),
                "seeds_below_half": sum(f < h - 1e-12 for f, h in zip(per_seed, half)),
                "n_seeds": len(seeds),
            }
        )
    return pd.DataFrame(rows)


def write_tables(run_dir: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """ranking.csv and operating_points.csv from a run's decisions.csv (nothing when it has none)."""
    df = read(run_dir)
    if df is None or df.empty:
        return {}
    out = {"ranking": ranking_table(df), "operating_points": operating_points(df)}
    for name, table in out.items():
        if not table.empty:
            atomic_write_text(Path(out_dir) / f"{name}.csv", table.to_csv(index=False))
    return out


def pr_curves(df: pd.DataFrame, split: str = "eval") -> pd.DataFrame:
    """Precision-recall points per model (question level) for the figures."""
    from sklearn.metrics import precision_recall_curve

    rows = []
    d = df[(df.split == split) & df.p_true.notna()]
    for model, g in d.groupby("model", sort=False):
        if g.gold.nunique() < 2:
            continue
        p, r, _ = precision_recall_curve(g.gold.to_numpy(), g.p_true.to_numpy(dtype=float))
        rows += [{"model": model, "precision": float(a), "recall": float(b)} for a, b in zip(p, r)]
    return pd.DataFrame(rows, columns=["model", "precision", "recall"])


def runs_pr_frame(runs_dir: str | os.PathLike) -> pd.DataFrame:
    """pr_curves of every runs_dir/<run>/seed-<n>/decisions.csv, with run, seed and each model's greedy
    answer (P(True) >= 0.5) as greedy_precision / greedy_recall; empty when no run recorded decisions."""
    rows = []
    for path in sorted(Path(runs_dir).glob("*/seed-*/decisions.csv")):
        df = pd.read_csv(path)
        curves = pr_curves(df)
        if curves.empty:
            continue
        ev = df[(df.split == "eval") & df.p_true.notna()]
        for model, g in ev.groupby("model"):
            said = g.p_true >= 0.5
            tp = int((said & (g.gold == 1)).sum())
            precision, recall, _ = metrics.prf_from_counts(tp, int(said.sum()) - tp, int(g.gold.sum()) - tp)
            curves.loc[curves.model == model, "greedy_precision"] = float(precision)
            curves.loc[curves.model == model, "greedy_recall"] = float(recall)
        curves["run"], curves["seed"] = path.parent.parent.name, path.parent.name
        rows.append(curves)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
