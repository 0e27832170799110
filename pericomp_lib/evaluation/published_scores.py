"""Scores of the authors' published prediction files, one row per file x center x metric, for the figures.

Why apart from paper_tables: the figures score each Qwen3 run file on its own (Figure 6b's boxes over five
runs, Figure 7's strict bars), picking one file per size x strategy x run among irregular names; the tables
score every file of a folder as one table. Both score center 1 on its validation split only (the same
split_gold) and use metrics.micro_prf.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from ..cohort import pericomp_repo as repo
from ..core.predictions import load_predictions
from ..llm.model_names import parse_size
from . import metrics
from .paper_tables import split_gold

CENTERS: tuple[str, ...] = ("center1", "center2")
METRICS: tuple[str, ...] = ("f1", "recall", "precision")  # paper column order
STRATEGIES: tuple[str, ...] = ("comprehensive", "targeted", "targeted_sft")
RUNS: tuple[int, ...] = (1, 2, 3, 4, 5)  # the paper's five repeated inferences

# Figure 7: published strict (type + grade) prediction files -> display name and group.
STRICT_MODELS: dict[str, tuple[str, str]] = {
    "qwen3_4B_targeted_sft_1": ("PeriComp 4B", "PeriComp (LoRA)"),
    "qwen3_8B_targeted_sft_1": ("PeriComp 8B", "PeriComp (LoRA)"),
    "qwen3_14B_targeted_sft_1": ("PeriComp 14B", "PeriComp (LoRA)"),
    "qwen3_32B_targeted_sft_1": ("PeriComp 32B", "PeriComp (LoRA)"),
    "qwq32B_comprehensive_modified_sft_1": ("PeriComp QwQ 32B", "PeriComp (LoRA)"),
    "ds_r1_comprehensive": ("DeepSeek-R1", "Commercial"),
    "ds_r1_comprehensive_modified": ("DeepSeek-R1", "Commercial"),
    "gemini_2_5_flash_comprehensive": ("Gemini 2.5 Flash", "Commercial"),
    "gemini_2_5_flash_comprehensive_modified": ("Gemini 2.5 Flash", "Commercial"),
    "gemini_2_5_pro_comprehensive": ("Gemini 2.5 Pro", "Commercial"),
    "gemini_2_5_pro_comprehensive_modified": ("Gemini 2.5 Pro", "Commercial"),
    "o1_comprehensive": ("o1", "Commercial"),
    "o1_comprehensive_modified": ("o1", "Commercial"),
    "human": ("Human annotator", "Human"),
}

# '<qwen3|qwq>[_]<size>_<strategy>[_<run>]'; the size part is read by model_names.parse_size
_RESULT_NAME = re.compile(
    r"^(?P<model>qwen3|qwq)_?(?P<size>[^_]+)_(?P<strategy>comprehensive|targeted_sft|targeted_retrained|targeted)(?:_(?P<run>\d+))?$"
)


def parse_result_name(stem: str) -> dict | None:
    """'qwen3_14B_targeted_sft_3' -> {model, size, strategy, run}; run is None when unnumbered."""
    m = _RESULT_NAME.match(stem)
    size = parse_size(m["size"]) if m else None
    if size is None or size != m["size"].upper():  # the whole part must be a size ('14B', not '14B-x')
        return None
    return {"model": m["model"], "size": size, "strategy": m["strategy"], "run": int(m["run"]) if m["run"] else None}


def _eval_set(pericomp_dir: Path, center: str, strict: bool) -> dict[str, list[str]]:
    """Gold labels for the cases a figure scores: center 1 is scored on its validation split only."""
    gold = repo.load_gold(pericomp_dir, center, strict=strict)
    return split_gold(gold, pericomp_dir) if center == "center1" else gold


def _score(path: Path, gold: Mapping[str, list]) -> dict:
    return metrics.micro_prf(gold, load_predictions(path, list(gold), missing="error"))


def select_runs(
    files: Iterable[Path], strategies: Iterable[str] = STRATEGIES, runs: Iterable[int] = RUNS
) -> tuple[dict[tuple[str, str, int], Path], list[str]]:
    """Pick one file per (size, strategy, run) and say what was set aside and why.

    Run names are irregular in the published folders: center 1 holds both `qwen3_4B_targeted.json`
    and `qwen3_4B_targeted_1.json` (identical) and `qwen3_8B_targeted_sft.json` beside `_sft_1`.
    An unnumbered file stands for run 1 only when no `_1` file exists; otherwise it is set aside
    (and flagged if its content differs). Runs outside `runs` (14B targeted_6 in center 2) and
    strategies outside `strategies` (14B targeted_retrained in center 2) are set aside too.
    """
    strategies, runs = tuple(strategies), set(runs)
    chosen: dict[tuple[str, str, int], Path] = {}
    unnumbered: dict[tuple[str, str], Path] = {}
    notes: list[str] = []
    for path in sorted(Path(p) for p in files):
        info = parse_result_name(path.stem)
        if info is None or info["model"] != "qwen3":
            continue
        if info["strategy"] not in strategies:
            notes.append(f"{path.name}: strategy {info['strategy']!r} not drawn (drawn: {', '.join(strategies)})")
            continue
        if info["run"] is None:
            unnumbered[(info["size"], info["strategy"])] = path
        elif info["run"] in runs:
            chosen[(info["size"], info["strategy"], info["run"])] = path
        else:
            notes.append(f"{path.name}: run {info['run']} outside runs {sorted(runs)}")
    for (size, strategy), path in unnumbered.items():
        twin = chosen.get((size, strategy, 1))
        if twin is None and 1 in runs:
            chosen[(size, strategy, 1)] = path
            notes.append(f"{path.name}: unnumbered, used as run 1 (no _1 file)")
        elif twin is not None:
            same = json.loads(path.read_text(encoding="utf-8")) == json.loads(twin.read_text(encoding="utf-8"))
            notes.append(
                f"{path.name}: unnumbered duplicate of {twin.name}"
                + ("" if same else " BUT CONTENT DIFFERS; not drawn")
            )
    return chosen, notes


def lenient_frame(
    pericomp_dir: str | os.PathLike,
    centers: Iterable[str] = CENTERS,
    strategies: Iterable[str] = STRATEGIES,
    runs: Iterable[int] = RUNS,
) -> pd.DataFrame:
    """Figure 6b data: micro P/R/F1 of every Qwen3 run file, tidy (one row per metric).

    Columns: model, size, strategy, run, center, metric, value, file. Files that cannot be scored
    (missing cases, bad JSON) are skipped with a warning and listed in `frame.attrs['skipped']`;
    naming decisions are in `frame.attrs['notes']`.
    """
    pericomp_dir = Path(pericomp_dir)
    rows, skipped, notes = [], [], []
    for center in centers:
        gold = _eval_set(pericomp_dir, center, strict=False)
        chosen, center_notes = select_runs((pericomp_dir / "results" / center).glob("*.json"), strategies, runs)
        notes += [f"{center}/{n}" for n in center_notes]
        for (size, strategy, run), path in sorted(chosen.items()):
            try:
                scores = _score(path, gold)
            except (ValueError, KeyError, OSError, TypeError) as e:
                skipped.append(f"{center}/{path.name}: {e}")
                continue
            rows += [
                {
                    "model": "qwen3",
                    "size": size,
                    "strategy": strategy,
                    "run": run,
                    "center": center,
                    "metric": m,
                    "value": float(scores[m]),
                    "file": f"{center}/{path.name}",
                }
                for m in METRICS
            ]
    if skipped:
        # a warning, not a log line: the user must act: files left out of the scores
        warnings.warn(f"{len(skipped)} prediction file(s) not scored:\n  " + "\n  ".join(skipped), stacklevel=2)
    frame = pd.DataFrame(rows, columns=["model", "size", "strategy", "run", "center", "metric", "value", "file"])
    frame.attrs.update(skipped=skipped, notes=notes)
    return frame


def human_frame(pericomp_dir: str | os.PathLike, centers: Iterable[str] = CENTERS) -> pd.DataFrame:
    """The human annotator's micro P/R/F1 per center (the dashed reference lines of Figure 6b)."""
    pericomp_dir = Path(pericomp_dir)
    rows = []
    for center in centers:
        gold = _eval_set(pericomp_dir, center, strict=False)
        scores = _score(pericomp_dir / "results" / center / "human.json", gold)
        rows += [{"center": center, "metric": m, "value": float(scores[m])} for m in METRICS]
    return pd.DataFrame(rows, columns=["center", "metric", "value"])


def strict_frame(pericomp_dir: str | os.PathLike, centers: Iterable[str] = CENTERS) -> pd.DataFrame:
    """Figure 7 data: strict (type + grade) micro P/R/F1 of each results/strict/<center>/*_strict.json.

    Columns: label, group, center, metric, value, file. Unknown files are drawn under their own name
    in group 'Other' so nothing published is dropped silently.
    """
    pericomp_dir = Path(pericomp_dir)
    rows, skipped = [], []
    for center in centers:
        gold = _eval_set(pericomp_dir, center, strict=True)
        for path in sorted((pericomp_dir / "results" / "strict" / center).glob("*_strict.json")):
            key = path.stem[: -len("_strict")]
            label, group = STRICT_MODELS.get(key, (key, "Other"))
            try:
                scores = _score(path, gold)
            except (ValueError, KeyError, OSError, TypeError) as e:
                skipped.append(f"strict/{center}/{path.name}: {e}")
                continue
            rows += [
                {
                    "label": label,
                    "group": group,
                    "center": center,
                    "metric": m,
                    "value": float(scores[m]),
                    "file": f"strict/{center}/{path.name}",
                }
                for m in METRICS
            ]
    if skipped:
        # a warning, not a log line: the user must act: files left out of the scores
        warnings.warn(f"{len(skipped)} strict file(s) not scored:\n  " + "\n  ".join(skipped), stacklevel=2)
    frame = pd.DataFrame(rows, columns=["label", "group", "center", "metric", "value", "file"])
    frame.attrs["skipped"] = skipped
    return frame
