"""RUN_DIR/summary.json: the numbers of one run, machine-readable, in one place.

Why: the batch table, the README's main-job table and a reviewer's script should read the same numbers,
not re-derive them from notebooks. Timings come from the stage manifests the batch runner writes
(.stages/NN.json, "seconds"); scores from the run's prediction files and decisions.csv; the strata
(recall on named / criteria-only positives, false-positive rate on trap / clean negatives, grade
accuracy) from `strata`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..core import records
from ..core.io import write_json
from . import decisions, metrics, strata

ARMS = ("comprehensive", "base", "adapter", "baseline", "most_frequent")


def stage_seconds(run_dir: Path) -> dict[str, float]:
    out = {}
    for m in sorted((run_dir / ".stages").glob("*.json")):
        try:
            seconds = json.loads(m.read_text(encoding="utf-8")).get("seconds")
        except (OSError, json.JSONDecodeError):
            continue
        if seconds is not None:
            out[m.stem] = round(float(seconds), 1)
    return out


def _parsed(run_dir: Path) -> dict[str, float | None]:
    path = run_dir / "parse_report.json"
    report = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    out = {}
    for model in ("base", "adapter", "comprehensive"):
        r = report.get(model, {}).get("lenient")
        out[f"parsed_{model}"] = 1 - r["n_failures"] / r["n_answers"] if r and r.get("n_answers") else None
    return out


def _backoffs(run_dir: Path, case_ids: set[str]) -> dict[str, int]:
    """Answers of the evaluation cases given again with the quote "none" (quote_backoff), per model: the latest
    raw.jsonl line of each (case, question, model) counts."""
    path = run_dir / "raw.jsonl"
    if not path.exists():
        return {}
    latest: dict = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # runstore reports damaged lines; a count cannot use them
        if isinstance(row, dict) and row.get("case_id") in case_ids:
            latest[(row["case_id"], row.get("item"), row.get("model"))] = row.get("backoff")
    return {
        f"backoffs_{model}": sum(1 for (_, _, m), b in latest.items() if m == model and b is not None)
        for model in ("base", "adapter")
    }


def scores_and_predictions(run_dir: Path, cases) -> tuple[dict, dict, dict]:
    """({key: value} of micro F1 per arm and mode, lenient gold restricted to the run's scope, lenient predictions)."""
    from ..core.predictions import load_predictions
    from .run_scores import read_scope

    scope = read_scope(run_dir)
    lenient, strict = records.gold_maps(cases)
    out: dict = {}
    kept_gold: dict = {}
    kept_preds: dict = {}
    for mode, folder, gold in (("", "predictions", lenient), ("strict_", "predictions_strict", strict)):
        gold = records.restrict_labels(gold, scope, bool(mode))
        for arm in ARMS:
            path = run_dir / folder / f"{arm}.json"
            if not path.exists():
                continue
            pred = records.restrict_labels(dict(load_predictions(path, missing="empty")), scope, bool(mode))
            ids = [c for c in gold if c in pred]
            out[f"f1_{mode}{arm}"] = metrics.prf({c: gold[c] for c in ids}, {c: pred[c] for c in ids}, "micro")["f1"]
            if not mode:
                kept_gold, kept_preds[arm] = gold, pred
    return out, kept_gold, kept_preds


def build(run_dir: str | os.PathLike, n_boot: int = 2000) -> dict:
    """The summary of one run folder (any stage may be missing: its keys are then None or absent)."""
    run_dir = Path(run_dir)
    cases = records.split_cases(records.load_cohort(run_dir / "cohort.jsonl", check_evidence=False), "eval")
    scope_path = run_dir / "scope.json"
    asked = json.loads(scope_path.read_text(encoding="utf-8")) if scope_path.exists() else {}
    ids = set(asked.get("case_ids") or [c.case_id for c in cases])
    cases = [c for c in cases if c.case_id in ids]
    n_complications = len(asked.get("complications") or []) or 22
    seconds = stage_seconds(run_dir)
    out: dict = {
        "run_dir": str(run_dir),
        "wall_s": round(sum(seconds.values()), 1),
        "stage_seconds": seconds,
        "n_eval_cases": len(cases),
        "n_eval_questions": len(cases) * n_complications,
    }
    params_path = run_dir / "params.json"
    if params_path.exists():
        p = json.loads(params_path.read_text(encoding="utf-8"))
        out.update(run_name=p.get("run_name"), seed=p.get("seed"), model=p.get("model_name_or_path"))
    out.update(_parsed(run_dir))
    out.update(_backoffs(run_dir, ids))
    scores, gold, preds = scores_and_predictions(run_dir, cases)
    out.update(scores)
    if "adapter" in preds and "base" in preds:
        ids = [c for c in gold if c in preds["adapter"] and c in preds["base"]]
        g = {c: gold[c] for c in ids}
        delta, lo, hi = metrics.paired_delta_ci(
            g, {c: preds["adapter"][c] for c in ids}, {c: preds["base"][c] for c in ids}, n_boot=n_boot
        )
        out.update(f1_delta=delta, f1_delta_ci_low=lo, f1_delta_ci_high=hi)
    if "adapter" in preds and "baseline" in preds:  # the LLM against the bag of words, on the same cases
        ids = [c for c in gold if c in preds["adapter"] and c in preds["baseline"]]
        delta, lo, hi = metrics.paired_delta_ci(
            {c: gold[c] for c in ids},
            {c: preds["adapter"][c] for c in ids},
            {c: preds["baseline"][c] for c in ids},
            n_boot=n_boot,
        )
        out.update(f1_vs_baseline=delta, f1_vs_baseline_ci_low=lo, f1_vs_baseline_ci_high=hi)
    if preds:
        from .run_scores import read_scope

        out.update(strata.summary_keys(strata.for_run(run_dir, cases, read_scope(run_dir), n_boot)))
    table = decisions.read(run_dir)
    if table is not None and not table.empty:
        ranking = decisions.ranking_table(table)
        overall = ranking[ranking.complication == "all"].set_index("model")
        for model in ("base", "adapter"):
            if model in overall.index:
                out[f"auroc_{model}"] = float(overall.loc[model, "auroc"])
                out[f"ap_{model}"] = float(overall.loc[model, "average_precision"])
        points = decisions.operating_points(table)
        if not points.empty:
            best = points[points.chosen_by == "best F1 on train"].set_index("model")
            for model in best.index:
                out[f"f1_operating_point_{model}"] = float(best.loc[model, "eval_micro_f1"])
                out[f"threshold_{model}"] = float(best.loc[model, "threshold"])
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in out.items()}  # NaN -> null


def write(run_dir: str | os.PathLike, n_boot: int = 2000) -> dict:
    s = build(run_dir, n_boot)
    write_json(Path(run_dir) / "summary.json", s)
    return s
