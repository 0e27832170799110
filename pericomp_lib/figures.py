"""Drawing the paper's Figures 6A (training loss), 6b (F1 box plots per model size) and 7 (strict bars),
from the authors' published files and from our runs.

Only drawing lives here: the frames come from published_scores (published prediction files), train_logs
(loss curves), evaluation (our runs' scores) and decisions (P(True) curves). Plotters take tidy frames only,
so the same plot draws the published predictions and our seeds; colours and names are fixed per meaning.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from . import decisions, evaluation, published_scores, train_logs
from .io import atomic_file
from .model_names import size_key
from .published_scores import CENTERS, METRICS
from .train_logs import loss_frame  # 03_finetune draws its own run's loss with figures.loss_frame

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
_CB = sns.color_palette("colorblind")
STRATEGY_COLORS: dict[str, tuple] = {
    "comprehensive": _CB[0],
    "targeted": _CB[2],
    "targeted_sft": _CB[3],
    "targeted_retrained": _CB[4],
    "baseline": _CB[7],
    "comprehensive_sft": _CB[9],
}
GROUP_COLORS: dict[str, tuple] = {
    "PeriComp (LoRA)": _CB[3],
    "LoRA adapter": _CB[3],
    "Base model": _CB[2],
    "Commercial": _CB[0],
    "Human": "0.3",
    "Classical baseline": _CB[7],
}
# The paper draws the human line orange; orange next to the vermillion LoRA boxes is hard to tell apart
# (for colour-blind readers above all), so human is a near-black dashed line / dark grey bar here.
HUMAN_COLOR = "0.15"
RAW_LOSS_COLOR, SMOOTH_LOSS_COLOR = _CB[0], _CB[1]  # paper: original loss blue, smoothed orange


# ---------------------------------------------------------------------------------------- plotting


def _style() -> None:
    sns.set_theme(
        context="paper",
        style="whitegrid",
        font_scale=1.15,
        rc={"axes.spines.top": False, "axes.spines.right": False, "grid.linewidth": 0.6},
    )


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
    _require(frame, {"center", "metric", "value", x, hue}, "plot_f1_boxes")
    centers = [c for c in (centers or CENTERS) if c in set(frame["center"])] or sorted(frame["center"].unique())
    metrics = list(metrics)
    order = order or sorted(frame[x].unique(), key=size_key)
    hue_order = hue_order or [s for s in STRATEGY_LABELS if s in set(frame[hue])] + sorted(
        set(frame[hue]) - set(STRATEGY_LABELS)
    )
    palette = {h: STRATEGY_COLORS.get(h, _CB[(i + 5) % len(_CB)]) for i, h in enumerate(hue_order)}
    _style()
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
    _require(frame, {"label", "group", "center", "metric", "value"}, "plot_strict_bars")
    centers = [c for c in (centers or CENTERS) if c in set(frame["center"])] or sorted(frame["center"].unique())
    metrics = list(metrics)
    groups = [g for g in GROUP_ORDER if g in set(frame["group"])] + sorted(set(frame["group"]) - set(GROUP_ORDER))
    palette = {g: GROUP_COLORS.get(g, "0.6") for g in groups}
    n = frame.groupby(["center", "metric"]).size().max()
    _style()
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
    _require(frame, {"label", "loss", "smoothed", x}, "plot_loss_curves")
    labels = list(dict.fromkeys(frame["label"]))
    ncols = max(1, min(ncols, len(labels)))
    nrows = -(-len(labels) // ncols)
    _style()
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


def _require(frame: pd.DataFrame, cols: set[str], who: str) -> None:
    missing = cols - set(frame.columns)
    if missing:
        raise ValueError(f"{who}: frame lacks column(s) {sorted(missing)}; it has {list(frame.columns)}")
    if frame.empty:
        raise ValueError(f"{who}: frame is empty, nothing to draw")


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


def runs_loss_figure(runs_dir: str | os.PathLike, figures_dir: str | os.PathLike | None = None, weight: float = 0.9):
    """Loss curves of our own runs (every runs_dir/**/train_log.jsonl), in the Figure 6A style.

    One panel per run folder, one colour per seed (runs/<run>/seed-<n>/); a log outside that layout
    is its own panel. The frame adds run and seed columns to loss_frame's (label = relative folder).
    """
    frame = train_logs.runs_loss_frame(runs_dir, weight)
    fig = plot_runs_loss(frame)
    if figures_dir is not None:
        save_figure(fig, figures_dir, "runs_loss")
    return fig, frame


def plot_runs_loss(frame: pd.DataFrame, x: str = "step", ncols: int = 2) -> plt.Figure:
    """Our runs' losses: a panel per run, raw (thin, pale) and smoothed (thick) line per seed."""
    _require(frame, {"run", "seed", "loss", "smoothed", x}, "plot_runs_loss")
    runs = list(dict.fromkeys(frame["run"]))
    seeds = sorted({s for s in frame["seed"] if pd.notna(s)})
    colors = {s: _CB[i % len(_CB)] for i, s in enumerate(seeds)}
    ncols = max(1, min(ncols, len(runs)))
    nrows = -(-len(runs) // ncols)
    _style()
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows), sharey=True, squeeze=False)
    for i, run in enumerate(runs):
        ax = axes[i // ncols][i % ncols]
        for seed, d in frame[frame["run"] == run].groupby("seed", dropna=False, sort=True):
            color = colors.get(seed, RAW_LOSS_COLOR)
            ax.plot(d[x], d["loss"], color=color, lw=0.6, alpha=0.35)
            ax.plot(d[x], d["smoothed"], color=color, lw=1.8)
        ax.set_title(run, fontweight="bold")
        ax.set_xlabel(x.capitalize())
        ax.set_ylabel("Training loss" if i % ncols == 0 else "")
    for j in range(len(runs), nrows * ncols):
        axes[j // ncols][j % ncols].set_visible(False)
    handles = [plt.Line2D([], [], color=colors[s], lw=1.8) for s in seeds]
    labels = [f"seed {s}" for s in seeds]
    handles += [plt.Line2D([], [], color="0.3", lw=0.6, alpha=0.5), plt.Line2D([], [], color="0.3", lw=1.8)]
    labels += ["original loss (thin)", "smoothed loss (thick)"]
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), frameon=False)
    fig.tight_layout(rect=(0, 0.1 if nrows == 1 else 0.05, 1, 1))
    return fig


# ----------------------------------------------------------------------------------- our own runs


def _x_order(frame: pd.DataFrame) -> list[str]:
    """Models by size (135M < 4B < 32B), then name."""
    pairs = frame[["x", "size_label"]].drop_duplicates("x")
    return [x for x, _ in sorted(pairs.itertuples(index=False), key=lambda p: (size_key(p[1]), p[0]))]


def runs_figure6b(
    runs_dir: str | os.PathLike,
    figures_dir: str | os.PathLike | None = None,
    averaging: str = "micro",
    mode: str = "lenient",
    metrics: Iterable[str] = METRICS,
):
    """Figure 6b from our runs: boxes over seeds per model, hue = set-up; returns (figure, frame).

    Hues: Comprehensive / Targeted (the base model prompted that way), + LoRA (the run's adapter),
    Classical baseline (TF-IDF, scored on the same cases as the run's LLM). Two runs of one model
    on the same cohort give identical baseline rows; those are drawn once. Written as runs_figure6b_f1.
    """
    frame = evaluation.runs_metric_frame(runs_dir, averaging, mode)
    other = frame[~frame["strategy"].isin(evaluation.RUN_HUES)]
    if len(other):  # e.g. a run whose strategy could not be found: say so rather than drop it silently
        # a warning, not a log line: the user must act: a run left out of the figure
        warnings.warn(
            f"{runs_dir}: not drawn (unknown set-up): " + ", ".join(sorted(set(other["run"] + ":" + other["Models"]))),
            stacklevel=2,
        )
    frame = frame[frame["strategy"].isin(evaluation.RUN_HUES)]
    if frame.empty:
        raise ValueError(f"{runs_dir}: no base/adapter/tfidf_baseline rows in run_metrics.csv")
    is_base = frame["strategy"].isin(["baseline", "most_frequent"])
    dedup = frame[is_base].drop_duplicates(["x", "seed", "metric", "value"])
    frame = pd.concat([frame[~is_base], dedup]).reset_index(drop=True)
    hue_order = [h for h in evaluation.RUN_HUES if h in set(frame["strategy"])]
    fig = plot_f1_boxes(
        frame,
        x="x",
        order=_x_order(frame),
        hue_order=hue_order,
        metrics=metrics,
        xlabel="Model (boxes and points: seeds)",
    )
    if figures_dir is not None:
        save_figure(fig, figures_dir, "runs_figure6b_f1")
    return fig, frame


def runs_figure7(
    runs_dir: str | os.PathLike,
    figures_dir: str | os.PathLike | None = None,
    averaging: str = "micro",
    metrics: Iterable[str] = METRICS,
):
    """Figure 7 from our runs: strict bars (mean over seeds, SD as error bars); returns (figure, bars frame)."""
    bars = evaluation.runs_bar_frame(evaluation.runs_metric_frame(runs_dir, averaging, "strict"))
    if bars.empty:
        raise ValueError(f"{runs_dir}: no strict base/adapter/tfidf_baseline rows in run_metrics.csv")
    n = int(bars["n_seeds"].max())
    fig = plot_strict_bars(bars, metrics=metrics, xlabel=f"Strict {averaging}, mean ± SD of {n} seed{'s' * (n > 1)}")
    if figures_dir is not None:
        save_figure(fig, figures_dir, "runs_figure7_strict")
    return fig, bars


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


def runs_pr_figure(runs_dir: str | os.PathLike, figures_dir: str | os.PathLike | None = None):
    """Precision-recall curves of the targeted decisions (P(True) from 04) per run and model, seeds as lines.

    The dot on each curve is the model's greedy answer (threshold 0.5 of P(True)); returns (figure, frame)
    or (None, empty frame) when no run recorded decisions. Written as runs_pr_curves."""
    frame = decisions.runs_pr_frame(runs_dir)
    if frame.empty:
        return None, frame
    _style()
    runs = sorted(frame.run.unique())
    fig, axes = plt.subplots(1, len(runs), figsize=(4.6 * len(runs), 4.2), squeeze=False)
    colors = {"base": STRATEGY_COLORS.get("targeted", _CB[0]), "adapter": STRATEGY_COLORS.get("targeted_sft", _CB[1])}
    for ax, run in zip(axes[0], runs):
        seeds = sorted(frame[frame.run == run].seed.unique())
        styles = ["-", "--", ":", "-."]
        for (model, seed), g in frame[frame.run == run].groupby(["model", "seed"]):
            label = f"{STRATEGY_LABELS['targeted_sft' if model == 'adapter' else 'targeted']} · {seed}"
            ax.plot(
                g.recall,
                g.precision,
                color=colors.get(model, "0.5"),
                lw=1.3,
                alpha=0.85,
                label=label,
                drawstyle="steps-post",
                ls=styles[seeds.index(seed) % len(styles)],
            )
            ax.scatter(
                g.greedy_recall.iloc[0],
                g.greedy_precision.iloc[0],
                color=colors.get(model, "0.5"),
                edgecolor="0.2",
                zorder=3,
                s=22,
            )
        ax.set(
            xlim=(0, 1.02),
            ylim=(0, 1.02),
            xlabel="Recall (sensitivity)",
            ylabel="Precision (PPV)",
            title=f"{run}: targeted decisions",
        )
        ax.legend(fontsize=7, frameon=True, framealpha=0.85, loc="upper right")
    fig.tight_layout()
    if figures_dir is not None:
        save_figure(fig, figures_dir, "runs_pr_curves")
    return fig, frame
