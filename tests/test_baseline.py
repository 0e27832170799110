"""TF-IDF baseline: learns a separable toy cohort, beats most-frequent, writes paper-shaped files."""

import json
import random

import pandas as pd
import pytest

from pericomp_lib.__main__ import main
from pericomp_lib.core.records import Case, GoldLabel, write_cohort
from pericomp_lib.evaluation import baseline

# phrase that signals the complication; the grade shows as a severity word
SIGNS = {
    "acute_kidney_injury": "肌酐升高至基线两倍",
    "pneumonia": "胸片见新发浸润影伴咳脓痰",
    "delirium": "夜间躁动定向障碍",
    "postoperative_bleeding": "引流血性液体需输血",
}
GRADE_WORDS = {"mild": "轻微观察", "moderate": "药物治疗", "severe": "转入重症监护"}
FILLER = ["生命体征平稳", "切口敷料干洁", "饮食逐步恢复", "继续目前治疗", "复查血常规", "患者精神可"]


def toy_cohort(n_train=60, n_test=30, seed=0, absent_in_train="stroke"):
    rng = random.Random(seed)
    cases = []
    for i in range(n_train + n_test):
        split = "train" if i < n_train else "test"
        gold, parts = [], rng.sample(FILLER, 3)
        for cid, sign in SIGNS.items():
            if rng.random() < 0.3:
                grade = rng.choice(list(GRADE_WORDS))
                gold.append(GoldLabel(cid, grade, [sign]))
                parts.append(f"{sign}，{GRADE_WORDS[grade]}")
        if split == "test" and i % 10 == 0:  # a complication the training split never shows
            gold.append(GoldLabel(absent_in_train, "severe", []))
            parts.append("突发偏瘫")
        rng.shuffle(parts)
        cases.append(Case(f"t{i:03d}", "toy", split, "zh", "。".join(parts) + "。", gold))
    return cases


def test_baseline_beats_most_frequent_and_learns_grades(tmp_path):
    cases = toy_cohort()
    table = baseline.run(cases, tmp_path, seed=0)
    f1 = {(r.Evaluation, r.Models): r.F1_score for r in table.itertuples()}
    assert f1[("lenient", "tfidf_baseline")] > 0.85
    assert f1[("lenient", "tfidf_baseline")] > f1[("lenient", "most_frequent")] + 0.3
    assert f1[("strict", "tfidf_baseline")] > 0.6
    assert f1[("strict", "tfidf_baseline")] > f1[("strict", "most_frequent")] + 0.3

    preds = json.loads((tmp_path / "predictions" / "baseline.json").read_text(encoding="utf-8"))
    strict = json.loads((tmp_path / "predictions_strict" / "baseline.json").read_text(encoding="utf-8"))
    test_ids = [c.case_id for c in cases if c.split == "test"]
    assert sorted(preds) == sorted(strict) == test_ids
    assert all(labels for labels in preds.values())  # empty answers became 无术后并发症
    assert not any("中风" in labels for labels in preds.values())  # never seen in train: never predicted
    assert all(lab.rsplit("_", 1)[1] in {"轻", "中", "重", "Null"} for labels in strict.values() for lab in labels)

    mf = json.loads((tmp_path / "predictions" / "most_frequent.json").read_text(encoding="utf-8"))
    assert len({tuple(v) for v in mf.values()}) == 1
    for name in ("baseline_micro.csv", "baseline_micro_strict.csv"):
        df = pd.read_csv(tmp_path / name)
        assert list(df.columns) == ["Models", "Precision", "Recall", "F1_score"]
        assert list(df.Models) == ["tfidf_baseline", "most_frequent"]
    assert list(pd.read_csv(tmp_path / "baseline_metrics.csv").columns) == [
        "Evaluation",
        "Models",
        "Precision",
        "Recall",
        "F1_score",
    ]


def test_most_frequent_set_and_constant_classes():
    train = [
        Case("a", "c", "train", "zh", "x", []),
        Case("b", "c", "train", "zh", "y", []),
        Case("c", "c", "train", "zh", "z", [GoldLabel("pneumonia", "mild")]),
    ]
    assert baseline.most_frequent_sets(train) == (["无术后并发症"], ["无术后并发症_Null"])
    # a complication in every training case is a constant "yes" with a constant grade
    always = [Case(str(i), "c", "train", "zh", f"记录{i}", [GoldLabel("delirium", "mild")]) for i in range(3)]
    model = baseline.TfidfBaseline().fit(always)
    assert model.predict([Case("q", "c", "test", "zh", "别的", [])]) == {"q": [("delirium", "mild")]}


def test_errors_and_cli(tmp_path, capsys):
    with pytest.raises(ValueError, match="training split is empty"):
        baseline.TfidfBaseline().fit([])
    only_train = [Case("a", "c", "train", "zh", "x", [])]
    with pytest.raises(ValueError, match="no validation or test"):
        baseline.run(only_train, tmp_path)
    cohort = write_cohort(tmp_path / "cohort.jsonl", toy_cohort(n_train=30, n_test=10, seed=1))
    assert main(["baseline", "--cohort", str(cohort), "--out", str(tmp_path / "out")]) == 0
    assert "tfidf_baseline" in capsys.readouterr().out
    assert (tmp_path / "out" / "predictions_strict" / "most_frequent.json").exists()
    assert main(["baseline", "--cohort", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")]) == 2
