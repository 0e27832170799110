"""The trials' summary: each score's mean for base and adapter, and the paired 95% bootstrap CI of the difference.

Paired because both models answer the same trials: resampling trials and rescoring both on the same resample
gives the interval of the difference itself (the way evaluation.metrics.paired_delta_ci does for F1).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.io import atomic_write_text, write_json
from .trials import METRICS, TABLE

LABELS = {
    "must_have_recall": "Must-have recall",
    "warning_recall": "Warning-sign recall",
    "chart_fact_recall": "Chart-fact recall",
    "rouge_l": "ROUGE-L vs ideal",
    "section_adherence": "Section adherence",
    "names_disease": "Names a disease",
    "words": "Words",
}


def paired_mean_delta(base: np.ndarray, adapter: np.ndarray, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05):
    """(mean(adapter - base), CI low, CI high): percentile bootstrap over trials, both scores resampled together."""
    d = np.asarray(adapter, float) - np.asarray(base, float)
    if len(d) == 0:
        return float("nan"), float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, len(d), size=(n_boot, len(d)))
    lo, hi = np.percentile(d[idx].mean(axis=1), [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(d.mean()), float(lo), float(hi)


def summary_table(df: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per score: n (trials where both answers have it), base and adapter means, delta and its CI."""
    rows = []
    for m in METRICS:
        cols = [f"base_{m}", f"adapter_{m}"]
        if not set(cols) <= set(df.columns):
            if f"base_{m}" in df:
                rows.append({"metric": m, "n": int(df[f"base_{m}"].notna().sum()), "base": df[f"base_{m}"].mean()})
            continue
        both = df[cols].dropna()
        delta, lo, hi = paired_mean_delta(both[cols[0]].to_numpy(), both[cols[1]].to_numpy(), n_boot, seed)
        rows.append(
            {
                "metric": m,
                "n": len(both),
                "base": both[cols[0]].mean(),
                "adapter": both[cols[1]].mean(),
                "delta": delta,
                "ci_low": lo,
                "ci_high": hi,
            }
        )
    return pd.DataFrame(rows, columns=["metric", "n", "base", "adapter", "delta", "ci_low", "ci_high"])


def write_summary(run_dir: str | os.PathLike, n_boot: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """tables/qa_summary.csv and the qa_* keys of summary.json (merged into what is there)."""
    run_dir = Path(run_dir)
    path = run_dir / TABLE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no validation trials yet; run notebooks/04b_qa_trials first")
    df = pd.read_csv(path)
    table = summary_table(df, n_boot, seed)
    atomic_write_text(run_dir / "tables" / "qa_summary.csv", table.to_csv(index=False))
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
    summary["study"] = "chart_qa"
    summary["n_trials"] = int(len(df))
    for r in table.to_dict("records"):
        for k in ("base", "adapter", "delta", "ci_low", "ci_high"):
            if k in r and pd.notna(r[k]):
                key = {"ci_low": "delta_ci_low", "ci_high": "delta_ci_high"}.get(k, k)
                summary[f"qa_{r['metric']}_{key}"] = round(float(r[k]), 6)
    write_json(summary_path, summary)
    return table, summary


def refresh_run_summary(run_dir: str | os.PathLike) -> dict:
    """summary.json of a chart Q&A run with its stage times (the batch calls this after the last stage, whose
    own time 05b could not know); the qa_* keys stay as 05b wrote them."""
    from ..evaluation.summary import stage_seconds

    run_dir = Path(run_dir)
    path = run_dir / "summary.json"
    summary = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"study": "chart_qa"}
    seconds = stage_seconds(run_dir)
    summary.update(run_dir=str(run_dir), stage_seconds=seconds, wall_s=round(sum(seconds.values()), 1))
    params = run_dir / "params.json"
    if params.exists():
        p = json.loads(params.read_text(encoding="utf-8"))
        summary.update(run_name=p.get("run_name"), seed=p.get("seed"), model=p.get("model_name_or_path"))
    write_json(path, summary)
    return summary
