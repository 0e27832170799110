"""Training-loss logs: the authors' (ms-swift) and ours, as tidy loss curves.

Why a module of its own: Figure 6A, our runs' loss figure and 03_finetune's quick look all read the same
two log formats; parsing them in one place keeps a format change from breaking one figure silently.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..llm.model_names import parse_size, size_key


def read_train_log(path: str | os.PathLike) -> pd.DataFrame:
    """Training-loss rows from a JSONL log: ours ({step, epoch, loss, ...}) or ms-swift's.

    ms-swift (the authors' trainer) writes {"loss", "epoch", "global_step/max_steps": "12/1370"} per
    logging step plus summary lines without "loss"; summary and eval lines are skipped. Unparseable
    lines are counted in `frame.attrs['bad_lines']` and warned about, never fatal.
    """
    path = Path(path)
    rows, bad, other = [], [], 0
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                bad.append(f"{path}:{lineno}: {e.msg}")
                continue
            if not isinstance(obj, dict) or "loss" not in obj:
                other += 1
                continue
            step = obj.get("step")
            if step is None and isinstance(obj.get("global_step/max_steps"), str):
                step = obj["global_step/max_steps"].split("/")[0]
            try:
                rows.append(
                    {
                        "step": int(step) if step is not None else len(rows) + 1,
                        "epoch": float(obj["epoch"]) if obj.get("epoch") is not None else np.nan,
                        "loss": float(obj["loss"]),
                        "learning_rate": float(obj["learning_rate"])
                        if obj.get("learning_rate") is not None
                        else np.nan,
                    }
                )
            except (TypeError, ValueError) as e:
                bad.append(f"{path}:{lineno}: {e}")
    if bad:
        # a warning, not a log line: the user must act: a damaged train log
        warnings.warn(f"{path}: {len(bad)} unreadable line(s) skipped, first: {bad[0]}", stacklevel=2)
    if not rows:
        raise ValueError(f"{path}: no training-loss rows (lines with a 'loss' field); is this a train log?")
    frame = pd.DataFrame(rows)
    frame.attrs.update(bad_lines=bad, other_lines=other)
    return frame


def smooth(values: pd.Series | Iterable[float], weight: float = 0.9) -> pd.Series:
    """Bias-corrected exponential moving average (TensorBoard-style smoothing `weight` in [0, 1))."""
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    return pd.Series(values, dtype=float).ewm(alpha=1 - weight, adjust=True).mean()


def loss_frame(logs: Mapping[str, str | os.PathLike], weight: float = 0.9) -> pd.DataFrame:
    """Tidy loss curves {label: log path} -> columns label, step, epoch, loss, smoothed."""
    parts = []
    for label, path in logs.items():
        f = read_train_log(path).sort_values("step")
        f.insert(0, "label", label)
        f["smoothed"] = smooth(f["loss"], weight).to_numpy()
        parts.append(f)
    if not parts:
        raise ValueError("no training logs given")
    return pd.concat(parts, ignore_index=True)


def published_train_logs(pericomp_dir: str | os.PathLike) -> dict[str, Path]:
    """results/evaluation_dataframes/qwen<size>_train_log.jsonl -> {'4B': path, ...}, sizes in order."""
    folder = Path(pericomp_dir) / "results" / "evaluation_dataframes"
    found = {}
    for path in folder.glob("*_train_log.jsonl"):
        size = parse_size(path.name[: -len("_train_log.jsonl")])
        if size:
            found[size] = path
    if not found:
        raise FileNotFoundError(f"{folder}: no *_train_log.jsonl files; is pericomp_dir a PeriComp clone?")
    return {k: found[k] for k in sorted(found, key=size_key)}


def runs_train_logs(runs_dir: str | os.PathLike) -> dict[str, Path]:
    """Every train_log.jsonl under runs_dir, labelled by its run folder (relative path)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"{runs_dir}: runs_dir not found")
    return {str(p.parent.relative_to(runs_dir)): p for p in sorted(runs_dir.rglob("train_log.jsonl"))}


def runs_loss_frame(runs_dir: str | os.PathLike, weight: float = 0.9) -> pd.DataFrame:
    """loss_frame of every runs_dir/**/train_log.jsonl plus run and seed columns (runs/<run>/seed-<n>/);
    a log outside that layout is its own run, seed None. label = the folder relative to runs_dir."""
    logs = runs_train_logs(runs_dir)
    if not logs:
        raise FileNotFoundError(f"{runs_dir}: no train_log.jsonl found under it; run 03_finetune first")
    frame = loss_frame(logs, weight)
    parts = frame["label"].str.split("/")
    seeded = parts.map(lambda p: len(p) >= 2 and re.fullmatch(r"seed-\d+", p[-1]) is not None)
    frame["run"] = np.where(seeded, parts.map(lambda p: "/".join(p[:-1])), frame["label"])
    frame["seed"] = [int(p[-1].split("-", 1)[1]) if ok else None for p, ok in zip(parts, seeded)]
    return frame
