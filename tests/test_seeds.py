"""Seeds of one run pooled (evaluation/seeds.py): counts, the two-level interval, who is left out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pericomp_lib.core import taxonomy
from pericomp_lib.evaluation import metrics, seeds
from pericomp_lib.pipeline import batch_report

ASKED = ["paralytic_ileus", "myocardial_injury"]
ILEUS, MI = (taxonomy.zh_short(c) for c in ASKED)


def _labels(said: set[str]) -> list[str]:
    return sorted(said) or [taxonomy.NONE_ZH]


def _run(root: Path, seed: int, cases: list[tuple], lr: float = 2e-3) -> Path:
    """A scored run folder: cases are (gold ids, adapter ids, baseline ids, base ids) per evaluation case."""
    d = root / f"seed-{seed}"
    (d / "predictions").mkdir(parents=True)
    (d / "tables").mkdir()
    rows, preds = [], {"adapter": {}, "baseline": {}, "base": {}}
    for i, (gold, *said) in enumerate(cases):
        cid = f"s{seed}-{i}"
        rows.append(
            {
                "case_id": cid,
                "center": "x",
                "split": "validation",
                "language": "en",
                "record": "r",
                "gold": [{"complication": g, "grade": "mild"} for g in gold],
            }
        )
        for arm, ids in zip(preds, said):
            preds[arm][cid] = _labels({taxonomy.zh_short(c) for c in ids})
    (d / "cohort.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    for arm, p in preds.items():
        (d / "predictions" / f"{arm}.json").write_text(json.dumps(p, ensure_ascii=False), encoding="utf-8")
    (d / "scope.json").write_text(json.dumps({"complications": ASKED, "case_ids": [r["case_id"] for r in rows]}))
    (d / "params.json").write_text(json.dumps({"seed": seed, "learning_rate": lr}))
    from pericomp_lib.evaluation import summary

    s = summary.write(d, n_boot=50)
    k = seed % 5  # criteria-only positives found, of 4
    row = {"arm": "adapter", "metric": "recall_criteria", "stratum": "criteria", "n": 4, "k": k, "rate": k / 4}
    pd.DataFrame([row]).to_csv(d / "tables" / "strata.csv", index=False)
    assert s["f1_adapter"] is not None
    return d


GOOD = [({"paralytic_ileus"}, {"paralytic_ileus"}, set(), {"paralytic_ileus", "myocardial_injury"})] * 6 + [
    (set(), set(), {"myocardial_injury"}, {"myocardial_injury"})
] * 6
BAD = [({"paralytic_ileus"}, set(), {"paralytic_ileus"}, {"paralytic_ileus"})] * 6 + [
    (set(), {"myocardial_injury"}, set(), set())
] * 6


def test_pooled_f1_is_the_micro_f1_of_every_seeds_cases(tmp_path):
    root = tmp_path / "runs" / "r"
    dirs = [_run(root, 1, GOOD), _run(root, 2, BAD)]
    s = seeds.write(root, n_boot=300)
    assert s["seeds"] == [1, 2] and s["n_cases"] == 24 and not s["seeds_left_out"]
    gold, adapter, baseline = {}, {}, {}
    for d in dirs:
        scope = json.loads((d / "scope.json").read_text())["case_ids"]
        for line in (d / "cohort.jsonl").read_text().splitlines():
            case = json.loads(line)
            gold[case["case_id"]] = _labels({taxonomy.zh_short(g["complication"]) for g in case["gold"]})
        for arm, m in (("adapter", adapter), ("baseline", baseline)):
            m.update(json.loads((d / "predictions" / f"{arm}.json").read_text()))
        assert set(scope) <= set(gold)
    want = metrics.prf(gold, adapter, "micro")["f1"] - metrics.prf(gold, baseline, "micro")["f1"]
    assert s["f1_vs_baseline"] == pytest.approx(want)
    assert s["f1_vs_baseline_ci_low"] <= s["f1_vs_baseline"] <= s["f1_vs_baseline_ci_high"]
    assert s["per_seed"]["f1_vs_baseline"][0] > 0 > s["per_seed"]["f1_vs_baseline"][1]
    assert s["seeds_adapter_above_baseline"] == 1
    # strata: counts summed over seeds, each seed's own rate kept as the range
    assert s["recall_criteria_adapter"] == pytest.approx((1 + 2) / 8)
    strata = pd.read_csv(root / "strata_pooled.csv").iloc[0]
    assert (strata.n, strata.k, strata.seed_min, strata.seed_max) == (8, 3, 0.25, 0.5)
    assert json.loads((root / "seeds_summary.json").read_text())["n_seeds"] == 2
    # per complication: seed 1's adapter finds the ileus cases TF-IDF misses, seed 2 the other way round
    per = pd.read_csv(root / "complications_pooled.csv").set_index(["complication", "arm"])
    assert tuple(per.loc[("paralytic_ileus", "adapter"), ["tp", "fp", "fn"]]) == (6, 0, 6)
    assert tuple(per.loc[("myocardial_injury", "baseline"), ["tp", "fp", "fn"]]) == (0, 6, 0)
    assert s["f1_paralytic_ileus_adapter"] == pytest.approx(2 / 3) and s["f1_myocardial_injury_adapter"] == 0


def test_seeds_that_disagree_widen_the_interval_beyond_a_bootstrap_of_cases():
    # two seeds whose differences point opposite ways: resampling seeds must show that spread
    right, wrong = [1.0, 0.0, 0.0], [0.0, 1.0, 1.0]
    per_seed = [
        (np.array([right] * 20), np.array([wrong] * 20)),
        (np.array([wrong] * 20), np.array([right] * 5 + [wrong] * 15)),
    ]
    delta, lo, hi = seeds.pooled_delta_ci(per_seed, n_boot=400)
    assert lo < 0 < hi and lo <= delta <= hi
    a, b = (np.concatenate([pair[i] for pair in per_seed]) for i in (0, 1))
    idx = np.random.default_rng(0).integers(0, len(a), size=(400, len(a)))
    f1 = lambda c: metrics.prf_from_counts(*(c[:, j][idx].sum(axis=1) for j in range(3)))[2]  # noqa: E731
    cases_only = np.percentile(f1(a) - f1(b), [2.5, 97.5])
    assert hi - lo > 1.5 * (cases_only[1] - cases_only[0])


def test_one_seed_is_no_pool_and_a_seed_of_another_recipe_is_left_out(tmp_path, capsys):
    root = tmp_path / "runs" / "r"
    _run(root, 1, GOOD)
    assert seeds.build(root) is None and seeds.write_all(tmp_path / "runs") == {}
    assert not (root / "seeds_summary.json").exists()
    _run(root, 2, BAD, lr=1e-3)  # written last: its params are the recipe, seed 1's differ
    _run(root, 3, GOOD, lr=1e-3)
    (_run(root, 4, GOOD, lr=1e-3) / "predictions" / "baseline.json").unlink()  # stopped before 05's baseline
    s = seeds.build(root, n_boot=50)
    assert s["seeds"] == [2, 3] and s["seeds_left_out"][0] == "seed-1: params.json differs from seed-4's"
    assert s["seeds_left_out"][1].startswith("seed-4: no baseline.json") and len(s["seeds_left_out"]) == 2
    batch_report.pooled_seeds(tmp_path / "runs")  # what the batch runner prints after its table
    out = capsys.readouterr().out
    assert "2 seeds (2, 3), 24 cases pooled" in out and "left out: seed-1" in out
    assert "adapter above TF-IDF on 1 of 2 seeds" in out


def test_each_complication_shows_its_strata_per_arm_and_they_add_up(tmp_path, capsys):
    root = tmp_path / "runs" / "r"
    for seed, cases in ((1, GOOD), (2, BAD)):
        d = _run(root, seed, cases)
        rows = [json.loads(line) for line in (d / "cohort.jsonl").read_text().splitlines()]
        for i, row in enumerate(rows):  # seed 1's ileus is named, seed 2's criteria-only; a troponin trap on 6-8
            for g in row["gold"]:
                g["evidence_kind"] = "named" if seed == 1 else "criteria"
            if 6 <= i < 9:
                row["meta"] = {"trap_for": {"myocardial_injury": ["tnt_near"]}}
        (d / "cohort.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    s = seeds.write(root, n_boot=50)
    by = pd.read_csv(root / "complication_strata_pooled.csv").set_index(["complication", "stratum", "arm"])
    got = {key: (r.k, r.n) for key, r in by.iterrows()}
    assert got[("paralytic_ileus", "named", "adapter")] == (6, 6)
    assert got[("paralytic_ileus", "named", "baseline")] == (0, 6)
    assert got[("paralytic_ileus", "criteria", "adapter")] == (0, 6)
    assert got[("paralytic_ileus", "clean", "baseline")] == (0, 12)
    assert got[("myocardial_injury", "trap", "adapter")] == (3, 6)
    assert got[("myocardial_injury", "clean", "adapter")] == (3, 18)
    assert by.loc[("myocardial_injury", "trap", "baseline"), "metric"] == "fpr_trap"
    # the strata of a complication add up to its tp / fp / fn
    per = pd.read_csv(root / "complications_pooled.csv").set_index(["complication", "arm"])
    for (cid, arm), r in per.iterrows():
        mine = by.loc[cid].xs(arm, level="arm")
        positive = mine.loc[mine.index.isin(["named", "criteria", "unknown"])]
        assert (positive.k.sum(), positive.n.sum() - positive.k.sum()) == (r.tp, r.fn)
        assert mine.loc[mine.index.isin(["trap", "clean"])].k.sum() == r.fp
    assert s["strata_per_complication"]["paralytic_ileus"]["criteria"] == {"adapter": [0, 6], "baseline": [6, 6]}
    print(seeds.describe(s))
    assert "paralytic_ileus: named 6/6 / 0/6, criteria 0/6 / 6/6, clean 0/12 / 0/12" in capsys.readouterr().out


def test_fixed_thresholds_pool_every_seeds_decisions_and_count_seeds_either_side_of_one_half(tmp_path, capsys):
    root = tmp_path / "runs" / "r"
    # (case, complication, gold, P(True)) per seed; both seeds use the ids c1, c2, which must stay apart
    decided = {
        1: [("c1", "paralytic_ileus", 1, 0.6), ("c1", "myocardial_injury", 0, 0.55)]
        + [("c2", "paralytic_ileus", 0, 0.2), ("c2", "myocardial_injury", 1, 0.95)],
        2: [("c1", "paralytic_ileus", 0, 0.65), ("c1", "myocardial_injury", 0, 0.1)]
        + [("c2", "paralytic_ileus", 1, 0.8), ("c2", "myocardial_injury", 0, 0.3)],
    }
    for seed, rows in decided.items():
        d = _run(root, seed, GOOD)
        frame = pd.DataFrame(rows, columns=["case_id", "complication", "gold", "p_true"]).assign(
            split="eval", model="adapter"
        )
        noise = frame.assign(p_true=0.99)  # neither the base model's nor the calibration cases' answers count
        pd.concat([frame, noise.assign(model="base"), noise.assign(split="train")]).to_csv(
            d / "decisions.csv", index=False
        )
    s = seeds.write(root, n_boot=50)
    table = pd.read_csv(root / "thresholds_pooled.csv").set_index("threshold")
    # at 0.5: seed 1 tp 2 fp 1 (F1 0.8), seed 2 tp 1 fp 1 fn 1 (a "none" case answered ileus; F1 0.5)
    # at 0.7: seed 1 tp 1 fp 1 fn 1 (c1 answered "none"; 0.5), seed 2 tp 2 ("none" right, ileus right; 1.0)
    assert table.loc[0.5, "f1_pooled"] == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    assert table.loc[0.7, "f1_pooled"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    assert table.loc[0.7, "f1_seed_mean"] == pytest.approx(0.75)
    assert tuple(table.loc[0.7, ["seeds_above_half", "seeds_below_half", "n_seeds"]]) == (1, 1, 2)
    assert tuple(table.loc[0.5, ["seeds_above_half", "seeds_below_half"]]) == (0, 0)
    assert s["threshold_f1_adapter"]["0.7"] == pytest.approx(0.75)
    batch_report.pooled_seeds(tmp_path / "runs")
    assert "0.5 0.667, 0.6 " in capsys.readouterr().out
