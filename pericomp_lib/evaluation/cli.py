"""`python -m pericomp_lib evaluate`: the paper's tables from a PeriComp clone, or the metrics of our runs.

Its own module because it drives both scorers: paper_tables (published files) and evaluation (our runs).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.io import write_json
from .paper_tables import paper_tables
from .run_scores import write_runs_metrics


def cli(argv: list[str]) -> int:
    from ..core.logs import show_logs

    show_logs()
    ap = argparse.ArgumentParser(
        prog="python -m pericomp_lib evaluate", description=__doc__.splitlines()[0].split(": ", 1)[1]
    )
    ap.add_argument("--pericomp-dir", help="clone of gscfwid/PeriComp (results/, data_source/)")
    ap.add_argument("--out", required=True, help="folder for the CSV tables")
    ap.add_argument("--runs-dir", help="collect the metrics of our own runs (runs/<run>/seed-<n>/tables)")
    ap.add_argument(
        "--missing",
        choices=("skip", "empty", "error"),
        default="skip",
        help="prediction files lacking gold cases: skip and report (authors), fill as none, or stop",
    )
    args = ap.parse_args(argv)
    if args.runs_dir:
        try:
            table = write_runs_metrics(args.runs_dir, args.out)
        except FileNotFoundError as e:
            if any(Path(args.runs_dir).glob("*/seed-*/validation.csv")):  # the chart Q&A study: 05b scored it
                print(f"{args.runs_dir}: chart Q&A runs only (their scores: tables/qa_summary.csv per run, 06_figures)")
                return 0
            print(f"error: {e}", file=sys.stderr)
            return 2
        micro = table[table.averaging == "micro"].pivot_table(
            index=["run", "seed", "Models"], columns="mode", values="F1_score", sort=False
        )
        print(f"wrote {Path(args.out) / 'runs_metrics.csv'}\nmicro F1 per run, seed and model:")
        print(micro.round(3).to_string())
        from .seeds import describe, write_all

        try:
            for pooled in write_all(args.runs_dir).values():  # runs/<run>/seeds_summary.json
                print(describe(pooled))
        except (ValueError, KeyError, OSError) as e:  # the tables above stand; the pooled summary is extra
            print(f"warning: seeds not pooled: {type(e).__name__}: {e}", file=sys.stderr)
        return 0
    if not args.pericomp_dir:
        ap.error("give --pericomp-dir (or --runs-dir once the batch runner exists)")
    try:
        report = paper_tables(args.pericomp_dir, args.out, missing=args.missing)
    except (FileNotFoundError, ValueError) as e:  # missing gold, broken file: say which and stop cleanly
        print(f"error: {e}", file=sys.stderr)
        return 2
    _print_report(report, Path(args.out))
    return 0


def _print_report(report: dict, out: Path) -> None:
    """What paper_tables wrote, skipped and filled; issue counts here, every file and id in the notes file."""
    for path in report["tables"].values():
        print(f"wrote {path}")
    for name, n in report["n_models"].items():
        print(f"{name}: {n} models")
    for s in report["skipped"]:
        print(f"skipped in {s['table']}: {s['file']}: {s['reason']}")
    for table, filled in report["filled"].items():
        print(f"{table}: missing cases counted as no complication: {filled}")
    issues = report.get("issues", [])
    if issues:  # hundreds in the published files: counts here, every file and id in the notes file
        notes = write_json(out / "evaluation_notes.json", issues)
        kinds = (
            ("not evaluation cases", "extra case ids"),
            ("naming none", "labels naming none of the 22"),
            ("no answer", "empty answers"),
        )
        for table in dict.fromkeys(i["table"] for i in issues):
            counts = [
                f"{len({i['file'] for i in issues if i['table'] == table and key in i['issue']})} with {what}"
                for key, what in kinds
            ]
            print(f"{table}: prediction files {', '.join(counts)} (scored as the authors did; details in {notes})")
