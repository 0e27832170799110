"""The paper's Figures 6A (training loss), 6b (F1 box plots per model size) and 7 (strict bars).

Loaders turn files into tidy pandas frames (one row per model x run x center x metric); plotters
take those frames only. Keeping the two apart lets the same plots draw the authors' published
predictions today and our own runs (seeds per model size, a classical baseline) later.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

CENTERS: tuple[str, ...] = ("center1", "center2")
CENTER_LABELS: dict[str, str] = {"center1": "Center 1 (validation)", "center2": "Center 2"}
METRICS: tuple[str, ...] = ("f1", "recall", "precision")  # paper column order
METRIC_LABELS: dict[str, str] = {"f1": "F1 score", "recall": "Recall", "precision": "Precision"}
SIZES: tuple[str, ...] = ("4B", "8B", "14B", "32B")
STRATEGIES: tuple[str, ...] = ("comprehensive", "targeted", "targeted_sft")
STRATEGY_LABELS: dict[str, str] = {
    "comprehensive": "Comprehensive",
    "targeted": "Targeted",
    "targeted_sft": "Targeted + LoRA",
    "targeted_retrained": "Targeted (re-run)",
    "comprehensive_sft": "Comprehensive + LoRA",  # our runs only: LoRA trained on comprehensive prompts
    "baseline": "Classical baseline",
    "most_frequent": "Most frequent label set",
}
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
GROUP_ORDER: tuple[str, ...] = ("PeriComp (LoRA)", "LoRA adapter", "Base model", "Commercial", "Human", "Classical baseline")

# Colour-blind-safe (seaborn "colorblind", Okabe-Ito-like) and fixed per meaning across figures.
_CB = sns.color_palette("colorblind")
STRATEGY_COLORS: dict[str, tuple] = {
    "comprehensive": _CB[0], "targeted": _CB[2], "targeted_sft": _CB[3], "targeted_retrained": _CB[4], "baseline": _CB[7],
    "comprehensive_sft": _CB[9],
}
GROUP_COLORS: dict[str, tuple] = {"PeriComp (LoRA)": _CB[3], "LoRA adapter": _CB[3], "Base model": _CB[2], "Commercial": _CB[0], "Human": "0.3",
                                  "Classical baseline": _CB[7]}
# The paper draws the human line orange; orange next to the vermillion LoRA boxes is hard to tell apart
# (for colour-blind readers above all), so human is a near-black dashed line / dark grey bar here.
HUMAN_COLOR = "0.15"
RAW_LOSS_COLOR, SMOOTH_LOSS_COLOR = _CB[0], _CB[1]  # paper: original loss blue, smoothed orange

_RESULT_NAME = re.compile(
    r"^(?P<model>qwen3|qwq)_?(?P<size>\d+(?:\.\d+)?[BbMm])_(?P<strategy>comprehensive|targeted_sft|targeted_retrained|targeted)(?:_(?P<run>\d+))?$"
)


# ----------------------------------------------------------------------------------------- loaders

def parse_result_name(stem: str) -> dict | None:
    """'qwen3_14B_targeted_sft_3' -> {model, size, strategy, run}; run is None when unnumbered."""
    m = _RESULT_NAME.match(stem)
    if not m:
        return None
    return {
        "model": m["model"], "size": m["size"].upper(), "strategy": m["strategy"],
        "run": int(m["run"]) if m["run"] else None,
    }


def _repo():
    from pericomp_lib.sources import pericomp_repo  # imported late: figures must load without it
    return pericomp_repo


def _micro(gold: Mapping[str, list], pred: Mapping[str, list]) -> dict:
    from pericomp_lib.metrics import micro_prf
    return micro_prf(gold, pred)


def _eval_set(pericomp_dir: Path, center: str, strict: bool) -> dict[str, list[str]]:
    """Gold labels for the cases a figure scores: center 1 is scored on its validation split only."""
    repo = _repo()
    gold = repo.load_gold(pericomp_dir, center, strict=strict)
    if center == "center1":
        val = {str(i) for i in repo.validation_ids(pericomp_dir)}
        gold = {k: v for k, v in gold.items() if str(k) in val}
    return gold


def _score(path: Path, gold: Mapping[str, list]) -> dict:
    pred = _repo().load_predictions(path, list(gold), missing="error")
    return _micro(gold, pred)


def select_runs(files: Iterable[Path], strategies: Iterable[str] = STRATEGIES,
                runs: Iterable[int] = RUNS) -> tuple[dict[tuple[str, str, int], Path], list[str]]:
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
            notes.append(f"{path.name}: unnumbered duplicate of {twin.name}" + ("" if same else " BUT CONTENT DIFFERS; not drawn"))
    return chosen, notes


def lenient_frame(pericomp_dir: str | os.PathLike, centers: Iterable[str] = CENTERS,
                  strategies: Iterable[str] = STRATEGIES, runs: Iterable[int] = RUNS) -> pd.DataFrame:
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
            rows += [{"model": "qwen3", "size": size, "strategy": strategy, "run": run, "center": center,
                      "metric": m, "value": float(scores[m]), "file": f"{center}/{path.name}"} for m in METRICS]
    if skipped:
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
            rows += [{"label": label, "group": group, "center": center, "metric": m, "value": float(scores[m]),
                      "file": f"strict/{center}/{path.name}"} for m in METRICS]
    if skipped:
        warnings.warn(f"{len(skipped)} strict file(s) not scored:\n  " + "\n  ".join(skipped), stacklevel=2)
    frame = pd.DataFrame(rows, columns=["label", "group", "center", "metric", "value", "file"])
    frame.attrs["skipped"] = skipped
    return frame


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
                rows.append({"step": int(step) if step is not None else len(rows) + 1,
                             "epoch": float(obj["epoch"]) if obj.get("epoch") is not None else np.nan,
                             "loss": float(obj["loss"]),
                             "learning_rate": float(obj["learning_rate"]) if obj.get("learning_rate") is not None else np.nan})
            except (TypeError, ValueError) as e:
                bad.append(f"{path}:{lineno}: {e}")
    if bad:
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
        m = re.search(r"(\d+(?:\.\d+)?[BM])_train_log", path.name, flags=re.I)
        if m:
            found[m[1].upper()] = path
    if not found:
        raise FileNotFoundError(f"{folder}: no *_train_log.jsonl files; is pericomp_dir a PeriComp clone?")
    return {k: found[k] for k in sorted(found, key=size_key)}


def runs_train_logs(runs_dir: str | os.PathLike) -> dict[str, Path]:
    """Every train_log.jsonl under runs_dir, labelled by its run folder (relative path)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"{runs_dir}: runs_dir not found")
    return {str(p.parent.relative_to(runs_dir)): p for p in sorted(runs_dir.rglob("train_log.jsonl"))}


def size_key(size: str) -> float:
    """Order model sizes numerically: '135M' < '4B' < '14B'; unknown labels sort last, by name."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([BbMmKk])", str(size))
    if not m:
        return float("inf")
    return float(m[1]) * {"k": 1e3, "m": 1e6, "b": 1e9}[m[2].lower()]


# ---------------------------------------------------------------------------------------- plotting

def _style() -> None:
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.15,
                  rc={"axes.spines.top": False, "axes.spines.right": False, "grid.linewidth": 0.6})


def plot_f1_boxes(frame: pd.DataFrame, human: pd.DataFrame | None = None, x: str = "size",
                  hue: str = "strategy", order: list[str] | None = None,
                  hue_order: list[str] | None = None, centers: Iterable[str] | None = None,
                  metrics: Iterable[str] = METRICS, xlabel: str = "Qwen3 model size") -> plt.Figure:
    """Figure 6b: box plots over runs (points overlaid), rows = centers, columns = metrics.

    `frame` needs columns center, metric, value, `x` and `hue`; `human` (center, metric, value)
    adds the dashed reference line per panel. `order` defaults to `x` sorted by model size.
    """
    _require(frame, {"center", "metric", "value", x, hue}, "plot_f1_boxes")
    centers = [c for c in (centers or CENTERS) if c in set(frame["center"])] or sorted(frame["center"].unique())
    metrics = list(metrics)
    order = order or sorted(frame[x].unique(), key=size_key)
    hue_order = hue_order or [s for s in STRATEGY_LABELS if s in set(frame[hue])] + sorted(set(frame[hue]) - set(STRATEGY_LABELS))
    palette = {h: STRATEGY_COLORS.get(h, _CB[(i + 5) % len(_CB)]) for i, h in enumerate(hue_order)}
    _style()
    fig, axes = plt.subplots(len(centers), len(metrics), figsize=(4.2 * len(metrics), 3.4 * len(centers)),
                             sharey=True, squeeze=False)
    for r, center in enumerate(centers):
        for c, metric in enumerate(metrics):
            ax = axes[r][c]
            data = frame[(frame["center"] == center) & (frame["metric"] == metric)]
            with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib's deprecated `vert`; harmless
                warnings.filterwarnings("ignore", message=".*vert: bool was deprecated", category=DeprecationWarning)
                sns.boxplot(data=data, x=x, y="value", hue=hue, order=order, hue_order=hue_order, palette=palette,
                            ax=ax, width=0.75, linewidth=0.9, fliersize=0, legend=False)
            state = np.random.get_state()  # seaborn jitters with the global RNG: fix it so files are reproducible
            np.random.seed(r * len(metrics) + c)
            try:
                sns.stripplot(data=data, x=x, y="value", hue=hue, order=order, hue_order=hue_order, palette=palette,
                              dodge=True, ax=ax, size=2.6, jitter=0.12, edgecolor="0.2", linewidth=0.4, legend=False)
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


def plot_strict_bars(frame: pd.DataFrame, centers: Iterable[str] | None = None,
                     metrics: Iterable[str] = METRICS,
                     xlabel: str = "Strict micro score (type + grade)") -> plt.Figure:
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
    fig, axes = plt.subplots(len(centers), len(metrics), figsize=(4.4 * len(metrics), 0.36 * n * len(centers) + 1.4),
                             squeeze=False)
    for r, center in enumerate(centers):
        for c, metric in enumerate(metrics):
            ax = axes[r][c]
            data = frame[(frame["center"] == center) & (frame["metric"] == metric)].sort_values("value", ascending=False)
            ypos = np.arange(len(data))
            ax.barh(ypos, data["value"], color=[palette[g] for g in data["group"]], edgecolor="0.25", linewidth=0.5, height=0.72)
            if "spread" in data and data["spread"].fillna(0).gt(0).any():
                ax.errorbar(data["value"], ypos, xerr=data["spread"].fillna(0), fmt="none", ecolor="0.1",
                            elinewidth=1.0, capsize=3, capthick=1.0, zorder=3)
            spreads = data["spread"].fillna(0) if "spread" in data else pd.Series(0.0, index=data.index)
            for y, v, sd in zip(ypos, data["value"], spreads):
                inside = v >= 0.15  # short bars get their value just outside, in dark text
                if sd > 0:  # error bar at the bar's end: print the value past its whisker (inside if no room)
                    outside = v + sd + 0.015 <= 0.86
                    x_text, ha = (v + sd + 0.015, "left") if outside else (0.015, "left")
                    inside = not outside
                else:
                    x_text, ha = (v - 0.015, "right") if inside else (v + 0.015, "left")
                ax.text(x_text, y, f"{v:.3f}", va="center", ha=ha,
                        fontsize=8.5, color="white" if inside else "0.15", fontweight="bold")
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


def plot_loss_curves(frame: pd.DataFrame, x: str = "epoch", title_prefix: str = "Qwen3 ",
                     ncols: int = 2) -> plt.Figure:
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
    """Write <stem>.png (dpi 300) and <stem>.pdf atomically; returns the paths."""
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for ext in ("png", "pdf"):
        path = figures_dir / f"{stem}.{ext}"
        fd, tmp = tempfile.mkstemp(dir=figures_dir, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                # no creation date in the PDF: re-running gives byte-identical files, so git shows no churn
                fig.savefig(fh, format=ext, dpi=dpi, bbox_inches="tight",
                            metadata={"CreationDate": None} if ext == "pdf" else None)
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; figures are for sharing
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
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
    frame, human = lenient_frame(pericomp_dir), human_frame(pericomp_dir)
    fig = plot_f1_boxes(frame, human)
    if figures_dir is not None:
        save_figure(fig, figures_dir, "figure6b_f1")
    return fig, frame, human


def figure7(pericomp_dir: str | os.PathLike, figures_dir: str | os.PathLike | None = None):
    """Score the published strict files and draw Figure 7; returns (figure, frame)."""
    frame = strict_frame(pericomp_dir)
    fig = plot_strict_bars(frame)
    if figures_dir is not None:
        save_figure(fig, figures_dir, "figure7_strict")
    return fig, frame


def figure6a(pericomp_dir: str | os.PathLike, figures_dir: str | os.PathLike | None = None, weight: float = 0.9):
    """Draw the published training-loss curves (Figure 6A); returns (figure, frame)."""
    frame = loss_frame(published_train_logs(pericomp_dir), weight)
    fig = plot_loss_curves(frame)
    if figures_dir is not None:
        save_figure(fig, figures_dir, "figure6a_loss")
    return fig, frame


def runs_loss_figure(runs_dir: str | os.PathLike, figures_dir: str | os.PathLike | None = None, weight: float = 0.9):
    """Loss curves of our own runs (every runs_dir/**/train_log.jsonl), in the Figure 6A style.

    One panel per run folder, one colour per seed (runs/<run>/seed-<n>/); a log outside that layout
    is its own panel. The frame adds run and seed columns to loss_frame's (label = relative folder).
    """
    logs = runs_train_logs(runs_dir)
    if not logs:
        raise FileNotFoundError(f"{runs_dir}: no train_log.jsonl found under it; run 03_finetune first")
    frame = loss_frame(logs, weight)
    parts = frame["label"].str.split("/")
    seeded = parts.map(lambda p: len(p) >= 2 and re.fullmatch(r"seed-\d+", p[-1]) is not None)
    frame["run"] = np.where(seeded, parts.map(lambda p: "/".join(p[:-1])), frame["label"])
    frame["seed"] = [int(p[-1].split("-", 1)[1]) if ok else None for p, ok in zip(parts, seeded)]
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

RUN_HUES: tuple[str, ...] = ("comprehensive", "comprehensive_sft", "targeted", "targeted_sft", "baseline", "most_frequent")
_RUN_METRIC_COLS = {"F1_score": "f1", "Recall": "recall", "Precision": "precision"}
# evaluate_run names a model by its prediction file stem; baseline.py writes the TF-IDF model as
# baseline.json, while its tables call it tfidf_baseline: both mean the classical baseline.
BASELINE_MODELS: tuple[str, ...] = ("tfidf_baseline", "baseline")


def runs_metric_frame(runs_dir: str | os.PathLike, averaging: str = "micro", mode: str = "lenient") -> pd.DataFrame:
    """Every run x seed x model x metric of our runs (evaluation.collect_runs), labelled for the figures.

    Columns: run, seed, Models, model_label, size_label, run_strategy, strategy (the hue: comprehensive,
    targeted, targeted_sft, comprehensive_sft, baseline, most_frequent), x (the model, with the run
    name added when two runs share model and strategy), center (the panel row), metric, value, n_cases.
    `frame.attrs['run_info']` holds evaluation.run_info of each run folder.
    """
    from .evaluation import collect_runs, run_info

    metrics = collect_runs(runs_dir)
    for col, allowed in (("averaging", ("micro", "macro")), ("mode", ("lenient", "strict"))):
        value = averaging if col == "averaging" else mode
        if value not in allowed:
            raise ValueError(f"{col} must be one of {allowed}, got {value!r}")
    metrics = metrics[(metrics["averaging"] == averaging) & (metrics["mode"] == mode)]
    if metrics.empty:
        raise ValueError(f"{runs_dir}: run_metrics.csv files hold no {averaging}/{mode} rows; re-run 05_evaluate")
    infos = {}
    for run, seed in metrics[["run", "seed"]].drop_duplicates().itertuples(index=False):
        infos[(run, seed)] = run_info(Path(runs_dir) / run / f"seed-{seed}")
    per_run = {}  # a run's label comes from its first seed; seeds of one params file agree
    for (run, seed), info in sorted(infos.items()):
        per_run.setdefault(run, info)
    runs = pd.DataFrame([{"run": r, "model_label": i["model_label"], "size_label": i["size_label"],
                          "run_strategy": i["strategy"] or "unknown"} for r, i in per_run.items()])
    clash = runs.duplicated(["model_label", "run_strategy"], keep=False)
    runs["x"] = np.where(clash, runs["model_label"] + " (" + runs["run"] + ")", runs["model_label"])
    frame = metrics.merge(runs, on="run", how="left")
    frame["strategy"] = [_run_hue(m, st) for m, st in zip(frame["Models"], frame["run_strategy"])]
    frame["center"] = f"Our runs ({mode}, {averaging})"
    frame = frame.melt(id_vars=[c for c in frame.columns if c not in _RUN_METRIC_COLS], value_vars=list(_RUN_METRIC_COLS),
                       var_name="metric", value_name="value")
    frame["metric"] = frame["metric"].map(_RUN_METRIC_COLS)
    cols = ["run", "seed", "Models", "model_label", "size_label", "run_strategy", "strategy", "x", "center", "metric",
            "value", "n_cases"]
    frame = frame[cols].sort_values(["run", "seed", "Models", "metric"]).reset_index(drop=True)
    frame.attrs["run_info"] = {f"{r}/seed-{s}": i for (r, s), i in infos.items()}
    return frame


def _run_hue(model: str, run_strategy: str) -> str:
    if model in BASELINE_MODELS:
        return "baseline"
    if model == "adapter":
        return f"{run_strategy}_sft"
    if model == "base":
        return run_strategy
    return model  # most_frequent and any model we do not know: kept under its own name


def _x_order(frame: pd.DataFrame) -> list[str]:
    """Models by size (135M < 4B < 32B), then name."""
    pairs = frame[["x", "size_label"]].drop_duplicates("x")
    return [x for x, _ in sorted(pairs.itertuples(index=False), key=lambda p: (size_key(p[1]), p[0]))]


def runs_figure6b(runs_dir: str | os.PathLike, figures_dir: str | os.PathLike | None = None,
                  averaging: str = "micro", mode: str = "lenient", metrics: Iterable[str] = METRICS):
    """Figure 6b from our runs: boxes over seeds per model, hue = set-up; returns (figure, frame).

    Hues: Comprehensive / Targeted (the base model prompted that way), + LoRA (the run's adapter),
    Classical baseline (TF-IDF, scored on the same cases as the run's LLM). Two runs of one model
    on the same cohort give identical baseline rows; those are drawn once. Written as runs_figure6b_f1.
    """
    frame = runs_metric_frame(runs_dir, averaging, mode)
    other = frame[~frame["strategy"].isin(RUN_HUES)]
    if len(other):  # e.g. a run whose strategy could not be found: say so rather than drop it silently
        warnings.warn(f"{runs_dir}: not drawn (unknown set-up): "
                      + ", ".join(sorted(set(other["run"] + ":" + other["Models"]))), stacklevel=2)
    frame = frame[frame["strategy"].isin(RUN_HUES)]
    if frame.empty:
        raise ValueError(f"{runs_dir}: no base/adapter/tfidf_baseline rows in run_metrics.csv")
    is_base = frame["strategy"].isin(["baseline", "most_frequent"])
    dedup = frame[is_base].drop_duplicates(["x", "seed", "metric", "value"])
    frame = pd.concat([frame[~is_base], dedup]).reset_index(drop=True)
    hue_order = [h for h in RUN_HUES if h in set(frame["strategy"])]
    fig = plot_f1_boxes(frame, x="x", order=_x_order(frame), hue_order=hue_order, metrics=metrics,
                        xlabel="Model (boxes and points: seeds)")
    if figures_dir is not None:
        save_figure(fig, figures_dir, "runs_figure6b_f1")
    return fig, frame


def runs_bar_frame(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Figure 7 bars from runs_metric_frame rows: mean and SD over seeds per bar.

    Bars: each run's adapter ('<model> + LoRA'), its base model, and the classical baseline (one bar
    when every run scored it on the same cases, else one per model). The set-up is added to a label
    when a model was run with more than one strategy. Columns: label, group, center, metric, value,
    spread (SD over seeds, 0 for one seed), n_seeds.
    """
    _require(per_seed, {"x", "run_strategy", "strategy", "Models", "seed", "center", "metric", "value"}, "runs_bar_frame")
    d = per_seed[per_seed["Models"].isin(["adapter", "base", *BASELINE_MODELS])].copy()
    multi = d.groupby("x")["run_strategy"].nunique()
    setup = d["x"].map(multi).gt(1)
    name = np.where(setup, d["x"] + " " + d["run_strategy"].map(lambda s: STRATEGY_LABELS.get(s, s).lower()), d["x"])
    d["label"] = np.where(d["Models"] == "adapter", pd.Series(name, index=d.index) + " + LoRA", name)
    d["group"] = np.where(d["Models"] == "adapter", "LoRA adapter",
                          np.where(d["Models"] == "base", "Base model", "Classical baseline"))
    base = d["Models"].isin(BASELINE_MODELS)
    shared = d[base].drop_duplicates(["seed", "metric", "value"]).groupby(["seed", "metric"]).size().max() == 1
    if shared:
        d.loc[base, "label"] = "Classical baseline (TF-IDF)"
        d = pd.concat([d[~base], d[base].drop_duplicates(["seed", "metric"])])
    else:
        d.loc[base, "label"] = "Classical baseline · " + d.loc[base, "x"]
        d = pd.concat([d[~base], d[base].drop_duplicates(["x", "seed", "metric", "value"])])
    bars = (d.groupby(["label", "group", "center", "metric"], sort=False)["value"]
            .agg(value="mean", spread="std", n_seeds="count").reset_index())
    bars["spread"] = bars["spread"].fillna(0.0)
    return bars


def runs_figure7(runs_dir: str | os.PathLike, figures_dir: str | os.PathLike | None = None,
                 averaging: str = "micro", metrics: Iterable[str] = METRICS):
    """Figure 7 from our runs: strict bars (mean over seeds, SD as error bars); returns (figure, bars frame)."""
    bars = runs_bar_frame(runs_metric_frame(runs_dir, averaging, "strict"))
    if bars.empty:
        raise ValueError(f"{runs_dir}: no strict base/adapter/tfidf_baseline rows in run_metrics.csv")
    n = int(bars["n_seeds"].max())
    fig = plot_strict_bars(bars, metrics=metrics,
                           xlabel=f"Strict {averaging}, mean ± SD of {n} seed{'s' * (n > 1)}")
    if figures_dir is not None:
        save_figure(fig, figures_dir, "runs_figure7_strict")
    return fig, bars


def summary_table(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Median / min / max per group and metric, wide, for printing next to a figure."""
    return (frame.groupby(by + ["metric"])["value"].agg(["median", "min", "max", "count"]).round(3)
            .unstack("metric").swaplevel(axis=1).sort_index(axis=1))


def runs_pr_figure(runs_dir: str | os.PathLike, figures_dir: str | os.PathLike | None = None):
    """Precision-recall curves of the targeted decisions (P(True) from 04) per run and model, seeds as lines.

    The dot on each curve is the model's greedy answer (threshold 0.5 of P(True)); returns (figure, frame)
    or (None, empty frame) when no run recorded decisions. Written as runs_pr_curves."""
    from . import decisions

    rows = []
    for path in sorted(Path(runs_dir).glob("*/seed-*/decisions.csv")):
        df = pd.read_csv(path)
        curves = decisions.pr_curves(df)
        if curves.empty:
            continue
        ev = df[(df.split == "eval") & df.p_true.notna()]
        for model, g in ev.groupby("model"):
            said = g.p_true >= 0.5
            tp = int((said & (g.gold == 1)).sum())
            curves.loc[curves.model == model, "greedy_precision"] = tp / max(int(said.sum()), 1)
            curves.loc[curves.model == model, "greedy_recall"] = tp / max(int(g.gold.sum()), 1)
        curves["run"], curves["seed"] = path.parent.parent.name, path.parent.name
        rows.append(curves)
    if not rows:
        return None, pd.DataFrame()
    frame = pd.concat(rows, ignore_index=True)
    _style()
    runs = sorted(frame.run.unique())
    fig, axes = plt.subplots(1, len(runs), figsize=(4.6 * len(runs), 4.2), squeeze=False)
    colors = {"base": STRATEGY_COLORS.get("targeted", _CB[0]), "adapter": STRATEGY_COLORS.get("targeted_sft", _CB[1])}
    for ax, run in zip(axes[0], runs):
        seeds = sorted(frame[frame.run == run].seed.unique())
        styles = ["-", "--", ":", "-."]
        for (model, seed), g in frame[frame.run == run].groupby(["model", "seed"]):
            label = f"{STRATEGY_LABELS['targeted_sft' if model == 'adapter' else 'targeted']} · {seed}"
            ax.plot(g.recall, g.precision, color=colors.get(model, "0.5"), lw=1.3, alpha=0.85, label=label,
                    drawstyle="steps-post", ls=styles[seeds.index(seed) % len(styles)])
            ax.scatter(g.greedy_recall.iloc[0], g.greedy_precision.iloc[0], color=colors.get(model, "0.5"),
                       edgecolor="0.2", zorder=3, s=22)
        ax.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="Recall (sensitivity)", ylabel="Precision (PPV)",
               title=f"{run}: targeted decisions")
        ax.legend(fontsize=7, frameon=True, framealpha=0.85, loc="upper right")
    fig.tight_layout()
    if figures_dir is not None:
        save_figure(fig, figures_dir, "runs_pr_curves")
    return fig, frame
