"""The second study's figure: each trial score for base and adapter, trials as paired points, means with CIs."""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..chartqa.report import LABELS, summary_table
from .figure_style import PALETTE, require_columns, save_figure, set_style

PANELS = ("must_have_recall", "warning_recall", "chart_fact_recall", "rouge_l", "section_adherence")


def plot_qa_trials(df: pd.DataFrame, panels=PANELS) -> plt.Figure:
    """One panel per score: a grey line per trial from base to adapter, the means with the paired 95% CI of
    the difference in the title."""
    require_columns(df, {f"base_{p}" for p in panels}, "plot_qa_trials")
    table = summary_table(df).set_index("metric")
    set_style()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, m in zip(axes[0], panels):
        cols = [c for c in (f"base_{m}", f"adapter_{m}") if c in df]
        d = df[cols].dropna()
        x = np.arange(len(cols))
        jitter = rng.uniform(-0.06, 0.06, size=(len(d), len(cols)))
        for row, j in zip(d.to_numpy(), jitter):
            ax.plot(x + j, row, color="0.75", lw=0.6, alpha=0.6, zorder=1)
        means = d.mean().to_numpy()
        ax.scatter(x, means, color=[PALETTE[0], PALETTE[2]][: len(cols)], s=60, zorder=3)
        ax.set_xticks(x, [c.split("_", 1)[0] for c in cols])
        ax.set_xlim(-0.5, len(cols) - 0.5)
        ax.set_ylim(-0.05, 1.05)
        title = LABELS.get(m, m)
        if m in table.index and pd.notna(table.loc[m].get("delta")):
            r = table.loc[m]
            title += f"\nΔ {r['delta']:+.2f} [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]"
        ax.set_title(title, fontsize=9)
    fig.suptitle(f"Chart Q&A validation trials (n = {len(df)})", fontweight="bold")
    fig.tight_layout()
    return fig


def qa_trials_figure(df: pd.DataFrame, figures_dir: str | os.PathLike | None = None, stem: str = "qa_trials"):
    fig = plot_qa_trials(df)
    if figures_dir is not None:
        save_figure(fig, figures_dir, stem)
    return fig
