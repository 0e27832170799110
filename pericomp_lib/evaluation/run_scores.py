"""Scores of our own runs: one run folder's prediction files, and every run x seed collected for figures.

Why here and not in paper_tables: a run is scored on the cases its LLM answered and on the complications it
asked (scope.json), with every model of the run (base, adapter, baselines) on exactly those cases; the
paper's tables score fixed published files on fixed gold. Both use metrics.prf.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.io import atomic_write_text
from ..core.predictions import load_predictions, prediction_issues
from . import metrics

# --- one run ---------------------------------------------------------------------------------------
RUN_MODELS_ORDER = ("comprehensive", "base", "adapter", "baseline", "most_frequent")  # baseline = TF-IDF (baseline.py)


def read_scope(run_dir: str | os.PathLike) -> list[str] | None:
    """The complications a run asked about (scope.json, written by 04's export); None means all 22."""
    path = Path(run_dir) / "scope.json"
    return json.loads(path.read_text(encoding="utf-8")).get("complications") if path.exists() else None


def score_run(run_dir: str | os.PathLike, cases) -> pd.DataFrame:
    """Score every predictions{,_strict}/<model>.json of one run against the gold of `cases`.

    The cases are those the LLM answered (inference may cap the evaluation split); every model is
    scored on exactly those cases, so base, adapter and the classical baseline are comparable. Gold and
    predictions are restricted alike to the complications the run asked (scope.json).
    Columns: Models, averaging, mode, Precision, Recall, F1_score, n_cases, complications.
    """
    from ..core import records

    run_dir = Path(run_dir)
    scope = read_scope(run_dir)
    lenient_gold, strict_gold = records.gold_maps(cases)
    rows = []
    for mode, folder, gold in (("lenient", "predictions", lenient_gold), ("strict", "predictions_strict", strict_gold)):
        files = sorted((run_dir / folder).glob("*.json"))
        if not files:
            raise FileNotFoundError(f"{run_dir / folder}: no prediction files; run 04_inference first")
        gold = records.restrict_labels(gold, scope, mode == "strict")
        raw = {f.stem: dict(load_predictions(f, missing="empty")) for f in files}
        preds = {m: records.restrict_labels(v, scope, mode == "strict") for m, v in raw.items()}
        ids = _owed_ids(run_dir, gold, preds)
        for model, labels in raw.items():  # extra ids, unknown labels, empty answers: said, not passed over
            for issue in prediction_issues(labels, gold):
                # a warning, not a log line: the user must act: a prediction file holds answers that are not scored
                warnings.warn(f"{run_dir / folder / (model + '.json')}: {issue}", stacklevel=2)
        if not ids:
            raise ValueError(f"{run_dir / folder}: no prediction file covers the evaluation cases of the cohort")
        sub_gold = {c: gold[c] for c in ids}
        for model, pred in preds.items():
            lacking = [c for c in ids if c not in pred]
            if lacking:
                raise ValueError(
                    f"{run_dir / folder / (model + '.json')}: lacks {len(lacking)} evaluation case(s), "
                    f"e.g. {lacking[:5]}; re-run 04_inference (it resumes) or remove the file"
                )
            for average in metrics.AVERAGES:
                m = metrics.prf(sub_gold, {c: pred[c] for c in ids}, average)
                rows.append(
                    {
                        "Models": model,
                        "averaging": average,
                        "mode": mode,
                        "Precision": m["precision"],
                        "Recall": m["recall"],
                        "F1_score": m["f1"],
                        "n_cases": len(ids),
                        "complications": len(scope) if scope else 22,
                    }
                )
    order = {m: i for i, m in enumerate(RUN_MODELS_ORDER)}
    df = pd.DataFrame(rows)
    df = df.sort_values(
        ["mode", "averaging", "Models"], key=lambda s: s.map(order).fillna(99) if s.name == "Models" else s
    )
    return df.reset_index(drop=True)


def metrics_table(out_dir: str | os.PathLike, cases: Sequence) -> pd.DataFrame:
    """Micro and per-sample macro P/R/F1, lenient and strict, of every prediction file (05's scoring)."""
    df = score_run(out_dir, cases).rename(
        columns={
            "Models": "model",
            "averaging": "average",
            "Precision": "precision",
            "Recall": "recall",
            "F1_score": "f1",
        }
    )
    return df[["model", "mode", "average", "precision", "recall", "f1", "n_cases"]]


def _owed_ids(run_dir: Path, gold: Mapping[str, list[str]], preds: Mapping[str, Mapping]) -> list[str]:
    """The cases every prediction file must cover: those 04 answered for (inference_report.json), else
    every evaluation case that base or adapter answered; never fewer because one file lacks some."""
    from ..inference import runstore

    owed = runstore.owed_cases(run_dir)
    if owed is None:
        answered = set().union(*(set(preds[m]) for m in ("adapter", "base") if m in preds))
        return [c for c in gold if c in answered] if answered else list(gold)
    stray = [c for c in owed if c not in gold]
    if stray:
        raise ValueError(
            f"{run_dir / runstore.REPORT}: {len(stray)} case(s) answered by 04 are not evaluation cases "
            f"of this cohort (e.g. {stray[:5]}); the cohort changed after 04: re-run 04_inference"
        )
    owed_set = set(owed)
    return [c for c in gold if c in owed_set]


def evaluate_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """score_run on the run's own cohort (its evaluation split); writes <out_dir>/run_metrics.csv."""
    from ..core import records

    cases = records.load_cohort(Path(run_dir) / "cohort.jsonl", check_evidence=False)
    evaluated = records.split_cases(cases, "eval")
    df = score_run(run_dir, evaluated)
    out = Path(out_dir) if out_dir else Path(run_dir) / "tables"
    atomic_write_text(out / "run_metrics.csv", df.to_csv(index=False))
    from . import decisions, strata

    decisions.write_tables(run_dir, out)  # ranking.csv, operating_points.csv when 04 recorded P(True)
    owed = {c for c in _owed_ids(Path(run_dir), records.gold_maps(cases)[0], {})}
    asked = [c for c in evaluated if c.case_id in owed]  # the cases 04 answered, as score_run scores them
    atomic_write_text(out / "strata.csv", strata.for_run(run_dir, asked, read_scope(run_dir)).to_csv(index=False))
    return df


def read_table(folder: str | os.PathLike, name: str) -> pd.DataFrame | None:
    """<folder>/<name>.csv, or None when the run wrote none (e.g. no P(True) in a free-generation run)."""
    path = Path(folder) / f"{name}.csv"
    return pd.read_csv(path) if path.exists() and path.stat().st_size > 1 else None


def collect_runs(runs_dir: str | os.PathLike, table: str = "run_metrics") -> pd.DataFrame:
    """All runs_dir/<run>/seed-<n>/tables/<table>.csv in one tidy frame (run, seed, ... columns); 05 writes
    run_metrics, strata, ranking and operating_points."""
    frames = []
    for path in sorted(Path(runs_dir).glob(f"*/seed-*/tables/{table}.csv")):
        df = pd.read_csv(path)
        df.insert(0, "seed", int(path.parent.parent.name.split("-", 1)[1]))
        df.insert(0, "run", path.parent.parent.parent.name)
        frames.append(df)
    if not frames:
        raise FileNotFoundError(f"{runs_dir}: no runs with tables/{table}.csv; run the batch runner (stages 01-05)")
    return pd.concat(frames, ignore_index=True)


def write_runs_metrics(runs_dir: str | os.PathLike, out_dir: str | os.PathLike) -> pd.DataFrame:
    """collect_runs written to <out_dir>/runs_metrics.csv (the file 06_figures and reviewers read)."""
    table = collect_runs(runs_dir)
    atomic_write_text(Path(out_dir) / "runs_metrics.csv", table.to_csv(index=False))
    return table


# --- every run x seed, shaped for the figures -----------------------------------------------------
RUN_HUES: tuple[str, ...] = (
    "comprehensive",
    "comprehensive_sft",
    "targeted",
    "targeted_sft",
    "baseline",
    "most_frequent",
)
_RUN_METRIC_COLS = {"F1_score": "f1", "Recall": "recall", "Precision": "precision"}
# evaluate_run names a model by its prediction file stem; baseline.py writes the TF-IDF model as
# baseline.json, while its tables call it tfidf_baseline: both mean the classical baseline.
BASELINE_MODELS: tuple[str, ...] = ("tfidf_baseline", "baseline")


def runs_metric_frame(runs_dir: str | os.PathLike, averaging: str = "micro", mode: str = "lenient") -> pd.DataFrame:
    """Every run x seed x model x metric of our runs (collect_runs), labelled for the figures.

    Columns: run, seed, Models, model_label, size_label, run_strategy, strategy (the hue: comprehensive,
    targeted, targeted_sft, comprehensive_sft, baseline, most_frequent), x (the model, with the run
    name added when two runs share model and strategy), center (the panel row), metric, value, n_cases.
    `frame.attrs['run_info']` holds provenance.run_info of each run folder.
    """
    from .provenance import run_info

    table = collect_runs(runs_dir)
    for col, allowed in (("averaging", ("micro", "macro")), ("mode", ("lenient", "strict"))):
        value = averaging if col == "averaging" else mode
        if value not in allowed:
            raise ValueError(f"{col} must be one of {allowed}, got {value!r}")
    table = table[(table["averaging"] == averaging) & (table["mode"] == mode)]
    if table.empty:
        raise ValueError(f"{runs_dir}: run_metrics.csv files hold no {averaging}/{mode} rows; re-run 05_evaluate")
    infos = {}
    for run, seed in table[["run", "seed"]].drop_duplicates().itertuples(index=False):
        infos[(run, seed)] = run_info(Path(runs_dir) / run / f"seed-{seed}")
    per_run = {}  # a run's label comes from its first seed; seeds of one params file agree
    for (run, _seed), info in sorted(infos.items()):
        per_run.setdefault(run, info)
    runs = pd.DataFrame(
        [
            {
                "run": r,
                "model_label": i["model_label"],
                "size_label": i["size_label"],
                "run_strategy": i["strategy"] or "unknown",
            }
            for r, i in per_run.items()
        ]
    )
    clash = runs.duplicated(["model_label", "run_strategy"], keep=False)
    runs["x"] = np.where(clash, runs["model_label"] + " (" + runs["run"] + ")", runs["model_label"])
    frame = table.merge(runs, on="run", how="left")
    frame["strategy"] = [_run_hue(m, st) for m, st in zip(frame["Models"], frame["run_strategy"])]
    frame["center"] = f"Our runs ({mode}, {averaging})"
    frame = frame.melt(
        id_vars=[c for c in frame.columns if c not in _RUN_METRIC_COLS],
        value_vars=list(_RUN_METRIC_COLS),
        var_name="metric",
        value_name="value",
    )
    frame["metric"] = frame["metric"].map(_RUN_METRIC_COLS)
    cols = [
        "run",
        "seed",
        "Models",
        "model_label",
        "size_label",
        "run_strategy",
        "strategy",
        "x",
        "center",
        "metric",
        "value",
        "n_cases",
    ]
    frame = frame[cols].sort_values(["run", "seed", "Models", "metric"]).reset_index(drop=True)
    frame.attrs["run_info"] = {f"{r}/seed-{s}": i for (r, s), i in infos.items()}
    return frame


def _run_hue(model: str, run_strategy: str) -> str:
    if model in BASELINE_MODELS:
        return "baseline"
    if model == "adapter":
        return f"{run_strategy}_sft"
    if model == "base":
        return run_strategy
    return model  # most_frequent and any model we do not know: kept under its own name


def runs_bar_frame(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Figure 7 bars from runs_metric_frame rows: mean and SD over seeds per bar.

    Bars: each run's adapter ('<model> + LoRA'), its base model, and the classical baseline (one bar
    when every run scored it on the same cases, else one per model). The set-up is added to a label
    when a model was run with more than one strategy. Columns: label, group, center, metric, value,
    spread (SD over seeds, 0 for one seed), n_seeds.
    """
    lacking = {"x", "run_strategy", "strategy", "Models", "seed", "center", "metric", "value"} - set(per_seed.columns)
    if lacking or per_seed.empty:
        raise ValueError(f"runs_bar_frame: needs runs_metric_frame rows; lacks column(s) {sorted(lacking)} or is empty")
    d = per_seed[per_seed["Models"].isin(["adapter", "base", *BASELINE_MODELS])].copy()
    multi = d.groupby("x")["run_strategy"].nunique()
    setup = d["x"].map(multi).gt(1)
    name = np.where(setup, d["x"] + " " + d["run_strategy"], d["x"])  # run strategies: targeted, comprehensive
    d["label"] = np.where(d["Models"] == "adapter", pd.Series(name, index=d.index) + " + LoRA", name)
    d["group"] = np.where(
        d["Models"] == "adapter", "LoRA adapter", np.where(d["Models"] == "base", "Base model", "Classical baseline")
    )
    base = d["Models"].isin(BASELINE_MODELS)
    shared = d[base].drop_duplicates(["seed", "metric", "value"]).groupby(["seed", "metric"]).size().max() == 1
    if shared:
        d.loc[base, "label"] = "Classical baseline (TF-IDF)"
        d = pd.concat([d[~base], d[base].drop_duplicates(["seed", "metric"])])
    else:
        d.loc[base, "label"] = "Classical baseline · " + d.loc[base, "x"]
        d = pd.concat([d[~base], d[base].drop_duplicates(["x", "seed", "metric", "value"])])
    bars = (
        d.groupby(["label", "group", "center", "metric"], sort=False)["value"]
        .agg(value="mean", spread="std", n_seeds="count")
        .reset_index()
    )
    bars["spread"] = bars["spread"].fillna(0.0)
    return bars
