"""The run folder contract (docs/design.md) and the setup of the notebooks that read run folders.

One run of one params profile and seed lives in RUN_DIR = runs/<run_name>/seed-<seed>/:

    params.json             resolved params, written by the first stage that runs (01), updated by later
                            stages only when they were given other values (provenance: provenance.run_info)
    cohort.jsonl            01 (or 01b, MIMIC)
    <strategy>_prompts.json, sft_targets.json
                            02: a view of the prompts, in the authors' shapes; 03 and 04 build the same
                            prompts from cohort.jsonl + params.json with the same builders
    adapter/, train_log.jsonl, loss.png|pdf          03
    raw.jsonl, predictions{,_strict}/, side_by_side.csv, parse_report.json        04
    tables/                 05 (run_metrics.csv)
    notebooks/, .stages/    the batch runner: executed notebooks and stage fingerprints
Figures of runs go to figures/runs_* (06); summary.json of a batch to RUNS_DIR/batch_summary.json.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..core.params import ROOT, ParamsError, repo_path
from .notebook_params import from_notebook, resolve

PAPER_HINT = "a clone of https://github.com/gscfwid/PeriComp (e.g. git clone it next to this repository)"


def adapter_for(params: Mapping[str, Any], run_dir: Path, base_only: bool = False) -> str | None:
    """The adapter 04 answers with: the params' `adapter` if set, else RUN_DIR/adapter from 03, else none."""
    if base_only:
        return None
    if params.get("adapter"):
        return params["adapter"]
    trained = Path(run_dir) / "adapter"
    return str(trained) if (trained / "adapter_config.json").exists() else None


def evaluate_setup(namespace: Mapping[str, Any]) -> tuple[str, Path | None, Path | None, Path | None, Path]:
    """05's mode and folders: (mode, run_dir, runs_dir, pericomp_dir, output_dir), paths absolute.

    mode None picks: "paper" when pericomp_dir is given, "runs" when runs_dir is, else "run" (run_dir, by
    default the default profile's run folder, where 01-04 wrote). Paper mode without pericomp_dir fails
    with what to give."""
    mode = namespace.get("mode")
    pericomp_dir = repo_path(namespace.get("pericomp_dir"))
    runs_dir = repo_path(namespace.get("runs_dir"))
    run_dir = namespace.get("run_dir")
    if mode is None:
        mode = "paper" if pericomp_dir else "runs" if runs_dir and run_dir is None else "run"
    if mode not in ("run", "runs", "paper"):
        raise ParamsError(
            f"mode={mode!r} is not allowed; use run (one run folder), runs (a folder of runs) or "
            "paper (the authors' published predictions)"
        )
    output_dir = repo_path(namespace.get("output_dir"))
    if mode == "paper":
        if pericomp_dir is None:
            raise ParamsError(f"mode='paper' needs pericomp_dir: {PAPER_HINT}; -p pericomp_dir /path/to/PeriComp")
        if not (pericomp_dir / "results").is_dir():
            raise ParamsError(f"pericomp_dir={str(pericomp_dir)!r} has no results/ folder: it must be {PAPER_HINT}")
        return mode, None, None, pericomp_dir, output_dir or ROOT / "tables" / "paper"
    if mode == "runs":
        runs_dir = runs_dir or ROOT / "runs"
        if not runs_dir.is_dir():
            raise ParamsError(f"runs_dir={str(runs_dir)!r} does not exist: run the batch runner or 01-04 first")
        return mode, None, runs_dir, pericomp_dir, output_dir or runs_dir / "tables"
    _, run_dir = from_notebook(namespace, "05")
    if not (run_dir / "cohort.jsonl").exists():
        raise ParamsError(
            f"run_dir={str(run_dir)!r} has no cohort.jsonl: run 01-04 into it first, or give run_dir "
            "(or pericomp_dir for the paper's tables)"
        )
    return mode, run_dir, None, pericomp_dir, output_dir or run_dir / "tables"


def figures_setup(mode: str | None, runs_dir, pericomp_dir, figures_dir) -> tuple[str, Path | None, Path | None, Path]:
    """06's mode and folders: (mode, runs_dir, pericomp_dir, figures_dir), paths absolute.

    mode None: "paper" when pericomp_dir is given, else "runs" (runs_dir, default runs/ of the repository).
    "both" draws both. Run figures never need pericomp_dir; paper figures never need runs."""
    pericomp_dir, runs_dir = repo_path(pericomp_dir), repo_path(runs_dir)
    if mode is None:
        mode = "paper" if pericomp_dir and runs_dir is None else "both" if pericomp_dir else "runs"
    if mode not in ("runs", "paper", "both"):
        raise ParamsError(f"mode={mode!r} is not allowed; use runs, paper or both")
    if mode in ("paper", "both"):
        if pericomp_dir is None:
            raise ParamsError(
                f"mode={mode!r} needs pericomp_dir for the published figures: {PAPER_HINT}; "
                "-p pericomp_dir /path/to/PeriComp"
            )
        if not (pericomp_dir / "results").is_dir():
            raise ParamsError(f"pericomp_dir={str(pericomp_dir)!r} has no results/ folder: it must be {PAPER_HINT}")
    if mode in ("runs", "both"):
        runs_dir = runs_dir or ROOT / "runs"
        if not any(runs_dir.glob("*/seed-*/tables/run_metrics.csv")) and not any(
            runs_dir.glob("*/seed-*/validation.csv")
        ):
            raise ParamsError(
                f"no scored runs under {runs_dir} (runs/<run>/seed-<n>/tables/run_metrics.csv, or validation.csv "
                "of the chart Q&A study): run 01-05 (or 01b-05b) or the batch runner first, or give runs_dir"
            )
    else:
        runs_dir = None
    return mode, runs_dir, pericomp_dir if mode != "runs" else None, repo_path(figures_dir) or ROOT / "figures"


def mimic_run_dir(params: Mapping[str, Any]) -> Path:
    """01b's default run folder: runs/mimic/seed-<seed>/ (so the synthetic default run is left alone)."""
    return ROOT / "runs" / "mimic" / f"seed-{params['seed']}"


def mimic_setup(namespace: Mapping[str, Any]) -> tuple[dict, Path, Path]:
    """01b's params, run folder and MIMIC-IV folder (the user's, or a FAKE fixture in RUN_DIR/fixture).

    params.json records cohort_source mimic and the folder as cohort_path, so 02-05 follow like any cohort."""
    from ..cohort import mimic

    params, run_dir = from_notebook(namespace, "01b", default_run_dir_=mimic_run_dir, write=False, quiet=True)
    source = mimic.resolve_mimic_dir(
        repo_path(namespace.get("mimic_dir")), run_dir, seed=params["seed"], n_subjects=params["mimic_fixture_subjects"]
    )
    given = {
        **{k: v for k, v in params.items() if k in namespace},
        "cohort_source": "mimic",
        "cohort_path": os.fspath(source),
    }
    params, run_dir = resolve("01b", namespace.get("params_path"), run_dir, **given)
    return params, run_dir, Path(source)
