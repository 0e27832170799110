"""The paper's evaluation tables, from the authors' published predictions or from our own runs.

One code path for both: `evaluate_predictions(gold, {model: predictions})` turns label maps into a
`Models,Precision,Recall,F1_score` table (rows sorted by model name, unrounded floats, as the authors'
results/evaluation.ipynb writes them); `paper_tables` feeds it every result file of the authors' layout
and writes the ten published CSVs under their file names, plus per-complication tables.

Which cases and which files, as the authors did it:
- the cases are those of gold.json (in its order); extra cases in a prediction file are ignored;
- val_center1 = center-1 gold restricted to the validation ids of data_source/center1/train_val.json;
- every *.json in the folder whose name lacks 'gold' is a model, named by its file stem;
- a file lacking gold cases was silently dropped by the authors (its NaN crashed the scorer inside a
  try/except); here it is skipped *and reported* (missing='skip'), or filled (missing='empty'), or it
  stops the run (missing='error').
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import pandas as pd
from tqdm.auto import tqdm

from . import metrics
from .io import atomic_write_text, write_json
from .sources import pericomp_repo as repo

log = logging.getLogger(__name__)

COLUMNS = ["Models", "Precision", "Recall", "F1_score"]
AVERAGES = ("micro", "macro")


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
    predictions: dict[str, repo.PredictionFile]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    filled: dict[str, int] = field(default_factory=dict)  # model -> cases counted as no complication
    issues: dict[str, list[str]] = field(default_factory=dict)  # file -> extra ids, unknown labels, empty answers


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
        keep = set(repo.split_ids(pericomp_dir)[spec.split])
        gold = {k: v for k, v in gold.items() if k in keep}  # gold order, as the authors' filtered frame
        if not gold:
            raise ValueError(f"no gold case of {spec.center} is in the {spec.split} split of train_val.json")
    loaded = LoadedTable(spec, gold, {})
    for path in repo.list_prediction_files(pericomp_dir, spec.center, spec.strict):
        try:
            pf = repo.load_predictions(path, list(gold), missing="empty" if missing == "empty" else "error",
                                       strict=spec.strict)
        except (ValueError, OSError) as e:
            if missing == "error":
                raise
            loaded.skipped.append((str(path), str(e)))
            log.warning("skipped %s: %s", path, e)
            continue
        loaded.predictions[pf.model] = pf
        found = repo.prediction_issues({k: v for k, v in pf.labels.items() if k not in pf.missing}, gold,
                                       [e for e in pf.extra if e not in center_ids])  # not the other split's
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
        report.setdefault("issues", []).extend({"table": spec.name, "file": f, "issue": i}
                                               for f, found in t.issues.items() for i in found)
        if t.filled:
            report["filled"][spec.name] = dict(t.filled)
        for average in AVERAGES:
            name = table_filename(average, spec.name)
            df = evaluate_predictions(t.gold, t.predictions, average)
            report["tables"][name] = atomic_write_text(out / name, df.to_csv(index=False))
        if per_label:
            name = f"per_complication_{spec.name}.csv"
            df = per_complication(t.gold, t.predictions)
            report["tables"][name] = atomic_write_text(out / name, df.to_csv(index=False))
    return report


# --- our own runs -------------------------------------------------------------------------------
RUN_MODELS_ORDER = ("comprehensive", "base", "adapter", "baseline", "most_frequent")  # baseline = TF-IDF (baseline.py)


def read_scope(run_dir: str | os.PathLike) -> list[str] | None:
    """The complications a run asked about (scope.json, written by 04's export); None means all 22."""
    import json

    path = Path(run_dir) / "scope.json"
    return json.loads(path.read_text(encoding="utf-8")).get("complications") if path.exists() else None


def score_run(run_dir: str | os.PathLike, cases) -> pd.DataFrame:
    """Score every predictions{,_strict}/<model>.json of one run against the gold of `cases`.

    The cases are those the LLM answered (inference may cap the evaluation split); every model is
    scored on exactly those cases, so base, adapter and the classical baseline are comparable. Gold and
    predictions are restricted alike to the complications the run asked (scope.json).
    Columns: Models, averaging, mode, Precision, Recall, F1_score, n_cases, complications.
    """
    from . import records

    run_dir = Path(run_dir)
    scope = read_scope(run_dir)
    lenient_gold, strict_gold = records.gold_maps(cases)
    rows = []
    for mode, folder, gold in (("lenient", "predictions", lenient_gold), ("strict", "predictions_strict", strict_gold)):
        files = sorted((run_dir / folder).glob("*.json"))
        if not files:
            raise FileNotFoundError(f"{run_dir / folder}: no prediction files; run 04_inference first")
        gold = records.restrict_labels(gold, scope, mode == "strict")
        raw = {f.stem: dict(repo.load_predictions(f, missing="empty")) for f in files}
        preds = {m: records.restrict_labels(v, scope, mode == "strict") for m, v in raw.items()}
        ids = _owed_ids(run_dir, gold, preds)
        for model, labels in raw.items():  # extra ids, unknown labels, empty answers: said, not passed over
            for issue in repo.prediction_issues(labels, gold):
                warnings.warn(f"{run_dir / folder / (model + '.json')}: {issue}", stacklevel=2)
        if not ids:
            raise ValueError(f"{run_dir / folder}: no prediction file covers the evaluation cases of the cohort")
        sub_gold = {c: gold[c] for c in ids}
        for model, pred in preds.items():
            lacking = [c for c in ids if c not in pred]
            if lacking:
                raise ValueError(f"{run_dir / folder / (model + '.json')}: lacks {len(lacking)} evaluation case(s), "
                                 f"e.g. {lacking[:5]}; re-run 04_inference (it resumes) or remove the file")
            for average in AVERAGES:
                m = metrics.prf(sub_gold, {c: pred[c] for c in ids}, average)
                rows.append({"Models": model, "averaging": average, "mode": mode, "Precision": m["precision"],
                             "Recall": m["recall"], "F1_score": m["f1"], "n_cases": len(ids),
                             "complications": len(scope) if scope else 22})
    order = {m: i for i, m in enumerate(RUN_MODELS_ORDER)}
    df = pd.DataFrame(rows)
    df = df.sort_values(["mode", "averaging", "Models"], key=lambda s: s.map(order).fillna(99) if s.name == "Models" else s)
    return df.reset_index(drop=True)


def _owed_ids(run_dir: Path, gold: Mapping[str, list[str]], preds: Mapping[str, Mapping]) -> list[str]:
    """The cases every prediction file must cover: those 04 answered for (inference_report.json), else
    every evaluation case that base or adapter answered; never fewer because one file lacks some."""
    from . import runstore

    owed = runstore.owed_cases(run_dir)
    if owed is None:
        answered = set().union(*(set(preds[m]) for m in ("adapter", "base") if m in preds))
        return [c for c in gold if c in answered] if answered else list(gold)
    stray = [c for c in owed if c not in gold]
    if stray:
        raise ValueError(f"{run_dir / runstore.REPORT}: {len(stray)} case(s) answered by 04 are not evaluation cases "
                         f"of this cohort (e.g. {stray[:5]}); the cohort changed after 04: re-run 04_inference")
    owed_set = set(owed)
    return [c for c in gold if c in owed_set]


def evaluate_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """score_run on the run's own cohort (its evaluation split); writes <out_dir>/run_metrics.csv."""
    from . import records

    cases = records.load_cohort(Path(run_dir) / "cohort.jsonl", check_evidence=False)
    df = score_run(run_dir, records.split_cases(cases, "eval"))
    out = Path(out_dir) if out_dir else Path(run_dir) / "tables"
    atomic_write_text(out / "run_metrics.csv", df.to_csv(index=False))
    from . import decisions

    decisions.write_tables(run_dir, out)  # ranking.csv, operating_points.csv when 04 recorded P(True)
    return df


def read_table(folder: str | os.PathLike, name: str) -> pd.DataFrame | None:
    """<folder>/<name>.csv, or None when the run wrote none (e.g. no P(True) in a free-generation run)."""
    path = Path(folder) / f"{name}.csv"
    return pd.read_csv(path) if path.exists() and path.stat().st_size > 1 else None


def collect_runs(runs_dir: str | os.PathLike) -> pd.DataFrame:
    """All runs_dir/<run>/seed-<n>/tables/run_metrics.csv in one tidy frame (run, seed, ... columns)."""
    frames = []
    for path in sorted(Path(runs_dir).glob("*/seed-*/tables/run_metrics.csv")):
        df = pd.read_csv(path)
        df.insert(0, "seed", int(path.parent.parent.name.split("-", 1)[1]))
        df.insert(0, "run", path.parent.parent.parent.name)
        frames.append(df)
    if not frames:
        raise FileNotFoundError(f"{runs_dir}: no runs with tables/run_metrics.csv; run the batch runner (stages 01-05)")
    return pd.concat(frames, ignore_index=True)


_FAMILIES = {"qwen3": "Qwen3", "qwq": "QwQ", "qwen2.5": "Qwen2.5", "smollm2": "SmolLM2", "llama": "Llama"}
_SIZE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)([bBmM])(?![a-zA-Z])")


def model_label(name_or_path: str) -> tuple[str, str]:
    """'Qwen/Qwen3-4B' -> ('Qwen3 4B', '4B'); 'smollm2-135m' -> ('SmolLM2 135M', '135M'); no size -> (name, '')."""
    name = Path(str(name_or_path).rstrip("/")).name
    m = _SIZE.search(name)
    if not m:
        return name, ""
    size = f"{m[1]}{m[2].upper()}"
    family = name[: m.start()].strip("-_ ") or name
    family = _FAMILIES.get(family.lower(), family)
    return f"{family} {size}", size


def run_info(run_dir: str | os.PathLike) -> dict:
    """What one run folder trained and prompted with, for labelling figures of our own runs.

    run_metrics.csv does not say which model or strategy produced it, so this reads, in order:
    params.json (the run's resolved params, written by its first stage: the run folder contract), then for
    older runs adapter/training_params.json ({"params": {...}}, written by 03_finetune), the papermill
    parameters of the executed notebooks (02: strategy, layout; 03/04: the params file), then which
    prompts file exists; the model falls back to the run folder name. `source` says what was used.
    Returns model_name_or_path, strategy, prompt_layout, model_label, size_label, source.
    """
    import json

    from .params import load_params

    run_dir = Path(run_dir)
    info: dict = {"model_name_or_path": None, "strategy": None, "prompt_layout": None}
    sources = []

    def take(found: Mapping, where: str) -> None:
        got = [k for k in info if info[k] is None and found.get(k) is not None]
        for k in got:
            info[k] = found[k]
        if got:
            sources.append(where)

    pj = run_dir / "params.json"
    if pj.exists():
        try:
            take(json.loads(pj.read_text(encoding="utf-8")), str(pj))
        except (json.JSONDecodeError, AttributeError) as e:
            log.warning("%s: unreadable (%s); looking elsewhere for the run's params", pj, e)
    tp = run_dir / "adapter" / "training_params.json"
    if tp.exists():
        try:
            take(json.loads(tp.read_text(encoding="utf-8")).get("params") or {}, str(tp))
        except (json.JSONDecodeError, AttributeError) as e:
            log.warning("%s: unreadable (%s); looking elsewhere for the run's params", tp, e)
    for nb in sorted((run_dir / "notebooks").glob("*.ipynb")):
        if all(v is not None for v in info.values()):
            break
        try:
            params = json.loads(nb.read_text(encoding="utf-8"))["metadata"]["papermill"]["parameters"]
        except (json.JSONDecodeError, KeyError, TypeError, OSError):
            continue
        take(params, str(nb))
        if params.get("params_path") and Path(params["params_path"]).exists():
            try:
                take(load_params(params["params_path"]), params["params_path"])
            except (ValueError, OSError) as e:
                log.warning("%s: params file %s unreadable: %s", nb, params["params_path"], e)
    if info["strategy"] is None:
        for strategy in ("targeted", "comprehensive"):
            if (run_dir / f"{strategy}_prompts.json").exists():
                take({"strategy": strategy}, f"{strategy}_prompts.json")
                break
    if info["model_name_or_path"] is None:
        take({"model_name_or_path": run_dir.parent.name if run_dir.name.startswith("seed-") else run_dir.name},
             "run folder name")
    info["model_label"], info["size_label"] = model_label(info["model_name_or_path"])
    info["source"] = "; ".join(sources)
    return info


def cli(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m pericomp_lib evaluate", description=__doc__.splitlines()[0])
    ap.add_argument("--pericomp-dir", help="clone of gscfwid/PeriComp (results/, data_source/)")
    ap.add_argument("--out", required=True, help="folder for the CSV tables")
    ap.add_argument("--runs-dir", help="collect the metrics of our own runs (runs/<run>/seed-<n>/tables)")
    ap.add_argument("--missing", choices=("skip", "empty", "error"), default="skip",
                    help="prediction files lacking gold cases: skip and report (authors), fill as none, or stop")
    args = ap.parse_args(argv)
    if args.runs_dir:
        try:
            table = collect_runs(args.runs_dir)
        except FileNotFoundError as e:
            print(f"error: {e}")
            return 2
        Path(args.out).mkdir(parents=True, exist_ok=True)
        atomic_write_text(Path(args.out) / "runs_metrics.csv", table.to_csv(index=False))
        micro = table[table.averaging == "micro"].pivot_table(index=["run", "seed", "Models"], columns="mode",
                                                             values="F1_score", sort=False)
        print(f"wrote {Path(args.out) / 'runs_metrics.csv'}\nmicro F1 per run, seed and model:")
        print(micro.round(3).to_string())
        return 0
    if not args.pericomp_dir:
        ap.error("give --pericomp-dir (or --runs-dir once the batch runner exists)")
    try:
        report = paper_tables(args.pericomp_dir, args.out, missing=args.missing)
    except (FileNotFoundError, ValueError) as e:  # missing gold, broken file: say which and stop cleanly
        print(f"error: {e}")
        return 2
    for name, path in report["tables"].items():
        print(f"wrote {path}")
    for name, n in report["n_models"].items():
        print(f"{name}: {n} models")
    for s in report["skipped"]:
        print(f"skipped in {s['table']}: {s['file']}: {s['reason']}")
    for table, filled in report["filled"].items():
        print(f"{table}: missing cases counted as no complication: {filled}")
    issues = report.get("issues", [])
    if issues:  # hundreds in the published files: counts here, every file and id in the notes file
        notes = write_json(Path(args.out) / "evaluation_notes.json", issues)
        kinds = (("not evaluation cases", "extra case ids"), ("naming none", "labels naming none of the 22"),
                 ("no answer", "empty answers"))
        for table in dict.fromkeys(i["table"] for i in issues):
            counts = [f"{len({i['file'] for i in issues if i['table'] == table and key in i['issue']})} with {what}"
                      for key, what in kinds]
            print(f"{table}: prediction files {', '.join(counts)} (scored as the authors did; details in {notes})")
    return 0
