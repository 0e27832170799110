"""Figures of our own runs (runs_*): every runs/<run>/seed-<n>/ drawn in the paper's figure styles.

Figure 6b and 7 from our scores (evaluation), loss curves of our training logs (train_logs) and
precision-recall curves of the targeted decisions (decisions). Written under runs_* names so the
published figures (paper_figures) are never overwritten.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from ..chartqa import report as qa_report
from ..evaluation import decisions, run_scores
from ..evaluation.published_scores import METRICS
from ..llm.model_names import size_key
from ..training import train_logs
from .figure_style import (
    PALETTE,
    RAW_LOSS_COLOR,
    STRATEGY_COLORS,
    STRATEGY_LABELS,
    require_columns,
    save_figure,
    set_style,
)
from .paper_figures import plot_f1_boxes, plot_strict_bars


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
    require_columns(frame, {"run", "seed", "loss", "smoothed", x}, "plot_runs_loss")
    runs = list(dict.fromkeys(frame["run"]))
    seeds = sorted({s for s in frame["seed"] if pd.notna(s)})
    colors = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(seeds)}
    ncols = max(1, min(ncols, len(runs)))
    nrows = -(-len(runs) // ncols)
    set_style()
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
    fig.tight_layout()
    # below the panels, however many rows the seeds take (saved with bbox_inches="tight"); a band reserved inside
    # the figure held two rows, and 18 seeds' three ran over the x axis
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(labels), 6), frameon=False)
    return fig


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
    frame = run_scores.runs_metric_frame(runs_dir, averaging, mode)
    other = frame[~frame["strategy"].isin(run_scores.RUN_HUES)]
    if len(other):  # e.g. a run whose strategy could not be found: say so rather than drop it silently
        # a warning, not a log line: the user must act: a run left out of the figure
        warnings.warn(
            f"{runs_dir}: not drawn (unknown set-up): " + ", ".join(sorted(set(other["run"] + ":" + other["Models"]))),
            stacklevel=2,
        )
    frame = frame[frame["strategy"].isin(run_scores.RUN_HUES)]
    if frame.empty:
        raise ValueError(f"{runs_dir}: no base/adapter/tfidf_baseline rows in run_metrics.csv")
    is_base = frame["strategy"].isin(["baseline", "most_frequent"])
    dedup = frame[is_base].drop_duplicates(["x", "seed", "metric", "value"])
    frame = pd.concat([frame[~is_base], dedup]).reset_index(drop=True)
    hue_order = [h for h in run_scores.RUN_HUES if h in set(frame["strategy"])]
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
    bars = run_scores.runs_bar_frame(run_scores.runs_metric_frame(runs_dir, averaging, "strict"))
    if bars.empty:
        raise ValueError(f"{runs_dir}: no strict base/adapter/tfidf_baseline rows in run_metrics.csv")
    n = int(bars["n_seeds"].max())
    fig = plot_strict_bars(bars, metrics=metrics, xlabel=f"Strict {averaging}, mean ± SD of {n} seed{'s' * (n > 1)}")
    if figures_dir is not None:
        save_figure(fig, figures_dir, "runs_figure7_strict")
    return fig, bars


def _seed_order(seed) -> tuple:
    """seed-2 before seed-10: the number, not the text."""
    text = str(seed)
    digits = text.rsplit("-", 1)[-1]
    return (0, int(digits), text) if digits.isdigit() else (1, 0, text)


LINE_STYLES = ["-", "--", ":", "-."]


def seed_line(color, i: int, n: int) -> tuple:
    """(colour, line style) of the i-th of n seeds: styles cycle and each cycle is a lighter shade, so every
    seed of a model has its own pair (styles alone repeated from the fifth seed on)."""
    from matplotlib.colors import to_rgb

    cycles = -(-n // len(LINE_STYLES))
    light = 0.6 * (i // len(LINE_STYLES)) / max(cycles - 1, 1)
    shade = tuple(c + (1 - c) * light for c in to_rgb(color))
    return shade, LINE_STYLES[i % len(LINE_STYLES)]


MAX_SEEDS_NAMED = 8  # beyond this a legend names each model once, with its seed count


def runs_pr_figure(runs_dir: str | os.PathLike, figures_dir: str | os.PathLike | None = None):
    """Precision-recall curves of the targeted decisions (P(True) from 04) per run and model, seeds as lines.

    The dot on each curve is the model's greedy answer (threshold 0.5 of P(True)); returns (figure, frame)
    or (None, empty frame) when no run recorded decisions. Written as runs_pr_curves."""
    frame = decisions.runs_pr_frame(runs_dir)
    if frame.empty:
        return None, frame
    set_style()
    runs = sorted(frame.run.unique())
    fig, axes = plt.subplots(1, len(runs), figsize=(6.6 * len(runs), 4.2), squeeze=False)
    colors = {
        "base": STRATEGY_COLORS.get("targeted", PALETTE[0]),
        "adapter": STRATEGY_COLORS.get("targeted_sft", PALETTE[1]),
    }
    for ax, run in zip(axes[0], runs):
        seeds = sorted(frame[frame.run == run].seed.unique(), key=_seed_order)
        groups = frame[frame.run == run].groupby(["model", "seed"])
        named: set[str] = set()
        for (model, seed), g in sorted(groups, key=lambda kv: (kv[0][0], _seed_order(kv[0][1]))):
            name = STRATEGY_LABELS["targeted_sft" if model == "adapter" else "targeted"]
            label = f"{name} · {seed}"
            if len(seeds) > MAX_SEEDS_NAMED:  # 18 seeds x 2 models named one by one were taller than the figure
                label = "_nolegend_" if model in named else f"{name} ({len(seeds)} seeds, a line each)"
                named.add(model)
            color, ls = seed_line(colors.get(model, "0.5"), seeds.index(seed), len(seeds))
            ax.plot(g.recall, g.precision, color=color, lw=1.3, alpha=0.85, label=label, drawstyle="steps-post", ls=ls)
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
        # beside the axes: with several seeds a legend inside covered the curves it names
        ax.legend(fontsize=7, frameon=False, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    if figures_dir is not None:
        save_figure(fig, figures_dir, "runs_pr_curves")
    return fig, frame


STRATA_PANELS = {  # metric -> panel title: what a reader should look for
    "recall_named": "Recall, named positives\n(a note names the diagnosis)",
    "recall_criteria": "Recall, criteria-only positives\n(only the definition's facts)",
    "fpr_trap": "False-positive rate, trap negatives\n(look-alike facts; lower is better)",
    "fpr_clean": "False-positive rate, clean negatives\n(lower is better)",
    "grade_acc": "Grade accuracy\n(true positives with the gold grade)",
}
STRATA_ARMS = {  # prediction file -> the set-up colour and label Figure 6b uses
    "comprehensive": "comprehensive",
    "base": "targeted",
    "adapter": "targeted_sft",
    "baseline": "baseline",
    "most_frequent": "most_frequent",
}


def runs_strata_figure(runs_dir: str | os.PathLike, figures_dir: str | os.PathLike | None = None):
    """One panel per stratum (strata.py), arms side by side, bar = mean over seeds, points = seeds; a row per run.

    Returns (figure, frame) or (None, empty frame) when no run wrote tables/strata.csv. Written as runs_strata."""
    try:
        frame = run_scores.collect_runs(runs_dir, "strata")
    except FileNotFoundError:
        return None, pd.DataFrame()
    frame = frame[frame.metric.isin(STRATA_PANELS) & frame.arm.isin(STRATA_ARMS)].copy()
    frame["setup"] = frame.arm.map(STRATA_ARMS)
    set_style()
    runs = sorted(frame.run.unique())
    panels = [m for m in STRATA_PANELS if m in set(frame.metric)]
    fig, axes = plt.subplots(
        len(runs), len(panels), figsize=(3.0 * len(panels), 3.3 * len(runs)), squeeze=False, sharey=True
    )
    for r, run in enumerate(runs):
        for ax, metric in zip(axes[r], panels):
            g = frame[(frame.run == run) & (frame.metric == metric)]
            order = [s for s in STRATA_ARMS.values() if s in set(g.setup)]
            means = g.groupby("setup").rate.mean().reindex(order)
            colors = [STRATEGY_COLORS.get(s, "0.6") for s in order]
            ax.bar(range(len(order)), means.to_numpy(), color=colors, alpha=0.55, edgecolor="0.3", lw=0.6)
            for i, s in enumerate(order):
                pts = g[g.setup == s].rate.to_numpy()
                ax.scatter([i] * len(pts), pts, color=colors[i], edgecolor="0.15", s=18, zorder=3)
            lo, hi = (int(g.n.min()), int(g.n.max())) if len(g) else (0, 0)
            n = f"{lo}" if lo == hi else f"{lo}-{hi}"  # seeds draw different cohorts: their strata differ in size
            ax.set_xticks(range(len(order)), [STRATEGY_LABELS.get(s, s) for s in order], rotation=40, ha="right")
            ax.set(ylim=(0, 1.05), title=f"{STRATA_PANELS[metric]}\nn = {n} per seed" if r == 0 else f"n = {n}")
            ax.tick_params(axis="x", labelsize=7)
        axes[r][0].set_ylabel(f"{run}\n(points: seeds)")
    fig.tight_layout()
    if figures_dir is not None:
        save_figure(fig, figures_dir, "runs_strata")
    return fig, frame


# --- the second study (chart Q&A) ---------------------------------------------------------------------------
def run_kinds(runs_dir: str | os.PathLike) -> dict[str, bool]:
    """Which studies have scored runs under runs_dir: complications (run_metrics.csv), chart_qa (validation.csv)."""
    root = Path(runs_dir)
    return {
        "complications": any(root.glob("*/seed-*/tables/run_metrics.csv")),
        "chart_qa": any(root.glob("*/seed-*/validation.csv")),
    }


def runs_qa_figure(runs_dir: str | os.PathLike, figures_dir: str | os.PathLike | None = None):
    """The chart Q&A trials of every run x seed (runs_dir/<run>/seed-<n>/validation.csv) in one figure, and the
    summary table per run and seed (qa_report.summary_table: means, paired 95% CI of adapter - base)."""
    from .qa_figures import plot_qa_trials

    frames, tables = [], []
    for path in sorted(Path(runs_dir).glob("*/seed-*/validation.csv")):
        df = pd.read_csv(path)
        run, seed = path.parent.parent.name, int(path.parent.name.split("-", 1)[1])
        frames.append(df.assign(run=run, seed=seed))
        tables.append(qa_report.summary_table(df).assign(run=run, seed=seed))
    if not frames:
        raise FileNotFoundError(f"{runs_dir}: no chart Q&A runs (runs/<run>/seed-<n>/validation.csv)")
    trials = pd.concat(frames, ignore_index=True)
    fig = plot_qa_trials(trials)
    if figures_dir is not None:
        save_figure(fig, figures_dir, "runs_qa_trials")
    return fig, pd.concat(tables, ignore_index=True)
