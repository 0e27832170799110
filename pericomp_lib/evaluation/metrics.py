"""Set-based precision / recall / F1 over {case_id: [labels]} maps, exactly as the PeriComp authors score.

Why our own counting instead of calling scikit-learn for the headline numbers: the authors' evaluation
notebook (results/evaluation.ipynb in gscfwid/PeriComp) counts TP/FP/FN over label *sets* and computes
F1 as 2PR/(P+R); reproducing their published CSVs to the last bit needs the same arithmetic.
scikit-learn computes the same quantities (average='micro' / 'samples' / None; tests check agreement to
1e-12), but rounds differently in the last bit and costs far more per call than a few set operations.

Semantics (all from the authors' code):
- labels are any strings: zh short names ('感染'), strict labels ('感染_中'), names a model invented
  ('贫血'); '无术后并发症' is a label like any other;
- each case's labels are a set (duplicates count once); an empty prediction list is an empty set
  (only false negatives), which is not the same as ['无术后并发症'];
- the cases are the gold cases; predictions for cases not in gold are ignored; a gold case missing from
  the predictions is an error here (the authors' code skipped such a model entirely), unless the caller
  filled it, e.g. with `predictions.load_predictions(..., missing="empty")`;
- 0/0 is 0.0 for P, R and F1, per case and overall;
- micro: P, R from summed counts, F1 = 2PR/(P+R); per-sample "macro": P, R, F1 per case (F1 from that
  case's P and R), then each averaged over cases (mean of F1s, not F1 of mean P and R).
"""

from __future__ import annotations

import functools
import math
from collections import abc
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from ..core import taxonomy

LabelMap = Mapping[str, Iterable[str]]
AVERAGES = ("micro", "macro")  # what prf(average=...) computes

_STRICT_SUFFIXES = tuple(f"_{g}" for g in taxonomy.GRADE_TO_ZH.values())


def _aligned(gold: LabelMap, pred: LabelMap) -> tuple[list[str], list[set], list[set]]:
    """Gold-led alignment; a clear error when predictions lack gold cases."""
    if not gold:
        raise ValueError("gold has no cases; nothing to evaluate")
    ids = [str(k) for k in gold]
    pred_s = {str(k): v for k, v in pred.items()}
    missing = [i for i in ids if i not in pred_s]
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise ValueError(
            f"predictions lack {len(missing)} of {len(ids)} gold cases ({shown}); fill them explicitly, e.g. "
            "load_predictions(path, case_ids, missing='empty') counts them as ['无术后并发症']"
        )
    golds = [_as_set(gold[k], k, "gold") for k in gold]
    preds = [_as_set(pred_s[i], i, "prediction") for i in ids]
    return ids, golds, preds


def _as_set(labels, case_id, what: str) -> set:
    if isinstance(labels, (list, set, tuple, frozenset)):
        return set(labels)
    if isinstance(labels, str) or not isinstance(labels, abc.Iterable):
        raise TypeError(
            f"{what} for case {case_id!r} must be a list of label strings, got {type(labels).__name__} {labels!r}"
        )
    return set(labels)


def case_counts(gold: LabelMap, pred: LabelMap) -> pd.DataFrame:
    """One row per gold case: case_id, tp, fp, fn (the numbers every metric here is built from)."""
    ids, golds, preds = _aligned(gold, pred)
    rows = [(i, len(g & p), len(p - g), len(g - p)) for i, g, p in zip(ids, golds, preds)]
    return pd.DataFrame(rows, columns=["case_id", "tp", "fp", "fn"])


def prf_from_counts(tp, fp, fn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, F1) from counts: the one formula behind every score here.

    Scalars or arrays (one entry per case, label or bootstrap resample); 0/0 is 0.0; F1 = 2PR/(P+R) as the
    authors compute it (not 2TP/(2TP+FP+FN), equal on paper but not to the last bit). IEEE division gives
    the same bits as Python's float arithmetic, so micro and macro scores are unchanged by vectorising.
    """
    tp, fp, fn = (np.asarray(x, dtype=float) for x in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return precision, recall, f1


def _counts(golds: list[set], preds: list[set]) -> np.ndarray:
    """tp, fp, fn per case (rows), in case order."""
    return np.array([(len(g & p), len(p - g), len(g - p)) for g, p in zip(golds, preds)], dtype=float).reshape(-1, 3)


def micro_prf(gold: LabelMap, pred: LabelMap) -> dict:
    """Micro-averaged P/R/F1 over all (case, label) pairs; support = number of gold labels."""
    _, golds, preds = _aligned(gold, pred)
    tp, fp, fn = (int(x) for x in _counts(golds, preds).sum(axis=0))
    precision, recall, f1 = (float(x) for x in prf_from_counts(tp, fp, fn))
    return {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn, "n_cases": len(golds)}


def macro_prf(gold: LabelMap, pred: LabelMap) -> dict:
    """Per-sample ("macro" in the paper) P/R/F1: each case scored alone, then averaged over cases."""
    _, golds, preds = _aligned(gold, pred)
    counts = _counts(golds, preds)
    n = len(counts)
    # fsum: the exactly rounded sum, independent of case order; it reproduces every published value, where
    # a left-to-right sum in gold.json order is off by one ulp for some models
    precision, recall, f1 = (math.fsum(per_case.tolist()) / n for per_case in prf_from_counts(*counts.T))
    support = sum(len(g) for g in golds)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support, "n_cases": n}


def prf(gold: LabelMap, pred: LabelMap, average: str = "micro") -> dict:
    """Dispatch on average: 'micro' or 'macro' (per-sample)."""
    if average == "micro":
        return micro_prf(gold, pred)
    if average in ("macro", "samples"):
        return macro_prf(gold, pred)
    raise ValueError(f"unknown average {average!r}; use 'micro' or 'macro' (per-sample)")


@functools.lru_cache(maxsize=4096)
def canonical_label(label: str) -> str:
    """Readable canonical name for a result-file label, for per-label tables.

    '感染' -> 'infection_unknown_source'; '感染_中' -> 'infection_unknown_source_moderate';
    '无术后并发症' and '无术后并发症_Null' -> 'none'; anything unknown ('贫血', '贫血_中') is kept as written.
    """
    cid = taxonomy.lookup(label)
    if cid is not None:
        return cid
    if isinstance(label, str) and label.endswith(_STRICT_SUFFIXES):
        name, grade_zh = label.rsplit("_", 1)
        cid = taxonomy.lookup(name)
        if cid == taxonomy.NONE_ID:
            return cid
        if cid is not None:
            return f"{cid}_{taxonomy.ZH_TO_GRADE[grade_zh]}"
    return label


def per_label_prf(gold: LabelMap, pred: LabelMap, canonical: bool = True) -> pd.DataFrame:
    """P/R/F1 per label (one-vs-rest over cases).

    Columns: label, precision, recall, f1, support (gold cases with the label), predicted (cases where
    it was predicted). Labels map to canonical ids where the taxonomy knows them (so two spellings of one
    complication share a row); unknown labels keep their own row. Sorted by support, then label.
    Binarised with scikit-learn's MultiLabelBinarizer; the counts are column sums (identical to
    precision_recall_fscore_support(average=None, zero_division=0), checked in the tests, which costs
    ~50 ms per call in input validation: too slow for every model of every table).
    """
    from sklearn.preprocessing import MultiLabelBinarizer

    _, golds, preds = _aligned(gold, pred)
    if canonical:
        golds = [{canonical_label(x) for x in g} for g in golds]
        preds = [{canonical_label(x) for x in p} for p in preds]
    labels = sorted(set().union(*golds, *preds))
    if not labels:
        return pd.DataFrame(columns=["label", "precision", "recall", "f1", "support", "predicted"])
    mlb = MultiLabelBinarizer(classes=labels)
    y_true = mlb.fit_transform(golds).astype(bool)
    y_pred = mlb.transform(preds).astype(bool)
    tp = (y_true & y_pred).sum(axis=0)
    support, predicted = y_true.sum(axis=0), y_pred.sum(axis=0)
    p, r, f = prf_from_counts(tp, predicted - tp, support - tp)
    df = pd.DataFrame(
        {
            "label": labels,
            "precision": p,
            "recall": r,
            "f1": f,
            "support": support.astype(int),
            "predicted": predicted.astype(int),
        }
    )
    return df.sort_values(["support", "label"], ascending=[False, True], kind="stable").reset_index(drop=True)


def bootstrap_ci(
    gold: LabelMap, pred: LabelMap, metric: str = "micro", n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> dict:
    """Percentile bootstrap CIs over cases (resampled with replacement, n_boot times).

    Returns {"precision": (lo, hi), "recall": (lo, hi), "f1": (lo, hi)} for metric 'micro' or 'macro'.
    Vectorised over per-case counts, so 1000 resamples of a few hundred cases take milliseconds.
    """
    if metric not in ("micro", "macro"):
        raise ValueError(f"unknown metric {metric!r}; use 'micro' or 'macro'")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    counts = case_counts(gold, pred)[["tp", "fp", "fn"]].to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(counts), size=(n_boot, len(counts)))
    if metric == "micro":
        p, r, f = prf_from_counts(*(counts[:, j][idx].sum(axis=1) for j in range(3)))
    else:
        p, r, f = (per_case[idx].mean(axis=1) for per_case in prf_from_counts(*counts.T))
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    return {
        name: tuple(float(x) for x in np.percentile(v, q)) for name, v in (("precision", p), ("recall", r), ("f1", f))
    }


def paired_delta_ci(
    gold: LabelMap, pred_a: LabelMap, pred_b: LabelMap, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float]:
    """(micro F1(a) - micro F1(b), CI low, CI high): a percentile bootstrap over cases in which both models are
    rescored on the same resampled cases, so the interval is that of the difference, not of two F1s.
    The delta is exactly micro_prf(a)["f1"] - micro_prf(b)["f1"] (same formula, same bits)."""
    ca = case_counts(gold, pred_a)[["tp", "fp", "fn"]].to_numpy(dtype=float)
    cb = case_counts(gold, pred_b)[["tp", "fp", "fn"]].to_numpy(dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(ca), size=(n_boot, len(ca)))

    def f1(counts: np.ndarray, rows) -> np.ndarray:
        return prf_from_counts(*(counts[:, j][rows].sum(axis=-1) for j in range(3)))[2]

    every = np.arange(len(ca))
    delta = float(f1(ca, every) - f1(cb, every))
    boot = f1(ca, idx) - f1(cb, idx)
    lo, hi = np.percentile(boot, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return delta, float(lo), float(hi)
