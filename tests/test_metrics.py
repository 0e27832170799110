"""Metrics: hand-computed cases, the authors' edge-case semantics, and agreement with scikit-learn."""

import random

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support
from sklearn.preprocessing import MultiLabelBinarizer

from pericomp_lib.evaluation import metrics

NONE = "无术后并发症"

# case a: gold {感染, 肺炎}, pred {感染, 贫血}        -> tp 1, fp 1, fn 1
# case b: gold {无术后并发症}, pred {无术后并发症}    -> tp 1
# case c: gold {谵妄}, pred {} (empty answer)          -> fn 1
# case d: gold {心律失常}, pred {心律失常, 心律失常}  -> duplicates count once: tp 1
GOLD = {"a": ["感染", "肺炎"], "b": [NONE], "c": ["谵妄"], "d": ["心律失常"]}
PRED = {"a": ["感染", "贫血"], "b": [NONE], "c": [], "d": ["心律失常", "心律失常"], "zz": ["肺炎"]}


def test_micro_by_hand():
    m = metrics.micro_prf(GOLD, PRED)
    # tp 3, fp 1, fn 2 (the extra case 'zz' is ignored: cases are the gold cases)
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["recall"] == pytest.approx(3 / 5)
    assert m["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert m["support"] == 5 and m["n_cases"] == 4


def test_per_sample_macro_by_hand():
    m = metrics.macro_prf(GOLD, PRED)
    # per case P: a .5, b 1, c 0 (0/0), d 1; R: a .5, b 1, c 0, d 1; F1: a .5, b 1, c 0, d 1
    assert m["precision"] == pytest.approx(2.5 / 4)
    assert m["recall"] == pytest.approx(2.5 / 4)
    assert m["f1"] == pytest.approx(2.5 / 4)


def test_macro_f1_is_mean_of_case_f1_not_f1_of_means():
    gold = {"1": ["A"], "2": ["A", "B", "C", "D"]}
    pred = {"1": ["A", "X", "Y", "Z"], "2": ["A"]}
    m = metrics.macro_prf(gold, pred)
    # case 1: P .25 R 1 F1 .4; case 2: P 1 R .25 F1 .4 -> mean F1 .4, while 2PR/(P+R) of means = .625
    assert m["precision"] == pytest.approx(0.625) and m["recall"] == pytest.approx(0.625)
    assert m["f1"] == pytest.approx(0.4)


def test_empty_prediction_is_not_the_none_label():
    gold = {"1": [NONE]}
    assert metrics.micro_prf(gold, {"1": []})["f1"] == 0.0
    assert metrics.micro_prf(gold, {"1": [NONE]})["f1"] == 1.0


def test_all_empty_gives_zero_not_nan():
    m = metrics.micro_prf({"1": []}, {"1": []})
    assert (m["precision"], m["recall"], m["f1"]) == (0.0, 0.0, 0.0)
    m = metrics.macro_prf({"1": []}, {"1": []})
    assert (m["precision"], m["recall"], m["f1"]) == (0.0, 0.0, 0.0)


def test_missing_case_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"lack 1 of 4 gold cases \(c\)"):
        metrics.micro_prf(GOLD, {k: v for k, v in PRED.items() if k != "c"})


def test_labels_must_be_lists_not_strings():
    with pytest.raises(TypeError, match="case 'a'"):
        metrics.micro_prf({"a": ["感染"]}, {"a": "感染"})


def test_prf_dispatch_and_unknown_average():
    assert metrics.prf(GOLD, PRED, "micro") == metrics.micro_prf(GOLD, PRED)
    assert metrics.prf(GOLD, PRED, "macro") == metrics.macro_prf(GOLD, PRED)
    with pytest.raises(ValueError, match="unknown average"):
        metrics.prf(GOLD, PRED, "weighted")


def _random_maps(seed, n_cases=60, vocab=("感染", "肺炎", "谵妄", NONE, "贫血", "心律失常", "肺炎_中")):
    rnd = random.Random(seed)
    gold = {str(i): rnd.sample(vocab, rnd.randint(0, 3)) for i in range(n_cases)}
    pred = {str(i): rnd.sample(vocab, rnd.randint(0, 3)) + rnd.sample(vocab, rnd.randint(0, 1)) for i in range(n_cases)}
    return gold, pred


def _sk(gold, pred, average):
    ids = list(gold)
    mlb = MultiLabelBinarizer()
    mlb.fit([set(gold[i]) for i in ids] + [set(pred[i]) for i in ids])
    yt, yp = mlb.transform([set(gold[i]) for i in ids]), mlb.transform([set(pred[i]) for i in ids])
    return precision_recall_fscore_support(yt, yp, average=average, zero_division=0.0)


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_sklearn(seed):
    gold, pred = _random_maps(seed)
    p, r, f, _ = _sk(gold, pred, "micro")
    m = metrics.micro_prf(gold, pred)
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((p, r, f), abs=1e-12)
    p, r, f, _ = _sk(gold, pred, "samples")
    m = metrics.macro_prf(gold, pred)
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((p, r, f), abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_per_label_agrees_with_sklearn(seed):
    gold, pred = _random_maps(seed)
    df = metrics.per_label_prf(gold, pred, canonical=False).set_index("label")
    ids = list(gold)
    mlb = MultiLabelBinarizer(classes=sorted(df.index))
    yt, yp = mlb.fit_transform([set(gold[i]) for i in ids]), mlb.transform([set(pred[i]) for i in ids])
    p, r, f, s = precision_recall_fscore_support(yt, yp, average=None, zero_division=0.0)
    for j, label in enumerate(mlb.classes_):
        row = df.loc[label]
        assert (row.precision, row.recall, row.f1) == pytest.approx((p[j], r[j], f[j]), abs=1e-12)
        assert row.support == s[j]


def test_per_label_canonical_ids_and_unknown_labels():
    gold = {"1": ["感染（来源不明）", "肺炎"], "2": [NONE]}
    pred = {"1": ["感染", "贫血"], "2": [NONE]}
    df = metrics.per_label_prf(gold, pred).set_index("label")
    assert set(df.index) == {"infection_unknown_source", "pneumonia", "none", "贫血"}
    assert df.loc["infection_unknown_source"].f1 == 1.0  # two spellings, one complication
    assert df.loc["pneumonia"].recall == 0.0 and df.loc["pneumonia"].support == 1
    assert df.loc["贫血"].precision == 0.0 and df.loc["贫血"].support == 0 and df.loc["贫血"].predicted == 1
    assert list(df.columns) == ["precision", "recall", "f1", "support", "predicted"]


def test_canonical_label_strict_forms():
    assert metrics.canonical_label("感染_中") == "infection_unknown_source_moderate"
    assert metrics.canonical_label(f"{NONE}_Null") == "none"
    assert metrics.canonical_label("贫血_中") == "贫血_中"


def test_bootstrap_ci_is_seeded_and_brackets_the_estimate():
    gold, pred = _random_maps(7, n_cases=200)
    a = metrics.bootstrap_ci(gold, pred, "micro", n_boot=300, seed=1)
    b = metrics.bootstrap_ci(gold, pred, "micro", n_boot=300, seed=1)
    assert a == b
    point = metrics.micro_prf(gold, pred)
    for key in ("precision", "recall", "f1"):
        lo, hi = a[key]
        assert 0 <= lo < point[key] < hi <= 1
    m = metrics.bootstrap_ci(gold, pred, "macro", n_boot=300, seed=1)
    assert m["f1"][0] < metrics.macro_prf(gold, pred)["f1"] < m["f1"][1]


def test_bootstrap_of_perfect_predictions_is_degenerate():
    gold = {str(i): ["肺炎"] for i in range(20)}
    ci = metrics.bootstrap_ci(gold, gold, "micro", n_boot=50)
    assert ci["f1"] == (1.0, 1.0)


def test_bootstrap_rejects_bad_arguments():
    with pytest.raises(ValueError, match="metric"):
        metrics.bootstrap_ci(GOLD, PRED, "weighted")
    with pytest.raises(ValueError, match="alpha"):
        metrics.bootstrap_ci(GOLD, PRED, alpha=1.5)


def test_case_counts():
    df = metrics.case_counts(GOLD, PRED).set_index("case_id")
    assert df.loc["a"].tolist() == [1, 1, 1] and df.loc["c"].tolist() == [0, 0, 1]
    assert np.array_equal(df.sum().to_numpy(), [3, 1, 2])


def test_one_formula_for_scalars_and_arrays():
    p, r, f = metrics.prf_from_counts(3, 1, 2)
    assert (float(p), float(r), float(f)) == (3 / 4, 3 / 5, 2 * (3 / 4) * (3 / 5) / (3 / 4 + 3 / 5))
    p, r, f = metrics.prf_from_counts([3, 0, 0], [1, 0, 2], [2, 0, 0])  # 0/0 is 0.0, never NaN
    assert p.tolist() == [0.75, 0.0, 0.0] and r.tolist() == [0.6, 0.0, 0.0] and f[1:].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("seed", range(3))
def test_micro_macro_bootstrap_and_delta_share_the_formula(seed):
    """Each average is the same prf_from_counts on other counts: micro on summed counts, macro per case."""
    gold, pred = _random_maps(seed)
    counts = metrics.case_counts(gold, pred)[["tp", "fp", "fn"]].to_numpy()
    micro = metrics.micro_prf(gold, pred)
    assert [micro[k] for k in ("precision", "recall", "f1")] == [
        float(x) for x in metrics.prf_from_counts(*counts.sum(axis=0))
    ]
    _, other = _random_maps(seed + 10)
    delta, _, _ = metrics.paired_delta_ci(gold, pred, other, n_boot=20)
    assert delta == micro["f1"] - metrics.micro_prf(gold, other)["f1"]  # bit for bit, not approx
