"""Which lab items carry signal for the silver labels: gradient boosting + permutation importance.

Per surgical admission we summarise each lab item from the operation day on (min, max, last). A
HistGradientBoostingClassifier (native missing-value support: most items are absent most of the time)
is fitted per frequent label and for "any complication"; permutation importance on subjects held out
from training ranks the columns, and an item's score is the sum over its three columns, averaged over
targets. The record then keeps only the top-k items, so long stays stay readable.

`boosted_importance` (one classifier per target, permutation importance on held-out subjects) is shared
with column_selection.py, which ranks whole chart columns for the Q&A study the same way.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

STATS = ("min", "max", "last")


def lab_features(labs_after: list[dict]) -> dict[str, float]:
    """{'50912|min': 0.8, '50912|max': 2.4, '50912|last': 1.9, ...} over numeric results only."""
    vals: dict[int, list[float]] = {}
    for lab in labs_after:  # already in time order
        if lab.get("valuenum") is not None:
            vals.setdefault(lab["itemid"], []).append(float(lab["valuenum"]))
    out: dict[str, float] = {}
    for item, v in vals.items():
        out[f"{item}|min"], out[f"{item}|max"], out[f"{item}|last"] = min(v), max(v), v[-1]
    return out


def coverage(features: pd.DataFrame, item_labels: dict[int, str]) -> pd.DataFrame:
    """Share of surgical admissions with at least one numeric post-operative value, per lab item."""
    if features.empty:
        return pd.DataFrame(columns=["itemid", "label", "admissions", "share"])
    items = Counter()
    for col in features.columns:
        item, stat = col.split("|")
        if stat == "last":
            items[int(item)] = int(features[col].notna().sum())
    df = pd.DataFrame(
        [(i, item_labels.get(i, f"item {i}"), n) for i, n in items.items()], columns=["itemid", "label", "admissions"]
    )
    df["share"] = df["admissions"] / len(features)
    return df.sort_values(["admissions", "itemid"], ascending=[False, True], ignore_index=True)


def boosted_importance(
    X: np.ndarray,
    targets: dict[str, pd.Series | np.ndarray],
    groups: pd.Series | np.ndarray,
    seed: int = 1,
    n_repeats: int = 3,
    max_eval_rows: int = 5000,
    n_threads: int | None = None,
    feature_groups: list[np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """{target: permutation importance (mean ROC AUC drop) of each column of X}, for the targets that could be fitted.

    One HistGradientBoostingClassifier per 0/1 target, fitted on 70 % of the rows and scored on the other
    30 %, split by groups so that no subject is on both sides (at most max_eval_rows scored rows). A float
    target may hold NaN for rows it does not apply to: they are left out of its fit and its scoring. A target
    with one class only on either side is skipped (absent from the result). n_threads None: one OpenMP
    thread below 5000 rows (thread start-up dominates small fits and thrashes a shared machine), all cores above.

    feature_groups None: sklearn's permutation_importance, one score per column of X. Otherwise a list of
    column-index arrays: the columns of a group are permuted together (one row shuffle per repeat), one
    score per group; this scores several summaries of one source as a whole and needs one prediction per
    group instead of one per column.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import GroupShuffleSplit
    from threadpoolctl import threadpool_limits

    threads = n_threads or (1 if len(X) < 5000 else None)
    train_idx, test_idx = next(GroupShuffleSplit(n_splits=1, test_size=0.3, random_state=seed).split(X, groups=groups))
    rng = np.random.default_rng(seed)
    if len(test_idx) > max_eval_rows:
        test_idx = rng.choice(test_idx, max_eval_rows, replace=False)
    out: dict[str, np.ndarray] = {}
    for name, y in targets.items():
        y = np.asarray(y)
        tr, te = train_idx, test_idx
        if y.dtype.kind == "f":  # NaN: the target does not apply to that row
            known = ~np.isnan(y)
            tr, te, y = tr[known[tr]], te[known[te]], np.where(known, y, 0).astype(int)
        if len(set(y[tr])) < 2 or len(set(y[te])) < 2:
            continue
        X_tr = X[tr]
        empty = np.isnan(X_tr).all(axis=0)  # sklearn's binning fails on a column with no value at all
        if empty.any():
            X_tr[:, empty] = 0.0  # constant instead: never split on, so it scores 0
        with threadpool_limits(threads):
            model = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, random_state=seed)
            model.fit(X_tr, y[tr])
            if feature_groups is None:
                out[name] = permutation_importance(
                    model, X[te], y[te], scoring="roc_auc", n_repeats=n_repeats, random_state=seed, n_jobs=1
                ).importances_mean
            else:
                out[name] = _grouped_permutation(model, X[te], y[te], feature_groups, n_repeats, seed)
    return out


def _grouped_permutation(model, X: np.ndarray, y: np.ndarray, groups: list[np.ndarray], n_repeats: int, seed: int):
    """Mean ROC AUC drop when a group's columns are shuffled together; the n_repeats shuffles go through one
    stacked prediction per group."""
    rng = np.random.default_rng(seed)
    base = _auc(y, model.predict_proba(X)[:, 1][None, :])[0]
    n = len(X)
    out = np.zeros(len(groups))
    for g, cols in enumerate(groups):
        stacked = np.tile(X, (n_repeats, 1))
        for r in range(n_repeats):
            stacked[r * n : (r + 1) * n, cols] = X[rng.permutation(n)][:, cols]
        p = model.predict_proba(stacked)[:, 1].reshape(n_repeats, n)
        out[g] = base - _auc(y, p).mean()
    return out


def _auc(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of each row of scores (the Mann-Whitney statistic, ties counted half: sklearn's roc_auc_score,
    without its per-call validation, which dominated the run time)."""
    from scipy.stats import rankdata

    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    ranks = rankdata(scores, axis=1)
    return (ranks[:, pos].sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def rank_lab_items(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    groups: pd.Series,
    item_labels: dict[int, str],
    seed: int = 1,
    min_positives: int = 10,
    min_coverage: float = 0.05,
    max_items: int = 150,
    n_repeats: int = 3,
    max_eval_rows: int = 5000,
    max_targets: int = 8,
    n_threads: int | None = None,
) -> pd.DataFrame:
    """Ranking of lab items: columns itemid, label, importance, admissions, share, method, targets.

    features: one row per admission, columns '<itemid>|<stat>'; labels: same index, one 0/1 column per
    complication; groups: subject_id per row (held-out rows never share a subject with training rows).
    Falls back to ranking by coverage (method 'coverage') when no target has min_positives positives and
    negatives, so tiny cohorts still get a usable top-k. n_threads None: one OpenMP thread below 5000
    admissions (thread start-up dominates small fits and thrashes a shared machine), all cores above.
    """
    cov = coverage(features, item_labels)
    if cov.empty:
        return cov.assign(importance=[], method=[], targets=[])
    keep_items = cov[cov["share"] >= min_coverage].head(max_items)["itemid"].tolist()
    cols = [f"{i}|{s}" for i in keep_items for s in STATS if f"{i}|{s}" in features.columns]
    targets = {"any_complication": labels.any(axis=1).astype(int)} if len(labels.columns) else {}
    targets.update({c: labels[c].astype(int) for c in labels.columns})
    usable = {k: y for k, y in targets.items() if min_positives <= y.sum() <= len(y) - min_positives}
    usable = dict(sorted(usable.items(), key=lambda kv: (kv[0] != "any_complication", -kv[1].sum()))[:max_targets])
    scores = pd.Series(0.0, index=keep_items)
    used: list[str] = []
    if usable and cols and groups.nunique() >= 4:
        X = features[cols].to_numpy(dtype=np.float32)
        fitted = boosted_importance(X, usable, groups, seed, n_repeats, max_eval_rows, n_threads)
        for name, imp in fitted.items():
            per_item = pd.Series(imp, index=[int(c.split("|")[0]) for c in cols]).groupby(level=0).sum()
            scores = scores.add(per_item.reindex(scores.index, fill_value=0.0), fill_value=0.0)
            used.append(name)
    out = cov[cov["itemid"].isin(keep_items)].copy()
    if used:
        out["importance"] = out["itemid"].map(scores / len(used))
        out["method"] = "permutation"
        out = out.sort_values(["importance", "admissions"], ascending=[False, False], ignore_index=True)
    else:
        out["importance"] = np.nan
        out["method"] = "coverage"
    out["targets"] = ",".join(used)
    return out[["itemid", "label", "importance", "admissions", "share", "method", "targets"]]
