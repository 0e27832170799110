"""Which lab items carry signal for the silver labels: gradient boosting + permutation importance.

Per surgical admission we summarise each lab item from the operation day on (min, max, last). A
HistGradientBoostingClassifier (native missing-value support: most items are absent most of the time)
is fitted per frequent label and for "any complication"; permutation importance on subjects held out
from training ranks the columns, and an item's score is the sum over its three columns, averaged over
targets. The record then keeps only the top-k items, so long stays stay readable.
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
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import GroupShuffleSplit
    from threadpoolctl import threadpool_limits

    cov = coverage(features, item_labels)
    if cov.empty:
        return cov.assign(importance=[], method=[], targets=[])
    keep_items = cov[cov["share"] >= min_coverage].head(max_items)["itemid"].tolist()
    cols = [f"{i}|{s}" for i in keep_items for s in STATS if f"{i}|{s}" in features.columns]
    targets = {"any_complication": labels.any(axis=1).astype(int)} if len(labels.columns) else {}
    targets.update({c: labels[c].astype(int) for c in labels.columns})
    usable = {k: y for k, y in targets.items() if min_positives <= y.sum() <= len(y) - min_positives}
    usable = dict(sorted(usable.items(), key=lambda kv: (kv[0] != "any_complication", -kv[1].sum()))[:max_targets])
    threads = n_threads or (1 if len(features) < 5000 else None)
    scores = pd.Series(0.0, index=keep_items)
    used: list[str] = []
    if usable and cols and groups.nunique() >= 4:
        X = features[cols].to_numpy(dtype=np.float32)
        train_idx, test_idx = next(
            GroupShuffleSplit(n_splits=1, test_size=0.3, random_state=seed).split(X, groups=groups)
        )
        rng = np.random.default_rng(seed)
        if len(test_idx) > max_eval_rows:
            test_idx = rng.choice(test_idx, max_eval_rows, replace=False)
        for name, y in usable.items():
            y = y.to_numpy()
            if len(set(y[train_idx])) < 2 or len(set(y[test_idx])) < 2:
                continue
            with threadpool_limits(threads):
                model = HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, random_state=seed)
                model.fit(X[train_idx], y[train_idx])
                imp = permutation_importance(
                    model, X[test_idx], y[test_idx], scoring="roc_auc", n_repeats=n_repeats, random_state=seed, n_jobs=1
                ).importances_mean
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
