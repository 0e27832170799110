"""What a batch tells its user: each run's scores read back from its folder, and the summary at the end."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..core.io import write_json

log = logging.getLogger(__name__)


def run_scores(result: dict, seed: int) -> dict:
    """The numbers a finished (or failed) run left: summary.json's headline values, F1 and parse shares."""
    out: dict = {}
    run_dir = result["run_dir"]
    if run_dir and (Path(run_dir) / "validation.csv").exists():  # the chart Q&A study: 05b's summary, timed
        try:
            from ..chartqa import report as qa_report

            s = qa_report.refresh_run_summary(run_dir)
            out.update({k: s.get(k) for k in QA_COLUMNS})
        except Exception as e:  # noqa: BLE001 - a summary that cannot be made is said, never fatal
            log.warning("[%s seed %s] summary.json not updated: %s: %s", result["run"], seed, type(e).__name__, e)
        return out
    if run_dir and (Path(run_dir) / "cohort.jsonl").exists():
        try:  # RUN_DIR/summary.json: the run's numbers and stage times, machine-readable
            from ..evaluation import summary

            s = summary.write(run_dir)
            out.update({k: s.get(k) for k in ("f1_comprehensive", "auroc_adapter", "f1_delta_ci_low")})
        except Exception as e:  # noqa: BLE001 - a summary that cannot be made is said, never fatal
            log.warning("[%s seed %s] summary.json not written: %s: %s", result["run"], seed, type(e).__name__, e)
    out["f1_base"], out["f1_adapter"] = _read_f1(Path(run_dir)) if run_dir else (None, None)
    out["parsed_base"], out["parsed_adapter"] = _read_parsed(Path(run_dir)) if run_dir else (None, None)
    return out


def _read_parsed(run_dir: Path) -> tuple[float | None, float | None]:
    """Share of answers that parsed (04's parse_report.json): a small base model often fails the format."""
    path = run_dir / "parse_report.json"
    if not path.exists():
        return None, None
    report = json.loads(path.read_text(encoding="utf-8"))

    def share(model: str) -> float | None:
        r = report.get(model, {}).get("lenient")
        return 1 - r["n_failures"] / r["n_answers"] if r and r.get("n_answers") else None

    return share("base"), share("adapter")


def _read_f1(run_dir: Path) -> tuple[float | None, float | None]:
    path = run_dir / "tables" / "run_metrics.csv"
    if not path.exists():
        return None, None
    import pandas as pd

    df = pd.read_csv(path)
    row = df[(df["averaging"] == "micro") & (df["mode"] == "lenient")].set_index("Models")["F1_score"]
    return (float(row["base"]) if "base" in row else None, float(row["adapter"]) if "adapter" in row else None)


QA_COLUMNS = ("qa_must_have_recall_base", "qa_must_have_recall_adapter", "qa_must_have_recall_delta_ci_low")


def summary_table(results: list[dict]) -> str:
    import pandas as pd

    cols = [
        "run",
        "seed",
        "status",
        "stage_reached",
        "seconds",
        "f1_comprehensive",
        "f1_base",
        "f1_adapter",
        "f1_delta_ci_low",
        "auroc_adapter",
        "parsed_base",
        "parsed_adapter",
        "error",
    ]
    if any(r.get(QA_COLUMNS[0]) is not None for r in results):  # chart Q&A runs: their headline scores too
        cols[-1:-1] = list(QA_COLUMNS)
        if all(r.get(QA_COLUMNS[0]) is not None for r in results):  # no complication run: no F1 columns
            cols = [c for c in cols if not c.startswith(("f1_", "auroc_", "parsed_"))]
    df = pd.DataFrame(results).reindex(columns=cols)
    return df.to_string(index=False, float_format=lambda v: f"{v:.3f}")


def pooled_seeds(runs_dir: Path) -> None:
    """runs/<run>/seeds_summary.json wherever two or more seeds of a run are summarised (this batch's or
    earlier ones'), and its lines: one seed is one training run, and these runs differ more than recipes do."""
    try:
        from ..evaluation import seeds

        for s in seeds.write_all(runs_dir).values():
            print("\nSeeds pooled\n" + seeds.describe(s))
    except Exception as e:  # noqa: BLE001 - a pooled summary that cannot be made is said, never fatal
        log.warning("pooled seeds summary not written: %s: %s", type(e).__name__, e)


def report(results: list[dict], runs_dir: Path) -> int:
    """Write batch_summary.json, print the table and every failure; the batch's exit code."""
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        write_json(runs_dir / "batch_summary.json", results)
    except OSError as e:
        log.warning("could not write %s: %s", runs_dir / "batch_summary.json", e.strerror or e)
    print("\nBatch summary\n" + summary_table(results))
    pooled_seeds(runs_dir)
    failed = [r for r in results if r["status"] != "ok"]
    for r in failed:
        if r["status"] in ("interrupted", "not started"):
            continue
        if r["status"] == "incomplete":
            print(f"INCOMPLETE {r['run']} seed {r['seed']} after stage {r['stage_reached']}: {r['error']}")
        else:
            print(
                f"FAILED {r['run']} seed {r['seed']} at stage after {r['stage_reached']}: {r['error']} "
                f"(traceback in {runs_dir / '_errors'})"
            )
    if any(r["status"] == "interrupted" for r in results):
        print(
            "STOPPED by Ctrl-C: runs marked 'interrupted' or 'not started' go on when you run the same command "
            "again (finished stages are kept)"
        )
        return 130
    return 1 if failed else 0
