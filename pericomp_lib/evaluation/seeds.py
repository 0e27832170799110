"""Several seeds of one run read together: is a difference between arms the recipe's, or one training run's?

Why: each seed draws its own cohort and trains its own adapter, and on the CPU profile the adapter moves with the
training run more than with any recipe change measured (docs/design.md). One seed's paired interval covers its
cases only. Here the cases of every seed are pooled, and the interval of a pooled difference comes from a
two-level bootstrap: seeds drawn with replacement, then the cases of each drawn seed, so the spread between
training runs widens it as it should. With few seeds that interval is rough; the per-seed values are kept beside
it, so "on k of n seeds" can be read too.

runs/<run>/seeds_summary.json (written by the batch runner when two or more seeds of a run have a summary, and
by `python -m pericomp_lib evaluate --runs-dir`): pooled micro F1 per arm, the pooled adapter - TF-IDF and
adapter - base differences with their intervals, the pooled strata (tables/strata.csv counts summed), and each
seed's own summary values.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..core import records, taxonomy
from ..core.io import atomic_write_text, write_json
from . import decisions, metrics
from .strata import POSITIVE, RATE, STRATA, pairs

# (name in seeds_summary.json, arm a, arm b): pooled F1(a) - F1(b), as summary.json's f1_vs_baseline and f1_delta
DIFFERENCES = (("f1_vs_baseline", "adapter", "baseline"), ("f1_delta", "adapter", "base"))
# per-seed summary.json values kept in the pooled summary (lists in seed order)
PER_SEED = (
    "f1_adapter",
    "f1_baseline",
    "f1_vs_baseline",
    "recall_criteria_adapter",
    "recall_criteria_baseline",
    "fpr_trap_adapter",
    "fpr_trap_baseline",
    "auroc_adapter",
    "wall_s",
)


def _number(path: Path) -> int:
    tail = path.name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _recipe(run_dir: Path) -> dict | None:
    """params.json without the seed: what must be equal for two seeds to be pooled."""
    path = run_dir / "params.json"
    if not path.exists():
        return None
    p = json.loads(path.read_text(encoding="utf-8"))
    p.pop("seed", None)
    return p


def seed_dirs(run_root: str | os.PathLike) -> tuple[list[Path], list[str]]:
    """(runs/<run>/seed-<n> folders with a summary.json and the params of the newest one, by seed number;
    the others, each with why it was left out): a seed trained with other params is another recipe."""
    found = [p.parent for p in Path(run_root).glob("seed-*/summary.json")]
    if not found:
        return [], []
    newest = max(found, key=lambda d: ((d / "summary.json").stat().st_mtime, _number(d)))
    recipe = _recipe(newest)
    kept = sorted((d for d in found if _recipe(d) == recipe), key=_number)
    left = [f"{d.name}: params.json differs from {newest.name}'s" for d in sorted(found, key=_number) if d not in kept]
    return kept, left


class Scored(NamedTuple):
    """One seed read once: lenient gold and each arm's predictions on the evaluation cases every arm answered
    (the paper's rules applied, the run's scope), the complications it asked, and each arm's answer to each
    asked (case, complication) with its stratum (strata.pairs, an arm column added)."""

    gold: dict[str, list[str]]
    preds: dict[str, dict[str, list[str]]]
    asked: list[str]
    pairs: pd.DataFrame


def read_scored(run_dir: str | os.PathLike, arms: Sequence[str]) -> Scored:
    from .run_scores import read_scope
    from .summary import scores_and_predictions

    run_dir = Path(run_dir)
    cases = records.split_cases(records.load_cohort(run_dir / "cohort.jsonl", check_evidence=False), "eval")
    _, gold, preds = scores_and_predictions(run_dir, cases)
    ids = [c for c in gold if all(c in preds[a] for a in arms)]
    asked = list(read_scope(run_dir) or [])
    keep = set(ids)
    kept = [c for c in cases if c.case_id in keep]
    said = {a: {c: preds[a][c] for c in ids} for a in arms}
    answers = pd.concat([pairs(kept, said[a], None, asked or None).assign(arm=a) for a in arms], ignore_index=True)
    return Scored({c: gold[c] for c in ids}, said, asked, answers)


def case_counts(scored: Scored) -> dict[str, np.ndarray]:
    """{arm: (cases x [tp, fp, fn])} of one seed."""
    return {
        a: metrics.case_counts(scored.gold, p)[["tp", "fp", "fn"]].to_numpy(dtype=float)
        for a, p in scored.preds.items()
    }


def complication_counts(seeds: Sequence[Scored], arms: Sequence[str] = ("adapter", "baseline")) -> pd.DataFrame:
    """Per complication asked and arm, tp / fp / fn over every seed's cases (lenient, after the paper's rules)
    and the F1 of those counts: where an arm wins or loses, which one pooled F1 hides. Read off each seed's
    stratified answers (`Scored.pairs`), so these counts and `complication_strata` cannot disagree."""
    totals: dict[tuple[str, str], np.ndarray] = {}
    for scored in seeds:
        p = scored.pairs
        for cid in scored.asked:
            for arm in arms:
                mine = p[(p.complication == cid) & (p.arm == arm)]
                true, said = mine.stratum.isin(POSITIVE).to_numpy(), mine.predicted.to_numpy(bool)
                counts = np.array([(said & true).sum(), (said & ~true).sum(), (~said & true).sum()])
                totals[(cid, arm)] = totals.get((cid, arm), 0) + counts
    rows = [
        {"complication": cid, "arm": arm, "tp": int(c[0]), "fp": int(c[1]), "fn": int(c[2]), "f1": _f1(c[None, :])}
        for (cid, arm), c in totals.items()
    ]
    return pd.DataFrame(rows, columns=["complication", "arm", "tp", "fp", "fn", "f1"])


def complication_strata(seeds: Sequence[Scored], arms: Sequence[str] = ("adapter", "baseline")) -> pd.DataFrame:
    """Per complication asked, stratum and arm: pairs (n), answered True (k) and k / n, a recall on the positive
    strata and a false-positive rate on the negative ones, over every seed's cases. Why: pooled strata and
    per-complication F1 each hide where the two arms part; over fourteen runs the adapter led TF-IDF on ileus and
    on criteria-only troponin, and trailed it on named troponin, organ/space SSI and known-source fevers (README)."""
    if not seeds:
        return pd.DataFrame(columns=["complication", "stratum", "arm", "metric", "n", "k", "rate"])
    df = pd.concat([s.pairs for s in seeds], ignore_index=True)
    df = df[df.arm.isin(arms)]
    asked = list(dict.fromkeys(c for s in seeds for c in s.asked)) or list(dict.fromkeys(df.complication))
    out = df.groupby(["complication", "stratum", "arm"]).predicted.agg(n="size", k="sum").reset_index()
    order = {"complication": asked, "stratum": list(STRATA), "arm": list(arms)}
    out = out.sort_values(list(order), key=lambda col: col.map({v: i for i, v in enumerate(order[col.name])}))
    out["metric"] = out.stratum.map(RATE)
    out["rate"] = out.k / out.n
    return out[["complication", "stratum", "arm", "metric", "n", "k", "rate"]].reset_index(drop=True)


def _f1(counts: np.ndarray) -> float:
    return float(metrics.prf_from_counts(*counts.sum(axis=0))[2])


def pooled_delta_ci(
    per_seed: Sequence[tuple[np.ndarray, np.ndarray]], n_boot: int = 2000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float]:
    """(micro F1(a) - F1(b) over every seed's cases pooled, CI low, CI high). Each resample draws seeds with
    replacement and then, for each drawn seed, its cases with replacement; a and b are rescored on the same
    draw, so the interval is that of the difference."""
    if not per_seed:
        raise ValueError("pooled_delta_ci needs at least one seed's case counts")
    a_all = np.concatenate([a for a, _ in per_seed])
    b_all = np.concatenate([b for _, b in per_seed])
    delta = _f1(a_all) - _f1(b_all)
    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot)
    for i in range(n_boot):
        sums = np.zeros((2, 3))
        for s in rng.integers(0, len(per_seed), size=len(per_seed)):
            a, b = per_seed[s]
            idx = rng.integers(0, len(a), size=len(a))
            sums += (a[idx].sum(axis=0), b[idx].sum(axis=0))
        boot[i] = metrics.prf_from_counts(*sums[0])[2] - metrics.prf_from_counts(*sums[1])[2]
    lo, hi = np.percentile(boot, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return delta, float(lo), float(hi)


def pooled_strata(dirs: Sequence[Path]) -> pd.DataFrame:
    """tables/strata.csv of every seed with counts summed per arm and metric: n, k, rate (k / n), and the
    lowest and highest rate of one seed."""
    frames = []
    for d in dirs:
        path = d / "tables" / "strata.csv"
        if path.exists():
            frames.append(pd.read_csv(path).assign(seed=d.name))
    if not frames:
        return pd.DataFrame(columns=["arm", "metric", "stratum", "n", "k", "rate", "seed_min", "seed_max", "seeds"])
    df = pd.concat(frames, ignore_index=True)
    out = (
        df.groupby(["arm", "metric", "stratum"], sort=False)
        .agg(n=("n", "sum"), k=("k", "sum"), seed_min=("rate", "min"), seed_max=("rate", "max"), seeds=("seed", "size"))
        .reset_index()
    )
    out["rate"] = np.where(out.n > 0, out.k / out.n.where(out.n > 0, 1), np.nan)
    return out[["arm", "metric", "stratum", "n", "k", "rate", "seed_min", "seed_max", "seeds"]]


ARMS = ("adapter", "baseline", "base")


def pooled_dirs(run_root: str | os.PathLike) -> tuple[list[Path], list[str], list[Scored]]:
    """(the seed folders pooled, why each other one is not, each pooled seed read): a seed needs the newest
    seed's params and predictions of every arm in ARMS."""
    dirs, left_out = seed_dirs(run_root)
    kept, scored = [], []
    for d in dirs:
        missing = [a for a in ARMS if not (d / "predictions" / f"{a}.json").exists()]
        if not (d / "cohort.jsonl").exists() or missing:
            what = "cohort.jsonl" if not (d / "cohort.jsonl").exists() else ", ".join(f"{a}.json" for a in missing)
            left_out.append(f"{d.name}: no {what} (a run that has not reached 05, or not a complications run)")
            continue
        kept.append(d)
        scored.append(read_scored(d, ARMS))
    return kept, left_out, scored


def build(run_root: str | os.PathLike, n_boot: int = 2000) -> dict | None:
    """The pooled summary of runs/<run>/ (None with fewer than two seeds to pool)."""
    return _summary(run_root, *pooled_dirs(run_root), n_boot=n_boot)[0]


def pooled_thresholds(dirs: Sequence[Path]) -> pd.DataFrame:
    """decisions.fixed_thresholds over the seeds' decisions.csv (empty when none recorded P(True))."""
    frames = [f for f in (decisions.read(d) for d in dirs) if f is not None]
    return decisions.fixed_thresholds(frames) if frames else pd.DataFrame()


def _summary(
    run_root, dirs: list[Path], left_out: list[str], scored: list[Scored], n_boot: int
) -> tuple[dict | None, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(seeds_summary, pooled strata, per-complication counts, per complication and stratum, fixed thresholds);
    (None, ...) below two seeds."""
    if len(dirs) < 2:
        return None, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), pd.DataFrame()
    counts = [case_counts(x) for x in scored]
    strata, per_complication, by_stratum = pooled_strata(dirs), complication_counts(scored), complication_strata(scored)
    summaries = [json.loads((d / "summary.json").read_text(encoding="utf-8")) for d in dirs]
    out: dict = {
        "run": Path(run_root).name,
        "seeds": [s.get("seed", d.name) for s, d in zip(summaries, dirs)],
        "n_seeds": len(dirs),
        "seeds_left_out": left_out,
        "n_cases": int(sum(len(c["adapter"]) for c in counts)),
    }
    for arm in ARMS:
        out[f"f1_{arm}"] = _f1(np.concatenate([c[arm] for c in counts]))
    for name, a, b in DIFFERENCES:
        delta, lo, hi = pooled_delta_ci([(c[a], c[b]) for c in counts], n_boot=n_boot)
        out.update({name: delta, f"{name}_ci_low": lo, f"{name}_ci_high": hi})
    out["seeds_adapter_above_baseline"] = sum(1 for s in summaries if (s.get("f1_vs_baseline") or 0) > 0)
    out["seeds_trap_fpr_below_baseline"] = sum(
        1
        for s in summaries
        if s.get("fpr_trap_adapter") is not None
        and s.get("fpr_trap_baseline") is not None
        and s["fpr_trap_adapter"] < s["fpr_trap_baseline"]
    )
    for row in strata.itertuples(index=False):
        if row.arm in ARMS:
            out[f"{row.metric}_{row.arm}"] = None if row.rate != row.rate else float(row.rate)
    for row in per_complication.itertuples(index=False):
        out[f"f1_{row.complication}_{row.arm}"] = row.f1
    out["strata_per_complication"] = {}
    for row in by_stratum.itertuples(index=False):
        per = out["strata_per_complication"].setdefault(row.complication, {}).setdefault(row.stratum, {})
        per[row.arm] = [int(row.k), int(row.n)]
    thresholds = pooled_thresholds(dirs)
    out["threshold_f1_adapter"] = {f"{r.threshold:g}": r.f1_pooled for r in thresholds.itertuples(index=False)}
    out["per_seed"] = {key: [s.get(key) for s in summaries] for key in PER_SEED}
    return out, strata, per_complication, by_stratum, thresholds


def write(run_root: str | os.PathLike, n_boot: int = 2000) -> dict | None:
    """runs/<run>/seeds_summary.json, strata_pooled.csv, complications_pooled.csv,
    complication_strata_pooled.csv and thresholds_pooled.csv beside it; None (nothing written) below two seeds."""
    s, strata, per_complication, by_stratum, thresholds = _summary(run_root, *pooled_dirs(run_root), n_boot=n_boot)
    if s is None:
        return None
    write_json(Path(run_root) / "seeds_summary.json", s)
    atomic_write_text(Path(run_root) / "strata_pooled.csv", strata.to_csv(index=False))
    atomic_write_text(Path(run_root) / "complications_pooled.csv", per_complication.to_csv(index=False))
    atomic_write_text(Path(run_root) / "complication_strata_pooled.csv", by_stratum.to_csv(index=False))
    if not thresholds.empty:
        atomic_write_text(Path(run_root) / "thresholds_pooled.csv", thresholds.to_csv(index=False))
    return s


def write_all(runs_dir: str | os.PathLike, n_boot: int = 2000) -> dict[str, dict]:
    """seeds_summary.json for every runs_dir/<run> with two or more summarised seeds."""
    out = {}
    for root in sorted(p for p in Path(runs_dir).iterdir() if p.is_dir()) if Path(runs_dir).is_dir() else []:
        s = write(root, n_boot)
        if s is not None:
            out[root.name] = s
    return out


def describe(s: dict) -> str:
    """Lines for a person: the pooled differences, the strata and how many seeds each way."""

    def pct(key: str) -> str:
        v = s.get(key)
        return "-" if v is None else f"{v:.3f}"

    names = {"adapter": "adapter", "baseline": "TF-IDF", "base": "base model"}
    lines = [f"{s['run']}: {s['n_seeds']} seeds ({', '.join(map(str, s['seeds']))}), {s['n_cases']} cases pooled"]
    for name, a, b in DIFFERENCES:
        if name in s:
            ci = f"[{s[name + '_ci_low']:+.3f}, {s[name + '_ci_high']:+.3f}]"
            lines.append(f"  F1 {names[a]} - {names[b]}: {s[name]:+.3f} {ci} (seeds, then cases, resampled)")
    lines.append(
        f"  adapter above TF-IDF on {s['seeds_adapter_above_baseline']} of {s['n_seeds']} seeds; trap FPR below "
        f"TF-IDF's on {s['seeds_trap_fpr_below_baseline']} of {s['n_seeds']}"
    )
    lines += [f"  left out: {why}" for why in s.get("seeds_left_out", [])]
    lines.append(
        f"  pooled: criteria-only recall adapter {pct('recall_criteria_adapter')} / TF-IDF "
        f"{pct('recall_criteria_baseline')}; trap FPR adapter {pct('fpr_trap_adapter')} / TF-IDF "
        f"{pct('fpr_trap_baseline')}"
    )
    per = [k[3:-8] for k in s if k.startswith("f1_") and k.endswith("_adapter") and f"{k[:-8]}_baseline" in s]
    per = [c for c in per if c in taxonomy.BY_ID]
    if per:
        lines.append(
            "  F1 per complication, adapter / TF-IDF: "
            + ", ".join(f"{c} {s[f'f1_{c}_adapter']:.3f} / {s[f'f1_{c}_baseline']:.3f}" for c in per)
        )
    by = s.get("strata_per_complication") or {}
    if by:
        lines.append("  True by complication and stratum (positives found, negatives wrong), adapter / TF-IDF:")
    for cid, per_stratum in by.items():
        parts = [
            f"{stratum} {' / '.join(f'{k}/{n}' for k, n in (arms.get(a, (0, 0)) for a in ('adapter', 'baseline')))}"
            for stratum, arms in per_stratum.items()
        ]
        lines.append(f"    {cid}: " + ", ".join(parts))
    if s.get("threshold_f1_adapter"):
        lines.append(
            "  adapter F1 with True at P(True) >= t, seeds pooled (no paper rule; 0.5 is the greedy answer's): "
            + ", ".join(f"{t} {f:.3f}" for t, f in s["threshold_f1_adapter"].items())
        )
    return "\n".join(lines)
