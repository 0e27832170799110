"""Classical baseline: TF-IDF n-grams + one linear classifier per complication, scored like the LLMs.

Why: a fine-tuned LLM's F1 means little without the number a bag-of-n-grams model reaches on the same
split. Character n-grams carry the signal in Chinese records (no word boundaries); word n-grams help in
English. Each complication gets its own balanced logistic regression (complications absent from the
training split are never predicted), and a per-complication grade classifier (a constant when training
shows one grade). Predictions follow the paper's rules (empty -> 无术后并发症; 感染 dropped beside a
specific infection), so the files are comparable with the authors' result files.

Outputs in --out DIR:
  predictions/{baseline,most_frequent}.json         {case_id: [zh short]}
  predictions_strict/{baseline,most_frequent}.json  {case_id: ["<zh short>_<轻|中|重|Null>"]}
  baseline_micro.csv, baseline_micro_strict.csv     Models,Precision,Recall,F1_score (the paper's shape)
  baseline_metrics.csv                              the same rows with a leading Evaluation column
                                                    (lenient | strict)
`most_frequent` always answers the most frequent label set of the training split.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion
from tqdm.auto import tqdm

from ..core import taxonomy
from ..core.io import atomic_write_text, write_json
from ..core.records import Case, gold_maps, load_cohort, split_cases
from ..inference.labels import apply_rules
from . import metrics

MODELS = ("tfidf_baseline", "most_frequent")
FILES = {"tfidf_baseline": "baseline", "most_frequent": "most_frequent"}
COLUMNS = ["Models", "Precision", "Recall", "F1_score"]


def make_vectorizer(max_features: int = 200_000) -> FeatureUnion:
    """Word 1-2-grams + character 2-4-grams, sublinear TF."""
    return FeatureUnion(
        [
            (
                "word",
                TfidfVectorizer(
                    analyzer="word",
                    ngram_range=(1, 2),
                    sublinear_tf=True,
                    min_df=1,
                    max_features=max_features,
                    token_pattern=r"(?u)\b\w+\b",
                ),
            ),
            (
                "char",
                TfidfVectorizer(
                    analyzer="char", ngram_range=(2, 4), sublinear_tf=True, min_df=1, max_features=max_features
                ),
            ),
        ]
    )


def _fit_or_constant(X, y, seed: int, C: float):
    """A balanced logistic regression, or the single class seen in training."""
    classes = np.unique(y)
    if len(classes) == 1:
        return classes[0]
    return LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=seed).fit(X, y)


def _predict(model, X) -> np.ndarray:
    if isinstance(model, LogisticRegression):
        return model.predict(X)
    return np.full(X.shape[0], model, dtype=object)


@dataclass
class TfidfBaseline:
    """Fitted vectorizer, one presence model and one grade model per complication seen in training."""

    seed: int = 0
    C: float = 10.0
    vectorizer: FeatureUnion | None = None
    presence: dict[str, object] = field(default_factory=dict)
    grades: dict[str, object] = field(default_factory=dict)
    train_counts: Counter = field(default_factory=Counter)

    def fit(self, cases: Sequence[Case]) -> TfidfBaseline:
        if not cases:
            raise ValueError("the training split is empty: the cohort needs cases with split 'train'")
        self.vectorizer = make_vectorizer()
        X = self.vectorizer.fit_transform([c.record for c in cases])
        gold = [{g.complication: g.grade for g in c.gold} for c in cases]
        self.train_counts = Counter(cid for g in gold for cid in g)
        for cid in tqdm(taxonomy.IDS, desc="baseline: fitting", leave=False):
            if not self.train_counts[cid]:
                continue  # never seen in training: never predicted
            y = np.array([cid in g for g in gold])
            self.presence[cid] = _fit_or_constant(X, y, self.seed, self.C)
            pos = np.flatnonzero(y)
            self.grades[cid] = _fit_or_constant(
                X[pos], np.array([gold[i][cid] for i in pos], dtype=object), self.seed, self.C
            )
        return self

    def predict(self, cases: Sequence[Case]) -> dict[str, list[tuple[str, str]]]:
        """{case_id: [(complication id, grade)]} before the paper's rules."""
        if self.vectorizer is None:
            raise RuntimeError("fit the baseline before predicting")
        out: dict[str, list[tuple[str, str]]] = {c.case_id: [] for c in cases}
        if not cases:
            return out
        X = self.vectorizer.transform([c.record for c in cases])
        ids = [c.case_id for c in cases]
        for cid, model in self.presence.items():
            present = _predict(model, X).astype(bool)
            if not present.any():
                continue
            rows = np.flatnonzero(present)
            grades = _predict(self.grades[cid], X[rows])
            for r, g in zip(rows, grades):
                out[ids[r]].append((cid, str(g)))
        return out


def most_frequent_sets(train: Sequence[Case]) -> tuple[list[str], list[str]]:
    """(lenient, strict) most frequent label set of the training split; ties go to the smaller, sorted first."""
    if not train:
        raise ValueError("the training split is empty: the cohort needs cases with split 'train'")

    def top(sets: list[tuple[str, ...]]) -> list[str]:
        counts = Counter(sets)
        return list(min(counts, key=lambda s: (-counts[s], len(s), s)))

    return top([tuple(c.labels()) for c in train]), top([tuple(c.strict_labels()) for c in train])


def predict_files(model: TfidfBaseline, train: Sequence[Case], evaluate: Sequence[Case]) -> dict[str, dict]:
    """{"lenient"|"strict": {model name: {case_id: labels}}} for the evaluation cases."""
    raw = model.predict(evaluate)
    lenient_mf, strict_mf = most_frequent_sets(train)
    ids = [c.case_id for c in evaluate]
    return {
        "lenient": {
            "tfidf_baseline": {i: apply_rules(raw[i], strict=False) for i in ids},
            "most_frequent": {i: list(lenient_mf) for i in ids},
        },
        "strict": {
            "tfidf_baseline": {i: apply_rules(raw[i], strict=True) for i in ids},
            "most_frequent": {i: list(strict_mf) for i in ids},
        },
    }


def score(preds: dict[str, dict], evaluate: Sequence[Case]) -> pd.DataFrame:
    """Micro P/R/F1 per model and evaluation mode (metrics.micro_prf, the authors' arithmetic)."""
    gold_lenient, gold_strict = gold_maps(evaluate)
    rows = []
    for mode, gold in (("lenient", gold_lenient), ("strict", gold_strict)):
        for name in MODELS:
            m = metrics.micro_prf(gold, preds[mode][name])
            rows.append(
                {
                    "Evaluation": mode,
                    "Models": name,
                    "Precision": m["precision"],
                    "Recall": m["recall"],
                    "F1_score": m["f1"],
                }
            )
    return pd.DataFrame(rows)


def run(cases: Sequence[Case], out_dir: str | Path, seed: int = 0) -> pd.DataFrame:
    """Train on 'train', predict 'eval' (validation, else test), write predictions and tables."""
    train = split_cases(cases, "train")
    evaluate = split_cases(cases, "eval")
    if not evaluate:
        raise ValueError("the cohort has no validation or test cases to evaluate")
    model = TfidfBaseline(seed=seed).fit(train)
    preds = predict_files(model, train, evaluate)
    out = Path(out_dir)
    for mode, folder in (("lenient", "predictions"), ("strict", "predictions_strict")):
        for name in MODELS:
            write_json(out / folder / f"{FILES[name]}.json", preds[mode][name])
    table = score(preds, evaluate)
    atomic_write_text(out / "baseline_metrics.csv", table.to_csv(index=False))
    atomic_write_text(out / "baseline_micro.csv", table[table.Evaluation == "lenient"][COLUMNS].to_csv(index=False))
    atomic_write_text(
        out / "baseline_micro_strict.csv", table[table.Evaluation == "strict"][COLUMNS].to_csv(index=False)
    )
    return table


def cli(argv: list[str]) -> int:
    from ..core.logs import show_logs

    show_logs()
    ap = argparse.ArgumentParser(prog="python -m pericomp_lib baseline", description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", required=True, help="cohort.jsonl (train split for fitting, eval split scored)")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        cases = load_cohort(args.cohort, check_evidence=False)
        Path(args.out).mkdir(parents=True, exist_ok=True)  # an unwritable --out fails now, not after fitting
        table = run(cases, args.out, seed=args.seed)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    print(f"wrote {args.out}/predictions, predictions_strict, baseline_metrics.csv")
    return 0
