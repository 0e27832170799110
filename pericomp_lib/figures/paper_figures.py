"""The paper's figures: Figures 6A (training loss), 6b (F1 box plots per model size) and 7 (strict bars).

The plotters take tidy frames only, so run_figures draws our seeds with the same plots; figure6a / 6b / 7
draw them from the authors' published files. The frames come from published_scores (published prediction
files) and train_logs (loss curves); names, colours and file writing from figure_style.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..evaluation import published_scores
from ..evaluation.published_scores import CENTERS, METRICS
from ..llm.model_names import size_key
from ..training import train_logs
from ..training.train_logs import loss_frame
from .figure_style import (
    CENTER_LABELS,
    GROUP_COLORS,
    GROUP_ORDER,
    HUMAN_COLOR,
    METRIC_LABELS,
    PALETTE,
    RAW_LOSS_COLOR,
    SMOOTH_LOSS_COLOR,
    STRATEGY_COLORS,
    STRATEGY_LABELS,
    require_columns,
    save_figure,
    set_style,
)

# ---------------------------------------------------------------------------------------- plotting


def plot_f1_boxes(
    frame: pd.DataFrame,
    human: pd.DataFrame | None = None,
    x: str = "size",
    hue: str = "strategy",
    order: list[str] | None = None,
    hue_order: list[str] | None = None,
    centers: Iterable[str] | None = None,
    metrics: Iterable[str] = METRICS,
    xlabel: str = "Qwen3 model size",
) -> plt.Figure:
    """Figure 6b: box plots over runs (points overlaid), rows = centers, columns = metrics.

    `frame` needs columns center, metric, value, `x` and `hue`; `human` (center, metric, value)
    adds the dashed reference line per panel. `order` defaults to `x` sorted by model size.
    """
    require_columns(frame, {"center", "metric", "value", x, hue}, "plot_f1_boxes")
    centers = [c for c in (centers or CENTERS) if c in set(frame["center"])] or sorted(frame["center"].unique())
    metrics = list(metrics)
    order = order or sorted(frame[x].unique(), key=size_key)
    hue_order = hue_order or [s for s in STRATEGY_LABELS if s in set(frame[hue])] + sorted(
        set(frame[hue]) - set(STRATEGY_LABELS)
    )
    palette = {h: STRATEGY_COLORS.get(h, PALETTE[(i + 5) % len(PALETTE)]) for i, h in enumerate(hue_order)}
    set_style()
    fig, axes = plt.subplots(
        len(centers), len(metrics), figsize=(4.2 * len(metrics), 3.4 * len(centers)), sharey=True, squeeze=False
    )
    for r, center in enumerate(centers):
        for c, metric in enumerate(metrics):
            ax = axes[r][c]
            data = frame[(frame["center"] == center) & (frame["metric"] == metric)]
            with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib's deprecated `vert`; harmless
                warnings.filterwarnings("ignore", message=".*vert: bool was deprecated", category=DeprecationWarning)
                sns.boxplot(
                    data=data,
                    x=x,
                    y="value",
                    hue=hue,
                    order=order,
                    hue_order=hue_order,
                    palette=palette,
                    ax=ax,
                    width=0.75,
                    linewidth=0.9,
                    fliersize=0,
                    legend=False,
                )
            state = np.random.get_state()  # seaborn jitters with the global RNG: fix it so files are reproducible
            np.random.seed(r * len(metrics) + c)
            try:
                sns.stripplot(
                    data=data,
                    x=x,
                    y="value",
                    hue=hue,
                    order=order,
                    hue_order=hue_order,
                    palette=palette,
                    dodge=True,
                    ax=ax,
                    size=2.6,
                    jitter=0.12,
                    edgecolor="0.2",
                    linewidth=0.4,
                    legend=False,
                )
            finally:
                np.random.set_state(state)
            if human is not None:
                hv = human[(human["center"] == center) & (human["metric"] == metric)]["value"]
                if len(hv):
                    ax.axhline(float(hv.iloc[0]), color=HUMAN_COLOR, ls="--", lw=1.4, zorder=0)
            ax.set_ylim(0, 1)
            ax.set_xlabel(xlabel if r == len(centers) - 1 else "")
            ax.set_ylabel(CENTER_LABELS.get(center, center) if c == 0 else "")
            if r == 0:
                ax.set_title(METRIC_LABELS.get(metric, metric), fontweight="bold")
    handles = [plt.Rectangle((0, 0), 1, 1, facecolor=palette[h], edgecolor="0.25") for h in hue_order]
    labels = [STRATEGY_LABELS.get(h, h) for h in hue_order]
    if human is not None:
        handles.append(plt.Line2D([], [], color=HUMAN_COLOR, ls="--", lw=1.4))
        labels.append("Human annotator")
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def plot_strict_bars(
    frame: pd.DataFrame,
    centers: Iterable[str] | None = None,
    metrics: Iterable[str] = METRICS,
    xlabel: str = "Strict micro score (type + grade)",
) -> plt.Figure:
    """Figure 7: horizontal bars per model, sorted within each panel, values printed on the bars.

    `frame` needs columns label, group, center, metric, value; rows = centers, columns = metrics.
    An optional `spread` column (e.g. SD over seeds) is drawn as error bars.
    """
    require_columns(frame, {"label", "group", "center", "metric", "value"}, "plot_strict_bars")
    centers = [c for c in (centers or CENTERS) if c in set(frame["center"])] or sorted(frame["center"].unique())
    metrics = list(metrics)
    groups = [g for g in GROUP_ORDER if g in set(frame["group"])] + sorted(set(frame["group"]) - set(GROUP_ORDER))
    palette = {g: GROUP_COLORS.get(g, "0.6") for g in groups}
    n = frame.groupby(["center", "metric"]).size().max()
    set_style()
    fig, axes = plt.subplots(
        len(centers), len(metrics), figsize=(4.4 * len(metrics), 0.36 * n * len(centers) + 1.4), squeeze=False
    )
    for r, center in enumerate(centers):
        for c, metric in enumerate(metrics):
            ax = axes[r][c]
            data = frame[(frame["center"] == center) & (frame["metric"] == metric)].sort_values(
                "value", ascending=False
            )
            ypos = np.arange(len(data))
            ax.barh(
                ypos,
                data["value"],
                color=[palette[g] for g in data["group"]],
                edgecolor="0.25",
                linewidth=0.5,
                height=0.72,
            )
            if "spread" in data and data["spread"].fillna(0).gt(0).any():
                ax.errorbar(
                    data["value"],
                    ypos,
                    xerr=data["spread"].fillna(0),
                    fmt="none",
                    ecolor="0.1",
                    elinewidth=1.0,
                    capsize=3,
                    capthick=1.0,
                    zorder=3,
                )
            spreads = data["spread"].fillna(0) if "spread" in data else pd.Series(0.0, index=data.index)
            for y, v, sd in zip(ypos, data["value"], spreads):
                inside = v >= 0.15  # short bars get their value just outside, in dark text
                if sd > 0:  # error bar at the bar's end: print the value past its whisker (inside if no room)
                    outside = v + sd + 0.015 <= 0.86
                    x_text, ha = (v + sd + 0.015, "left") if outside else (0.015, "left")
                    inside = not outside
                else:
                    x_text, ha = (v - 0.015, "right") if inside else (v + 0.015, "left")
                ax.text(
                    x_text,
                    y,
                    f"{v:.3f}",
                    va="center",
                    ha=ha,
                    fontsize=8.5,
                    color="white" if inside else "0.15",
                    fontweight="bold",
                )
            ax.set_yticks(ypos, data["label"])
            ax.invert_yaxis()
            ax.set_xlim(0, 1)
            ax.grid(axis="y", visible=False)
            if r == 0:
                ax.set_title(METRIC_LABELS.get(metric, metric), fontweight="bold")
            if c == 0:
                ax.set_ylabel(CENTER_LABELS.get(center, center), fontweight="bold")
            if r == len(centers) - 1:
                ax.set_xlabel(xlabel)
    handles = [plt.Rectangle((0, 0), 1, 1, facecolor=palette[g], edgecolor="0.25") for g in groups]
    fig.legend(handles, groups, loc="lower center", ncol=len(groups), frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def plot_loss_curves(frame: pd.DataFrame, x: str = "epoch", title_prefix: str = "Qwen3 ", ncols: int = 2) -> plt.Figure:
    """Figure 6A: raw loss (thin, transparent) and smoothed loss, one panel per label (model size)."""
    require_columns(frame, {"label", "loss", "smoothed", x}, "plot_loss_curves")
    labels = list(dict.fromkeys(frame["label"]))
    ncols = max(1, min(ncols, len(labels)))
    nrows = -(-len(labels) // ncols)
    set_style()
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.0 * nrows), sharey=True, squeeze=False)
    for i, label in enumerate(labels):
        ax = axes[i // ncols][i % ncols]
        d = frame[frame["label"] == label]
        ax.plot(d[x], d["loss"], color=RAW_LOSS_COLOR, lw=0.6, alpha=0.4, label="Original loss")
        ax.plot(d[x], d["smoothed"], color=SMOOTH_LOSS_COLOR, lw=1.8, label="Smoothed loss")
        ax.set_title(f"{title_prefix}{label}", fontweight="bold")
        ax.set_xlabel(x.capitalize())
        ax.set_ylabel("Training loss" if i % ncols == 0 else "")
    for j in range(len(labels), nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=2, frameon=False)
    fig.tight_layout(rect=(0, 0.08 if nrows == 1 else 0.04, 1, 1))
    return fig


def summary_table(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Median / min / max per group and metric, wide, for printing next to a figure."""
    return (
        frame.groupby(by + ["metric"])["value"]
        .agg(["median", "min", "max", "count"])
        .round(3)
        .unstack("metric")
        .swaplevel(axis=1)
        .sort_index(axis=1)
    )


# ------------------------------------------------------------------------------- paper's figures


def figure6b(pericomp_dir: str | os.PathLike, figures_dir: str | os.PathLike | None = None):
    """Score the published runs and draw Figure 6b; returns (figure, runs frame, human frame)."""
    frame, human = published_scores.lenient_frame(pericomp_dir), published_scores.human_frame(pericomp_dir)
    fig = plot_f1_boxes(frame, human)
    if figures_dir is not None:
        save_figure(fig, figures_dir, "figure6b_f1")
    return fig, frame, human


def figure7(pericomp_dir: str | os.PathLike, figures_dir: str | os.PathLike | None = None):
    """Score the published strict files and draw Figure 7; returns (figure, frame)."""
    frame = published_scores.strict_frame(pericomp_dir)
    fig = plot_strict_bars(frame)
    if figures_dir is not None:
        save_figure(fig, figures_dir, "figure7_strict")
    return fig, frame


def figure6a(pericomp_dir: str | os.PathLike, figures_dir: str | os.PathLike | None = None, weight: float = 0.9):
    """Draw the published training-loss curves (Figure 6A); returns (figure, frame)."""
    frame = loss_frame(train_logs.published_train_logs(pericomp_dir), weight)
    fig = plot_loss_curves(frame)
    if figures_dir is not None:
        save_figure(fig, figures_dir, "figure6a_loss")
    return fig, frame
