"""Stage 01: make `cohort.jsonl` from any source, and describe it next to the published gold standard.

One entry point (`make_cohort`) so notebooks and the batch runner never branch on where cases come
from; the summary helpers return pandas frames the notebook shows as they are.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from ..core import records, taxonomy
from ..core.records import Case
from ..llm.tokens import count_tokens


def _synthetic(n_cases, language, seed, difficulty, n_external, n_val, record_length, twins=(), **_) -> list[Case]:
    from .synthetic import generate_cohort

    return generate_cohort(
        int(n_cases),
        language,
        int(seed),
        float(difficulty),
        n_val=n_val,
        n_external=int(n_external or 0),
        progress=True,
        record_length=record_length,
        twins=twins,
    )


def _pericomp_repo(pericomp_dir, **_) -> list[Case]:
    if not pericomp_dir:
        raise ValueError("cohort_source='pericomp_repo' needs pericomp_dir: the folder of a PeriComp clone")
    from .pericomp_repo import load_cases

    return load_cases(pericomp_dir)


def _jsonl(cohort_path, **_) -> list[Case]:
    if not cohort_path:
        raise ValueError("cohort_source='jsonl' needs cohort_path: a cohort.jsonl file (see README, 'your own data')")
    return records.load_cohort(cohort_path)


def _csv(cohort_path, **_) -> list[Case]:
    if not cohort_path:
        raise ValueError("cohort_source='csv' needs cohort_path: a CSV with case_id, record, labels columns")
    from .user_files import load_csv

    return load_csv(cohort_path)


def _mimic(cohort_path, out_dir, seed, **_) -> list[Case]:
    if not cohort_path:
        raise ValueError("cohort_source='mimic' needs cohort_path: the MIMIC-IV folder holding hosp/ (and note/)")
    from .mimic import build_mimic

    built = build_mimic(cohort_path, Path(out_dir) / "mimic", seed=int(seed))
    return records.load_cohort(built.cohort_path)


# One loader per cohort_source; each takes the settings it needs from make_cohort's keywords.
LOADERS: dict[str, Callable[..., list[Case]]] = {
    "synthetic": _synthetic,
    "pericomp_repo": _pericomp_repo,
    "jsonl": _jsonl,
    "csv": _csv,
    "mimic": _mimic,
}
SOURCES = tuple(LOADERS)


def make_cohort(
    source: str = "synthetic",
    n_cases: int = 300,
    language: str = "en",
    seed: int = 1,
    pericomp_dir: str | os.PathLike | None = None,
    cohort_path: str | os.PathLike | None = None,
    out_dir: str | os.PathLike = "runs/default/seed-1",
    difficulty: float = 0.5,
    n_external: int = 0,
    n_val: int | None = None,
    record_length: str = "full",
    twins=(),
) -> list[Case]:
    """Load or generate cases, write out_dir/cohort.jsonl atomically, return the cases.
    record_length ("full" | "compact" | "notes") and twins (counterfactual training twins of these trap kinds)
    shape synthetic cohorts only; other sources keep their text."""
    from .synthetic import check_record_length

    check_record_length(record_length)
    if source != "synthetic" and record_length != "full":
        # a warning, not a log line: the user must act: a params key that has no effect here
        warnings.warn(
            f"record_length={record_length!r} only applies to cohort_source='synthetic'; "
            f"{source!r} records are used as they are",
            stacklevel=2,
        )
    if source != "synthetic" and twins:
        warnings.warn(
            f"twins={list(twins)} only applies to cohort_source='synthetic' (the twins are drawn by its generator); "
            f"{source!r} cohorts get none",
            stacklevel=2,
        )
    if source not in LOADERS:
        raise ValueError(f"cohort_source={source!r}: use one of {', '.join(SOURCES)}")
    cases = LOADERS[source](
        n_cases=n_cases,
        language=language,
        seed=seed,
        pericomp_dir=pericomp_dir,
        cohort_path=cohort_path,
        out_dir=out_dir,
        difficulty=difficulty,
        n_external=n_external,
        n_val=n_val,
        record_length=record_length,
        twins=twins,
    )
    if not cases:
        raise ValueError(f"cohort_source={source!r} produced no cases")
    records.write_cohort(Path(out_dir) / "cohort.jsonl", cases)
    return cases


# ---------------------------------------------------------------------------------------------- published
def published_stats(pericomp_dir: str | os.PathLike | None = None, center: str = "center1") -> dict:
    """Label mix of the authors' strict gold (from a clone when given, else the embedded measurement)."""
    from .synthetic import label_mix

    if pericomp_dir:
        from .pericomp_repo import load_gold

        return label_mix.stats_from_strict_gold(load_gold(pericomp_dir, center, strict=True))
    t = {"center1": label_mix.CENTER1, "center2": label_mix.CENTER2}[center]
    n = t["n_cases"]
    return {
        "n_cases": n,
        "none_share": t["per_case"][0] / n,
        "per_case": {k: v / n for k, v in t["per_case"].items()},
        "freq": dict(t["freq"]),
        "grades": {cid: dict(t["grades"].get(cid, {})) for cid in taxonomy.IDS},
    }


def _cases(cases: Iterable[Case], split: str | None) -> list[Case]:
    """The cohort's own cases: counterfactual twins (meta.twin_of) are training augmentation, not its label mix."""
    cases = [c for c in cases if not (c.meta or {}).get("twin_of")]
    return records.split_cases(cases, split) if split else cases


def label_frequencies(
    cases: Iterable[Case], pericomp_dir=None, center: str = "center1", split: str | None = None
) -> pd.DataFrame:
    """Share of cases with each complication, next to the published share (no-complication row included)."""
    cases = _cases(cases, split)
    pub = published_stats(pericomp_dir, center)
    n = len(cases)
    freq = Counter(g.complication for c in cases for g in c.gold)
    rows = [
        {
            "complication": cid,
            "zh": taxonomy.zh_short(cid),
            "cases": freq[cid],
            "share": freq[cid] / n,
            "published_cases": pub["freq"][cid],
            "published_share": pub["freq"][cid] / pub["n_cases"],
        }
        for cid in taxonomy.IDS
    ]
    none = sum(1 for c in cases if not c.gold)
    rows.append(
        {
            "complication": taxonomy.NONE_ID,
            "zh": taxonomy.NONE_ZH,
            "cases": none,
            "share": none / n,
            "published_cases": round(pub["none_share"] * pub["n_cases"]),
            "published_share": pub["none_share"],
        }
    )
    return pd.DataFrame(rows).sort_values("published_share", ascending=False, kind="stable").reset_index(drop=True)


def rank_correlation(cases: Iterable[Case], pericomp_dir=None, center: str = "center1") -> float:
    """Spearman correlation of the 22 label frequencies with the published gold."""
    df = label_frequencies(cases, pericomp_dir, center)
    df = df[df["complication"] != taxonomy.NONE_ID]
    return float(df["cases"].corr(df["published_cases"], method="spearman"))


def grade_mix(
    cases: Iterable[Case], pericomp_dir=None, center: str = "center1", split: str | None = None
) -> pd.DataFrame:
    """Grade counts per complication, synthetic next to published."""
    cases = _cases(cases, split)
    pub = published_stats(pericomp_dir, center)["grades"]
    ours: dict[str, Counter] = {}
    for c in cases:
        for g in c.gold:
            ours.setdefault(g.complication, Counter())[g.grade] += 1
    rows = []
    for cid in taxonomy.IDS:
        row: dict[str, Any] = {"complication": cid}
        for grade in taxonomy.GRADES:
            row[grade] = ours.get(cid, Counter())[grade]
            row[f"published_{grade}"] = pub.get(cid, {}).get(grade, 0)
        rows.append(row)
    return pd.DataFrame(rows)


def labels_per_case(
    cases: Iterable[Case], pericomp_dir=None, center: str = "center1", split: str | None = None
) -> pd.DataFrame:
    cases = _cases(cases, split)
    pub = published_stats(pericomp_dir, center)["per_case"]
    ours = Counter(len(c.gold) for c in cases)
    ks = sorted(set(ours) | set(pub))
    return pd.DataFrame(
        {"labels": ks, "share": [ours[k] / len(cases) for k in ks], "published_share": [pub.get(k, 0.0) for k in ks]}
    )


def record_lengths(cases: Iterable[Case], tokenizer=None) -> pd.DataFrame:
    """Record length in tokens (tokens.count_tokens) by split and language: count, mean and quartiles."""
    df = pd.DataFrame(
        [{"split": c.split, "language": c.language, "tokens": count_tokens(c.record, tokenizer)} for c in cases]
    )
    out = df.groupby(["split", "language"])["tokens"].describe()[["count", "mean", "min", "25%", "50%", "75%", "max"]]
    return out.round(1).reset_index()


def split_counts(cases: Iterable[Case]) -> pd.DataFrame:
    """Cases per center and split; `twins`: the counterfactual twins among them (params `twins`)."""
    df = pd.DataFrame(
        [
            {
                "center": c.center,
                "split": c.split,
                "no_complication": not c.gold,
                "twin": bool((c.meta or {}).get("twin_of")),
            }
            for c in cases
        ]
    )
    return (
        df.groupby(["center", "split"])
        .agg(cases=("split", "size"), twins=("twin", "sum"), no_complication=("no_complication", "mean"))
        .reset_index()
    )


def show_record(cases: Iterable[Case], case_id: str | None = None, index: int = 0) -> str:
    """One record in full with its gold labels and evidence, for reading."""
    cases = list(cases)
    if case_id is not None:
        match = [c for c in cases if c.case_id == case_id]
        if not match:
            raise KeyError(f"case_id {case_id!r} not in the cohort ({len(cases)} cases, e.g. {cases[0].case_id!r})")
        case = match[0]
    else:
        case = cases[index]
    lines = [f"== {case.case_id} ({case.center}, {case.split}, {case.language}) ==", case.record.rstrip(), "", "Gold:"]
    for g in case.gold or []:
        lines.append(f"- {g.complication} [{g.grade}] ({taxonomy.strict_label(g.complication, g.grade)})")
        lines += [f"    evidence: {e}" for e in g.evidence]
    if not case.gold:
        lines.append(f"- {taxonomy.NONE_ZH} (no complication)")
    if case.meta:
        lines.append(f"meta: {case.meta}")
    return "\n".join(lines)
