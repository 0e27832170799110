"""Looks shared by every figure: names, colours, the seaborn theme, and writing PNG + PDF.

Split from the figure modules so that the paper's figures (paper_figures) and our runs' figures
(run_figures) draw each meaning (a strategy, a group, the human reference) in one colour and one name.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ..core.io import atomic_file

CENTER_LABELS: dict[str, str] = {"center1": "Center 1 (validation)", "center2": "Center 2"}
METRIC_LABELS: dict[str, str] = {"f1": "F1 score", "recall": "Recall", "precision": "Precision"}
STRATEGY_LABELS: dict[str, str] = {
    "comprehensive": "Comprehensive",
    "targeted": "Targeted",
    "targeted_sft": "Targeted + LoRA",
    "targeted_retrained": "Targeted (re-run)",
    "comprehensive_sft": "Comprehensive + LoRA",  # our runs only: LoRA trained on comprehensive prompts
    "baseline": "Classical baseline",
    "most_frequent": "Most frequent label set",
}
GROUP_ORDER: tuple[str, ...] = (
    "PeriComp (LoRA)",
    "LoRA adapter",
    "Base model",
    "Commercial",
    "Human",
    "Classical baseline",
)

# Colour-blind-safe (seaborn "colorblind", Okabe-Ito-like) and fixed per meaning across figures.
PALETTE = sns.color_palette("colorblind")
STRATEGY_COLORS: dict[str, tuple] = {
    "comprehensive": PALETTE[0],
    "targeted": PALETTE[2],
    "targeted_sft": PALETTE[3],
    "targeted_retrained": PALETTE[4],
    "baseline": PALETTE[7],
    "comprehensive_sft": PALETTE[9],
}
GROUP_COLORS: dict[str, tuple] = {
    "PeriComp (LoRA)": PALETTE[3],
    "LoRA adapter": PALETTE[3],
    "Base model": PALETTE[2],
    "Commercial": PALETTE[0],
    "Human": "0.3",
    "Classical baseline": PALETTE[7],
}
# The paper draws the human line orange; orange next to the vermillion LoRA boxes is hard to tell apart
# (for colour-blind readers above all), so human is a near-black dashed line / dark grey bar here.
HUMAN_COLOR = "0.15"
RAW_LOSS_COLOR, SMOOTH_LOSS_COLOR = PALETTE[0], PALETTE[1]  # paper: original loss blue, smoothed orange


def set_style() -> None:
    sns.set_theme(
        context="paper",
        style="whitegrid",
        font_scale=1.15,
        rc={"axes.spines.top": False, "axes.spines.right": False, "grid.linewidth": 0.6},
    )


def save_figure(fig: plt.Figure, figures_dir: str | os.PathLike, stem: str, dpi: int = 300) -> list[Path]:
    """Write <stem>.png (dpi 300) and <stem>.pdf atomically, with the umask's mode like every output."""
    out = []
    for ext in ("png", "pdf"):
        path = Path(figures_dir) / f"{stem}.{ext}"
        with atomic_file(path, binary=True) as fh:
            # no creation date in the PDF: re-running gives byte-identical files, so git shows no churn
            fig.savefig(
                fh, format=ext, dpi=dpi, bbox_inches="tight", metadata={"CreationDate": None} if ext == "pdf" else None
            )
        out.append(path)
    return out


def require_columns(frame: pd.DataFrame, cols: set[str], who: str) -> None:
    missing = cols - set(frame.columns)
    if missing:
        raise ValueError(f"{who}: frame lacks column(s) {sorted(missing)}; it has {list(frame.columns)}")
    if frame.empty:
        raise ValueError(f"{who}: frame is empty, nothing to draw")
