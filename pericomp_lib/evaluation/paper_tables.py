"""The paper's ten evaluation tables, recomputed from the authors' published prediction files.

`evaluate_predictions(gold, {model: predictions})` turns label maps into a `Models,Precision,Recall,F1_score`
table (rows sorted by model name, unrounded floats, as the authors' results/evaluation.ipynb writes them);
`paper_tables` feeds it every result file of the authors' layout and writes the ten published CSVs under
their file names, plus per-complication tables. Our own runs are scored by run_scores.py with the same
metrics; `python -m pericomp_lib evaluate` (cli here) serves both.

Which cases and which files, as the authors did it:
- the cases are those of gold.json (in its order); extra cases in a prediction file are ignored;
- val_center1 = center-1 gold restricted to the validation ids of data_source/center1/train_val.json;
- every *.json in the folder whose name lacks 'gold' is a model, named by its file stem;
- a file lacking gold cases was silently dropped by the authors (its NaN crashed the scorer inside a
  try/except); here it is skipped *and reported* (missing='skip'), or filled (missing='empty'), or it
  stops the run (missing='error').
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from ..cohort import pericomp_repo as repo
from ..core.io import atomic_write_text
from ..core.predictions import PredictionFile, load_predictions, prediction_issues
from . import metrics

log = logging.getLogger(__name__)

COLUMNS = ["Models", "Precision", "Recall", "F1_score"]


@dataclass(frozen=True)
class TableSpec:
    name: str  # as in evaluation_<average>_<name>.csv
    center: str  # results folder
    strict: bool
    split: str | None = None  # 'validation' restricts to train_val.json's val ids


# The ten published tables = these five x (micro, macro).
PAPER_TABLES: tuple[TableSpec, ...] = (
    TableSpec("center1", "center1", False),
    TableSpec("val_center1", "center1", False, "validation"),
    TableSpec("center2", "center2", False),
    TableSpec("val_center1_strict", "center1", True, "validation"),
    TableSpec("center2_strict", "center2", True),
)
SPECS = {s.name: s for s in PAPER_TABLES}


def table_filename(average: str, name: str) -> str:
    return f"evaluation_{average}_{name}.csv"


def evaluate_predictions(
    gold: Mapping[str, list[str]], predictions: Mapping[str, Mapping[str, list[str]]], average: str = "micro"
) -> pd.DataFrame:
    """One row per model (sorted by name, as the authors' `sorted(df.columns)`): Models,Precision,Recall,F1_score."""
    rows = []
    for model in sorted(predictions):
        m = metrics.prf(gold, predictions[model], average)
        rows.append({"Models": model, "Precision": m["precision"], "Recall": m["recall"], "F1_score": m["f1"]})
    return pd.DataFrame(rows, columns=COLUMNS)


def per_complication(gold: Mapping[str, list[str]], predictions: Mapping[str, Mapping[str, list[str]]]) -> pd.DataFrame:
    """Long table: Models, label, precision, recall, f1, support, predicted (labels as canonical ids)."""
    frames = []
    for model in sorted(predictions):
        df = metrics.per_label_prf(gold, predictions[model])
        df.insert(0, "Models", model)
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=["Models", "label", "precision", "recall", "f1", "support", "predicted"])
    return pd.concat(frames, ignore_index=True)


def ci_table(
    gold: Mapping[str, list[str]],
    predictions: Mapping[str, Mapping[str, list[str]]],
    average: str = "micro",
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Point estimates with percentile bootstrap CIs over cases, one row per model."""
    rows = []
    for model in sorted(predictions):
        point = metrics.prf(gold, predictions[model], average)
        ci = metrics.bootstrap_ci(gold, predictions[model], average, n_boot=n_boot, seed=seed, alpha=alpha)
        row = {"Models": model}
        for key, col in (("precision", "Precision"), ("recall", "Recall"), ("f1", "F1_score")):
            row[col] = point[key]
            row[f"{col}_lo"], row[f"{col}_hi"] = ci[key]
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class LoadedTable:
    """Gold and every loadable prediction file for one table spec; `skipped` lists (file, reason)."""

    spec: TableSpec
    gold: dict[str, list[str]]
    predictions: dict[str, PredictionFile]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    filled: dict[str, int] = field(default_factory=dict)  # model -> cases counted as no complication
    issues: dict[str, list[str]] = field(default_factory=dict)  # file -> extra ids, unknown labels, empty answers


def split_gold(gold: Mapping[str, list[str]], pericomp_dir: str | os.PathLike, split: str = "validation") -> dict:
    """Gold restricted to one split of data_source/center1/train_val.json, in gold order.

    The one validation filter: the val_center1 tables and the figures' center-1 scores use it alike.
    """
    keep = set(repo.split_ids(pericomp_dir)[split])
    kept = {k: v for k, v in gold.items() if str(k) in keep}  # gold order, as the authors' filtered frame
    if not kept:
        raise ValueError(f"no gold case is in the {split} split of train_val.json")
    return kept


def load_table(pericomp_dir: str | os.PathLike, spec: TableSpec | str, missing: str = "skip") -> LoadedTable:
    """Gold (restricted to the spec's split) and all prediction files of the spec's folder.

    missing: 'skip' leaves out (and reports) files lacking gold cases, as the authors' tables did;
    'empty' counts missing cases as no complication; 'error' raises on the first such file.
    Unreadable files are skipped and reported under 'skip'/'empty' too.
    """
    if isinstance(spec, str):
        if spec not in SPECS:
            raise ValueError(f"unknown table {spec!r}; use one of {', '.join(SPECS)}")
        spec = SPECS[spec]
    if missing not in ("skip", "empty", "error"):
        raise ValueError(f"missing must be 'skip', 'empty' or 'error', got {missing!r}")
    gold = repo.load_gold(pericomp_dir, spec.center, spec.strict)
    center_ids = set(gold)
    if spec.split is not None:
        gold = split_gold(gold, pericomp_dir, spec.split)
    loaded = LoadedTable(spec, gold, {})
    for path in repo.list_prediction_files(pericomp_dir, spec.center, spec.strict):
        try:
            pf = load_predictions(
                path, list(gold), missing="empty" if missing == "empty" else "error", strict=spec.strict
            )
        except (ValueError, OSError) as e:
            if missing == "error":
                raise
            loaded.skipped.append((str(path), str(e)))
            log.warning("skipped %s: %s", path, e)
            continue
        loaded.predictions[pf.model] = pf
        found = prediction_issues(
            {k: v for k, v in pf.labels.items() if k not in pf.missing},
            gold,
            [e for e in pf.extra if e not in center_ids],
        )  # not the other split's
        if found:
            loaded.issues[str(path)] = found
        if pf.missing:
            loaded.filled[pf.model] = len(pf.missing)
    return loaded


def paper_tables(
    pericomp_dir: str | os.PathLike, out_dir: str | os.PathLike, missing: str = "skip", per_label: bool = True
) -> dict:
    """Write the ten published tables (and per_complication_<name>.csv) into out_dir.

    Returns {"tables": {filename: path}, "skipped": [{table, file, reason}], "filled": {...},
    "n_models": {name: count}}.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {"tables": {}, "skipped": [], "filled": {}, "n_models": {}}
    for spec in tqdm(PAPER_TABLES, desc="evaluation tables", leave=False):
        t = load_table(pericomp_dir, spec, missing)
        report["n_models"][spec.name] = len(t.predictions)
        report["skipped"] += [{"table": spec.name, "file": f, "reason": r} for f, r in t.skipped]
        report.setdefault("issues", []).extend(
            {"table": spec.name, "file": f, "issue": i} for f, found in t.issues.items() for i in found
        )
        if t.filled:
            report["filled"][spec.name] = dict(t.filled)
        for average in metrics.AVERAGES:
            name = table_filename(average, spec.name)
            df = evaluate_predictions(t.gold, t.predictions, average)
            report["tables"][name] = atomic_write_text(out / name, df.to_csv(index=False))
        if per_label:
            name = f"per_complication_{spec.name}.csv"
            df = per_complication(t.gold, t.predictions)
            report["tables"][name] = atomic_write_text(out / name, df.to_csv(index=False))
    return report
